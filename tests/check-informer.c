/*
 * The list/watch loop against a fake transport (fakekreq.h) whose requests
 * the tests answer by hand: paged LIST, WATCH from the list's
 * resourceVersion, events, bookmarks, 410 relists in client-go's order,
 * malformed events, 404, Retry-After, WatchList and its fallback, reshard
 * and stop. No server; only the Retry-After test waits for a timer.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "fakekreq.h"
#include "ingest/informer.h"
#include "serve/telemetry.h"

#define PATH "/apis/cache.example.com/v1/memcacheds"

typedef struct h {
    struct event_base *base;
    fake_kreq_transport f;
    csm_telemetry *tel;
    csm_informer_env env;
    csm_informer_hooks hooks;
    csm_informer *inf;
    FILE *logf;
    char *logtext;
    size_t loglen;
    csm_log *log;
    int synced;
    int gone;
    int deleted;
    int seen_listed;
    int seen_live;
    int sync_begin;
    int sync_end;
} h;

/* One family holding the object's uid, so the store's content is visible. */
static csm_err render(void *ctx, const cJSON *obj, csm_block **out)
{
    const cJSON *uid =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "uid");
    char line[256];
    const char *texts[1] = {line};
    size_t lens[1];

    (void)ctx;
    lens[0] = (size_t)snprintf(line, sizeof(line), "obj{uid=\"%s\"} 1\n", uid->valuestring);
    *out = csm_block_new(1, texts, lens);
    return *out ? CSM_OK : CSM_ERR_NOMEM;
}

static void on_synced(void *ctx)
{
    ((h *)ctx)->synced++;
}

static void on_gone(void *ctx)
{
    ((h *)ctx)->gone++;
}

static void on_deleted(void *ctx, const cJSON *obj)
{
    (void)obj;
    ((h *)ctx)->deleted++;
}

static void on_seen(void *ctx, const cJSON *obj, int listed)
{
    (void)obj;
    if (listed)
        ((h *)ctx)->seen_listed++;
    else
        ((h *)ctx)->seen_live++;
}

static void on_sync_begin(void *ctx)
{
    ((h *)ctx)->sync_begin++;
}

static void on_sync_end(void *ctx)
{
    ((h *)ctx)->sync_end++;
}

static void h_env(h *x)
{
    static const char *const res_result[] = {"resource", "result"};
    static const char *const res_type[] = {"resource", "type"};
    static const char *const res_reason[] = {"resource", "reason"};
    static const char *const res_code[] = {"resource", "code"};
    static const char *const res_only[] = {"resource"};

    memset(x, 0, sizeof(*x));
    x->base = event_base_new();
    ck_assert_ptr_nonnull(x->base);
    x->tel = csm_telemetry_new();
    ck_assert_ptr_nonnull(x->tel);
    ck_assert_int_eq(csm_tel_family_add(x->tel, "list_total", "h", CSM_METRIC_COUNTER, 2,
                                        res_result, &x->env.list_total),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_family_add(x->tel, "watch_total", "h", CSM_METRIC_COUNTER, 2,
                                        res_result, &x->env.watch_total),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_family_add(x->tel, "events_total", "h", CSM_METRIC_COUNTER, 2,
                                        res_type, &x->env.events_total),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_family_add(x->tel, "relists_total", "h", CSM_METRIC_COUNTER, 2,
                                        res_reason, &x->env.relists_total),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_family_add(x->tel, "errors_total", "h", CSM_METRIC_COUNTER, 2,
                                        res_code, &x->env.api_errors),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_family_add(x->tel, "last_sync", "h", CSM_METRIC_GAUGE, 1, res_only,
                                        &x->env.last_sync),
                     CSM_OK);
    x->logf = open_memstream(&x->logtext, &x->loglen);
    ck_assert_ptr_nonnull(x->logf);
    x->log = csm_log_new(x->logf, CSM_LOG_DEBUG, CSM_LOG_TEXT);
    ck_assert_ptr_nonnull(x->log);
    x->env.base = x->base;
    x->env.log = x->log;
    fake_kreq_init(&x->f, &x->env.transport);
    x->hooks.render = render;
    x->hooks.synced = on_synced;
    x->hooks.gone = on_gone;
    x->hooks.deleted = on_deleted;
    x->hooks.seen = on_seen;
    x->hooks.sync_begin = on_sync_begin;
    x->hooks.sync_end = on_sync_end;
    x->hooks.ctx = x;
}

