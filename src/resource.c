#include "resource.h"

#include <curl/curl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "generators/builtin.h"
#include "render/crscount.h"
#include "render/lifecycle.h"
#include "base/num.h"

/* How often an unserved Kind is looked up again. Discovery is one small
 * GET, and a CRD installed after start should show up within seconds. */
#define RES_UNSERVED_POLL_S 3.0

/* What each informer's hooks get: the resource and which informer (a
 * lifecycle source, whose syncs sweep only its own objects). */
typedef struct res_slot {
    csm_resource *r;
    uint32_t source;
} res_slot;

typedef enum res_phase {
    RES_DISCOVERING = 0,
    RES_UNSERVED, /* discovery answered: no such Kind (yet) */
    RES_FAILING,  /* discovery itself fails (network, RBAC, ...) */
    RES_SERVED,
} res_phase;

struct csm_resource {
    const csm_informer_env *env;
    csm_gvk gvk;
    char label[512];
    char gv_path[512]; /* "/apis/GROUP/VERSION" or "/api/VERSION" */
    csm_strlist namespaces;
    char *query; /* labelSelector/fieldSelector parameters, or NULL */
    csm_resource_genset_fn make_genset;
    void *genset_ctx;

    res_phase phase;
    char phase_why[256];
    void *req; /* the transport's handle of the discovery request */
    csm_buf body;
    struct event *timer; /* discovery retries and deferred teardown */
    int teardown;        /* the timer tears the informers down first */
    csm_backoff backoff;

    char plural[256];
    int namespaced;
    char stem[256];
    csm_genset *genset;
    csm_budget *budget; /* series budget, with the informers; NULL: none */
    csm_informer **inf;
    res_slot *slots; /* one per informer */
    size_t ninf;

    /* Lifecycle accounting, once a generator set used `lifecycle`; kept
     * across CRD deletion and regeneration so the counters stay monotonic. */
    csm_lifecycle *lc;
    double lc_mono0; /* CLOCK_MONOTONIC and wall clock at creation: */
    double lc_wall0; /* lc_now() is monotonic but reads as Unix time */

    /* The config's Count metrics for this resource (NULL if none): counts
     * over the informers' objects, made with them (start_informers) and
     * dropped with them. omitted: combinations the last scrape left out
     * for maxSeries (logged when that starts). */
    csm_crscount *cnt;
    size_t cnt_omitted;
    /* The Count series are charged to the resource's series budget as one
     * entry of this book (when there is a budget): charged, what it holds;
     * admitted, whether they fit (else they are not written). */
    csm_budget_book *cnt_book;
    size_t cnt_charged;
    int cnt_admitted;
};

/* Unix time that never goes backwards (a wall clock step does not move it),
 * comparable to creationTimestamp: what the lifecycle accounting runs on. */
static double lc_now(const csm_resource *r)
{
    return r->lc_wall0 + (csm_clock_mono() - r->lc_mono0);
}

static void discover(csm_resource *r);
static void cnt_charge(csm_resource *r);

static void arm_timer(csm_resource *r, double seconds)
{
    struct timeval tv = csm_num_timeval(seconds, CSM_KCLIENT_RETRY_AFTER_MAX_S);
    evtimer_add(r->timer, &tv);
}

static void drop_informers(csm_resource *r)
{
    for (size_t i = 0; i < r->ninf; i++)
        csm_informer_free(r->inf[i]);
    free(r->inf);
    r->inf = NULL;
    free(r->slots);
    r->slots = NULL;
    r->ninf = 0;
    /* After the informers: their books give the series back first. */
    csm_budget_book_free(r->cnt_book);
    r->cnt_book = NULL;
    csm_budget_free(r->budget);
    r->budget = NULL;
    csm_genset_free(r->genset);
    r->genset = NULL;
    csm_crscount_free(r->cnt);
    r->cnt = NULL;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    csm_resource *r = arg;
    (void)fd;
    (void)what;
    if (r->teardown) {
        r->teardown = 0;
        drop_informers(r);
        csm_logf(r->env->log, CSM_LOG_WARN,
                 "%s: no longer served; its series are removed until it is back", r->label);
    }
    discover(r);
}

/* ---- informer hooks ------------------------------------------------- */

