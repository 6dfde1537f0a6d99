#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "check_main.h"
#include "store/gzcat.h"
#include "store/store.h"

static csm_block *mk(const char *a, const char *b)
{
    const char *texts[2] = {a, b};
    size_t lens[2] = {strlen(a), strlen(b)};
    return csm_block_new(2, texts, lens);
}

static csm_err count_visit(void *ctx, const char *uid)
{
    (void)uid;
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

static int has(const csm_store *s, const char *uid)
{
    const char *p;
    size_t len;
    return csm_store_text(s, uid, 0, &p, &len) == CSM_OK;
}

/* Asserts that family f of uid's object is exactly want. */
static void assert_text(const csm_store *s, const char *uid, size_t f, const char *want)
{
    const char *p;
    size_t len;
    ck_assert_int_eq(csm_store_text(s, uid, f, &p, &len), CSM_OK);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_int_eq(memcmp(p, want, len), 0);
}

START_TEST(test_add_update_delete)
{
    csm_store *s = csm_store_new();
    size_t len;
    csm_seg *const *segs;
    size_t n;
    csm_seg *held;
    csm_block *blk;
    char *scribble;

    ck_assert_int_eq(csm_store_upsert(s, "uid-1", mk("x 1\n", "")), CSM_OK);
    ck_assert_int_eq(csm_store_upsert(s, "uid-2", mk("y 1\n", "")), CSM_OK);
    ck_assert_uint_eq(csm_store_count(s), 2);
    ck_assert_uint_eq(csm_store_bytes(s), 8);

    assert_text(s, "uid-1", 0, "x 1\n");
    assert_text(s, "uid-1", 1, "");
    assert_text(s, "uid-1", 9, "");

    /* A scrape holding the old segment keeps it across an update; the
     * store reads unchanged objects' text from its current segment. */
    ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
    ck_assert_uint_eq(n, 1);
    held = csm_seg_ref(segs[0]);
    assert_text(s, "uid-2", 0, "y 1\n");
    /* The store keeps a copy, not the caller's block. */
    blk = mk("x 2\n", "z 1\n");
    ck_assert_int_eq(csm_store_upsert(s, "uid-1", csm_block_ref(blk)), CSM_OK);
    scribble = (char *)(uintptr_t)csm_block_slice(blk, 0, &len);
    memset(scribble, '#', len);
    csm_block_unref(blk);
    ck_assert_uint_eq(csm_store_count(s), 2);
    ck_assert_uint_eq(csm_store_bytes(s), 12);
    assert_text(s, "uid-1", 0, "x 2\n");
    assert_text(s, "uid-1", 1, "z 1\n");
    ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
    ck_assert_int_eq(memcmp(csm_seg_slice(held, 0, &len), "x 1\ny 1\n", 8), 0);
    csm_seg_unref(held);
    assert_text(s, "uid-1", 1, "z 1\n");
    assert_text(s, "uid-2", 0, "y 1\n");

    ck_assert_int_eq(csm_store_delete(s, "uid-2"), CSM_OK);
    ck_assert_int_eq(csm_store_delete(s, "uid-2"), CSM_ERR_NOT_FOUND);
    ck_assert(!has(s, "uid-2"));
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
    ck_assert(!has(s, "gone"));
    assert_text(s, "keep", 0, "k 2\n");
    assert_text(s, "new", 0, "n 1\n");
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
            ck_assert_int_eq(has(s, uid), present[k]);
        }
        ck_assert_uint_eq(csm_store_count(s), want);
        size_t visited = 0;
        csm_store_foreach(s, count_visit, &visited);
        ck_assert_uint_eq(visited, want);
    }
    csm_store_free(s);
}
END_TEST

/* ---- segments ----------------------------------------------------------- */