static void h_start(h *x)
{
    ck_assert_int_eq(csm_informer_new(&x->env, "mc", PATH, NULL, &x->hooks, &x->inf), CSM_OK);
    ck_assert_int_eq(csm_informer_start(x->inf), CSM_OK);
}

static void h_teardown(h *x)
{
    csm_informer_free(x->inf);
    csm_log_free(x->log);
    fclose(x->logf);
    free(x->logtext);
    csm_telemetry_free(x->tel);
    fake_kreq_free(&x->f);
    event_base_free(x->base);
}

static double tel2(const csm_tel_family *f, const char *b)
{
    const char *v[2] = {"mc", b};
    return csm_tel_get(f, v);
}

static size_t count(const h *x)
{
    return csm_store_count(csm_informer_store(x->inf));
}

static int has(const h *x, const char *uid)
{
    const char *p;
    size_t len;

    return csm_store_text(csm_informer_store(x->inf), uid, 0, &p, &len) == CSM_OK;
}

/* 1 if the informer's state line holds text. */
static int state_has(const h *x, const char *text)
{
    return strstr(csm_informer_state(x->inf), text) != NULL;
}

static int logged(h *x, const char *text)
{
    fflush(x->logf);
    return x->logtext && strstr(x->logtext, text) != NULL;
}

#define OBJ(uid, rv)                                                                               \
    "{\"metadata\":{\"name\":\"" uid "\",\"uid\":\"" uid "\",\"resourceVersion\":\"" rv "\"}}"
#define EVENT(type, uid, rv) "{\"type\":\"" type "\",\"object\":" OBJ(uid, rv) "}\n"
#define EXPIRED                                                                                    \
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","     \
    "\"message\":\"too old resource version\"}}\n"
#define STATUS410 "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\",\"message\":\"gone\"}"

/* Lists a, b, c in two pages (limit 2) at resourceVersion 11 and checks
 * that a watch from 11 follows. */
static void h_list_abc(h *x)
{
    fake_kreq *r;

    r = fake_kreq_open(&x->f);
    ck_assert_str_eq(r->path, PATH "?limit=2");
    fake_kreq_finish(r, 200,
                     "{\"metadata\":{\"resourceVersion\":\"10\",\"continue\":\"c 1\"},\"items\":"
                     "[" OBJ("a", "5") "," OBJ("b", "6") "]}");
    ck_assert_int_eq(x->synced, 0);
    r = fake_kreq_open(&x->f);
    ck_assert_str_eq(r->path, PATH "?limit=2&continue=c%201");
    fake_kreq_finish(r, 200,
                     "{\"metadata\":{\"resourceVersion\":\"11\"},\"items\":[" OBJ("c", "7") "]}");
    ck_assert_int_eq(x->synced, 1);
    ck_assert(csm_informer_synced(x->inf));
    ck_assert_uint_eq(count(x), 3);
    r = fake_kreq_open(&x->f);
    ck_assert_ptr_nonnull(strstr(r->path, PATH "?watch=1&allowWatchBookmarks=true"
                                               "&resourceVersion=11&timeoutSeconds="));
}

START_TEST(test_list_pages_then_watch)
{
    h x;

    h_env(&x);
    x.env.page_size = 2;
    h_start(&x);
    ck_assert_uint_eq(x.f.n, 1);
    ck_assert_int_eq(x.sync_begin, 1);
    h_list_abc(&x);
    ck_assert_uint_eq(x.f.n, 3);
    ck_assert_int_eq(x.seen_listed, 3);
    ck_assert_int_eq(x.sync_end, 1);
    ck_assert(has(&x, "a") && has(&x, "b") && has(&x, "c"));
    ck_assert(tel2(x.env.list_total, "success") == 1);
    ck_assert_str_eq(csm_informer_state(x.inf), "watching from resourceVersion 11");
    /* The watch's server-side timeout is spread over [300, 600) s, and the
     * client's limit is a minute longer. */
    {
        const char *t = strstr(x.f.reqs[2].path, "timeoutSeconds=") + strlen("timeoutSeconds=");
        long ts = strtol(t, NULL, 10);
        ck_assert_int_ge(ts, 300);
        ck_assert_int_lt(ts, 600);
        ck_assert_int_eq(x.f.reqs[2].timeout_s, ts + 60);
    }
    h_teardown(&x);
}
END_TEST

