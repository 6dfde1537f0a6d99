#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "base/hash.h"
#include "ingest/shard.h"

/* tests/data/shardvec.txt: "# ... totals T1 T2 ..." then "uid s1 s2 ..." per
 * line ("-" is the empty UID), written by tests/shardvec, which asks
 * kube-state-metrics' own pkg/sharding (scripts/shardvec keeps the file
 * equal to what it prints). */
#define VEC_FILE       "data/shardvec.txt"
#define VEC_MAX_TOTALS 32

START_TEST(test_kube_state_metrics_vectors)
{
    FILE *f = fopen(VEC_FILE, "r");
    char line[4096];
    int totals[VEC_MAX_TOTALS];
    size_t ntotals = 0;
    size_t uids = 0;
    size_t checked = 0;

    ck_assert_msg(f != NULL, "cannot open %s", VEC_FILE);
    while (fgets(line, sizeof(line), f)) {
        char *save = NULL;
        char *tok;
        const char *uid;
        size_t col = 0;

        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "# ", 2) == 0) {
            char *p = strstr(line, "for totals ");
            if (p && ntotals == 0) {
                for (tok = strtok_r(p + strlen("for totals "), " ", &save); tok;
                     tok = strtok_r(NULL, " ", &save)) {
                    ck_assert_uint_lt(ntotals, VEC_MAX_TOTALS);
                    totals[ntotals++] = atoi(tok);
                }
            }
            continue;
        }
        ck_assert_uint_gt(ntotals, 0);
        tok = strtok_r(line, " ", &save);
        ck_assert_ptr_nonnull(tok);
        uid = strcmp(tok, "-") == 0 ? "" : tok;
        for (tok = strtok_r(NULL, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            ck_assert_uint_lt(col, ntotals);
            ck_assert_msg(csm_shard_of(uid, strlen(uid), totals[col]) == atoi(tok),
                          "uid \"%s\" total %d: kube-state-metrics says %s, we say %d", uid,
                          totals[col], tok, (int)csm_shard_of(uid, strlen(uid), totals[col]));
            col++;
            checked++;
        }
        ck_assert_uint_eq(col, ntotals);
        uids++;
    }
    fclose(f);
    /* The issue asks for at least 1,000 UIDs and several shard counts. */
    ck_assert_uint_ge(uids, 1000);
    ck_assert_uint_ge(ntotals, 5);
    ck_assert_uint_eq(checked, uids * ntotals);
}
END_TEST

START_TEST(test_fnv_and_jump)
{
    /* FNV-1a 64 reference values (the FNV test suite). */
    ck_assert_uint_eq(csm_hash_fnv1a64("", 0), 0xcbf29ce484222325ull);
    ck_assert_uint_eq(csm_hash_fnv1a64("a", 1), 0xaf63dc4c8601ec8cull);
    ck_assert_uint_eq(csm_hash_fnv1a64("foobar", 6), 0x85944171f73967e8ull);
    /* Jump hash: one bucket takes everything; no buckets gives -1. */
    ck_assert_int_eq(csm_shard_jump(12345, 1), 0);
    ck_assert_int_eq(csm_shard_jump(12345, 0), -1);
    /* Monotone: growing from n to n+1 buckets, a key either stays or moves
     * to the new bucket n (the property resharding relies on). */
    for (uint64_t k = 0; k < 20000; k++) {
        uint64_t key = k * 0x9e3779b97f4a7c15ull;
        for (int32_t n = 1; n < 12; n++) {
            int32_t a = csm_shard_jump(key, n);
            int32_t b = csm_shard_jump(key, n + 1);
            ck_assert(b == a || b == n);
        }
    }
}
END_TEST

static void uid_of(int i, char *buf, size_t len)
{
    snprintf(buf, len, "%08x-0000-4000-8000-%012x", (unsigned)i * 2654435761u, (unsigned)i);
}

START_TEST(test_static_partition)
{
    /* Every UID is owned by exactly one of M shards. */
    csm_shard *sh[5];
    char uid[64];

    for (int s = 0; s < 5; s++)
        sh[s] = csm_shard_new(s, 5);
    for (int i = 0; i < 5000; i++) {
        int owners = 0;
        uid_of(i, uid, sizeof(uid));
        for (int s = 0; s < 5; s++)
            owners += csm_shard_owns(sh[s], uid, strlen(uid));
        ck_assert_int_eq(owners, 1);
    }
    for (int s = 0; s < 5; s++)
        csm_shard_free(sh[s]);
    csm_shard_free(NULL);
}
END_TEST

START_TEST(test_unknown_owns_nothing)
{
    csm_shard *s = csm_shard_new(0, 0);
    ck_assert(!csm_shard_known(s));
    ck_assert(!csm_shard_owns(s, "x", 1));
    ck_assert_int_eq(csm_shard_set_total(s, 0, 0), 0);
    ck_assert_int_eq(csm_shard_set_total(s, 1, 1), 1);
    /* The first count is never a handover. */
    ck_assert(!csm_shard_in_handover(s));
    ck_assert(csm_shard_owns(s, "x", 1));
    csm_shard_free(s);
    ck_assert_ptr_null(csm_shard_new(-1, 3));
}
END_TEST

/* During a handover from `from` to `to` shards, no UID is owned by two
 * shards even if some of them still apply `from` and others already `to`
 * without a handover, and a UID owned under both counts stays owned. */
