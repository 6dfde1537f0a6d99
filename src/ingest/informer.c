#include "ingest/informer.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "store/budget.h"
#include "base/buf.h"
#include "base/num.h"
#include "base/jsonnum.h"
#include "ingest/watch.h"

/* A watch that ends cleanly this soon without delivering anything is
 * treated as a failure, so a proxy that closes at once cannot make us spin. */
#define INF_MIN_HEALTHY_WATCH_S 1.0

typedef enum inf_phase {
    INF_IDLE = 0,
    INF_LISTING,
    INF_WATCHING,
    INF_WAITING, /* backoff timer armed */
    INF_GONE,
} inf_phase;

/* What a LIST asks for in resourceVersion. */
typedef enum inf_rv_mode {
    INF_RV_CONSISTENT = 0, /* resourceVersion unset: a quorum read */
    INF_RV_LAST,           /* resourceVersion=<last seen>, not older than */
} inf_rv_mode;

/* What to do when the backoff timer fires. */
typedef enum inf_next {
    INF_NEXT_SYNC = 0, /* a LIST, or a WatchList stream */
    INF_NEXT_WATCH,
} inf_next;

/* Failures of the same kind are logged at WARN once per this many seconds;
 * the retries in between log at DEBUG, so a missing RoleBinding gives one
 * clear line per backoff cycle instead of one per retry. */
#define INF_WARN_EVERY_S 60.0

struct csm_informer {
    csm_informer_env env;
    csm_informer_hooks hooks;
    char *label;
    char *path;
    char *query;
    csm_store *store;
    csm_budget_book *book; /* NULL: no series budget */
    csm_watch *watch;
    csm_backoff backoff;
    struct event *timer;
    void *req; /* the transport's handle of the request in flight */
    inf_phase phase;
    inf_next next;
    inf_rv_mode rv_mode;
    int synced;
    char rv[128];    /* last resourceVersion seen */
    char cont[4096]; /* continue token of the page being fetched */
    csm_buf page;    /* body of the LIST page being fetched */
    size_t listed;   /* objects seen in the current LIST */
    double list_started;
    double watch_started;
    size_t watch_events;
    int watch_expired;   /* an ERROR 410 event arrived on this watch */
    int initial_pending; /* a WatchList stream has not sent initial-events-end */
    int watch_list_off;  /* auto mode found the server without WatchList */
    char last_warn[256]; /* the failure last logged at WARN */
    double last_warn_at;
    char state[256];
    uint64_t seq;
};

static void set_state(csm_informer *inf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_state(csm_informer *inf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(inf->state, sizeof(inf->state), fmt, ap);
    va_end(ap);
}

/* Cancels the request in flight, if any; its callbacks do not run. */
static void cancel_request(csm_informer *inf)
{
    if (inf->req)
        inf->env.transport.cancel(inf->env.transport.ctx, inf->req);
    inf->req = NULL;
}

static void start_list(csm_informer *inf, inf_rv_mode mode);
static void start_watch(csm_informer *inf, int initial);
static void start_sync(csm_informer *inf, inf_rv_mode mode);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    csm_informer *inf = arg;
    (void)fd;
    (void)what;
    if (inf->next == INF_NEXT_WATCH)
        start_watch(inf, 0);
    else
        start_sync(inf, inf->rv_mode);
}

/*
 * Arms the backoff timer after a failed request; retry_after (seconds, <0
 * none) is a floor for the delay. `what` is "list" or "watch", `code` the
 * HTTP status (0: transport error). Logs at WARN when the failure is new or
 * the last WARN for it is INF_WARN_EVERY_S old, else at DEBUG.
 */
static void schedule_retry(csm_informer *inf, inf_next next, double retry_after, const char *what,
                           long code, const char *why)
{
    double now = csm_clock_mono();
    double d = csm_backoff_next(&inf->backoff, now);
    struct timeval tv;
    char codebuf[24];
    csm_log_level lvl = CSM_LOG_DEBUG;

    if (retry_after > d)
        d = retry_after;
    if (code >= 0) {
        if (code > 0)
            snprintf(codebuf, sizeof(codebuf), "%ld", code);
        else
            snprintf(codebuf, sizeof(codebuf), "transport");
        csm_tel_count(inf->env.api_errors, inf->label, codebuf);
    }
    if (strcmp(inf->last_warn, why) != 0 || now - inf->last_warn_at >= INF_WARN_EVERY_S) {
        lvl = CSM_LOG_WARN;
        snprintf(inf->last_warn, sizeof(inf->last_warn), "%s", why);
        inf->last_warn_at = now;
    }
    csm_logf(inf->env.log, lvl, "%s: %s failed: %s; retrying in %.2fs", inf->label, what, why, d);
    inf->next = next;
    inf->phase = INF_WAITING;
    set_state(inf, "backing off %.1fs after %s", d, why);
    tv = csm_num_timeval(d, CSM_KCLIENT_RETRY_AFTER_MAX_S);
    evtimer_add(inf->timer, &tv);
}

