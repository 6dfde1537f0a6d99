#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "store.h"

static csm_block *mk(const char *a, const char *b)
{
    const char *texts[2] = {a, b};
    size_t lens[2] = {strlen(a), strlen(b)};
    return csm_block_new(2, texts, lens);
}

static csm_err count_visit(void *ctx, csm_block *blk)
{
    (void)blk;
    (*(size_t *)ctx)++;
    return CSM_OK;
}

START_TEST(test_block_slices)
{
    csm_block *b = mk("a 1\n", "");
    size_t len;
    const char *p = csm_block_slice(b, 0, &len);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(p, "a 1\n", 4), 0);
    csm_block_slice(b, 1, &len);
    ck_assert_uint_eq(len, 0);
    csm_block_slice(b, 7, &len);
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(csm_block_size(b), 4);
    ck_assert_uint_eq(csm_block_families(b), 2);
    csm_block_unref(b);
    csm_block_unref(NULL);
}
END_TEST

START_TEST(test_add_update_delete)
{
    csm_store *s = csm_store_new();
    size_t len;
    csm_block *held;

    ck_assert_int_eq(csm_store_upsert(s, "uid-1", mk("x 1\n", "")), CSM_OK);
    ck_assert_int_eq(csm_store_upsert(s, "uid-2", mk("y 1\n", "")), CSM_OK);
    ck_assert_uint_eq(csm_store_count(s), 2);
    ck_assert_uint_eq(csm_store_bytes(s), 8);

    /* A scrape holding the old block keeps it alive across an update. */
    held = csm_block_ref(csm_store_get(s, "uid-1"));
    ck_assert_int_eq(csm_store_upsert(s, "uid-1", mk("x 2\n", "z 1\n")), CSM_OK);
    ck_assert_uint_eq(csm_store_count(s), 2);
    ck_assert_uint_eq(csm_store_bytes(s), 12);
    ck_assert_int_eq(memcmp(csm_block_slice(held, 0, &len), "x 1\n", 4), 0);
    csm_block_unref(held);
    ck_assert_int_eq(memcmp(csm_block_slice(csm_store_get(s, "uid-1"), 1, &len), "z 1\n", 4), 0);

    ck_assert_int_eq(csm_store_delete(s, "uid-2"), CSM_OK);
    ck_assert_int_eq(csm_store_delete(s, "uid-2"), CSM_ERR_NOT_FOUND);
    ck_assert_ptr_null(csm_store_get(s, "uid-2"));
    ck_assert_uint_eq(csm_store_count(s), 1);
    ck_assert_uint_eq(csm_store_bytes(s), 8);
    csm_store_free(s);
    csm_store_free(NULL);
}
END_TEST

START_TEST(test_relist_upserts_then_sweeps)
{
    csm_store *s = csm_store_new();
    size_t n = 0;

    csm_store_upsert(s, "keep", mk("k 1\n", ""));
    csm_store_upsert(s, "gone", mk("g 1\n", ""));
    csm_store_relist_begin(s);
    /* Mid-relist every old object is still visible. */
    csm_store_upsert(s, "keep", mk("k 2\n", ""));
    csm_store_upsert(s, "new", mk("n 1\n", ""));
    csm_store_foreach(s, count_visit, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(csm_store_relist_end(s), 1);
    ck_assert_ptr_null(csm_store_get(s, "gone"));
    ck_assert_ptr_nonnull(csm_store_get(s, "keep"));
    ck_assert_ptr_nonnull(csm_store_get(s, "new"));
    /* An empty relist removes everything. */
    csm_store_relist_begin(s);
    ck_assert_uint_eq(csm_store_relist_end(s), 2);
    ck_assert_uint_eq(csm_store_count(s), 0);
    ck_assert_uint_eq(csm_store_bytes(s), 0);
    csm_store_free(s);
}
END_TEST

/* Random operations checked against a plain array model: exercises growth,
 * backward-shift deletion across clusters and the relist sweep. */
START_TEST(test_random_against_model)
{
    enum { N = 3000 };
    static int present[N];
    static int listed[N];
    csm_store *s = csm_store_new();
    unsigned seed = 12345;
    char uid[32];

    memset(present, 0, sizeof(present));
    for (int round = 0; round < 40; round++) {
        for (int op = 0; op < 2000; op++) {
            int k = (int)(rand_r(&seed) % N);
            snprintf(uid, sizeof(uid), "u%d", k);
            if (rand_r(&seed) % 3) {
                ck_assert_int_eq(csm_store_upsert(s, uid, mk(uid, "")), CSM_OK);
                present[k] = 1;
            } else {
                ck_assert_int_eq(csm_store_delete(s, uid), present[k] ? CSM_OK : CSM_ERR_NOT_FOUND);
                present[k] = 0;
            }
        }
        /* Relist with a random subset plus some new keys. */
        size_t expect_removed = 0;
        csm_store_relist_begin(s);
        for (int k = 0; k < N; k++) {
            listed[k] = (int)(rand_r(&seed) % 2);
            if (present[k] && !listed[k])
                expect_removed++;
            if (listed[k]) {
                snprintf(uid, sizeof(uid), "u%d", k);
                ck_assert_int_eq(csm_store_upsert(s, uid, mk(uid, "")), CSM_OK);
            }
        }
        ck_assert_uint_eq(csm_store_relist_end(s), expect_removed);
        size_t want = 0;
        for (int k = 0; k < N; k++) {
            present[k] = listed[k];
            want += (size_t)present[k];
            snprintf(uid, sizeof(uid), "u%d", k);
            ck_assert_int_eq(csm_store_get(s, uid) != NULL, present[k]);
        }
        ck_assert_uint_eq(csm_store_count(s), want);
        size_t visited = 0;
        csm_store_foreach(s, count_visit, &visited);
        ck_assert_uint_eq(visited, want);
    }
    csm_store_free(s);
}
END_TEST

/* Keeps UIDs whose last digit is even. */
static int keep_even(void *ctx, const char *uid)
{
    (*(size_t *)ctx)++;
    return (uid[strlen(uid) - 1] - '0') % 2 == 0;
}

START_TEST(test_remove_if)
{
    csm_store *s = csm_store_new();
    char uid[32];
    size_t calls = 0;

    /* Enough entries for long probe clusters and a wrap-around. */
    for (int i = 0; i < 3000; i++) {
        snprintf(uid, sizeof(uid), "u%d", i);
        ck_assert_int_eq(csm_store_upsert(s, uid, mk("x 1\n", "")), CSM_OK);
    }
    ck_assert_uint_eq(csm_store_remove_if(s, keep_even, &calls), 1500);
    ck_assert_uint_ge(calls, 3000);
    ck_assert_uint_eq(csm_store_count(s), 1500);
    for (int i = 0; i < 3000; i++) {
        snprintf(uid, sizeof(uid), "u%d", i);
        if (i % 2)
            ck_assert_ptr_null(csm_store_get(s, uid));
        else
            ck_assert_ptr_nonnull(csm_store_get(s, uid));
    }
    ck_assert_uint_eq(csm_store_bytes(s), 1500 * 4);
    calls = 0;
    ck_assert_uint_eq(csm_store_remove_if(s, keep_even, &calls), 0);
    ck_assert_uint_eq(calls, 1500);
    csm_store_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_block_slices);
    tcase_add_test(tc, test_add_update_delete);
    tcase_add_test(tc, test_relist_upserts_then_sweeps);
    tcase_add_test(tc, test_random_against_model);
    tcase_add_test(tc, test_remove_if);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