static void check_handover(int from, int to)
{
    csm_shard *ho[8];
    csm_shard *old[8];
    csm_shard *neu[8];
    char uid[64];
    int n = from > to ? from : to;

    for (int s = 0; s < n; s++) {
        ho[s] = csm_shard_new(s, from);
        old[s] = csm_shard_new(s, from);
        neu[s] = csm_shard_new(s, to);
        ck_assert_int_eq(csm_shard_set_total(ho[s], to, 1), 1);
        ck_assert(csm_shard_in_handover(ho[s]));
        ck_assert_int_eq(csm_shard_total(ho[s]), to);
    }
    for (int i = 0; i < 5000; i++) {
        uid_of(i, uid, sizeof(uid));
        size_t len = strlen(uid);
        for (int s = 0; s < n; s++) {
            int h = csm_shard_owns(ho[s], uid, len);
            ck_assert_int_eq(h,
                             csm_shard_owns(old[s], uid, len) && csm_shard_owns(neu[s], uid, len));
            /* A shard in handover never overlaps a shard of either view. */
            for (int t = 0; t < n; t++) {
                if (t == s || !h)
                    continue;
                ck_assert(!csm_shard_owns(old[t], uid, len));
                ck_assert(!csm_shard_owns(neu[t], uid, len));
            }
        }
    }
    for (int s = 0; s < n; s++) {
        /* A shard that existed before a growth gains nothing. */
        int gains = csm_shard_end_handover(ho[s]);
        int gained = 0;
        for (int i = 0; i < 5000; i++) {
            uid_of(i, uid, sizeof(uid));
            gained |= csm_shard_owns(neu[s], uid, strlen(uid)) &&
                      !csm_shard_owns(old[s], uid, strlen(uid));
        }
        ck_assert_int_eq(gains, to < from || s >= from);
        if (!gains)
            ck_assert(!gained);
        ck_assert(!csm_shard_in_handover(ho[s]));
        for (int i = 0; i < 500; i++) {
            uid_of(i, uid, sizeof(uid));
            ck_assert_int_eq(csm_shard_owns(ho[s], uid, strlen(uid)),
                             csm_shard_owns(neu[s], uid, strlen(uid)));
        }
        csm_shard_free(ho[s]);
        csm_shard_free(old[s]);
        csm_shard_free(neu[s]);
    }
}

START_TEST(test_handover_intersection)
{
    check_handover(3, 2);
    check_handover(2, 4);
    check_handover(4, 1);
    check_handover(1, 8);
}
END_TEST

START_TEST(test_handover_second_change_keeps_reference)
{
    csm_shard *s = csm_shard_new(1, 3);
    csm_shard *ref = csm_shard_new(1, 3);
    csm_shard *last = csm_shard_new(1, 4);
    char uid[64];

    csm_shard_set_total(s, 2, 1);
    csm_shard_set_total(s, 4, 1);
    for (int i = 0; i < 2000; i++) {
        uid_of(i, uid, sizeof(uid));
        ck_assert_int_eq(csm_shard_owns(s, uid, strlen(uid)),
                         csm_shard_owns(ref, uid, strlen(uid)) &&
                             csm_shard_owns(last, uid, strlen(uid)));
    }
    csm_shard_free(s);
    csm_shard_free(ref);
    csm_shard_free(last);
}
END_TEST

START_TEST(test_beyond_replicas_owns_nothing)
{
    csm_shard *s = csm_shard_new(3, 4);
    char uid[64];
    csm_shard_set_total(s, 2, 0);
    for (int i = 0; i < 1000; i++) {
        uid_of(i, uid, sizeof(uid));
        ck_assert(!csm_shard_owns(s, uid, strlen(uid)));
    }
    csm_shard_free(s);
}
END_TEST

START_TEST(test_pod_ordinal)
{
    int32_t o = -1;
    ck_assert_int_eq(csm_shard_pod_ordinal("csm-0", &o), CSM_OK);
    ck_assert_int_eq(o, 0);
    ck_assert_int_eq(csm_shard_pod_ordinal("crd-state-metrics-12", &o), CSM_OK);
    ck_assert_int_eq(o, 12);
    ck_assert_int_eq(csm_shard_pod_ordinal("csm-2147483647", &o), CSM_OK);
    ck_assert_int_eq(o, 2147483647);
    ck_assert_int_eq(csm_shard_pod_ordinal("csm-2147483648", &o), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_shard_pod_ordinal("csm-99999999999999999999", &o), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_shard_pod_ordinal("csm", &o), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_shard_pod_ordinal("csm-", &o), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_shard_pod_ordinal("csm-01", &o), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_shard_pod_ordinal("csm-1a", &o), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_shard_pod_ordinal("csm-+1", &o), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_shard_pod_ordinal("csm-7f9c4-xk2p", &o), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_shard_pod_ordinal(NULL, &o), CSM_ERR_PARSE);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("shard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_kube_state_metrics_vectors);
    tcase_add_test(tc, test_fnv_and_jump);
    tcase_add_test(tc, test_static_partition);
    tcase_add_test(tc, test_unknown_owns_nothing);
    tcase_add_test(tc, test_handover_intersection);
    tcase_add_test(tc, test_handover_second_change_keeps_reference);
    tcase_add_test(tc, test_beyond_replicas_owns_nothing);
    tcase_add_test(tc, test_pod_ordinal);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return csm_check_run(suite());
}