/* Sorts the lines of [p, p+n) into a newly allocated array of strdup'ed
 * lines; the caller frees both. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **sorted_lines(const char *p, size_t n, size_t *count)
{
    size_t cap = 16;
    char **v = malloc(cap * sizeof(*v));
    size_t k = 0;
    size_t start = 0;

    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n')
            continue;
        if (k == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof(*v));
            ck_assert_ptr_nonnull(v);
        }
        v[k] = strndup(p + start, i - start);
        ck_assert_ptr_nonnull(v[k]);
        k++;
        start = i + 1;
    }
    /* Every sample line ends with a newline. */
    ck_assert_uint_eq(start, n);
    qsort(v, k, sizeof(*v), cmp_str);
    *count = k;
    return v;
}

static void free_lines(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* What a scrape of family f shows: the segments' slices, back to back. */
static void seg_text(csm_store *s, size_t f, csm_buf *out)
{
    csm_seg *const *segs;
    size_t n;

    csm_buf_reset(out);
    ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = csm_seg_slice(segs[i], f, &len);
        ck_assert_int_eq(csm_buf_append(out, p, len), CSM_OK);
    }
}

/* The naive renderer: every object's slice of family f, in any order. */
static csm_err naive_visit(void *ctx, const char *uid)
{
    void **a = ctx;
    size_t len;
    const char *p;
    csm_err err = csm_store_text(a[2], uid, *(size_t *)a[1], &p, &len);
    return err ? err : csm_buf_append(a[0], p, len);
}

static void assert_same_lines(const csm_buf *got, const csm_buf *want)
{
    size_t ng;
    size_t nw;
    char **g = sorted_lines(got->ptr ? got->ptr : "", got->len, &ng);
    char **w = sorted_lines(want->ptr ? want->ptr : "", want->len, &nw);

    ck_assert_uint_eq(ng, nw);
    for (size_t i = 0; i < ng; i++)
        ck_assert_str_eq(g[i], w[i]);
    free_lines(g, ng);
    free_lines(w, nw);
}

/* The segment's cached gzip form of family f inflates (raw deflate) to
 * exactly its text, with the CRC it claims. */
static void assert_gzip_matches(csm_seg *sg, size_t f)
{
    const csm_gzpiece *pc;
    size_t len;
    const char *p = csm_seg_slice(sg, f, &len);
    char *out = malloc(len + 1);
    z_stream zs;
    int rc;

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(csm_seg_gzip(sg, f, &pc), CSM_OK);
    ck_assert_uint_eq(pc->raw_len, len);
    ck_assert_uint_eq(pc->crc, (uint32_t)crc32(0, (const Bytef *)p, (uInt)len));
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(inflateInit2(&zs, -15), Z_OK);
    zs.next_in = pc->data;
    zs.avail_in = (uInt)pc->len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)len + 1;
    rc = inflate(&zs, Z_SYNC_FLUSH);
    ck_assert(rc == Z_OK || rc == Z_BUF_ERROR);
    ck_assert_uint_eq(zs.avail_in, 0);
    ck_assert_uint_eq(len + 1 - zs.avail_out, len);
    ck_assert_int_eq(memcmp(out, p, len), 0);
    inflateEnd(&zs);
    free(out);
}

START_TEST(test_segments_basic)
{
    csm_store *s = csm_store_new();
    csm_seg *const *segs;
    size_t n;
    size_t len;
    csm_seg *held;
    const char *p;

    ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
    ck_assert_uint_eq(n, 0);
    csm_store_upsert(s, "a", mk("a 1\n", "x{o=\"a\"} 1\n"));
    csm_store_upsert(s, "b", mk("b 1\n", ""));
    ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(csm_seg_objects(segs[0]), 2);
    p = csm_seg_slice(segs[0], 0, &len);
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(memcmp(p, "a 1\nb 1\n", 8), 0);
    p = csm_seg_slice(segs[0], 1, &len);
    ck_assert_uint_eq(len, 11);
    csm_seg_slice(segs[0], 2, &len);
    ck_assert_uint_eq(len, 0);

    /* A scrape in flight keeps its segment whatever the store does. */
    held = csm_seg_ref(segs[0]);
    csm_store_upsert(s, "a", mk("a 2\n", ""));
    csm_store_delete(s, "b");
    p = csm_seg_slice(held, 0, &len);
    ck_assert_int_eq(memcmp(p, "a 1\nb 1\n", 8), 0);
    /* The next scrape sees both changes. */
    ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_ne(segs[0], held);
    p = csm_seg_slice(segs[0], 0, &len);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(p, "a 2\n", 4), 0);
    csm_seg_unref(held);

    /* Nothing changed: the same segments again, nothing rebuilt. */
    held = segs[0];
    ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
    ck_assert_ptr_eq(segs[0], held);

    csm_store_delete(s, "a");
    ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
    ck_assert_uint_eq(n, 0);
    csm_seg_unref(NULL);
    csm_store_free(s);
}
END_TEST

