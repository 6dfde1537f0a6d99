#include <check.h>
#include <time.h>

#include "base/clock.h"
#include "check_main.h"

START_TEST(test_mono_matches_clock_gettime)
{
    struct timespec a, b;
    double t;

    /* The value is CLOCK_MONOTONIC in seconds: between two direct reads. */
    clock_gettime(CLOCK_MONOTONIC, &a);
    t = csm_clock_mono();
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert(t >= (double)a.tv_sec + (double)a.tv_nsec / 1e9 - 1e-6);
    ck_assert(t <= (double)b.tv_sec + (double)b.tv_nsec / 1e9 + 1e-6);
}
END_TEST

START_TEST(test_never_goes_backwards)
{
    double prev = csm_clock_mono();

    for (int i = 0; i < 10000; i++) {
        double now = csm_clock_mono();
        ck_assert(now >= prev);
        prev = now;
    }
}
END_TEST

START_TEST(test_since_measures_a_sleep)
{
    struct timespec nap = {0, 20 * 1000 * 1000};
    double t0 = csm_clock_mono();

    ck_assert(csm_clock_since(t0) >= 0);
    nanosleep(&nap, NULL);
    /* At least the nap; no upper bound (a busy machine may be slow). */
    ck_assert(csm_clock_since(t0) >= 0.020 - 1e-6);
}
END_TEST

START_TEST(test_milliseconds)
{
    struct timespec m0, w0;
    int64_t m, w;

    clock_gettime(CLOCK_MONOTONIC, &m0);
    clock_gettime(CLOCK_REALTIME, &w0);
    m = csm_clock_mono_ms();
    w = csm_clock_wall_ms();
    /* Each within a second after the clock it reads (a loaded machine). */
    ck_assert_int_ge(m, (int64_t)m0.tv_sec * 1000 + m0.tv_nsec / 1000000);
    ck_assert_int_lt(m, (int64_t)m0.tv_sec * 1000 + m0.tv_nsec / 1000000 + 1000);
    ck_assert_int_ge(w, (int64_t)w0.tv_sec * 1000 + w0.tv_nsec / 1000000);
    ck_assert_int_lt(w, (int64_t)w0.tv_sec * 1000 + w0.tv_nsec / 1000000 + 1000);
    /* The two are different clocks: wall time is decades past boot. */
    ck_assert_int_gt(w - m, (int64_t)365 * 24 * 3600 * 1000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("clock");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_mono_matches_clock_gettime);
    tcase_add_test(tc, test_never_goes_backwards);
    tcase_add_test(tc, test_since_measures_a_sleep);
    tcase_add_test(tc, test_milliseconds);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