static csm_err render(void *ctx, const cJSON *obj, csm_block **out)
{
    csm_resource *r = ((res_slot *)ctx)->r;
    size_t failures = 0;
    csm_err err = csm_genset_render(r->genset, obj, out, &failures);
    if (!err && failures) {
        const char *name = csm_object_name((const csm_object *)obj);
        csm_logf(r->env->log, CSM_LOG_WARN,
                 "%s: %zu generator(s) could not fully read %s; partial families kept", r->label,
                 failures, name ? name : "(unnamed)");
    }
    return err;
}

static void gone(void *ctx)
{
    csm_resource *r = ((res_slot *)ctx)->r;
    /* The CRD is gone and its objects with it: each ends now, once (the
     * other informers' 404s find nothing left). */
    if (r->lc)
        csm_lifecycle_clear(r->lc, lc_now(r));
    if (r->cnt) {
        csm_crscount_clear(r->cnt);
        cnt_charge(r);
    }
    /* Called from inside an informer's callback: tear down on the next loop
     * iteration, not under its feet. */
    r->phase = RES_DISCOVERING;
    snprintf(r->phase_why, sizeof(r->phase_why), "collection answered 404");
    r->teardown = 1;
    /* Discovery may still list the Kind for a moment after a CRD is
     * deleted; backing off keeps that from turning into a tight loop. */
    arm_timer(r, csm_backoff_next(&r->backoff, csm_clock_mono()));
}

/* ---- lifecycle hooks (only while r->lc exists) ----------------------- */

static void lc_failed(csm_resource *r, csm_err err)
{
    csm_logf(r->env->log, CSM_LOG_ERROR, "%s: lifecycle accounting: %s", r->label,
             csm_strerror(err));
}

static void cnt_failed(csm_resource *r, csm_err err)
{
    csm_logf(r->env->log, CSM_LOG_ERROR, "%s: Count metrics: %s", r->label, csm_strerror(err));
}

/* Charges the series the Count metrics write now to the resource's budget,
 * when that changed: they are written while they fit and reconsidered when
 * their number changes (as an object is when it changes). */
static void cnt_charge(csm_resource *r)
{
    size_t n = csm_crscount_series(r->cnt);
    int admit = 1;
    csm_err err;

    if (!r->cnt_book || n == r->cnt_charged)
        return;
    err = csm_budget_book_put(r->cnt_book, "count-metrics", n, &admit);
    if (err) {
        cnt_failed(r, err);
        return;
    }
    r->cnt_charged = n;
    r->cnt_admitted = admit;
}

static void lc_seen(void *ctx, const cJSON *obj, int listed)
{
    res_slot *slot = ctx;
    csm_resource *r = slot->r;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(meta, "creationTimestamp");
    double created = NAN;
    csm_err err;

    if (r->cnt && cJSON_IsString(uid)) {
        err = csm_crscount_seen(r->cnt, slot->source, obj);
        if (err)
            cnt_failed(r, err);
        cnt_charge(r);
    }
    if (!r->lc || !cJSON_IsString(uid))
        return;
    if (cJSON_IsString(ct) && csm_gen_parse_rfc3339(ct->valuestring, &created) != CSM_OK)
        created = NAN;
    err = csm_lifecycle_seen(r->lc, slot->source, uid->valuestring,
                             r->namespaced && cJSON_IsString(ns) ? ns->valuestring : NULL, created,
                             listed, lc_now(r));
    if (err)
        lc_failed(r, err);
}

static void lc_deleted(void *ctx, const cJSON *obj)
{
    csm_resource *r = ((res_slot *)ctx)->r;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");

    if (r->lc && cJSON_IsString(uid))
        csm_lifecycle_deleted(r->lc, uid->valuestring, lc_now(r));
    if (r->cnt && cJSON_IsString(uid)) {
        csm_crscount_forget(r->cnt, uid->valuestring);
        cnt_charge(r);
    }
}

static void lc_sync_begin(void *ctx)
{
    res_slot *slot = ctx;
    csm_err err;

    if (slot->r->cnt) {
        err = csm_crscount_sync_begin(slot->r->cnt, slot->source);
        if (err)
            cnt_failed(slot->r, err);
    }
    if (!slot->r->lc)
        return;
    err = csm_lifecycle_sync_begin(slot->r->lc, slot->source);
    if (err)
        lc_failed(slot->r, err);
}