START_TEST(test_watch_events_and_rewatch)
{
    h x;
    fake_kreq *w;
    const char *stream = EVENT("ADDED", "d", "12") EVENT("MODIFIED", "a", "13")
        EVENT("DELETED", "b", "14") "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
                                    "{\"resourceVersion\":\"20\"}}}\n";

    h_env(&x);
    x.env.page_size = 2;
    h_start(&x);
    h_list_abc(&x);
    w = fake_kreq_open(&x.f);
    /* A stream splits lines anywhere: feed it 7 bytes at a time. */
    for (size_t i = 0; i < strlen(stream); i += 7) {
        size_t n = strlen(stream) - i < 7 ? strlen(stream) - i : 7;
        ck_assert_int_eq(fake_kreq_feedn(w, stream + i, n), CSM_OK);
    }
    ck_assert_uint_eq(count(&x), 3);
    ck_assert(has(&x, "a") && !has(&x, "b") && has(&x, "c") && has(&x, "d"));
    ck_assert_int_eq(x.deleted, 1);
    ck_assert_int_eq(x.seen_live, 2);
    ck_assert(tel2(x.env.events_total, "ADDED") == 1);
    ck_assert(tel2(x.env.events_total, "MODIFIED") == 1);
    ck_assert(tel2(x.env.events_total, "DELETED") == 1);
    ck_assert(tel2(x.env.events_total, "BOOKMARK") == 1);
    ck_assert(tel2(x.env.events_total, "MALFORMED") == 0);
    /* The server ends a watch that delivered events: re-watch at once from
     * the bookmark's resourceVersion, no relist. */
    fake_kreq_finish(w, 200, NULL);
    w = fake_kreq_open(&x.f);
    ck_assert_uint_eq(x.f.n, 4);
    ck_assert_ptr_nonnull(strstr(w->path, "watch=1&allowWatchBookmarks=true&resourceVersion=20&"));
    ck_assert(tel2(x.env.watch_total, "success") == 1);
    ck_assert_int_eq(x.synced, 1);
    /* One that ends at once with nothing is not trusted: back off. */
    fake_kreq_finish(w, 200, NULL);
    ck_assert_uint_eq(x.f.n, 4);
    ck_assert_msg(state_has(&x, "after watch closed immediately"), "state: %s",
                  csm_informer_state(x.inf));
    h_teardown(&x);
}
END_TEST

/* An ERROR 410 event relists at the last resourceVersion; that expired
 * too, a consistent LIST; the relist replaces the store without emptying
 * it on the way. */
START_TEST(test_watch_expired_relists_in_order)
{
    h x;
    fake_kreq *r;

    h_env(&x);
    x.env.page_size = 2;
    h_start(&x);
    h_list_abc(&x);
    r = fake_kreq_open(&x.f);
    ck_assert_int_eq(fake_kreq_feed(r, EVENT("MODIFIED", "a", "15")), CSM_OK);
    ck_assert_int_ne(fake_kreq_feed(r, EXPIRED), CSM_OK);
    fake_kreq_finish(r, 200, NULL);
    ck_assert(tel2(x.env.watch_total, "expired") == 1);
    ck_assert(tel2(x.env.relists_total, "watch_expired") == 1);
    r = fake_kreq_open(&x.f);
    ck_assert_str_eq(r->path, PATH "?limit=2&resourceVersion=15&resourceVersionMatch=NotOlderThan");
    fake_kreq_finish(r, 410, STATUS410);
    ck_assert(tel2(x.env.relists_total, "list_expired") == 1);
    r = fake_kreq_open(&x.f);
    ck_assert_str_eq(r->path, PATH "?limit=2");
    /* First page of the relist: nothing is swept before the last page. */
    fake_kreq_finish(r, 200,
                     "{\"metadata\":{\"resourceVersion\":\"30\",\"continue\":\"k\"},\"items\":"
                     "[" OBJ("a", "16") "]}");
    ck_assert_uint_eq(count(&x), 3);
    r = fake_kreq_open(&x.f);
    ck_assert_str_eq(r->path, PATH "?limit=2&continue=k");
    fake_kreq_finish(r, 200, "{\"metadata\":{\"resourceVersion\":\"31\"},\"items\":[]}");
    ck_assert_uint_eq(count(&x), 1);
    ck_assert(has(&x, "a"));
    ck_assert_int_eq(x.synced, 2);
    ck_assert(tel2(x.env.list_total, "success") == 2);
    ck_assert(tel2(x.env.list_total, "error") == 1);
    ck_assert_ptr_nonnull(strstr(fake_kreq_open(&x.f)->path, "&resourceVersion=31&"));
    h_teardown(&x);
}
END_TEST