/* A request succeeded: the next failure is news again. */
static void healthy(csm_informer *inf)
{
    inf->last_warn[0] = '\0';
}

/* The "reason" and "message" of a Kubernetes Status body, for logs. */
static void status_text(const char *body, size_t len, char *out, size_t outlen, long *code)
{
    cJSON *st = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(st, "reason");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(st, "message");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(st, "code");

    snprintf(out, outlen, "%s%s%s", cJSON_IsString(reason) ? reason->valuestring : "",
             cJSON_IsString(reason) && cJSON_IsString(msg) ? ": " : "",
             cJSON_IsString(msg) ? msg->valuestring : "");
    if (code && cJSON_IsNumber(c))
        *code = csm_num_to_long(c->valuedouble, 0, 999, 0);
    cJSON_Delete(st);
}

/* Describes a failed response in `why` and reports whether it was a 410. */
static void describe_failure(const csm_kresp *resp, char *why, size_t len)
{
    char detail[256] = "";
    if (resp->transport_error) {
        snprintf(why, len, "connection error: %s", resp->error ? resp->error : "unknown");
        return;
    }
    status_text(resp->body, resp->body_len, detail, sizeof(detail), NULL);
    snprintf(why, len, "HTTP %ld%s%s", resp->status, detail[0] ? " " : "", detail);
}

static void update_rv(csm_informer *inf, const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    if (cJSON_IsString(rv) && rv->valuestring[0] && strlen(rv->valuestring) < sizeof(inf->rv))
        strcpy(inf->rv, rv->valuestring);
}

/* 1 if the shard does not own the UID (n bytes): counts it as skipped. */
static int foreign(csm_informer *inf, const char *uid, size_t n)
{
    const char *v[1] = {inf->label};

    if (!inf->env.shard || csm_shard_owns(inf->env.shard, uid, n))
        return 0;
    if (inf->env.skipped)
        csm_tel_inc(inf->env.skipped, v, 1);
    return 1;
}

static csm_err upsert_object(csm_informer *inf, const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
    csm_block *blk = NULL;
    csm_err err;

    if (!cJSON_IsString(uid)) {
        csm_logf(inf->env.log, CSM_LOG_WARN, "%s: object without metadata.uid skipped", inf->label);
        csm_tel_count(inf->env.events_total, inf->label, "MALFORMED");
        return CSM_OK;
    }
    /* Before rendering and before the lifecycle sees it: a shard meters
     * only what it owns, so that shards sum. An object that moved to
     * another shard while this one held it is removed by
     * csm_informer_drop_foreign(), not here. */
    if (foreign(inf, uid->valuestring, strlen(uid->valuestring)))
        return CSM_OK;
    if (inf->hooks.seen)
        inf->hooks.seen(inf->hooks.ctx, obj, inf->phase == INF_LISTING || inf->initial_pending);
    err = inf->hooks.render(inf->hooks.ctx, obj, &blk);
    if (err) {
        csm_logf(inf->env.log, CSM_LOG_ERROR, "%s: rendering %s failed: %s", inf->label,
                 uid->valuestring, csm_strerror(err));
        return err == CSM_ERR_NOMEM ? err : CSM_OK;
    }
    if (inf->book) {
        size_t series = 0;
        int admit = 1;
        for (size_t f = 0; f < csm_block_families(blk); f++) {
            size_t len = 0;
            const char *p = csm_block_slice(blk, f, &len);
            series += csm_budget_count_lines(p, len);
        }
        err = csm_budget_book_put(inf->book, uid->valuestring, series, &admit);
        if (err || !admit) {
            /* Skipped whole: nothing of it is served, not even an older
             * rendering (a stale value is worse than none). */
            csm_block_unref(blk);
            csm_store_delete(inf->store, uid->valuestring);
            return err;
        }
    }
    return csm_store_upsert(inf->store, uid->valuestring, blk);
}

/* ---- LIST ------------------------------------------------------------ */