static void lc_sync_end(void *ctx)
{
    res_slot *slot = ctx;

    if (slot->r->lc)
        csm_lifecycle_sync_end(slot->r->lc, slot->source, lc_now(slot->r));
    if (slot->r->cnt) {
        csm_crscount_sync_end(slot->r->cnt, slot->source);
        cnt_charge(slot->r);
    }
}

static void lc_handed_over(void *ctx, const char *uid)
{
    csm_resource *r = ((res_slot *)ctx)->r;

    if (r->lc)
        csm_lifecycle_handed_over(r->lc, uid, lc_now(r));
    /* Another shard counts it now. */
    if (r->cnt) {
        csm_crscount_forget(r->cnt, uid);
        cnt_charge(r);
    }
}

static void lc_taking_over(void *ctx)
{
    csm_resource *r = ((res_slot *)ctx)->r;

    if (r->lc)
        csm_lifecycle_take_over(r->lc, lc_now(r));
}

/* Creates the accounting the first time the set uses `lifecycle`, and
 * applies the metric filter to its families each time. */
static csm_err lc_bind(csm_resource *r)
{
    csm_err err;

    if (!csm_genset_uses(r->genset, &csm_generator_lifecycle))
        return CSM_OK;
    if (!r->lc) {
        err = csm_lifecycle_new(r->stem, r->namespaced, lc_now(r), &r->lc);
        if (err)
            return err;
    }
    for (int f = 0; f < CSM_LC_NFAMILIES; f++)
        csm_lifecycle_enable(
            r->lc, (csm_lc_family)f,
            csm_genset_admits(r->genset, csm_lifecycle_family_name(r->lc, (csm_lc_family)f)));
    return CSM_OK;
}

/*
 * Writes the resource's lifecycle counters (the `lifecycle` generator),
 * HELP and TYPE included, evaluated now; nothing if its generator set never
 * used `lifecycle`. Unlike the other families they are written while the
 * Kind is not served too (a deleted CRD's objects were counted as deleted,
 * and that must reach Prometheus). Not const: it raises the counters'
 * monotonic floor.
 */
static csm_err write_lifecycle(csm_resource *r, csm_expo_format fmt, csm_sink *sink)
{
    csm_buf b;
    csm_err err;

    if (!r->lc)
        return CSM_OK;
    csm_buf_init(&b, 64u << 20);
    err = csm_lifecycle_write(r->lc, fmt, lc_now(r), &b);
    if (!err && b.len)
        err = sink->text(sink, b.ptr, b.len);
    csm_buf_free(&b);
    return err;
}

/* The config's Count metrics for the new set: a fresh count (the new
 * informers list every object again), each family written only if the
 * metric filter admits it and no family of the set has its name. */
static csm_err cnt_bind(csm_resource *r)
{
    csm_crs *crs = csm_genset_context(r->genset, &csm_generator_config);
    csm_err err;

    csm_budget_book_free(r->cnt_book);
    r->cnt_book = NULL;
    csm_crscount_free(r->cnt);
    r->cnt = NULL;
    r->cnt_omitted = 0;
    r->cnt_charged = 0;
    r->cnt_admitted = 1;
    if (!crs)
        return CSM_OK;
    err = csm_crscount_new(crs, csm_genset_resource(r->genset), &r->cnt);
    if (!err && r->cnt && r->budget)
        err = csm_budget_book_new(r->budget, &r->cnt_book);
    for (size_t i = 0; !err && i < csm_crscount_metrics(r->cnt); i++) {
        const char *name = csm_crscount_name(r->cnt, i);
        int clash = 0;
        for (size_t f = 0; f < csm_genset_families(r->genset); f++)
            clash |= strcmp(csm_genset_family(r->genset, f)->name, name) == 0;
        for (int f = 0; r->lc && f < CSM_LC_NFAMILIES; f++)
            clash |= strcmp(csm_lifecycle_family_name(r->lc, (csm_lc_family)f), name) == 0;
        if (clash)
            csm_logf(r->env->log, CSM_LOG_ERROR,
                     "%s: Count metric %s has the name of another family of the resource; "
                     "it is not exported",
                     r->label, name);
        csm_crscount_enable(r->cnt, i, !clash && csm_genset_admits(r->genset, name));
    }
    return err;
}