/* A 410 status on the WATCH itself relists the same way; a continue token
 * that expires restarts the list from scratch. */
START_TEST(test_watch_410_status_and_continue_expired)
{
    h x;
    fake_kreq *r;

    h_env(&x);
    x.env.page_size = 2;
    h_start(&x);
    h_list_abc(&x);
    fake_kreq_finish(fake_kreq_open(&x.f), 410, STATUS410);
    ck_assert(tel2(x.env.relists_total, "watch_expired") == 1);
    r = fake_kreq_open(&x.f);
    ck_assert_str_eq(r->path, PATH "?limit=2&resourceVersion=11&resourceVersionMatch=NotOlderThan");
    fake_kreq_finish(r, 200,
                     "{\"metadata\":{\"resourceVersion\":\"40\",\"continue\":\"t\"},\"items\":"
                     "[" OBJ("a", "16") "]}");
    fake_kreq_finish(fake_kreq_open(&x.f), 410, STATUS410);
    ck_assert(tel2(x.env.relists_total, "continue_expired") == 1);
    ck_assert(tel2(x.env.relists_total, "list_expired") == 0);
    ck_assert_str_eq(fake_kreq_open(&x.f)->path, PATH "?limit=2");
    ck_assert_uint_eq(count(&x), 3);
    h_teardown(&x);
}
END_TEST

/* A malformed line is logged and counted and the stream goes on; so is an
 * object without a uid. */
START_TEST(test_malformed_events_are_skipped)
{
    h x;
    fake_kreq *w;
    size_t n;

    h_env(&x);
    x.env.page_size = 2;
    h_start(&x);
    h_list_abc(&x);
    n = x.f.n;
    w = fake_kreq_open(&x.f);
    ck_assert_int_eq(fake_kreq_feed(w, "this is not json\n"), CSM_OK);
    ck_assert_int_eq(fake_kreq_feed(w, "{\"type\":\"SIDEWAYS\",\"object\":{}}\n"), CSM_OK);
    ck_assert_int_eq(fake_kreq_feed(w, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}\n"),
                     CSM_OK);
    ck_assert_int_eq(fake_kreq_feed(w, EVENT("ADDED", "e", "21")), CSM_OK);
    ck_assert(tel2(x.env.events_total, "MALFORMED") == 3);
    ck_assert(has(&x, "e"));
    ck_assert_uint_eq(count(&x), 4);
    ck_assert_uint_eq(x.f.n, n);
    ck_assert_int_eq(w->state, FAKE_KREQ_OPEN);
    ck_assert(logged(&x, "mc: skipped a malformed watch event"));
    ck_assert(logged(&x, "mc: object without metadata.uid skipped"));
    h_teardown(&x);
}
END_TEST

/* An oversized event is dropped whole and the next one is read. */
START_TEST(test_oversized_event_and_page)
{
    h x;
    fake_kreq *r;
    char big[512];

    h_env(&x);
    x.env.page_size = 2;
    x.env.max_event_bytes = 256;
    x.env.max_page_bytes = 300;
    h_start(&x);
    r = fake_kreq_open(&x.f);
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    /* A page over the cap aborts its request: an error, and a retry later. */
    fake_kreq_feed(r, "{\"metadata\":{},\"items\":[");
    ck_assert_int_ne(fake_kreq_feed(r, big), CSM_OK);
    fake_kreq_finish(r, 200, NULL);
    ck_assert(tel2(x.env.list_total, "error") == 1);
    ck_assert_msg(state_has(&x, "LIST page larger than 300 bytes"), "state: %s",
                  csm_informer_state(x.inf));
    ck_assert_uint_eq(x.f.n, 1);
    h_teardown(&x);

    h_env(&x);
    x.env.page_size = 2;
    x.env.max_event_bytes = 256;
    h_start(&x);
    h_list_abc(&x);
    r = fake_kreq_open(&x.f);
    big[sizeof(big) - 2] = '\n';
    ck_assert_int_eq(fake_kreq_feed(r, big), CSM_OK);
    ck_assert_int_eq(fake_kreq_feed(r, EVENT("ADDED", "f", "22")), CSM_OK);
    ck_assert(tel2(x.env.events_total, "MALFORMED") == 1);
    ck_assert(has(&x, "f"));
    h_teardown(&x);
}
END_TEST