static csm_err list_data(void *ctx, const char *p, size_t n)
{
    csm_informer *inf = ctx;
    return csm_buf_append(&inf->page, p, n);
}

static void list_done(void *ctx, const csm_kresp *resp);

static void request_page(csm_informer *inf)
{
    csm_buf url;
    char *esc = NULL;
    csm_kreq_cbs cbs = {list_data, list_done, inf};
    csm_err err;

    csm_buf_init(&url, 16 * 1024);
    csm_buf_reset(&inf->page);
    err = csm_buf_printf(&url, "%s?limit=%zu", inf->path, inf->env.page_size);
    if (!err && inf->query)
        err = csm_buf_printf(&url, "&%s", inf->query);
    if (!err && inf->cont[0]) {
        esc = curl_easy_escape(NULL, inf->cont, 0);
        err = esc ? csm_buf_printf(&url, "&continue=%s", esc) : CSM_ERR_NOMEM;
    } else if (!err && inf->rv_mode == INF_RV_LAST && inf->rv[0]) {
        esc = curl_easy_escape(NULL, inf->rv, 0);
        err =
            esc ? csm_buf_printf(&url, "&resourceVersion=%s&resourceVersionMatch=NotOlderThan", esc)
                : CSM_ERR_NOMEM;
    }
    if (!err)
        err = inf->env.transport.get(inf->env.transport.ctx, url.ptr, 300, &cbs, &inf->req);
    curl_free(esc);
    csm_buf_free(&url);
    if (err) {
        inf->req = NULL;
        schedule_retry(inf, INF_NEXT_SYNC, -1, "list", -1, csm_strerror(err));
    }
}

static void start_list(csm_informer *inf, inf_rv_mode mode)
{
    inf->rv_mode = mode;
    inf->phase = INF_LISTING;
    inf->cont[0] = '\0';
    inf->listed = 0;
    inf->list_started = csm_clock_mono();
    set_state(inf, "listing");
    /* Mark first, sweep after the last page: old objects stay visible. */
    csm_store_relist_begin(inf->store);
    if (inf->book)
        csm_budget_book_relist_begin(inf->book);
    if (inf->hooks.sync_begin)
        inf->hooks.sync_begin(inf->hooks.ctx);
    request_page(inf);
}

/* Takes resourceVersion and continue from a LIST's metadata; returns
 * non-zero (with why) if the continue token does not fit. */
static int page_meta(csm_informer *inf, const cJSON *meta, char *why, size_t whylen)
{
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");

    if (cJSON_IsString(rv) && strlen(rv->valuestring) < sizeof(inf->rv))
        strcpy(inf->rv, rv->valuestring);
    if (cJSON_IsString(cont) && cont->valuestring[0]) {
        if (strlen(cont->valuestring) >= sizeof(inf->cont)) {
            snprintf(why, whylen, "continue token too long");
            return 1;
        }
        strcpy(inf->cont, cont->valuestring);
    } else {
        inf->cont[0] = '\0';
    }
    return 0;
}

/*
 * A page for a shard: skimmed (csm_watch_skim_list()) so that only the
 * items this shard owns are parsed; a foreign item costs a scan of its
 * bytes, like a foreign watch event. Returns -1 when the page is not
 * skimmable (the caller parses it whole), else as apply_page().
 */
static int apply_skimmed_page(csm_informer *inf, char *why, size_t whylen)
{
    csm_watch_list_item *items = NULL;
    size_t n = 0;
    const char *mp = NULL;
    size_t ml = 0;
    cJSON *meta = NULL;
    int bad = 0;
    csm_err err;

    err = csm_watch_skim_list(inf->page.ptr ? inf->page.ptr : "", inf->page.len, &mp, &ml, &items,
                              &n);
    if (err == CSM_ERR_PARSE)
        return -1;
    if (err) {
        snprintf(why, whylen, "out of memory");
        return 1;
    }
    meta = mp ? cJSON_ParseWithLength(mp, ml) : NULL;
    if (mp && !meta) {
        /* The scan accepts what cJSON may not: let the full parse judge. */
        free(items);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *obj;
        if (items[i].uid && foreign(inf, items[i].uid, items[i].uid_len)) {
            inf->listed++;
            continue;
        }
        obj = cJSON_ParseWithLength(items[i].p, items[i].len);
        if (obj && csm_jsonnum_annotate(obj, items[i].p, items[i].len) != CSM_OK) {
            cJSON_Delete(obj);
            obj = NULL;
        }
        if (!obj) {
            csm_logf(inf->env.log, CSM_LOG_WARN, "%s: skipped a malformed LIST item", inf->label);
            csm_tel_count(inf->env.events_total, inf->label, "MALFORMED");
            continue;
        }
        err = upsert_object(inf, obj);
        cJSON_Delete(obj);
        if (err == CSM_ERR_NOMEM) {
            snprintf(why, whylen, "out of memory");
            bad = 1;
            goto out;
        }
        inf->listed++;
    }
    bad = page_meta(inf, meta, why, whylen);
out:
    cJSON_Delete(meta);
    free(items);
    return bad;
}

