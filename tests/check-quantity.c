#include <check.h>
#include <math.h>

#include "check_main.h"
#include "render/quantity.h"

static double q(const char *s)
{
    double v = -12345;
    ck_assert_msg(csm_quantity_parse(s, &v) == CSM_OK, "quantity \"%s\" rejected", s);
    return v;
}

static double d(const char *s)
{
    double v = -12345;
    ck_assert_msg(csm_quantity_duration(s, &v) == CSM_OK, "duration \"%s\" rejected", s);
    return v;
}

START_TEST(test_decimal_si)
{
    ck_assert_double_eq(q("250m"), 0.25);
    ck_assert_double_eq(q("100m"), 0.1); /* exactly the double nearest 0.1 */
    ck_assert_double_eq(q("1"), 1);
    ck_assert_double_eq(q("1.5k"), 1500);
    ck_assert_double_eq(q("2M"), 2e6);
    ck_assert_double_eq(q("3G"), 3e9);
    ck_assert_double_eq(q("4T"), 4e12);
    ck_assert_double_eq(q("5P"), 5e15);
    ck_assert_double_eq(q("6E"), 6e18);
    ck_assert_double_eq(q("7n"), 7e-9);
    ck_assert_double_eq(q("8u"), 8e-6);
    ck_assert_double_eq(q("262144k"), 262144000);
}
END_TEST

START_TEST(test_binary_si)
{
    ck_assert_double_eq(q("1Ki"), 1024);
    ck_assert_double_eq(q("5Gi"), 5368709120.0);
    ck_assert_double_eq(q("1Mi"), 1048576);
    ck_assert_double_eq(q("1.5Gi"), 1610612736.0);
    ck_assert_double_eq(q("1Ti"), 1099511627776.0);
    ck_assert_double_eq(q("1Pi"), 1125899906842624.0);
    ck_assert_double_eq(q("1Ei"), 1152921504606846976.0);
    ck_assert_double_eq(q("100Mi"), 104857600);
}
END_TEST

START_TEST(test_exponent_sign_and_forms)
{
    ck_assert_double_eq(q("1e3"), 1000);
    ck_assert_double_eq(q("1E3"), 1000);
    ck_assert_double_eq(q("1e-3"), 0.001);
    ck_assert_double_eq(q("1.5e+2"), 150);
    ck_assert_double_eq(q("-2"), -2);
    ck_assert_double_eq(q("+2k"), 2000);
    ck_assert_double_eq(q(".5"), 0.5);
    ck_assert_double_eq(q("5."), 5);
    ck_assert_double_eq(q("43.21"), 43.21);
}
END_TEST

START_TEST(test_quantity_rejects)
{
    static const char *const bad[] = {
        "",    "m",   "1x",    "1 k",  " 1", "1k ", "1KI", "1ki",  "1e",   "1e+",
        "--1", "1..", "1.2.3", "0x10", "1%", "Inf", "NaN", "1Gi5", "1e3k", "abc",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double v = 42;
        ck_assert_msg(csm_quantity_parse(bad[i], &v) == CSM_ERR_PARSE, "\"%s\" accepted", bad[i]);
        ck_assert_double_eq(v, 42);
    }
    ck_assert_int_eq(csm_quantity_parse(NULL, NULL), CSM_ERR_PARSE);
}
END_TEST

START_TEST(test_durations)
{
    ck_assert_double_eq(d("0"), 0);
    ck_assert_double_eq(d("1s"), 1);
    ck_assert_double_eq(d("1m"), 60);
    ck_assert_double_eq(d("1h30m45s"), 5445);
    ck_assert_double_eq(d("-1.5h"), -5400);
    ck_assert_double_eq(d("300ms"), 0.3);
    ck_assert_double_eq(d("2us"), 2e-6);
    ck_assert_double_eq(d("2\xc2\xb5s"), 2e-6);
    ck_assert_double_eq(d("5ns"), 5e-9);
    ck_assert_double_eq(d("1m0.5s"), 60.5);
    static const char *const bad[] = {"", "1", "s", "1x", "1.2.3s", "1 s", "h1", "+", "1sm"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double v = 42;
        ck_assert_msg(csm_quantity_duration(bad[i], &v) == CSM_ERR_PARSE, "\"%s\" accepted",
                      bad[i]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quantity");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_decimal_si);
    tcase_add_test(tc, test_binary_si);
    tcase_add_test(tc, test_exponent_sign_and_forms);
    tcase_add_test(tc, test_quantity_rejects);
    tcase_add_test(tc, test_durations);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
