#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "check_main.h"
#include "render/lifecycle.h"

#define WS 1000000.25 /* watch start, Unix seconds with a fraction */

static csm_lifecycle *mk(int namespaced)
{
    csm_lifecycle *lc = NULL;
    ck_assert_int_eq(csm_lifecycle_new("memcached", namespaced, WS, &lc), CSM_OK);
    return lc;
}

static double secs(const csm_lifecycle *lc, const char *ns, double now)
{
    double s = -1;
    ck_assert_int_eq(csm_lifecycle_values(lc, ns, now, &s, NULL, NULL), CSM_OK);
    return s;
}

static void counts(const csm_lifecycle *lc, const char *ns, uint64_t c, uint64_t d)
{
    uint64_t gc = 99, gd = 99;
    ck_assert_int_eq(csm_lifecycle_values(lc, ns, WS, NULL, &gc, &gd), CSM_OK);
    ck_assert_uint_eq(gc, c);
    ck_assert_uint_eq(gd, d);
}

START_TEST(test_live_event_starts_at_arrival)
{
    csm_lifecycle *lc = mk(1);
    /* creationTimestamp is truncated; the arrival is what counts. */
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "u1", "a", floor(WS + 10.7), 0, WS + 10.7), CSM_OK);
    ck_assert_double_eq_tol(secs(lc, "a", WS + 20.7), 10.0, 1e-9);
    /* MODIFIED of a known object changes nothing. */
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "u1", "a", floor(WS + 10.7), 0, WS + 15), CSM_OK);
    ck_assert_double_eq_tol(secs(lc, "a", WS + 20.7), 10.0, 1e-9);
    ck_assert_int_eq(csm_lifecycle_deleted(lc, "u1", WS + 30.7), CSM_OK);
    ck_assert_double_eq_tol(secs(lc, "a", WS + 100), 20.0, 1e-9);
    counts(lc, "a", 1, 1);
    ck_assert_int_eq(csm_lifecycle_deleted(lc, "u1", WS + 40), CSM_ERR_NOT_FOUND);
    counts(lc, "a", 1, 1);
    ck_assert_int_eq(csm_lifecycle_values(lc, "b", WS, NULL, NULL, NULL), CSM_ERR_NOT_FOUND);
    csm_lifecycle_free(lc);
    csm_lifecycle_free(NULL);
}
END_TEST

START_TEST(test_short_life_between_scrapes)
{
    csm_lifecycle *lc = mk(1);
    csm_buf b;

    csm_buf_init(&b, 1 << 20);
    /* Lives a quarter second (exact in binary), between two scrapes. */
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "u", "a", floor(WS + 5), 0, WS + 5.25), CSM_OK);
    ck_assert_int_eq(csm_lifecycle_deleted(lc, "u", WS + 5.5), CSM_OK);
    ck_assert_int_eq(csm_lifecycle_write(lc, CSM_EXPO_TEXT, WS + 6, &b), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b),
                     "# HELP memcached_object_seconds_total Seconds objects existed while this "
                     "exporter watched them, summed per namespace.\n"
                     "# TYPE memcached_object_seconds_total counter\n"
                     "memcached_object_seconds_total{namespace=\"a\"} 0.25\n"
                     "# HELP memcached_created_total Objects created (creationTimestamp after the "
                     "watch started) while watched.\n"
                     "# TYPE memcached_created_total counter\n"
                     "memcached_created_total{namespace=\"a\"} 1\n"
                     "# HELP memcached_deleted_total Objects deleted while watched (DELETED "
                     "event, relist, or CRD deletion).\n"
                     "# TYPE memcached_deleted_total counter\n"
                     "memcached_deleted_total{namespace=\"a\"} 1\n");
    csm_buf_free(&b);
    csm_lifecycle_free(lc);
}
END_TEST