/* Handles one complete 200 page; returns non-zero if it was malformed. */
static int apply_page(csm_informer *inf, char *why, size_t whylen)
{
    cJSON *doc;
    const cJSON *items;
    const cJSON *item;
    int bad;

    if (inf->env.shard) {
        bad = apply_skimmed_page(inf, why, whylen);
        if (bad >= 0) {
            csm_buf_free(&inf->page);
            return bad;
        }
        /* The API server's pages always scan; one that does not is news. */
        csm_logf(inf->env.log, CSM_LOG_WARN,
                 "%s: LIST page not skimmable; parsing it whole (foreign items cost a parse)",
                 inf->label);
    }
    doc = cJSON_ParseWithLength(inf->page.ptr ? inf->page.ptr : "", inf->page.len);
    /* Integers above 2^53 keep their text for labels (jsonnum.h). */
    if (csm_jsonnum_annotate(doc, inf->page.ptr, inf->page.len) != CSM_OK) {
        cJSON_Delete(doc);
        doc = NULL;
    }
    items = cJSON_GetObjectItemCaseSensitive(doc, "items");
    bad = 0;
    csm_buf_free(&inf->page);
    if (!doc || (!cJSON_IsArray(items) && !cJSON_IsNull(items) && items)) {
        snprintf(why, whylen, "malformed LIST response");
        bad = 1;
        goto out;
    }
    cJSON_ArrayForEach(item, items)
    {
        if (upsert_object(inf, item) == CSM_ERR_NOMEM) {
            snprintf(why, whylen, "out of memory");
            bad = 1;
            goto out;
        }
        inf->listed++;
    }
    bad = page_meta(inf, cJSON_GetObjectItemCaseSensitive(doc, "metadata"), why, whylen);
out:
    cJSON_Delete(doc);
    return bad;
}

/* The collection answered 404: its CRD is gone (or was never there). */
static void went_away(csm_informer *inf, const char *what, const char *why)
{
    csm_logf(inf->env.log, CSM_LOG_WARN, "%s: %s says the resource is not served (%s)", inf->label,
             what, why);
    inf->phase = INF_GONE;
    set_state(inf, "not served");
    if (inf->hooks.gone)
        inf->hooks.gone(inf->hooks.ctx);
}

/* A LIST or a WatchList stream delivered the whole state. */
static void finish_sync(csm_informer *inf, const char *how)
{
    size_t removed;

    if (inf->hooks.sync_end)
        inf->hooks.sync_end(inf->hooks.ctx);
    removed = csm_store_relist_end(inf->store);

    if (inf->book)
        csm_budget_book_relist_end(inf->book);

    healthy(inf);
    csm_tel_count(inf->env.list_total, inf->label, "success");
    csm_logf(inf->env.log, CSM_LOG_INFO,
             "%s: synced %zu objects by %s at resourceVersion %s in %.3fs (%zu removed)",
             inf->label, inf->listed, how, inf->rv, csm_clock_mono() - inf->list_started, removed);
    inf->synced = 1;
    if (inf->env.last_sync) {
        const char *v[1] = {inf->label};
        csm_tel_set(inf->env.last_sync, v, (double)time(NULL));
    }
    if (inf->hooks.synced)
        inf->hooks.synced(inf->hooks.ctx);
}