START_TEST(test_segments_group_size)
{
    csm_store *s = csm_store_new();
    csm_seg *const *segs;
    size_t n;
    size_t objects = 0;
    char uid[32];
    char line[128];
    /* 100-byte lines: a group closes once it holds CSM_STORE_GROUP_BYTES,
     * a segment covers 16 groups. */
    size_t per_group = (CSM_STORE_GROUP_BYTES + 99) / 100;
    size_t groups = (30000 + per_group - 1) / per_group;

    for (int k = 0; k < 30000; k++) {
        snprintf(uid, sizeof(uid), "u%d", k);
        snprintf(line, sizeof(line), "%-98d\n", k);
        ck_assert_int_eq(csm_store_upsert(s, uid, mk(line, "")), CSM_OK);
    }
    ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
    ck_assert_uint_eq(n, (groups + 15) / 16);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        csm_seg_slice(segs[i], 0, &len);
        ck_assert_uint_le(len, 16 * per_group * 100);
        objects += csm_seg_objects(segs[i]);
    }
    ck_assert_uint_eq(objects, 30000);
    csm_store_free(s);
}
END_TEST

/*
 * Random upserts, replacements, deletes, relists and clears, with a scrape
 * after a random number of them: the segments' text must always equal what
 * a naive renderer walking every object gives (no duplicate, nothing lost,
 * every change visible on the next scrape), and segments held from earlier
 * scrapes must keep their text.
 */
