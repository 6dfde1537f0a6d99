#include <check.h>
#include <stdio.h>
#include <string.h>

#include "store/budget.h"
#include "check_main.h"
#include "serve/telemetry.h"

static int put(csm_budget_book *k, const char *uid, size_t series)
{
    int admit = -1;
    ck_assert_int_eq(csm_budget_book_put(k, uid, series, &admit), CSM_OK);
    return admit;
}

START_TEST(test_first_come_first_kept)
{
    csm_budget *g = NULL;
    csm_budget *r = NULL;
    csm_budget_book *k = NULL;

    ck_assert_int_eq(csm_budget_new(NULL, 0, "", NULL, NULL, NULL, &g), CSM_OK);
    ck_assert_int_eq(csm_budget_new(g, 10, "g/v1/K", NULL, NULL, NULL, &r), CSM_OK);
    ck_assert_int_eq(csm_budget_book_new(r, &k), CSM_OK);
    ck_assert_int_eq(put(k, "a", 4), 1);
    ck_assert_int_eq(put(k, "b", 4), 1);
    ck_assert_int_eq(put(k, "c", 4), 0); /* 12 > 10 */
    ck_assert_int_eq(put(k, "d", 2), 1); /* exactly 10 */
    ck_assert_uint_eq(csm_budget_used(r), 10);
    ck_assert_uint_eq(csm_budget_used(g), 10);
    ck_assert_uint_eq(csm_budget_dropped(r), 4);
    ck_assert_uint_eq(csm_budget_skipped(r), 1);
    /* The same updates again: the same answers (deterministic). */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(put(k, "a", 4), 1);
        ck_assert_int_eq(put(k, "c", 4), 0);
    }
    /* An admitted object is charged against what it held: it may grow into
     * free room, and one that no longer fits is skipped and frees its own. */
    ck_assert_int_eq(put(k, "d", 1), 1);
    ck_assert_int_eq(put(k, "d", 2), 1);
    ck_assert_int_eq(put(k, "a", 9), 0);
    ck_assert_uint_eq(csm_budget_used(r), 6);
    ck_assert_uint_eq(csm_budget_dropped(r), 13);
    ck_assert_uint_eq(csm_budget_skipped(r), 2);
    /* A skipped object that changes is reconsidered. */
    ck_assert_int_eq(put(k, "c", 4), 1);
    ck_assert_uint_eq(csm_budget_used(r), 10);
    ck_assert_uint_eq(csm_budget_skipped(r), 1);
    /* Deleting gives the room back, for the next change to use. */
    csm_budget_book_delete(k, "b");
    csm_budget_book_delete(k, "nope");
    ck_assert_uint_eq(csm_budget_used(r), 6);
    ck_assert_int_eq(put(k, "a", 4), 1);
    ck_assert_uint_eq(csm_budget_skipped(r), 0);
    ck_assert_uint_eq(csm_budget_dropped(r), 0);
    /* Freeing the book gives everything back, to the parent too. */
    csm_budget_book_free(k);
    ck_assert_uint_eq(csm_budget_used(r), 0);
    ck_assert_uint_eq(csm_budget_used(g), 0);
    csm_budget_free(r);
    csm_budget_free(g);
    csm_budget_free(NULL);
    csm_budget_book_free(NULL);
}
END_TEST