static void list_done(void *ctx, const csm_kresp *resp)
{
    csm_informer *inf = ctx;
    char why[512];
    int was_continued = inf->cont[0] != '\0';

    inf->req = NULL;
    if (resp->status == 200 && !resp->transport_error && !resp->aborted) {
        if (apply_page(inf, why, sizeof(why))) {
            csm_tel_count(inf->env.list_total, inf->label, "error");
            schedule_retry(inf, INF_NEXT_SYNC, -1, "list", 200, why);
            return;
        }
        if (inf->cont[0]) {
            request_page(inf);
            return;
        }
        finish_sync(inf, "LIST");
        start_watch(inf, 0);
        return;
    }

    csm_buf_free(&inf->page);
    csm_tel_count(inf->env.list_total, inf->label, "error");
    if (resp->aborted) {
        snprintf(why, sizeof(why), "LIST page larger than %zu bytes", inf->env.max_page_bytes);
        schedule_retry(inf, INF_NEXT_SYNC, -1, "list", 200, why);
        return;
    }
    describe_failure(resp, why, sizeof(why));
    if (resp->status == 410) {
        if (was_continued) {
            /* The continue token outlived etcd's compaction window: the
             * pages so far are from a snapshot that is gone. Start over
             * with a fresh consistent list (and a fresh mark). */
            csm_logf(inf->env.log, CSM_LOG_INFO,
                     "%s: continue token expired after %zu objects; restarting the list",
                     inf->label, inf->listed);
            csm_tel_count(inf->env.relists_total, inf->label, "continue_expired");
            start_list(inf, INF_RV_CONSISTENT);
            return;
        }
        if (inf->rv_mode == INF_RV_LAST) {
            csm_logf(inf->env.log, CSM_LOG_INFO,
                     "%s: resourceVersion %s expired; relisting with a consistent read", inf->label,
                     inf->rv);
            csm_tel_count(inf->env.relists_total, inf->label, "list_expired");
            start_list(inf, INF_RV_CONSISTENT);
            return;
        }
    }
    if (resp->status == 404) {
        went_away(inf, "LIST", why);
        return;
    }
    schedule_retry(inf, INF_NEXT_SYNC, resp->retry_after, "list",
                   resp->transport_error ? 0 : resp->status, why);
}

/* ---- WATCH ----------------------------------------------------------- */

/* 1 if a BOOKMARK carries the WatchList end-of-initial-state annotation. */
static int initial_events_end(const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
    const cJSON *end = cJSON_GetObjectItemCaseSensitive(ann, "k8s.io/initial-events-end");
    return cJSON_IsString(end) && strcmp(end->valuestring, "true") == 0;
}

static csm_err watch_event(void *ctx, csm_watch_type type, const cJSON *obj)
{
    csm_informer *inf = ctx;
    const cJSON *meta;
    const cJSON *uid;
    long code = 0;
    char why[512];
    const cJSON *c;
    csm_err err;

    inf->watch_events++;
    csm_tel_count(inf->env.events_total, inf->label, csm_watch_type_name(type));
    switch (type) {
    case CSM_WATCH_ADDED:
    case CSM_WATCH_MODIFIED:
        update_rv(inf, obj);
        err = upsert_object(inf, obj);
        if (!err && inf->initial_pending)
            inf->listed++;
        return err;
    case CSM_WATCH_DELETED:
        update_rv(inf, obj);
        meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
        if (cJSON_IsString(uid))
            csm_store_delete(inf->store, uid->valuestring);
        if (cJSON_IsString(uid) && inf->book)
            csm_budget_book_delete(inf->book, uid->valuestring);
        if (cJSON_IsString(uid) && inf->hooks.deleted)
            inf->hooks.deleted(inf->hooks.ctx, obj);
        return CSM_OK;
    case CSM_WATCH_BOOKMARK:
        update_rv(inf, obj);
        if (inf->initial_pending && initial_events_end(obj)) {
            inf->initial_pending = 0;
            finish_sync(inf, "WatchList");
            set_state(inf, "watching from resourceVersion %s", inf->rv);
        }
        return CSM_OK;
    case CSM_WATCH_ERROR:
        c = cJSON_GetObjectItemCaseSensitive(obj, "code");
        /* A Status code is an HTTP status; anything else is "no code". */
        code = cJSON_IsNumber(c) ? csm_num_to_long(c->valuedouble, 0, 999, 0) : 0;
        {
            char *s = cJSON_PrintUnformatted(obj);
            status_text(s, s ? strlen(s) : 0, why, sizeof(why), NULL);
            cJSON_free(s);
        }
        if (code == 410) {
            inf->watch_expired = 1;
            csm_logf(inf->env.log, CSM_LOG_INFO, "%s: watch expired (%s)", inf->label, why);
        } else {
            csm_logf(inf->env.log, CSM_LOG_WARN, "%s: watch error %ld: %s", inf->label, code, why);
        }
        /* End this watch; done() decides between relist and re-watch. */
        return CSM_ERR_HTTP;
    }
    return CSM_OK;
}