/*
 * Writes the resource's Count metrics (a config extension, crscount.h),
 * HELP and TYPE included; nothing unless the Kind is served and every
 * informer has completed a LIST (counts over a half-listed store would be
 * wrong). Logs when combinations start being left out for maxSeries.
 */
static csm_err write_counts(csm_resource *r, csm_expo_format fmt, csm_sink *sink)
{
    size_t omitted = 0;
    csm_buf b;
    csm_err err;

    /* Counts are exact only once every informer has listed: until then
     * (start, a CRD re-created, a reloaded config) they are left out, as
     * the objects' own series are while their store fills. */
    if (!r->cnt || !r->cnt_admitted || r->phase != RES_SERVED || !r->ninf)
        return CSM_OK;
    for (size_t i = 0; i < r->ninf; i++) {
        if (!csm_informer_synced(r->inf[i]))
            return CSM_OK;
    }
    csm_buf_init(&b, 256u << 20);
    err = csm_crscount_write(r->cnt, fmt, &b, &omitted);
    if (!err && omitted && !r->cnt_omitted)
        csm_logf(r->env->log, CSM_LOG_WARN,
                 "%s: Count metrics have %zu combinations beyond their maxSeries; those are "
                 "not exported",
                 r->label, omitted);
    if (!err)
        r->cnt_omitted = omitted;
    if (!err && b.len)
        err = sink->text(sink, b.ptr, b.len);
    csm_buf_free(&b);
    return err;
}

/* ---- discovery ------------------------------------------------------ */

static csm_err start_informers(csm_resource *r)
{
    csm_informer_hooks hooks = {
        .render = render,
        .gone = gone,
        .seen = lc_seen,
        .deleted = lc_deleted,
        .sync_begin = lc_sync_begin,
        .sync_end = lc_sync_end,
        .handed_over = lc_handed_over,
        .taking_over = lc_taking_over,
    };
    csm_resource_desc desc;
    char errbuf[512] = "";
    char path[2048];
    size_t want;
    csm_err err;

    desc.group = r->gvk.group;
    desc.version = r->gvk.version;
    desc.kind = r->gvk.kind;
    desc.plural = r->plural;
    desc.namespaced = r->namespaced;
    desc.stem = r->stem;
    err = r->make_genset(r->genset_ctx, &desc, &r->genset, errbuf, sizeof(errbuf));
    if (err) {
        csm_logf(r->env->log, CSM_LOG_ERROR, "%s: %s", r->label,
                 errbuf[0] ? errbuf : csm_strerror(err));
        return err;
    }
    if (r->env->series_budget) {
        size_t limit = csm_genset_series_limit(r->genset);
        err = csm_budget_new(r->env->series_budget, limit ? limit : r->env->max_series_per_resource,
                             r->label, r->env->log, r->env->series_dropped, r->env->objects_skipped,
                             &r->budget);
        if (err)
            return err;
    }
    err = lc_bind(r);
    if (!err)
        err = cnt_bind(r);
    if (err)
        return err;
    want = r->namespaced && r->namespaces.n ? r->namespaces.n : 1;
    r->inf = calloc(want, sizeof(*r->inf));
    r->slots = calloc(want, sizeof(*r->slots));
    if (!r->inf || !r->slots)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < want; i++) {
        if (r->namespaced && r->namespaces.n)
            snprintf(path, sizeof(path), "%s/namespaces/%s/%s", r->gv_path, r->namespaces.items[i],
                     r->plural);
        else
            snprintf(path, sizeof(path), "%s/%s", r->gv_path, r->plural);
        r->slots[i].r = r;
        r->slots[i].source = (uint32_t)i;
        hooks.ctx = &r->slots[i];
        err = csm_informer_new(r->env, r->label, path, r->query, &hooks, &r->inf[i]);
        if (err)
            return err;
        r->ninf++;
        if (r->budget) {
            err = csm_informer_set_budget(r->inf[i], r->budget);
            if (err)
                return err;
        }
    }
    for (size_t i = 0; i < r->ninf; i++)
        csm_informer_start(r->inf[i]);
    return CSM_OK;
}