START_TEST(test_openmetrics_names_and_cluster_scope)
{
    csm_lifecycle *lc = mk(0);
    csm_buf b;

    csm_buf_init(&b, 1 << 20);
    /* Nothing seen yet: no families at all. */
    ck_assert_int_eq(csm_lifecycle_write(lc, CSM_EXPO_OPENMETRICS, WS, &b), CSM_OK);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "u", NULL, WS - 100, 1, WS + 1), CSM_OK);
    csm_lifecycle_enable(lc, CSM_LC_DELETED, 0);
    ck_assert_int_eq(csm_lifecycle_write(lc, CSM_EXPO_OPENMETRICS, WS + 3, &b), CSM_OK);
    /* Pre-existing: from the watch start; not a creation. */
    ck_assert_ptr_nonnull(strstr(csm_buf_str(&b), "# TYPE memcached_object_seconds counter\n"));
    ck_assert_ptr_nonnull(strstr(csm_buf_str(&b), "\nmemcached_object_seconds_total 3\n"));
    ck_assert_ptr_nonnull(strstr(csm_buf_str(&b), "# TYPE memcached_created counter\n"));
    ck_assert_ptr_nonnull(strstr(csm_buf_str(&b), "\nmemcached_created_total 0\n"));
    ck_assert_ptr_null(strstr(csm_buf_str(&b), "deleted"));
    ck_assert_ptr_null(strstr(csm_buf_str(&b), "{namespace"));
    ck_assert_str_eq(csm_lifecycle_family_name(lc, CSM_LC_CREATED), "memcached_created_total");
    csm_buf_free(&b);
    csm_lifecycle_free(lc);
}
END_TEST

START_TEST(test_preexisting_starts_at_max_of_creation_and_watch)
{
    csm_lifecycle *lc = mk(1);
    /* Older than the watch: from the watch start. */
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "old", "a", WS - 3600, 1, WS + 0.5), CSM_OK);
    /* Created after the watch started, first seen by a (re)list: from its
     * creationTimestamp, and it is a creation. */
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "gap", "a", WS + 50, 1, WS + 80), CSM_OK);
    /* A timestamp in the future (clock skew) never starts after now. */
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "skew", "b", WS + 500, 1, WS + 90), CSM_OK);
    /* No timestamp: from now, not counted as created by a list. */
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "nots", "c", NAN, 1, WS + 95), CSM_OK);
    ck_assert_double_eq_tol(secs(lc, "a", WS + 100), 100.0 + 50.0, 1e-9);
    ck_assert_double_eq_tol(secs(lc, "b", WS + 100), 10.0, 1e-9);
    ck_assert_double_eq_tol(secs(lc, "c", WS + 100), 5.0, 1e-9);
    counts(lc, "a", 1, 0);
    counts(lc, "b", 1, 0);
    counts(lc, "c", 0, 0);
    /* A live ADDED of an old object (a label now matches the selector):
     * from arrival, not a creation. */
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "relabel", "c", WS - 10, 0, WS + 99), CSM_OK);
    counts(lc, "c", 0, 0);
    ck_assert_double_eq_tol(secs(lc, "c", WS + 100), 6.0, 1e-9);
    ck_assert_uint_eq(csm_lifecycle_live(lc), 5);
    csm_lifecycle_free(lc);
}
END_TEST

START_TEST(test_relist_no_double_count_and_sweep)
{
    csm_lifecycle *lc = mk(1);

    ck_assert_int_eq(csm_lifecycle_sync_begin(lc, 0), CSM_OK);
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "u1", "a", WS - 5, 1, WS + 1), CSM_OK);
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "u2", "a", WS - 5, 1, WS + 1), CSM_OK);
    ck_assert_uint_eq(csm_lifecycle_sync_end(lc, 0, WS + 1), 0);
    /* 410: relist at WS+60; u1 is listed again, u2 is gone. */
    ck_assert_int_eq(csm_lifecycle_sync_begin(lc, 0), CSM_OK);
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "u1", "a", WS - 5, 1, WS + 60), CSM_OK);
    ck_assert_uint_eq(csm_lifecycle_sync_end(lc, 0, WS + 60), 1);
    ck_assert_double_eq_tol(secs(lc, "a", WS + 60), 60.0 + 60.0, 1e-9);
    counts(lc, "a", 0, 1);
    /* Same name, new UID: a new object (a creation), the old one ended. */
    ck_assert_int_eq(csm_lifecycle_deleted(lc, "u1", WS + 70), CSM_OK);
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "u1-new", "a", WS + 70, 0, WS + 70.5), CSM_OK);
    ck_assert_double_eq_tol(secs(lc, "a", WS + 80.5), 60.0 + 70.0 + 10.0, 1e-9);
    counts(lc, "a", 1, 2);
    csm_lifecycle_free(lc);
}
END_TEST