/*
 * The early filter: an ADDED, MODIFIED or DELETED event of an object
 * another shard owns is dropped before its line is parsed. Its
 * resourceVersion still advances ours, so that a re-watch does not replay
 * a stream of other shards' events (and a shard that owns few objects does
 * not fall behind the compaction window). A foreign DELETED needs nothing:
 * foreign objects are never in the store.
 */
static int watch_prefilter(void *ctx, csm_watch_type type, const char *uid, size_t uid_len,
                           const char *rv, size_t rv_len)
{
    csm_informer *inf = ctx;

    if (!foreign(inf, uid, uid_len))
        return 0;
    inf->watch_events++;
    csm_tel_count(inf->env.events_total, inf->label, csm_watch_type_name(type));
    if (rv && rv_len > 0 && rv_len < sizeof(inf->rv)) {
        memcpy(inf->rv, rv, rv_len);
        inf->rv[rv_len] = '\0';
    }
    return 1;
}

static void watch_malformed(void *ctx, const char *why)
{
    csm_informer *inf = ctx;
    csm_tel_count(inf->env.events_total, inf->label, "MALFORMED");
    csm_logf(inf->env.log, CSM_LOG_WARN, "%s: skipped a malformed watch event: %s", inf->label,
             why);
}

static csm_err watch_data(void *ctx, const char *p, size_t n)
{
    csm_informer *inf = ctx;
    return csm_watch_feed(inf->watch, p, n);
}

static void watch_done(void *ctx, const csm_kresp *resp)
{
    csm_informer *inf = ctx;
    char why[512];
    double ran = csm_clock_mono() - inf->watch_started;
    int initial = inf->initial_pending;

    inf->req = NULL;
    inf->initial_pending = 0;
    if (initial && inf->env.watch_list == 2 && (resp->status == 400 || resp->status == 422)) {
        /* Validation rejected sendInitialEvents: no WatchList on this
         * server. Paged LIST from now on. */
        describe_failure(resp, why, sizeof(why));
        csm_logf(inf->env.log, CSM_LOG_INFO,
                 "%s: the server does not support WatchList (%s); using paged LIST", inf->label,
                 why);
        inf->watch_list_off = 1;
        start_list(inf, INF_RV_CONSISTENT);
        return;
    }
    if (inf->watch_expired || resp->status == 410) {
        csm_tel_count(inf->env.watch_total, inf->label, "expired");
        csm_tel_count(inf->env.relists_total, inf->label, "watch_expired");
        csm_logf(inf->env.log, CSM_LOG_INFO,
                 "%s: resourceVersion %s too old for a watch; relisting at it", inf->label,
                 inf->rv);
        start_sync(inf, INF_RV_LAST);
        return;
    }
    if (resp->status == 200 && !resp->transport_error && !resp->aborted) {
        csm_tel_count(inf->env.watch_total, inf->label, "success");
        if (initial) {
            csm_tel_count(inf->env.list_total, inf->label, "error");
            schedule_retry(inf, INF_NEXT_SYNC, -1, "WatchList", 200,
                           "stream ended before the initial state was complete");
            return;
        }
        if (ran < INF_MIN_HEALTHY_WATCH_S && inf->watch_events == 0) {
            schedule_retry(inf, INF_NEXT_WATCH, -1, "watch", 200, "watch closed immediately");
            return;
        }
        healthy(inf);
        csm_logf(inf->env.log, CSM_LOG_DEBUG, "%s: watch ended after %.1fs; re-watching from %s",
                 inf->label, ran, inf->rv);
        start_watch(inf, 0);
        return;
    }
    csm_tel_count(inf->env.watch_total, inf->label, "error");
    if (initial)
        csm_tel_count(inf->env.list_total, inf->label, "error");
    if (resp->aborted && resp->status == 200)
        snprintf(why, sizeof(why), "watch stream error event");
    else
        describe_failure(resp, why, sizeof(why));
    if (resp->status == 404) {
        went_away(inf, "WATCH", why);
        return;
    }
    schedule_retry(inf, initial ? INF_NEXT_SYNC : INF_NEXT_WATCH, resp->retry_after,
                   initial ? "WatchList" : "watch",
                   resp->transport_error ? 0 : (resp->aborted ? -1 : resp->status), why);
}

/*
 * A WATCH from the last resourceVersion, or with initial=1 a WatchList
 * stream: sendInitialEvents=true from the most recent state, whose objects
 * arrive as ADDED events under a fresh mark until the initial-events-end
 * bookmark, which sweeps what was not sent.
 */