static csm_err discovery_data(void *ctx, const char *p, size_t n)
{
    csm_resource *r = ctx;
    return csm_buf_append(&r->body, p, n);
}

/* Finds the Kind in an APIResourceList; 1 if found. */
static int find_kind(csm_resource *r, const cJSON *list)
{
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(list, "resources");
    const cJSON *it;

    cJSON_ArrayForEach(it, res)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(it, "kind");
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(it, "namespaced");
        if (!cJSON_IsString(name) || !cJSON_IsString(kind))
            continue;
        /* "memcacheds/status" is a subresource with the same kind. */
        if (strchr(name->valuestring, '/') || strcmp(kind->valuestring, r->gvk.kind) != 0)
            continue;
        if (strlen(name->valuestring) >= sizeof(r->plural))
            continue;
        strcpy(r->plural, name->valuestring);
        r->namespaced = cJSON_IsTrue(ns);
        return 1;
    }
    return 0;
}

static void discovery_done(void *ctx, const csm_kresp *resp)
{
    csm_resource *r = ctx;
    cJSON *doc = NULL;
    res_phase before = r->phase;

    r->req = NULL;
    if (resp->status == 200 && !resp->transport_error && !resp->aborted) {
        doc = cJSON_ParseWithLength(r->body.ptr ? r->body.ptr : "", r->body.len);
        if (doc && find_kind(r, doc)) {
            csm_logf(r->env->log, CSM_LOG_INFO, "%s: served as %s (%s)", r->label, r->plural,
                     r->namespaced ? "namespaced" : "cluster-scoped");
            r->phase = RES_SERVED;
            if (start_informers(r) != CSM_OK) {
                drop_informers(r);
                r->phase = RES_FAILING;
                snprintf(r->phase_why, sizeof(r->phase_why), "could not start informers");
                arm_timer(r, csm_backoff_next(&r->backoff, csm_clock_mono()));
            }
            goto out;
        }
        r->phase = doc ? RES_UNSERVED : RES_FAILING;
        snprintf(r->phase_why, sizeof(r->phase_why), "%s",
                 doc ? "kind not in the group version's discovery document"
                     : "malformed discovery document");
    } else if (resp->status == 404) {
        r->phase = RES_UNSERVED;
        snprintf(r->phase_why, sizeof(r->phase_why), "group version not served");
    } else {
        r->phase = RES_FAILING;
        if (resp->transport_error)
            snprintf(r->phase_why, sizeof(r->phase_why), "discovery failed: %s",
                     resp->error ? resp->error : "connection error");
        else
            snprintf(r->phase_why, sizeof(r->phase_why), "discovery failed: HTTP %ld",
                     resp->status);
    }
    if (r->phase != before || r->phase == RES_FAILING)
        csm_logf(r->env->log, r->phase == RES_UNSERVED ? CSM_LOG_INFO : CSM_LOG_WARN,
                 "%s: waiting: %s", r->label, r->phase_why);
    if (r->phase == RES_UNSERVED) {
        arm_timer(r, RES_UNSERVED_POLL_S);
    } else {
        double d = csm_backoff_next(&r->backoff, csm_clock_mono());
        if (resp->retry_after > d)
            d = resp->retry_after;
        arm_timer(r, d);
    }
out:
    cJSON_Delete(doc);
    csm_buf_free(&r->body);
}

static void discover(csm_resource *r)
{
    csm_kreq_cbs cbs = {discovery_data, discovery_done, r};
    csm_err err;

    csm_buf_free(&r->body);
    err = r->env->transport.get(r->env->transport.ctx, r->gv_path, 30, &cbs, &r->req);
    if (err) {
        r->req = NULL;
        arm_timer(r, csm_backoff_next(&r->backoff, csm_clock_mono()));
    }
}

/* ---- life cycle ----------------------------------------------------- */

/* Appends "key=value" URL-encoded to *q, separated by '&'. */
static csm_err query_add(csm_buf *q, const char *key, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    csm_err err;
    if (!esc)
        return CSM_ERR_NOMEM;
    err = csm_buf_printf(q, "%s%s=%s", q->len ? "&" : "", key, esc);
    curl_free(esc);
    return err;
}