START_TEST(test_404_means_gone)
{
    h x;

    h_env(&x);
    h_start(&x);
    fake_kreq_finish(fake_kreq_open(&x.f), 404, "{\"kind\":\"Status\",\"code\":404}");
    ck_assert_int_eq(x.gone, 1);
    ck_assert_str_eq(csm_informer_state(x.inf), "not served");
    ck_assert_uint_eq(x.f.n, 1);
    /* Gone is final for this informer: a reshard does not revive it. */
    csm_informer_resync(x.inf);
    ck_assert_uint_eq(x.f.n, 1);
    h_teardown(&x);

    /* The same from a WATCH. */
    h_env(&x);
    x.env.page_size = 2;
    h_start(&x);
    h_list_abc(&x);
    fake_kreq_finish(fake_kreq_open(&x.f), 404, NULL);
    ck_assert_int_eq(x.gone, 1);
    ck_assert_uint_eq(x.f.n, 3);
    h_teardown(&x);
}
END_TEST

/* Retry-After is a floor for the backoff: the LIST is retried no sooner. */
START_TEST(test_retry_after_is_honoured)
{
    h x;
    double t0;
    double waited;

    h_env(&x);
    h_start(&x);
    t0 = fake_kreq_now();
    /* The first backoff is 0.8 s to 1.2 s: 1.5 s must win. */
    fake_kreq_finish_full(fake_kreq_open(&x.f), 429, "{\"kind\":\"Status\",\"code\":429}", 0, 1.5);
    ck_assert(tel2(x.env.api_errors, "429") == 1);
    ck_assert(tel2(x.env.list_total, "error") == 1);
    ck_assert_str_eq(csm_informer_state(x.inf), "backing off 1.5s after HTTP 429");
    ck_assert_uint_eq(x.f.n, 1);
    fake_kreq_wait(&x.f, x.base, 2);
    waited = fake_kreq_now() - t0;
    ck_assert_uint_eq(x.f.n, 2);
    ck_assert_msg(waited >= 1.5, "retried after %.3fs", waited);
    ck_assert_str_eq(fake_kreq_open(&x.f)->path, PATH "?limit=500");
    /* A connection failure counts under "transport". */
    fake_kreq_finish_full(fake_kreq_open(&x.f), 0, NULL, 7, -1);
    ck_assert(tel2(x.env.api_errors, "transport") == 1);
    ck_assert_msg(state_has(&x, "connection error"), "state: %s", csm_informer_state(x.inf));
    h_teardown(&x);
}
END_TEST

/* WatchList: the initial state arrives as ADDED events until the
 * initial-events-end bookmark, which completes the sync and sweeps. */
START_TEST(test_watch_list_bookmark_ends_the_sync)
{
    h x;
    fake_kreq *w;

    h_env(&x);
    x.env.watch_list = 1;
    h_start(&x);
    w = fake_kreq_open(&x.f);
    ck_assert_ptr_nonnull(strstr(w->path,
                                 PATH "?watch=1&allowWatchBookmarks=true"
                                      "&sendInitialEvents=true"
                                      "&resourceVersionMatch=NotOlderThan&timeoutSeconds="));
    ck_assert_int_eq(fake_kreq_feed(w, EVENT("ADDED", "a", "5") EVENT("ADDED", "b", "6")), CSM_OK);
    /* A bookmark without the annotation is only progress. */
    ck_assert_int_eq(
        fake_kreq_feed(w, "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
                          "\"8\"}}}\n"),
        CSM_OK);
    ck_assert_int_eq(x.synced, 0);
    ck_assert_int_eq(x.seen_listed, 2);
    ck_assert_int_eq(
        fake_kreq_feed(w, "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
                          "\"9\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}\n"),
        CSM_OK);
    ck_assert_int_eq(x.synced, 1);
    ck_assert_uint_eq(count(&x), 2);
    ck_assert_str_eq(csm_informer_state(x.inf), "watching from resourceVersion 9");
    ck_assert(tel2(x.env.list_total, "success") == 1);
    /* Live events on the same stream. */
    ck_assert_int_eq(fake_kreq_feed(w, EVENT("ADDED", "c", "10")), CSM_OK);
    ck_assert_int_eq(x.seen_live, 1);
    ck_assert_uint_eq(x.f.n, 1);
    /* The stream ends after the sync: a plain re-watch from there. */
    fake_kreq_finish(w, 200, NULL);
    ck_assert_uint_eq(x.f.n, 2);
    w = fake_kreq_open(&x.f);
    ck_assert_ptr_nonnull(strstr(w->path, "&resourceVersion=10&"));
    h_teardown(&x);

    /* A stream that ends before initial-events-end is a failed sync. */
    h_env(&x);
    x.env.watch_list = 1;
    h_start(&x);
    w = fake_kreq_open(&x.f);
    ck_assert_int_eq(fake_kreq_feed(w, EVENT("ADDED", "a", "5")), CSM_OK);
    fake_kreq_finish(w, 200, NULL);
    ck_assert_int_eq(x.synced, 0);
    ck_assert(tel2(x.env.list_total, "error") == 1);
    ck_assert_msg(state_has(&x, "stream ended before the initial"), "state: %s",
                  csm_informer_state(x.inf));
    h_teardown(&x);
}
END_TEST