static void start_watch(csm_informer *inf, int initial)
{
    csm_buf url;
    char *esc = NULL;
    csm_kreq_cbs cbs = {watch_data, watch_done, inf};
    long timeout;
    long base = inf->env.watch_timeout_s;
    csm_err err;

    /* Spread re-watches of many informers over [T, 2T) as client-go does. */
    inf->seq = inf->seq * 6364136223846793005ull + 1442695040888963407ull;
    timeout = base + (long)((inf->seq >> 33) % (uint64_t)base);
    csm_buf_init(&url, 16 * 1024);
    csm_watch_reset(inf->watch);
    inf->watch_expired = 0;
    inf->watch_events = 0;
    if (initial) {
        err = csm_buf_printf(&url,
                             "%s?watch=1&allowWatchBookmarks=true&sendInitialEvents=true"
                             "&resourceVersionMatch=NotOlderThan&timeoutSeconds=%ld",
                             inf->path, timeout);
    } else {
        esc = curl_easy_escape(NULL, inf->rv, 0);
        err = esc ? csm_buf_printf(&url,
                                   "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
                                   "&timeoutSeconds=%ld",
                                   inf->path, esc, timeout)
                  : CSM_ERR_NOMEM;
    }
    if (!err && inf->query)
        err = csm_buf_printf(&url, "&%s", inf->query);
    /* The client-side limit only catches a server that forgot to end it. */
    if (!err)
        err =
            inf->env.transport.get(inf->env.transport.ctx, url.ptr, timeout + 60, &cbs, &inf->req);
    curl_free(esc);
    csm_buf_free(&url);
    if (err) {
        inf->req = NULL;
        schedule_retry(inf, initial ? INF_NEXT_SYNC : INF_NEXT_WATCH, -1, "watch", -1,
                       csm_strerror(err));
        return;
    }
    inf->phase = INF_WATCHING;
    inf->watch_started = csm_clock_mono();
    if (initial) {
        inf->initial_pending = 1;
        inf->listed = 0;
        inf->list_started = inf->watch_started;
        csm_store_relist_begin(inf->store);
        if (inf->book)
            csm_budget_book_relist_begin(inf->book);
        if (inf->hooks.sync_begin)
            inf->hooks.sync_begin(inf->hooks.ctx);
        set_state(inf, "syncing by WatchList");
    } else {
        set_state(inf, "watching from resourceVersion %s", inf->rv);
    }
}

/* A full sync: WatchList when enabled and supported, else paged LIST. */
static void start_sync(csm_informer *inf, inf_rv_mode mode)
{
    if (inf->env.watch_list == 1 || (inf->env.watch_list == 2 && !inf->watch_list_off))
        start_watch(inf, 1);
    else
        start_list(inf, mode);
}

/* ---- life cycle ------------------------------------------------------ */

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

/*
 * Creates this resource's event-type and relist-reason counter series at 0,
 * so that a scrape tells "none happened" from "not exported" (a dashboard's
 * rate() and a test's "== 0" both need the series to exist).
 */
static csm_err tel_zero_series(csm_informer *inf)
{
    static const char *const types[] = {"ADDED",    "MODIFIED", "DELETED",
                                        "BOOKMARK", "ERROR",    "MALFORMED"};
    static const char *const reasons[] = {"watch_expired", "list_expired", "continue_expired"};
    csm_err err = CSM_OK;

    for (size_t i = 0; !err && inf->env.events_total && i < sizeof(types) / sizeof(types[0]); i++) {
        const char *v[2] = {inf->label, types[i]};
        err = csm_tel_inc(inf->env.events_total, v, 0);
    }
    for (size_t i = 0; !err && inf->env.relists_total && i < sizeof(reasons) / sizeof(reasons[0]);
         i++) {
        const char *v[2] = {inf->label, reasons[i]};
        err = csm_tel_inc(inf->env.relists_total, v, 0);
    }
    return err;
}