static csm_err build_query(csm_resource *r, const csm_resource_opts *o)
{
    csm_buf fs;
    csm_buf ls;
    csm_buf q;
    csm_err err = CSM_OK;

    csm_buf_init(&fs, 64 * 1024);
    csm_buf_init(&ls, 64 * 1024);
    csm_buf_init(&q, 128 * 1024);
    if (o->field_selector && o->field_selector[0])
        err = csm_buf_puts(&fs, o->field_selector);
    /* Selectors are comma-separated requirements that must all hold. */
    if (!err && o->config_field_selector && o->config_field_selector[0])
        err = csm_buf_printf(&fs, "%s%s", fs.len ? "," : "", o->config_field_selector);
    /* A deny list is a server-side filter, as kube-state-metrics does it. */
    for (size_t i = 0; !err && o->namespaces_deny && i < o->namespaces_deny->n; i++)
        err = csm_buf_printf(&fs, "%smetadata.namespace!=%s", fs.len ? "," : "",
                             o->namespaces_deny->items[i]);
    if (!err && o->label_selector && o->label_selector[0])
        err = csm_buf_puts(&ls, o->label_selector);
    if (!err && o->config_label_selector && o->config_label_selector[0])
        err = csm_buf_printf(&ls, "%s%s", ls.len ? "," : "", o->config_label_selector);
    if (!err && ls.len)
        err = query_add(&q, "labelSelector", ls.ptr);
    if (!err && fs.len)
        err = query_add(&q, "fieldSelector", fs.ptr);
    if (!err && q.len) {
        r->query = strdup(q.ptr);
        if (!r->query)
            err = CSM_ERR_NOMEM;
    }
    csm_buf_free(&fs);
    csm_buf_free(&ls);
    csm_buf_free(&q);
    return err;
}

csm_err csm_resource_set_query(csm_resource *r, const csm_resource_opts *o)
{
    char *old = r->query;

    r->query = NULL;
    if (build_query(r, o) != CSM_OK) {
        free(r->query);
        r->query = old;
        return CSM_ERR_NOMEM;
    }
    free(old);
    return CSM_OK;
}

csm_err csm_resource_new(const csm_resource_opts *o, csm_resource **out)
{
    csm_resource *r = calloc(1, sizeof(*r));
    csm_err err = CSM_ERR_NOMEM;

    if (!r)
        return CSM_ERR_NOMEM;
    r->env = o->env;
    r->make_genset = o->make_genset;
    r->genset_ctx = o->genset_ctx;
    csm_buf_init(&r->body, 16u << 20);
    r->gvk.group = strdup(o->gvk->group);
    r->gvk.version = strdup(o->gvk->version);
    r->gvk.kind = strdup(o->gvk->kind);
    if (!r->gvk.group || !r->gvk.version || !r->gvk.kind)
        goto fail;
    csm_gvk_format(r->label, sizeof(r->label), r->gvk.group, r->gvk.version, r->gvk.kind);
    if (r->gvk.group[0])
        snprintf(r->gv_path, sizeof(r->gv_path), "/apis/%s/%s", r->gvk.group, r->gvk.version);
    else
        snprintf(r->gv_path, sizeof(r->gv_path), "/api/%s", r->gvk.version);
    err = csm_gen_stem(r->gvk.kind, r->stem, sizeof(r->stem));
    if (err)
        goto fail;
    if (o->namespaces) {
        err = csm_strlist_append(&r->namespaces, (const char *const *)o->namespaces->items,
                                 o->namespaces->n);
        if (err)
            goto fail;
    }
    err = build_query(r, o);
    if (err)
        goto fail;
    r->timer = evtimer_new(o->env->base, on_timer, r);
    if (!r->timer) {
        err = CSM_ERR_NOMEM;
        goto fail;
    }
    csm_backoff_init(&r->backoff, (uint64_t)(uintptr_t)r);
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r->lc_wall0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        r->lc_mono0 = csm_clock_mono();
    }
    snprintf(r->phase_why, sizeof(r->phase_why), "discovery pending");
    *out = r;
    return CSM_OK;
fail:
    csm_resource_free(r);
    return err;
}