START_TEST(test_sources_sweep_only_their_own)
{
    csm_lifecycle *lc = mk(1);

    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "a1", "a", WS - 1, 1, WS + 1), CSM_OK);
    ck_assert_int_eq(csm_lifecycle_seen(lc, 1, "b1", "b", WS - 1, 1, WS + 1), CSM_OK);
    ck_assert_int_eq(csm_lifecycle_sync_begin(lc, 1), CSM_OK);
    ck_assert_uint_eq(csm_lifecycle_sync_end(lc, 1, WS + 5), 1);
    ck_assert_uint_eq(csm_lifecycle_live(lc), 1);
    counts(lc, "a", 0, 0);
    counts(lc, "b", 0, 1);
    /* A source never synced sweeps nothing. */
    ck_assert_uint_eq(csm_lifecycle_sync_end(lc, 7, WS + 5), 0);
    /* CRD deleted: everything ends once; the counters stay. */
    ck_assert_uint_eq(csm_lifecycle_clear(lc, WS + 9), 1);
    ck_assert_uint_eq(csm_lifecycle_clear(lc, WS + 10), 0);
    counts(lc, "a", 0, 1);
    ck_assert_double_eq_tol(secs(lc, "a", WS + 1000), 9.0, 1e-9);
    ck_assert_double_eq_tol(secs(lc, "b", WS + 1000), 5.0, 1e-9);
    csm_lifecycle_free(lc);
}
END_TEST

/* Resharding: a hand-over ends accrual without a deletion, and objects
 * taken over start at the take-over, so two shards never meter the same
 * second (the old owner until t, the new one from t). */
START_TEST(test_shard_handover)
{
    csm_lifecycle *a = mk(1); /* the shard that loses u */
    csm_lifecycle *b = mk(1); /* the shard that gains it */

    ck_assert_int_eq(csm_lifecycle_seen(a, 0, "u", "ns", WS - 100, 1, WS + 1), CSM_OK);
    ck_assert_int_eq(csm_lifecycle_handed_over(a, "u", WS + 40), CSM_OK);
    ck_assert_int_eq(csm_lifecycle_handed_over(a, "u", WS + 41), CSM_ERR_NOT_FOUND);
    ck_assert_int_eq((int)csm_lifecycle_live(a), 0);
    ck_assert_double_eq_tol(secs(a, "ns", WS + 100), 40.0, 1e-9);
    counts(a, "ns", 0, 0);

    csm_lifecycle_take_over(b, WS + 40);
    csm_lifecycle_take_over(b, WS + 10); /* never backwards */
    ck_assert_int_eq(csm_lifecycle_seen(b, 0, "u", "ns", WS - 100, 1, WS + 42), CSM_OK);
    /* Created while a held it: a counted the creation, b does not. */
    ck_assert_int_eq(csm_lifecycle_seen(b, 0, "v", "ns", WS + 20, 1, WS + 42), CSM_OK);
    ck_assert_double_eq_tol(secs(b, "ns", WS + 100), 120.0, 1e-9);
    counts(b, "ns", 0, 0);
    /* Together: u existed for the whole 100 s, metered once. */
    ck_assert_double_eq_tol(secs(a, "ns", WS + 100) + secs(b, "ns", WS + 100) - 60.0, 100.0, 1e-9);
    csm_lifecycle_free(a);
    csm_lifecycle_free(b);
}
END_TEST

START_TEST(test_bad_arguments)
{
    csm_lifecycle *lc = NULL;
    ck_assert_int_eq(csm_lifecycle_new("", 1, WS, &lc), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_lifecycle_new("x", 1, NAN, &lc), CSM_ERR_INVALID);
    lc = mk(1);
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "", "a", WS, 0, WS), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, NULL, "a", WS, 0, WS), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_lifecycle_seen(lc, 0, "u", "a", WS, 0, INFINITY), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_lifecycle_deleted(lc, NULL, WS), CSM_ERR_NOT_FOUND);
    csm_lifecycle_free(lc);
}
END_TEST