csm_err csm_informer_new(const csm_informer_env *env, const char *resource_label, const char *path,
                         const char *query, const csm_informer_hooks *hooks, csm_informer **out)
{
    csm_informer *inf = calloc(1, sizeof(*inf));
    csm_watch_cbs wcbs;

    if (!inf)
        return CSM_ERR_NOMEM;
    inf->env = *env;
    if (inf->env.page_size == 0)
        inf->env.page_size = 500;
    if (inf->env.watch_timeout_s <= 0)
        inf->env.watch_timeout_s = 300;
    if (inf->env.max_event_bytes == 0)
        inf->env.max_event_bytes = 64u << 20;
    if (inf->env.max_page_bytes == 0)
        inf->env.max_page_bytes = 512u << 20;
    inf->hooks = *hooks;
    inf->label = strdup(resource_label);
    inf->path = strdup(path);
    inf->query = dup_opt(query);
    inf->store = csm_store_new();
    wcbs.event = watch_event;
    wcbs.malformed = watch_malformed;
    wcbs.ctx = inf;
    wcbs.prefilter = env->shard ? watch_prefilter : NULL;
    inf->watch = csm_watch_new(inf->env.max_event_bytes, &wcbs);
    inf->timer = evtimer_new(env->base, on_timer, inf);
    csm_buf_init(&inf->page, inf->env.max_page_bytes);
    inf->seq = (uint64_t)(uintptr_t)inf ^ (uint64_t)time(NULL);
    csm_backoff_init(&inf->backoff, inf->seq);
    set_state(inf, "not started");
    if (!inf->label || !inf->path || (query && !inf->query) || !inf->store || !inf->watch ||
        !inf->timer) {
        csm_informer_free(inf);
        return CSM_ERR_NOMEM;
    }
    if (tel_zero_series(inf) != CSM_OK) {
        csm_informer_free(inf);
        return CSM_ERR_NOMEM;
    }
    *out = inf;
    return CSM_OK;
}

csm_err csm_informer_start(csm_informer *inf)
{
    start_sync(inf, INF_RV_CONSISTENT);
    return CSM_OK;
}

void csm_informer_stop(csm_informer *inf)
{
    cancel_request(inf);
    evtimer_del(inf->timer);
    inf->phase = INF_IDLE;
    set_state(inf, "stopped");
}

void csm_informer_free(csm_informer *inf)
{
    if (!inf)
        return;
    if (inf->timer)
        csm_informer_stop(inf);
    if (inf->timer)
        event_free(inf->timer);
    csm_watch_free(inf->watch);
    csm_store_free(inf->store);
    csm_budget_book_free(inf->book);
    csm_buf_free(&inf->page);
    free(inf->label);
    free(inf->path);
    free(inf->query);
    free(inf);
}

csm_err csm_informer_set_budget(csm_informer *inf, csm_budget *budget)
{
    csm_budget_book *k = NULL;
    csm_err err;

    if (inf->book || csm_store_count(inf->store) > 0)
        return CSM_ERR_INVALID;
    err = csm_budget_book_new(budget, &k);
    if (!err)
        inf->book = k;
    return err;
}

/* The store's removal predicate; an object handed to another shard also
 * leaves the lifecycle accounting (it goes on existing, the other shard
 * meters it from now on). */
static int still_owned(void *ctx, const char *uid)
{
    const csm_informer *inf = ctx;

    if (csm_shard_owns(inf->env.shard, uid, strlen(uid)))
        return 1;
    if (inf->book)
        csm_budget_book_delete(inf->book, uid);
    if (inf->hooks.handed_over)
        inf->hooks.handed_over(inf->hooks.ctx, uid);
    return 0;
}

size_t csm_informer_drop_foreign(csm_informer *inf)
{
    if (!inf->env.shard)
        return 0;
    return csm_store_remove_if(inf->store, still_owned, inf);
}

void csm_informer_resync(csm_informer *inf)
{
    if (inf->phase == INF_IDLE || inf->phase == INF_GONE)
        return;
    cancel_request(inf);
    evtimer_del(inf->timer);
    inf->initial_pending = 0;
    csm_buf_free(&inf->page);
    csm_tel_count(inf->env.relists_total, inf->label, "reshard");
    if (inf->hooks.taking_over)
        inf->hooks.taking_over(inf->hooks.ctx);
    csm_logf(inf->env.log, CSM_LOG_INFO, "%s: resharded; relisting at resourceVersion %s",
             inf->label, inf->rv[0] ? inf->rv : "(none)");
    start_sync(inf, inf->rv[0] ? INF_RV_LAST : INF_RV_CONSISTENT);
}

csm_store *csm_informer_store(const csm_informer *inf)
{
    return inf->store;
}

int csm_informer_synced(const csm_informer *inf)
{
    return inf->synced;
}

const char *csm_informer_state(const csm_informer *inf)
{
    return inf->state;
}