void csm_resource_stop(csm_resource *r)
{
    if (r->req) {
        r->env->transport.cancel(r->env->transport.ctx, r->req);
        r->req = NULL;
    }
    if (r->timer)
        evtimer_del(r->timer);
    for (size_t i = 0; i < r->ninf; i++)
        csm_informer_stop(r->inf[i]);
}

void csm_resource_free(csm_resource *r)
{
    if (!r)
        return;
    csm_resource_stop(r);
    drop_informers(r);
    if (r->timer)
        event_free(r->timer);
    csm_strlist_clear(&r->namespaces);
    free(r->query);
    csm_lifecycle_free(r->lc);
    csm_buf_free(&r->body);
    csm_gvk_free(&r->gvk);
    free(r);
}

size_t csm_resource_drop_foreign(csm_resource *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->ninf; i++)
        n += csm_informer_drop_foreign(r->inf[i]);
    return n;
}

void csm_resource_resync(csm_resource *r)
{
    for (size_t i = 0; i < r->ninf; i++)
        csm_informer_resync(r->inf[i]);
}

csm_err csm_resource_start(csm_resource *r)
{
    r->phase = RES_DISCOVERING;
    discover(r);
    return CSM_OK;
}

const csm_gvk *csm_resource_gvk(const csm_resource *r)
{
    return &r->gvk;
}

const char *csm_resource_label(const csm_resource *r)
{
    return r->label;
}

int csm_resource_ready(const csm_resource *r, csm_buf *why)
{
    size_t synced = 0;

    switch (r->phase) {
    case RES_UNSERVED:
        csm_buf_printf(why, "%s: not served (%s); counted as ready with no objects\n", r->label,
                       r->phase_why);
        return 1;
    case RES_DISCOVERING:
    case RES_FAILING:
        csm_buf_printf(why, "%s: not ready: %s\n", r->label, r->phase_why);
        return 0;
    case RES_SERVED:
        break;
    }
    for (size_t i = 0; i < r->ninf; i++)
        synced += (size_t)csm_informer_synced(r->inf[i]);
    if (r->ninf && synced == r->ninf) {
        csm_buf_printf(why, "%s: synced, %zu objects\n", r->label, csm_resource_objects(r));
        return 1;
    }
    csm_buf_printf(why, "%s: not ready: %zu of %zu informers synced (%s)\n", r->label, synced,
                   r->ninf, r->ninf ? csm_informer_state(r->inf[0]) : "no informers");
    return 0;
}

int csm_resource_served(const csm_resource *r)
{
    return r->phase == RES_SERVED;
}

size_t csm_resource_objects(const csm_resource *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->ninf; i++)
        n += csm_store_count(csm_informer_store(r->inf[i]));
    return n;
}

/* Family `family` of every informer's objects: one write per segment (a
 * group of objects, see store.h), not one per object. */
static csm_err write_segments(const csm_resource *r, size_t family, csm_sink *sink)
{
    csm_err err = CSM_OK;

    for (size_t k = 0; !err && k < r->ninf; k++) {
        csm_seg *const *segs;
        size_t n;
        err = csm_store_segments(csm_informer_store(r->inf[k]), &segs, &n);
        for (size_t j = 0; !err && j < n; j++) {
            size_t len;
            const char *p = csm_seg_slice(segs[j], family, &len);
            if (!len)
                continue;
            if (sink->seg)
                err = sink->seg(sink, segs[j], family);
            else
                err = sink->ref(sink, p, len, csm_seg_release, csm_seg_ref(segs[j]));
        }
    }
    return err;
}

/* ---- regeneration (a reloaded --config) ------------------------------ */

csm_err csm_resource_regenerate(csm_resource *r)
{
    csm_err err;

    /* Not served (yet): the next discovery builds the set anew anyway. */
    if (r->phase != RES_SERVED || r->teardown)
        return CSM_OK;
    /* The stores hold blocks laid out for the old set's families, so every
     * object is listed and rendered again: a new set, new informers. */
    drop_informers(r);
    err = start_informers(r);
    if (err) {
        drop_informers(r);
        r->phase = RES_FAILING;
        snprintf(r->phase_why, sizeof(r->phase_why), "could not start informers");
        arm_timer(r, csm_backoff_next(&r->backoff, csm_clock_mono()));
    }
    return err;
}

