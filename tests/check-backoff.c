#include <check.h>
#include <stdlib.h>

#include "check_main.h"
#include "base/backoff.h"

START_TEST(test_doubles_to_cap_without_jitter)
{
    csm_backoff b;
    const double want[] = {0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30};
    csm_backoff_init(&b, 1);
    b.jitter = 0;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_double_eq_tol(csm_backoff_next(&b, (double)i), want[i], 1e-9);
}
END_TEST

START_TEST(test_jitter_bounds_and_spread)
{
    csm_backoff b;
    double lo = 1e9, hi = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        csm_backoff_init(&b, seed);
        double d = csm_backoff_next(&b, 0);
        ck_assert(d >= 0.8 && d < 0.8 * 1.5);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* Different informers must not retry in lockstep. */
    ck_assert(hi - lo > 0.2);
}
END_TEST

START_TEST(test_jitter_never_exceeds_cap)
{
    csm_backoff b;
    double lo = 1e9, hi = 0;
    for (uint64_t seed = 1; seed <= 50; seed++) {
        csm_backoff_init(&b, seed);
        for (int i = 0; i < 20; i++) {
            double d = csm_backoff_next(&b, i);
            ck_assert(d <= 30.0);
            if (i >= 10) {
                /* At the cap: still jittered, within [cap / 1.5, cap]. */
                ck_assert(d >= 20.0);
                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
            }
        }
    }
    ck_assert(hi - lo > 3.0);
}
END_TEST

START_TEST(test_reset_after_healthy_period)
{
    csm_backoff b;
    csm_backoff_init(&b, 7);
    b.jitter = 0;
    csm_backoff_next(&b, 0);
    csm_backoff_next(&b, 1);
    ck_assert_double_eq_tol(csm_backoff_next(&b, 2), 3.2, 1e-9);
    /* 59 s later still escalating, 60 s of quiet starts over. */
    ck_assert_double_eq_tol(csm_backoff_next(&b, 61), 6.4, 1e-9);
    ck_assert_double_eq_tol(csm_backoff_next(&b, 121), 0.8, 1e-9);
    csm_backoff_reset(&b);
    ck_assert_double_eq_tol(csm_backoff_next(&b, 122), 0.8, 1e-9);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_doubles_to_cap_without_jitter);
    tcase_add_test(tc, test_jitter_bounds_and_spread);
    tcase_add_test(tc, test_jitter_never_exceeds_cap);
    tcase_add_test(tc, test_reset_after_healthy_period);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