/* ---- random sequences against a model ---------------------------------- */

#define NS   4
#define MAXO 4000

/* The world (what the API server holds) and what the accounting should
 * know, computed by the rules with no cleverness: a list. */
typedef struct mobj {
    char uid[32];
    int ns;
    double ct; /* true creation time */
    int alive; /* in the world */
    int known; /* live in the accounting */
    double start;
} mobj;

typedef struct model {
    mobj o[MAXO];
    int n;
    double closed[NS];
    uint64_t created[NS];
    uint64_t deleted[NS];
} model;

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *ns_name(int i)
{
    static const char *const names[NS] = {"alpha", "beta", "gamma", "delta"};
    return names[i];
}

/* Two informers: namespaces alpha/beta are source 0, gamma/delta source 1. */
static uint32_t src_of(int ns)
{
    return (uint32_t)(ns / 2);
}

static void model_end(model *m, mobj *o, double t)
{
    m->closed[o->ns] += t - o->start;
    m->deleted[o->ns]++;
    o->known = 0;
}

static void relist(csm_lifecycle *lc, model *m, uint32_t src, double t)
{
    ck_assert_int_eq(csm_lifecycle_sync_begin(lc, src), CSM_OK);
    for (int i = 0; i < m->n; i++) {
        mobj *o = &m->o[i];
        if (!o->alive || src_of(o->ns) != src)
            continue;
        ck_assert_int_eq(csm_lifecycle_seen(lc, src, o->uid, ns_name(o->ns), floor(o->ct), 1, t),
                         CSM_OK);
        if (!o->known) {
            double s = floor(o->ct) > WS ? floor(o->ct) : WS;
            o->known = 1;
            o->start = s < t ? s : t;
            if (floor(o->ct) >= WS)
                m->created[o->ns]++;
        }
    }
    for (int i = 0; i < m->n; i++) {
        mobj *o = &m->o[i];
        if (o->known && !o->alive && src_of(o->ns) == src)
            model_end(m, o, t);
    }
    csm_lifecycle_sync_end(lc, src, t);
}