/* ---- the scrape: families shared between resources ----------------- */

static size_t families(const csm_resource *r)
{
    if (r->phase != RES_SERVED || !r->genset)
        return 0;
    return csm_genset_families(r->genset);
}

/* One family of one resource, in scrape order; `next` chains the families
 * of the same name (SIZE_MAX ends the chain). */
typedef struct scrape_fam {
    const char *name;
    size_t res;
    size_t fam;
    size_t next;
    int first; /* the first of its name: writes the header */
} scrape_fam;

/* An entry of the index that link_families() sorts. */
typedef struct fam_key {
    const char *name;
    size_t pos;
} fam_key;

/* By name, then scrape order. */
static int cmp_by_name(const void *a, const void *b)
{
    const fam_key *x = a;
    const fam_key *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Chains each family to the next of the same name: an index sorted by name
 * (then scrape order) puts families of one name side by side, so one walk
 * links them and marks the first. O(F log F) for F families in all, where
 * a scan of the earlier resources for every family was O(F^2).
 */
static csm_err link_families(scrape_fam *v, size_t n)
{
    fam_key *idx = malloc((n ? n : 1) * sizeof(*idx));

    if (!idx)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        idx[i].name = v[i].name;
        idx[i].pos = i;
    }
    qsort(idx, n, sizeof(*idx), cmp_by_name);
    for (size_t k = 0; k < n; k++) {
        scrape_fam *e = &v[idx[k].pos];
        e->first = k == 0 || strcmp(idx[k - 1].name, e->name) != 0;
        e->next = k + 1 < n && strcmp(idx[k + 1].name, e->name) == 0 ? idx[k + 1].pos : SIZE_MAX;
    }
    free(idx);
    return CSM_OK;
}

/* The families of every served resource, in scrape order, chained by name;
 * *out is freed by the caller (NULL when there are none). */
static csm_err collect_families(csm_resource *const *res, size_t nres, scrape_fam **out,
                                size_t *nout)
{
    scrape_fam *v = NULL;
    size_t n = 0;
    size_t k = 0;
    csm_err err = CSM_OK;

    for (size_t a = 0; a < nres; a++)
        n += families(res[a]);
    if (n == 0)
        goto out;
    v = calloc(n, sizeof(*v));
    if (!v) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    for (size_t a = 0; a < nres; a++) {
        for (size_t f = 0; f < families(res[a]); f++) {
            v[k].name = csm_genset_family(res[a]->genset, f)->name;
            v[k].res = a;
            v[k].fam = f;
            k++;
        }
    }
    err = link_families(v, n);
out:
    if (err) {
        free(v);
        v = NULL;
        n = 0;
    }
    *out = v;
    *nout = n;
    return err;
}

csm_err csm_resource_write_all(csm_resource *const *res, size_t nres, csm_expo_format fmt,
                               csm_sink *sink)
{
    scrape_fam *v = NULL;
    size_t n = 0;
    csm_buf hdr;
    csm_err err;

    csm_buf_init(&hdr, 64 * 1024);
    err = collect_families(res, nres, &v, &n);
    for (size_t i = 0; !err && i < n; i++) {
        const csm_gen_family *fam;
        if (!v[i].first)
            continue;
        fam = csm_genset_family(res[v[i].res]->genset, v[i].fam);
        csm_buf_reset(&hdr);
        err = csm_expo_family_header(&hdr, fmt, fam->name, fam->help, fam->type);
        if (!err)
            err = sink->text(sink, hdr.ptr, hdr.len);
        for (size_t j = i; !err && j != SIZE_MAX; j = v[j].next)
            err = write_segments(res[v[j].res], v[j].fam, sink);
    }
    free(v);
    csm_buf_free(&hdr);
    /* Lifecycle counters: aggregates evaluated per scrape, not blocks. */
    for (size_t a = 0; !err && a < nres; a++)
        err = write_lifecycle(res[a], fmt, sink);
    /* Count metrics of the config: aggregates too (names unique per config). */
    for (size_t a = 0; !err && a < nres; a++)
        err = write_counts(res[a], fmt, sink);
    return err;
}