START_TEST(test_global_limit_across_resources)
{
    csm_budget *g = NULL;
    csm_budget *r1 = NULL;
    csm_budget *r2 = NULL;
    csm_budget_book *k1 = NULL;
    csm_budget_book *k2 = NULL;
    csm_budget_book *k3 = NULL;

    ck_assert_int_eq(csm_budget_new(NULL, 100, "", NULL, NULL, NULL, &g), CSM_OK);
    ck_assert_int_eq(csm_budget_new(g, 0, "r1", NULL, NULL, NULL, &r1), CSM_OK);
    ck_assert_int_eq(csm_budget_new(g, 0, "r2", NULL, NULL, NULL, &r2), CSM_OK);
    ck_assert_int_eq(csm_budget_book_new(r1, &k1), CSM_OK);
    ck_assert_int_eq(csm_budget_book_new(r1, &k3), CSM_OK); /* a second namespace */
    ck_assert_int_eq(csm_budget_book_new(r2, &k2), CSM_OK);
    ck_assert_int_eq(put(k1, "a", 60), 1);
    ck_assert_int_eq(put(k2, "b", 60), 0);
    ck_assert_int_eq(put(k3, "c", 40), 1);
    ck_assert_uint_eq(csm_budget_used(g), 100);
    ck_assert_uint_eq(csm_budget_used(r1), 100);
    ck_assert_uint_eq(csm_budget_dropped(r2), 60);
    /* Huge counts do not wrap around. */
    ck_assert_int_eq(put(k2, "huge", (size_t)-1), 0);
    csm_budget_book_free(k1);
    ck_assert_int_eq(put(k2, "b", 60), 1);
    ck_assert_uint_eq(csm_budget_used(g), 100);
    csm_budget_book_free(k2);
    csm_budget_book_free(k3);
    ck_assert_uint_eq(csm_budget_used(g), 0);
    csm_budget_free(r1);
    csm_budget_free(r2);
    csm_budget_free(g);
}
END_TEST

START_TEST(test_relist_and_telemetry)
{
    csm_telemetry *t = csm_telemetry_new();
    static const char *const res[] = {"resource"};
    const char *v[1] = {"g/v1/K"};
    csm_tel_family *dropped = NULL;
    csm_tel_family *skipped = NULL;
    csm_budget *r = NULL;
    csm_budget_book *k = NULL;
    char uid[32];

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(csm_tel_family_add(t, "crd_state_metrics_series_dropped", "h",
                                        CSM_METRIC_GAUGE, 1, res, &dropped),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_family_add(t, "crd_state_metrics_objects_skipped", "h",
                                        CSM_METRIC_GAUGE, 1, res, &skipped),
                     CSM_OK);
    ck_assert_int_eq(csm_budget_new(NULL, 1000, "g/v1/K", NULL, dropped, skipped, &r), CSM_OK);
    ck_assert_int_eq(csm_budget_book_new(r, &k), CSM_OK);
    /* Enough objects to grow the table a few times. */
    for (int i = 0; i < 2000; i++) {
        snprintf(uid, sizeof(uid), "uid-%d", i);
        ck_assert_int_eq(put(k, uid, 1), i < 1000);
    }
    ck_assert_double_eq(csm_tel_get(dropped, v), 1000);
    ck_assert_double_eq(csm_tel_get(skipped, v), 1000);
    /* A relist that sees only the first 10 admitted and the last skipped. */
    csm_budget_book_relist_begin(k);
    for (int i = 0; i < 10; i++) {
        snprintf(uid, sizeof(uid), "uid-%d", i);
        ck_assert_int_eq(put(k, uid, 1), 1);
    }
    ck_assert_int_eq(put(k, "uid-1999", 1), 0); /* the sweep has not run yet */
    csm_budget_book_relist_end(k);
    ck_assert_uint_eq(csm_budget_used(r), 10);
    ck_assert_uint_eq(csm_budget_skipped(r), 1);
    ck_assert_double_eq(csm_tel_get(skipped, v), 1);
    csm_budget_book_clear(k);
    ck_assert_uint_eq(csm_budget_used(r), 0);
    ck_assert_double_eq(csm_tel_get(dropped, v), 0);
    ck_assert_double_eq(csm_tel_get(skipped, v), 0);
    csm_budget_book_free(k);
    csm_budget_free(r);
    csm_telemetry_free(t);
}
END_TEST

START_TEST(test_count_lines)
{
    const char *s = "a 1\nb{x=\"y\"} 2\n";
    ck_assert_uint_eq(csm_budget_count_lines(s, strlen(s)), 2);
    ck_assert_uint_eq(csm_budget_count_lines("", 0), 0);
    ck_assert_uint_eq(csm_budget_count_lines(NULL, 0), 0);
    ck_assert_uint_eq(csm_budget_count_lines(s, 5), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("budget");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_first_come_first_kept);
    tcase_add_test(tc, test_global_limit_across_resources);
    tcase_add_test(tc, test_relist_and_telemetry);
    tcase_add_test(tc, test_count_lines);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