START_TEST(test_random_against_model)
{
    static model m;
    csm_lifecycle *lc = mk(1);
    double t = WS - 500;
    double last[NS] = {0};
    int connected[2] = {0, 0};
    int scrapes = 0;

    memset(&m, 0, sizeof(m));
    /* Objects that exist before the watch. */
    for (; m.n < 30; m.n++) {
        mobj *o = &m.o[m.n];
        snprintf(o->uid, sizeof(o->uid), "uid-%d", m.n);
        o->ns = (int)(rnd() % NS);
        o->ct = t + (double)m.n * 10.3;
        o->alive = 1;
    }
    t = WS + 0.5;
    relist(lc, &m, 0, t);
    relist(lc, &m, 1, t);
    connected[0] = connected[1] = 1;
    for (int step = 0; step < 20000 && m.n < MAXO; step++) {
        unsigned op = (unsigned)(rnd() % 100);
        t += (double)(rnd() % 2000) / 1000.0;
        if (op < 35) { /* create (a delete + re-create reuses no UID) */
            mobj *o = &m.o[m.n];
            snprintf(o->uid, sizeof(o->uid), "uid-%d", m.n);
            o->ns = (int)(rnd() % NS);
            o->ct = t;
            o->alive = 1;
            m.n++;
            if (connected[src_of(o->ns)]) {
                ck_assert_int_eq(
                    csm_lifecycle_seen(lc, src_of(o->ns), o->uid, ns_name(o->ns), floor(t), 0, t),
                    CSM_OK);
                o->known = 1;
                o->start = t;
                m.created[o->ns]++;
            }
        } else if (op < 65) { /* delete a random live object */
            mobj *o = &m.o[rnd() % (uint64_t)m.n];
            if (!o->alive)
                continue;
            o->alive = 0;
            if (connected[src_of(o->ns)] && o->known) {
                ck_assert_int_eq(csm_lifecycle_deleted(lc, o->uid, t), CSM_OK);
                model_end(&m, o, t);
            }
        } else if (op < 72) { /* modify: nothing changes */
            mobj *o = &m.o[rnd() % (uint64_t)m.n];
            if (o->alive && o->known && connected[src_of(o->ns)])
                ck_assert_int_eq(csm_lifecycle_seen(lc, src_of(o->ns), o->uid, ns_name(o->ns),
                                                    floor(o->ct), 0, t),
                                 CSM_OK);
        } else if (op < 77) { /* the watch breaks: events are missed */
            connected[rnd() % 2] = 0;
        } else if (op < 85) { /* 410 or reconnect: relist that source */
            uint32_t s = (uint32_t)(rnd() % 2);
            relist(lc, &m, s, t);
            connected[s] = 1;
        } else if (op < 86) { /* the CRD is deleted, later re-created */
            size_t known = 0;
            for (int i = 0; i < m.n; i++)
                known += (size_t)m.o[i].known;
            ck_assert_uint_eq(csm_lifecycle_clear(lc, t), known);
            for (int i = 0; i < m.n; i++) {
                if (m.o[i].known)
                    model_end(&m, &m.o[i], t);
                m.o[i].alive = 0;
            }
            connected[0] = connected[1] = 0;
        } else { /* scrape */
            size_t live = 0;
            for (int i = 0; i < m.n; i++)
                live += (size_t)m.o[i].known;
            ck_assert_uint_eq(csm_lifecycle_live(lc), live);
            for (int ns = 0; ns < NS; ns++) {
                double want = m.closed[ns];
                double got;
                uint64_t c, d;
                for (int i = 0; i < m.n; i++) {
                    if (m.o[i].known && m.o[i].ns == ns)
                        want += t - m.o[i].start;
                }
                if (csm_lifecycle_values(lc, ns_name(ns), t, &got, &c, &d) == CSM_ERR_NOT_FOUND) {
                    ck_assert_uint_eq(m.created[ns] + m.deleted[ns], 0);
                    continue;
                }
                ck_assert_double_eq_tol(got, want, 1e-6);
                ck_assert_uint_eq(c, m.created[ns]);
                ck_assert_uint_eq(d, m.deleted[ns]);
                ck_assert(got >= last[ns]);
                last[ns] = got;
            }
            scrapes++;
        }
    }
    ck_assert_int_gt(scrapes, 1000);
    csm_lifecycle_free(lc);
}
END_TEST

/* Served values never go down, even when rounding in the running sums
 * would make a recomputed value dip. */
START_TEST(test_written_values_monotonic)
{
    csm_lifecycle *lc = mk(1);
    csm_buf b;
    double prev = -1;
    char uid[32];

    csm_buf_init(&b, 1 << 20);
    for (int i = 0; i < 3000; i++) {
        double t = WS + 1e7 + i * 0.001;
        const char *p;
        double v;
        snprintf(uid, sizeof(uid), "u%d", i);
        ck_assert_int_eq(csm_lifecycle_seen(lc, 0, uid, "a", NAN, 0, t), CSM_OK);
        if (i % 3 == 0) {
            snprintf(uid, sizeof(uid), "u%d", i / 2);
            csm_lifecycle_deleted(lc, uid, t);
        }
        csm_buf_reset(&b);
        ck_assert_int_eq(csm_lifecycle_write(lc, CSM_EXPO_TEXT, t, &b), CSM_OK);
        p = strstr(csm_buf_str(&b), "memcached_object_seconds_total{namespace=\"a\"} ");
        ck_assert_ptr_nonnull(p);
        v = strtod(p + strlen("memcached_object_seconds_total{namespace=\"a\"} "), NULL);
        ck_assert(v >= prev);
        prev = v;
    }
    csm_buf_free(&b);
    csm_lifecycle_free(lc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_live_event_starts_at_arrival);
    tcase_add_test(tc, test_short_life_between_scrapes);
    tcase_add_test(tc, test_openmetrics_names_and_cluster_scope);
    tcase_add_test(tc, test_preexisting_starts_at_max_of_creation_and_watch);
    tcase_add_test(tc, test_relist_no_double_count_and_sweep);
    tcase_add_test(tc, test_sources_sweep_only_their_own);
    tcase_add_test(tc, test_shard_handover);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_random_against_model);
    tcase_add_test(tc, test_written_values_monotonic);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