START_TEST(test_segments_random_against_naive)
{
    enum { N = 40000, ROUNDS = 60 };
    csm_store *s = csm_store_new();
    unsigned seed = 12345;
    char uid[32];
    char a[96];
    char b[96];
    csm_buf got;
    csm_buf want;
    csm_buf snap;
    csm_seg *held = NULL;
    size_t held_len = 0;

    csm_buf_init(&got, 64u << 20);
    csm_buf_init(&want, 64u << 20);
    csm_buf_init(&snap, 1u << 20);
    for (int r = 0; r < ROUNDS; r++) {
        int ops = rand_r(&seed) % 2 ? (int)(rand_r(&seed) % 2000) : (int)(rand_r(&seed) % 4);
        int relist = rand_r(&seed) % 8 == 0;
        if (relist)
            csm_store_relist_begin(s);
        for (int o = 0; o < ops; o++) {
            int k = (int)(rand_r(&seed) % N);
            unsigned v = (unsigned)rand_r(&seed);
            snprintf(uid, sizeof(uid), "uid-%d", k);
            if (!relist && rand_r(&seed) % 4 == 0) {
                csm_store_delete(s, uid);
                continue;
            }
            /* Sizes vary so groups fill unevenly. */
            snprintf(a, sizeof(a), "a{o=\"%d\"} %u%.*s\n", k, v, (int)(v % 40),
                     "........................................");
            snprintf(b, sizeof(b), "b{o=\"%d\"} %u\n", k, v);
            ck_assert_int_eq(csm_store_upsert(s, uid, mk(a, v % 3 ? b : "")), CSM_OK);
        }
        if (relist)
            csm_store_relist_end(s);
        if (rand_r(&seed) % 30 == 0)
            csm_store_clear(s);
        for (size_t f = 0; f < 3; f++) {
            void *ctx[3] = {&want, &f, s};
            /* Before and after the rebuild: pending and segment text. */
            csm_buf_reset(&want);
            ck_assert_int_eq(csm_store_foreach(s, naive_visit, ctx), CSM_OK);
            seg_text(s, f, &got);
            assert_same_lines(&got, &want);
            csm_buf_reset(&want);
            ck_assert_int_eq(csm_store_foreach(s, naive_visit, ctx), CSM_OK);
            assert_same_lines(&got, &want);
        }
        if (held) {
            size_t len;
            const char *p = csm_seg_slice(held, 0, &len);
            ck_assert_uint_eq(len, held_len);
            ck_assert_int_eq(memcmp(p, snap.ptr, len), 0);
            csm_seg_unref(held);
            held = NULL;
        }
        {
            csm_seg *const *segs;
            size_t n;
            size_t len;
            const char *p;
            ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
            /* Gzip some segments each round, so that rebuilt ones carry
             * compressed pieces of unchanged groups over. */
            for (size_t i = 0; i < n; i++) {
                if (rand_r(&seed) % 2)
                    assert_gzip_matches(segs[i], (size_t)rand_r(&seed) % 2);
            }
            if (n) {
                held = csm_seg_ref(segs[(size_t)rand_r(&seed) % n]);
                p = csm_seg_slice(held, 0, &len);
                csm_buf_reset(&snap);
                ck_assert_int_eq(csm_buf_append(&snap, p, len), CSM_OK);
                held_len = len;
            }
        }
    }
    csm_seg_unref(held);
    csm_buf_free(&got);
    csm_buf_free(&want);
    csm_buf_free(&snap);
    csm_store_free(s);
}
END_TEST

/* Updates without scrapes in between: the pending buffer drops replaced
 * records (compaction) and every object keeps its latest text, before and
 * after the rebuild. */
START_TEST(test_updates_without_scrapes)
{
    csm_store *s = csm_store_new();
    char uid[32];
    char a[64];
    char want[64];
    csm_seg *const *segs;
    size_t n;
    size_t len;
    const char *p;

    for (int round = 0; round < 3000; round++) {
        for (int k = 0; k < 50; k++) {
            snprintf(uid, sizeof(uid), "u%d", k);
            snprintf(a, sizeof(a), "a{o=\"%d\"} %d%.*s\n", k, round, round % 7, "xxxxxxx");
            ck_assert_int_eq(csm_store_upsert(s, uid, mk(a, k % 2 ? "b 1\n" : "")), CSM_OK);
        }
        if (round % 500 == 499) {
            for (int k = 0; k < 50; k++) {
                snprintf(uid, sizeof(uid), "u%d", k);
                snprintf(want, sizeof(want), "a{o=\"%d\"} %d%.*s\n", k, round, round % 7,
                         "xxxxxxx");
                assert_text(s, uid, 0, want);
                assert_text(s, uid, 1, k % 2 ? "b 1\n" : "");
            }
        }
    }
    ck_assert_uint_eq(csm_store_count(s), 50);
    ck_assert_int_eq(csm_store_segments(s, &segs, &n), CSM_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(csm_seg_objects(segs[0]), 50);
    p = csm_seg_slice(segs[0], 1, &len);
    ck_assert_uint_eq(len, 25 * 4);
    ck_assert_int_eq(memcmp(p, "b 1\nb 1\n", 8), 0);
    assert_text(s, "u7", 0, "a{o=\"7\"} 2999xxx\n");
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
        ck_assert_int_eq(has(s, uid), i % 2 == 0);
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
    tcase_add_test(tc, test_segments_basic);
    tcase_add_test(tc, test_segments_group_size);
    tcase_add_test(tc, test_segments_random_against_naive);
    tcase_add_test(tc, test_remove_if);
    tcase_add_test(tc, test_updates_without_scrapes);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
