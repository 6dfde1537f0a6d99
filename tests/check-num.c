#include <check.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "check_main.h"
#include "ingest/kclient.h"
#include "base/num.h"

static csm_err delta(const char *s, long max, long *out)
{
    return csm_num_delta_seconds(s, strlen(s), max, out);
}

START_TEST(test_delta_seconds)
{
    long v = -7;

    ck_assert_int_eq(delta("0", 600, &v), CSM_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(delta(" 120\r\n", 600, &v), CSM_OK);
    ck_assert_int_eq(v, 120);
    ck_assert_int_eq(delta("600", 600, &v), CSM_OK);
    ck_assert_int_eq(v, 600);
    /* Large values saturate at the cap instead of overflowing. */
    ck_assert_int_eq(delta("601", 600, &v), CSM_OK);
    ck_assert_int_eq(v, 600);
    ck_assert_int_eq(delta("1000000000000", 600, &v), CSM_OK);
    ck_assert_int_eq(v, 600);
    ck_assert_int_eq(delta("99999999999999999999999999999999999999999", LONG_MAX, &v), CSM_OK);
    ck_assert_int_eq(v, LONG_MAX);
    ck_assert_int_eq(delta("9223372036854775807", LONG_MAX, &v), CSM_OK);
    ck_assert_int_eq(v, LONG_MAX);
    ck_assert_int_eq(delta("9223372036854775806", LONG_MAX, &v), CSM_OK);
    ck_assert_int_eq(v, LONG_MAX - 1);
    ck_assert_int_eq(delta("7", 5, &v), CSM_OK);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(delta("00012", 600, &v), CSM_OK);
    ck_assert_int_eq(v, 12);

    /* Not delta-seconds: *out is left alone. */
    v = -7;
    ck_assert_int_eq(delta("inf", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("Infinity", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("nan", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("1e12", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("-1", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("+1", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("1.5", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("0x10", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("  \r\n", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("1 2", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("Wed, 21 Oct 2015 07:28:00 GMT", 600, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(delta("5", -1, &v), CSM_ERR_PARSE);
    ck_assert_int_eq(v, -7);
    /* Length-bounded: no terminator needed, nothing read past n. */
    ck_assert_int_eq(csm_num_delta_seconds("12xyz", 2, 600, &v), CSM_OK);
    ck_assert_int_eq(v, 12);
}
END_TEST

START_TEST(test_to_long)
{
    ck_assert_int_eq(csm_num_to_long(410.0, 0, 999, 0), 410);
    ck_assert_int_eq(csm_num_to_long(410.9, 0, 999, 0), 410);
    ck_assert_int_eq(csm_num_to_long(-3.0, 0, 999, 0), 0);
    ck_assert_int_eq(csm_num_to_long(1e12, 0, 999, 0), 999);
    ck_assert_int_eq(csm_num_to_long(INFINITY, 0, 999, -1), 999);
    ck_assert_int_eq(csm_num_to_long(-INFINITY, 0, 999, -1), 0);
    ck_assert_int_eq(csm_num_to_long(NAN, 0, 999, -1), -1);
    ck_assert_int_eq(csm_num_to_long(1e300, LONG_MIN, LONG_MAX, 0), LONG_MAX);
    ck_assert_int_eq(csm_num_to_long(-1e300, LONG_MIN, LONG_MAX, 0), LONG_MIN);
    /* 2^63 is one past LONG_MAX: the cast would be undefined. */
    ck_assert_int_eq(csm_num_to_long(9223372036854775808.0, LONG_MIN, LONG_MAX, 0), LONG_MAX);
    ck_assert_int_eq(csm_num_to_long(-9223372036854775808.0, LONG_MIN, LONG_MAX, 0), LONG_MIN);
    ck_assert_int_eq(csm_num_to_long(4611686018427387904.0, LONG_MIN, LONG_MAX, 0),
                     4611686018427387904L);
}
END_TEST

START_TEST(test_timeval)
{
    struct timeval tv;

    tv = csm_num_timeval(1.25, 30);
    ck_assert_int_eq(tv.tv_sec, 1);
    ck_assert_int_eq(tv.tv_usec, 250000);
    tv = csm_num_timeval(1e12, CSM_KCLIENT_RETRY_AFTER_MAX_S);
    ck_assert_int_eq(tv.tv_sec, CSM_KCLIENT_RETRY_AFTER_MAX_S);
    ck_assert_int_eq(tv.tv_usec, 0);
    tv = csm_num_timeval(INFINITY, 30);
    ck_assert_int_eq(tv.tv_sec, 30);
    tv = csm_num_timeval(-INFINITY, 30);
    ck_assert_int_eq(tv.tv_sec, 0);
    ck_assert_int_eq(tv.tv_usec, 0);
    tv = csm_num_timeval(-5, 30);
    ck_assert_int_eq(tv.tv_sec, 0);
    tv = csm_num_timeval(NAN, 30);
    ck_assert_int_eq(tv.tv_sec, 0);
    ck_assert_int_eq(tv.tv_usec, 0);
    /* Just under a whole second never gives tv_usec == 1000000. */
    tv = csm_num_timeval(nextafter(2.0, 0.0), 30);
    ck_assert_int_eq(tv.tv_sec, 1);
    ck_assert_int_le(tv.tv_usec, 999999);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("num");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_delta_seconds);
    tcase_add_test(tc, test_to_long);
    tcase_add_test(tc, test_timeval);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