/* Auto mode: a server that rejects sendInitialEvents gets paged LISTs from
 * then on. */
START_TEST(test_watch_list_auto_falls_back)
{
    h x;

    h_env(&x);
    x.env.watch_list = 2;
    x.env.page_size = 2;
    h_start(&x);
    ck_assert_ptr_nonnull(strstr(fake_kreq_open(&x.f)->path, "sendInitialEvents=true"));
    fake_kreq_finish(fake_kreq_open(&x.f), 422, "{\"kind\":\"Status\",\"code\":422}");
    h_list_abc(&x);
    ck_assert(logged(&x, "the server does not support WatchList"));
    /* An expired watch relists by LIST now, not by WatchList. */
    fake_kreq_finish(fake_kreq_open(&x.f), 410, STATUS410);
    ck_assert_str_eq(fake_kreq_open(&x.f)->path,
                     PATH "?limit=2&resourceVersion=11&resourceVersionMatch=NotOlderThan");
    h_teardown(&x);
}
END_TEST

/* A reshard cancels the request in flight and relists at the last
 * resourceVersion; stop and free cancel too, and no callback runs after. */
START_TEST(test_resync_and_stop_cancel)
{
    h x;
    fake_kreq *w;

    h_env(&x);
    x.env.page_size = 2;
    h_start(&x);
    h_list_abc(&x);
    w = fake_kreq_open(&x.f);
    csm_informer_resync(x.inf);
    ck_assert_int_eq(w->state, FAKE_KREQ_CANCELLED);
    ck_assert(tel2(x.env.relists_total, "reshard") == 1);
    ck_assert_str_eq(fake_kreq_open(&x.f)->path,
                     PATH "?limit=2&resourceVersion=11&resourceVersionMatch=NotOlderThan");
    w = fake_kreq_open(&x.f);
    csm_informer_stop(x.inf);
    ck_assert_int_eq(w->state, FAKE_KREQ_CANCELLED);
    ck_assert_str_eq(csm_informer_state(x.inf), "stopped");
    ck_assert_uint_eq(count(&x), 3);
    h_teardown(&x);

    /* Free with a request open cancels it. */
    h_env(&x);
    h_start(&x);
    w = fake_kreq_open(&x.f);
    csm_informer_free(x.inf);
    x.inf = NULL;
    ck_assert_int_eq(w->state, FAKE_KREQ_CANCELLED);
    h_teardown(&x);
}
END_TEST

/* A request the transport cannot start is retried after a backoff. */
START_TEST(test_transport_refuses)
{
    h x;

    h_env(&x);
    x.f.fail_with = CSM_ERR_NOMEM;
    h_start(&x);
    ck_assert_uint_eq(x.f.n, 0);
    ck_assert_msg(state_has(&x, "backing off"), "state: %s", csm_informer_state(x.inf));
    ck_assert(!csm_informer_synced(x.inf));
    h_teardown(&x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("informer");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_list_pages_then_watch);
    tcase_add_test(tc, test_watch_events_and_rewatch);
    tcase_add_test(tc, test_watch_expired_relists_in_order);
    tcase_add_test(tc, test_watch_410_status_and_continue_expired);
    tcase_add_test(tc, test_malformed_events_are_skipped);
    tcase_add_test(tc, test_oversized_event_and_page);
    tcase_add_test(tc, test_404_means_gone);
    tcase_add_test(tc, test_retry_after_is_honoured);
    tcase_add_test(tc, test_watch_list_bookmark_ends_the_sync);
    tcase_add_test(tc, test_watch_list_auto_falls_back);
    tcase_add_test(tc, test_resync_and_stop_cancel);
    tcase_add_test(tc, test_transport_refuses);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
