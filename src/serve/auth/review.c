#include "serve/auth/review.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/clock.h"
#include "base/strlist.h"
#include "serve/auth/cache.h"
#include "serve/auth/jwt.h"
#include "serve/auth/msg.h"
#include "serve/auth/resattrs.h"

#define TOKENREVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"
#define SAR_PATH         "/apis/authorization.k8s.io/v1/subjectaccessreviews"

#define AUTH_TIMEOUT_MS  10000L
#define AUTH_MAX_ENTRIES 4096
/* Reviews in flight at once (each holds a connection to the API server). */
#define AUTH_MAX_INFLIGHT 64
/* Failed reviews are logged at most this often per kind: an outage must
 * not turn every scrape into a log line. */
#define AUTH_WARN_EVERY_MS 10000

static const double review_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1,    2.5,   5};

typedef enum cache_kind { CACHE_TOKEN = 0, CACHE_ACCESS, NCACHES } cache_kind;

static const char *const cache_label[NCACHES] = {"token", "access"};
static const char *const review_label[NCACHES] = {"tokenreview", "subjectaccessreview"};
static const char *const review_name[NCACHES] = {"TokenReview", "SubjectAccessReview"};

typedef struct entry entry;

typedef struct wlist {
    csm_auth_wait *head;
    entry *owner; /* the entry whose review the waits wait for; NULL: none */
} wlist;

struct entry {
    csm_acache_node node; /* first: the cache hands back nodes */
    cache_kind kind;
    csm_review *a;
    int pending;         /* a review is in flight */
    void *review;        /* its transport handle */
    int64_t started;     /* when it was sent (monotonic ms) */
    int have;            /* ok/user hold an answer (fresh, or stale while pending) */
    int ok;              /* token: authenticated; access: allowed */
    cJSON *user;         /* token entries that authenticated: TokenReview status.user */
    int64_t expires;     /* monotonic ms: a hit until then */
    int64_t stale_until; /* monotonic ms: may stand in for a failed review until then */
    int64_t hard_limit;  /* monotonic ms the answer may never outlive (token exp) */
    wlist waiters;
};

struct csm_auth_wait {
    wlist *list; /* the list this wait is on */
    csm_auth_wait *prev;
    csm_auth_wait *next;
    const char *verb; /* static */
    char *path;
    csm_auth_done_fn done;
    void *arg;
};

struct csm_review {
    csm_strlist audiences;
    csm_strlist allow_groups;
    int have_res;
    csm_resattrs res;
    int64_t ttl[NCACHES][2]; /* [kind][ok]: ms */
    int64_t stale_ms;
    long timeout_ms;
    size_t max_inflight;
    size_t inflight;     /* reviews sent and not answered or cancelled */
    size_t inflight_max; /* the most there ever were */
    csm_auth_clock clock;
    csm_auth_transport tr;
    csm_log *log;
    csm_acache *caches[NCACHES];
    int64_t last_warn[NCACHES];
    int warned[NCACHES];
    size_t suppressed[NCACHES];
    csm_tel_family *authn; /* NULL without telemetry */
    csm_tel_family *authz;
    csm_tel_family *lookups;
    csm_tel_family *durations;
    csm_tel_family *tel_inflight;
    csm_tel_family *tel_inflight_max;
    csm_tel_family *tel_refused;
};

/* ---- Small helpers. ------------------------------------------------------ */

static int64_t default_mono(void *ctx)
{
    (void)ctx;
    return csm_clock_mono_ms();
}

static int64_t default_wall(void *ctx)
{
    (void)ctx;
    return csm_clock_wall_ms();
}

static int64_t now_mono(const csm_review *a)
{
    return a->clock.mono_ms(a->clock.ctx);
}

/* t + d, clamped to int64_t. t may be negative: the monotonic time that
 * the "exp" of a token expired longer ago than the host's uptime maps to. */
static int64_t add_sat(int64_t t, int64_t d)
{
    if (d > 0 && t > INT64_MAX - d)
        return INT64_MAX;
    if (d < 0 && t < INT64_MIN - d)
        return INT64_MIN;
    return t + d;
}

static int64_t min64(int64_t x, int64_t y)
{
    return x < y ? x : y;
}

static void sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32); /* cannot happen with the default provider */
}

/* Review failures, at most once per AUTH_WARN_EVERY_MS per kind. */
static void warn_review(csm_review *a, cache_kind k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn_review(csm_review *a, cache_kind k, const char *fmt, ...)
{
    int64_t now = now_mono(a);
    char msg[512];
    va_list ap;

    if (a->warned[k] && now - a->last_warn[k] < AUTH_WARN_EVERY_MS) {
        a->suppressed[k]++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    csm_logf(a->log, CSM_LOG_WARN, "auth: %s failed: %s (%zu more since the last report)",
             review_name[k], msg, a->suppressed[k]);
    a->warned[k] = 1;
    a->last_warn[k] = now;
    a->suppressed[k] = 0;
}

static csm_err register_telemetry(csm_review *a, csm_telemetry *tel)
{
    static const char *const result[] = {"result"};
    static const char *const cache_result[] = {"cache", "result"};
    static const char *const review[] = {"review"};
    csm_err err;

    err = csm_tel_family_add(tel, "crd_state_metrics_authn_total",
                             "Authentication decisions on requests by result (authenticated, "
                             "unauthenticated, no_credentials, error).",
                             CSM_METRIC_COUNTER, 1, result, &a->authn);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_authz_total",
                                 "Authorization decisions on authenticated requests by result "
                                 "(allowed, denied, error).",
                                 CSM_METRIC_COUNTER, 1, result, &a->authz);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_auth_cache_lookups_total",
                                 "Review cache lookups by cache (token, access) and result (hit, "
                                 "miss, merged into a review in flight, stale answer used "
                                 "because the review failed).",
                                 CSM_METRIC_COUNTER, 2, cache_result, &a->lookups);
    if (!err)
        err = csm_tel_histogram_add(
            tel, "crd_state_metrics_auth_review_duration_seconds",
            "Time the API server took to answer a TokenReview or SubjectAccessReview.", 1, review,
            review_bounds, sizeof(review_bounds) / sizeof(review_bounds[0]), &a->durations);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_auth_reviews_in_flight",
                                 "TokenReviews and SubjectAccessReviews sent and not answered yet.",
                                 CSM_METRIC_GAUGE, 0, NULL, &a->tel_inflight);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_auth_reviews_in_flight_max",
                                 "The most reviews that were in flight at once since the start.",
                                 CSM_METRIC_GAUGE, 0, NULL, &a->tel_inflight_max);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_auth_reviews_refused_total",
                                 "Reviews not sent because the cap of reviews in flight was "
                                 "reached (the request got 503).",
                                 CSM_METRIC_COUNTER, 0, NULL, &a->tel_refused);
    if (!err)
        err = csm_tel_set(a->tel_inflight, NULL, 0);
    if (!err)
        err = csm_tel_set(a->tel_inflight_max, NULL, 0);
    return err;
}

/* a->inflight changed. */
static void inflight_changed(csm_review *a)
{
    if (a->inflight > a->inflight_max)
        a->inflight_max = a->inflight;
    if (a->tel_inflight)
        csm_tel_set(a->tel_inflight, NULL, (double)a->inflight);
    if (a->tel_inflight_max)
        csm_tel_set(a->tel_inflight_max, NULL, (double)a->inflight_max);
}

csm_err csm_review_count_authn(csm_review *a, const char *result)
{
    return csm_tel_count(a->authn, result, NULL);
}

static int entry_busy(const csm_acache_node *n)
{
    return ((const entry *)n)->pending;
}

static void wait_unlink(csm_auth_wait *w);

/* The cache's drop: frees an evicted entry, or one left at csm_review_free
 * (whose review is then cancelled and whose waits are unhooked). */
static void entry_drop(csm_acache_node *n, void *ctx)
{
    entry *e = (entry *)n;
    csm_review *a = ctx;

    if (e->pending)
        a->tr.cancel(a->tr.ctx, e->review);
    /* Waits still queued are a caller bug; unhook them so their memory is
     * not reached through a freed entry. */
    while (e->waiters.head)
        wait_unlink(e->waiters.head);
    cJSON_Delete(e->user);
    free(e);
}

csm_err csm_review_new(const csm_auth_config *cfg, const csm_auth_transport *tr, csm_log *log,
                       csm_telemetry *tel, csm_review **out)
{
    csm_acache_ops ops = {entry_busy, entry_drop, NULL};
    csm_review *a;
    size_t max_entries;
    char why[256];
    csm_err err = CSM_OK;

    *out = NULL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return CSM_ERR_NOMEM;
    a->tr = *tr;
    a->log = log;
    a->ttl[CACHE_TOKEN][0] = cfg->ttl_token_ms;
    a->ttl[CACHE_TOKEN][1] = cfg->ttl_token_ms;
    a->ttl[CACHE_ACCESS][0] = cfg->ttl_denied_ms;
    a->ttl[CACHE_ACCESS][1] = cfg->ttl_allowed_ms;
    a->stale_ms = cfg->stale_ms > 0 ? cfg->stale_ms : 0;
    a->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : AUTH_TIMEOUT_MS;
    max_entries = cfg->max_entries ? cfg->max_entries : AUTH_MAX_ENTRIES;
    a->max_inflight = cfg->max_inflight ? cfg->max_inflight : AUTH_MAX_INFLIGHT;
    if (cfg->clock) {
        a->clock = *cfg->clock;
    } else {
        a->clock.mono_ms = default_mono;
        a->clock.wall_ms = default_wall;
    }
    ops.ctx = a;
    for (int k = 0; !err && k < NCACHES; k++)
        err = csm_acache_new(max_entries, &ops, &a->caches[k]);
    if (!err)
        err = csm_strlist_append(&a->audiences, cfg->audiences, cfg->naudiences);
    if (!err)
        err = csm_strlist_append(&a->allow_groups, cfg->allow_groups, cfg->nallow_groups);
    if (!err && cfg->resource_attributes) {
        err = csm_resattrs_parse(cfg->resource_attributes, &a->res, why, sizeof(why));
        if (err == CSM_ERR_INVALID)
            csm_logf(log, CSM_LOG_ERROR, "auth: resource attributes: %s", why);
        a->have_res = err == CSM_OK;
    }
    if (!err && tel)
        err = register_telemetry(a, tel);
    if (err) {
        csm_review_free(a);
        return err;
    }
    *out = a;
    return CSM_OK;
}

void csm_review_free(csm_review *a)
{
    if (!a)
        return;
    for (int k = 0; k < NCACHES; k++)
        csm_acache_free(a->caches[k]);
    csm_strlist_clear(&a->audiences);
    csm_strlist_clear(&a->allow_groups);
    csm_resattrs_free(&a->res);
    free(a);
}

/* ---- Waits. -------------------------------------------------------------- */

static void wait_link(csm_auth_wait *w, wlist *l)
{
    w->list = l;
    w->prev = NULL;
    w->next = l->head;
    if (l->head)
        l->head->prev = w;
    l->head = w;
}

static void wait_unlink(csm_auth_wait *w)
{
    if (!w->list)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->list->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->list = NULL;
    w->prev = NULL;
    w->next = NULL;
}

csm_auth_wait *csm_review_wait_new(const char *verb, const char *path, csm_auth_done_fn done,
                                   void *arg)
{
    csm_auth_wait *w = calloc(1, sizeof(*w));

    if (w)
        w->path = strdup(path);
    if (!w || !w->path) {
        free(w);
        return NULL;
    }
    w->verb = verb;
    w->done = done;
    w->arg = arg;
    return w;
}

void csm_review_wait_free(csm_auth_wait *w)
{
    if (!w)
        return;
    wait_unlink(w);
    free(w->path);
    free(w);
}

static void entry_remove(csm_review *a, entry *e);

/* Stops e's review (nobody waits for it any more). */
static void review_cancel(csm_review *a, entry *e)
{
    a->tr.cancel(a->tr.ctx, e->review);
    e->review = NULL;
    e->pending = 0;
    a->inflight--;
    inflight_changed(a);
    if (!e->have)
        entry_remove(a, e);
}

/* A review whose last waiter left is cancelled: a client that sends a
 * made-up token and goes away holds no API server connection. */
void csm_review_wait_cancel(csm_auth_wait *w)
{
    entry *e;

    if (!w)
        return;
    e = w->list ? w->list->owner : NULL;
    csm_review_wait_free(w);
    if (e && e->pending && !e->waiters.head)
        review_cancel(e->a, e);
}

/* ---- Cache entries. ------------------------------------------------------ */

/* Frees e, which has no waiters and no review in flight. */
static void entry_remove(csm_review *a, entry *e)
{
    csm_acache_remove(a->caches[e->kind], &e->node);
    cJSON_Delete(e->user);
    free(e);
}

static void entry_forget_answer(entry *e)
{
    e->have = 0;
    e->ok = 0;
    cJSON_Delete(e->user);
    e->user = NULL;
}

static entry *entry_new(csm_review *a, cache_kind k, const unsigned char key[32])
{
    entry *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    memcpy(e->node.key, key, 32);
    e->kind = k;
    e->a = a;
    e->waiters.owner = e;
    e->hard_limit = INT64_MAX;
    if (!csm_acache_insert(a->caches[k], &e->node)) {
        free(e);
        return NULL;
    }
    return e;
}

static entry *cache_find(csm_review *a, cache_kind k, const unsigned char key[32])
{
    return (entry *)csm_acache_find(a->caches[k], key);
}

/* ---- Reviews. ------------------------------------------------------------ */

static void review_done(void *arg, const csm_auth_reply *r);

/* Sends body for e (now pending). On failure e is left as it was;
 * CSM_ERR_TOO_LARGE: max_inflight reviews are in flight already. */
static csm_err review_send(csm_review *a, entry *e, const char *path, const char *body, size_t len)
{
    csm_err err;

    if (a->inflight >= a->max_inflight) {
        if (a->tel_refused)
            csm_tel_inc(a->tel_refused, NULL, 1);
        return CSM_ERR_TOO_LARGE;
    }
    err = a->tr.post(a->tr.ctx, path, body, len, a->timeout_ms, review_done, e, &e->review);
    if (err)
        return err;
    e->pending = 1;
    e->started = now_mono(a);
    a->inflight++;
    inflight_changed(a);
    return CSM_OK;
}

/* What a failed review answers. */
static csm_auth_verdict failure_of(csm_review *a, cache_kind k, const csm_auth_reply *r)
{
    if (r->transport_error || r->status == 0) {
        warn_review(a, k, "API server unreachable (transport error %d)", r->transport_error);
        return CSM_AUTH_UNAVAILABLE;
    }
    if (r->status >= 500 || r->status == 429) {
        warn_review(a, k, "API server answered HTTP %ld", r->status);
        return CSM_AUTH_UNAVAILABLE;
    }
    /* 401/403 here is about the exporter's own credentials: it may not
     * create reviews. Nothing a retry fixes, hence 500, not 503. */
    warn_review(a, k, "API server answered HTTP %ld%s", r->status,
                r->status == 403 ? " (the exporter needs create on tokenreviews and "
                                   "subjectaccessreviews; see manifests/base/auth-rbac.yaml)"
                                 : "");
    return CSM_AUTH_ERROR;
}

/* Reads a 2xx answer into *ok and (for tokens) *user. */
static csm_err parse(const csm_review *a, cache_kind k, const csm_auth_reply *r, int *ok,
                     cJSON **user)
{
    *user = NULL;
    if (k == CACHE_ACCESS)
        return csm_authmsg_access_answer(r->body, r->len, ok);
    return csm_authmsg_token_answer(&a->audiences, r->body, r->len, ok, user);
}

static void observe(csm_review *a, entry *e)
{
    const char *v[1] = {review_label[e->kind]};
    if (a->durations)
        csm_tel_observe(a->durations, v, (double)(now_mono(a) - e->started) / 1000.0);
}

static void finish(csm_auth_wait *w, csm_auth_verdict v)
{
    csm_auth_done_fn done = w->done;
    void *arg = w->arg;

    csm_review_wait_free(w);
    done(arg, v);
}

/* The transport's completion for a review. */
static void review_done(void *arg, const csm_auth_reply *r)
{
    entry *e = arg;
    csm_review *a = e->a;
    cache_kind k = e->kind;
    csm_auth_verdict failed = CSM_AUTH_ALLOW; /* ALLOW: the review answered */
    wlist local = {NULL, NULL};
    cJSON *user = NULL;
    int ok = 0;
    int64_t now = now_mono(a);
    csm_auth_wait *w;
    csm_auth_verdict v;

    e->pending = 0;
    e->review = NULL;
    a->inflight--;
    inflight_changed(a);
    observe(a, e);
    if (r->transport_error || r->status < 200 || r->status >= 300) {
        failed = failure_of(a, k, r);
    } else if (parse(a, k, r, &ok, &user) != CSM_OK) {
        warn_review(a, k, "the answer has no status");
        failed = CSM_AUTH_ERROR;
    }
    if (failed == CSM_AUTH_ALLOW) {
        entry_forget_answer(e);
        e->have = 1;
        e->ok = ok;
        e->user = user;
        e->expires = min64(add_sat(now, a->ttl[k][ok ? 1 : 0]), e->hard_limit);
        e->stale_until = min64(add_sat(e->expires, a->stale_ms), e->hard_limit);
        csm_acache_set_side(a->caches[k], &e->node, ok ? CSM_ACACHE_POSITIVE : CSM_ACACHE_OTHER);
    } else if (e->have && now < e->stale_until) {
        csm_tel_count(a->lookups, cache_label[k], "stale");
        failed = CSM_AUTH_ALLOW; /* the previous answer stands in */
        e->expires = now;        /* and the next request asks again */
    } else {
        entry_forget_answer(e);
    }

    /* Waiters move to a local list: e may be gone before they are done,
     * and a callback may cancel a wait that is still queued here. */
    while (e->waiters.head) {
        w = e->waiters.head;
        wait_unlink(w);
        wait_link(w, &local);
    }
    ok = e->ok;
    user = NULL;
    if (failed == CSM_AUTH_ALLOW && ok && k == CACHE_TOKEN) {
        user = cJSON_Duplicate(e->user, 1);
        if (!user)
            failed = CSM_AUTH_ERROR;
    }
    if (!e->have)
        entry_remove(a, e);

    while (local.head) {
        w = local.head;
        if (failed != CSM_AUTH_ALLOW) {
            csm_tel_count(k == CACHE_TOKEN ? a->authn : a->authz, "error", NULL);
            v = failed;
        } else if (k == CACHE_ACCESS) {
            csm_tel_count(a->authz, ok ? "allowed" : "denied", NULL);
            v = ok ? CSM_AUTH_ALLOW : CSM_AUTH_FORBIDDEN;
        } else if (!ok) {
            csm_tel_count(a->authn, "unauthenticated", NULL);
            v = CSM_AUTH_UNAUTHENTICATED;
        } else {
            csm_tel_count(a->authn, "authenticated", NULL);
            wait_unlink(w);
            v = csm_review_access(a, w, user);
            if (v == CSM_AUTH_PENDING)
                continue;
        }
        finish(w, v);
    }
    cJSON_Delete(user);
}

/* The entry to ask with: a fresh pending one, or `e` (expired) turned
 * pending again with its old answer kept while it may still stand in. */
static entry *entry_for_review(csm_review *a, cache_kind k, entry *e, const unsigned char key[32])
{
    int64_t now = now_mono(a);

    if (!e)
        return entry_new(a, k, key);
    if (!(e->have && now < e->stale_until))
        entry_forget_answer(e);
    csm_acache_touch(a->caches[k], &e->node);
    return e;
}

/* A review could not even be sent: as a failed one, for this request. */
static csm_auth_verdict send_failed(csm_review *a, entry *e, csm_err err)
{
    cache_kind k = e->kind;
    int ok = e->ok;

    if (err == CSM_ERR_TOO_LARGE)
        warn_review(a, k, "%zu reviews in flight already (the cap)", a->max_inflight);
    else
        warn_review(a, k, "cannot send the request: %s", csm_strerror(err));
    if (e->have && now_mono(a) < e->stale_until) {
        csm_tel_count(a->lookups, cache_label[k], "stale");
        if (k == CACHE_TOKEN)
            return ok ? CSM_AUTH_ALLOW : CSM_AUTH_UNAUTHENTICATED;
        return ok ? CSM_AUTH_ALLOW : CSM_AUTH_FORBIDDEN;
    }
    entry_remove(a, e);
    return CSM_AUTH_UNAVAILABLE;
}

/* ---- The access stage: SubjectAccessReview. ------------------------------ */

static int in_allowed_group(const csm_review *a, const cJSON *user)
{
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(user, "groups");
    const cJSON *g;

    if (a->allow_groups.n == 0)
        return 0;
    cJSON_ArrayForEach(g, groups)
    {
        if (cJSON_IsString(g) && csm_strlist_has(&a->allow_groups, g->valuestring))
            return 1;
    }
    return 0;
}

/* Decides on an authenticated user: a verdict, or PENDING with w queued. */
csm_auth_verdict csm_review_access(csm_review *a, csm_auth_wait *w, const cJSON *user)
{
    unsigned char key[32];
    char *body;
    entry *e;
    csm_auth_verdict v;
    csm_err err;

    if (in_allowed_group(a, user)) {
        csm_tel_count(a->authz, "allowed", NULL);
        return CSM_AUTH_ALLOW;
    }
    body = csm_authmsg_sar(user, w->verb, w->path, a->have_res ? &a->res : NULL);
    if (!body) {
        csm_tel_count(a->authz, "error", NULL);
        return CSM_AUTH_ERROR;
    }
    sha256(body, strlen(body), key);
    e = cache_find(a, CACHE_ACCESS, key);
    if (e && !e->pending && e->have && now_mono(a) < e->expires) {
        csm_tel_count(a->lookups, "access", "hit");
        csm_tel_count(a->authz, e->ok ? "allowed" : "denied", NULL);
        v = e->ok ? CSM_AUTH_ALLOW : CSM_AUTH_FORBIDDEN;
        goto out;
    }
    if (e && e->pending) {
        csm_tel_count(a->lookups, "access", "merged");
        wait_link(w, &e->waiters);
        v = CSM_AUTH_PENDING;
        goto out;
    }
    csm_tel_count(a->lookups, "access", "miss");
    e = entry_for_review(a, CACHE_ACCESS, e, key);
    if (!e) {
        csm_tel_count(a->authz, "error", NULL);
        v = CSM_AUTH_UNAVAILABLE;
        goto out;
    }
    err = review_send(a, e, SAR_PATH, body, strlen(body));
    if (err) {
        v = send_failed(a, e, err);
        csm_tel_count(a->authz,
                      v == CSM_AUTH_ALLOW       ? "allowed"
                      : v == CSM_AUTH_FORBIDDEN ? "denied"
                                                : "error",
                      NULL);
        goto out;
    }
    wait_link(w, &e->waiters);
    v = CSM_AUTH_PENDING;
out:
    cJSON_free(body);
    return v;
}

/* ---- The token stage: TokenReview. --------------------------------------- */

/* When the token is a JWT: the monotonic time its "exp" corresponds to. */
static int64_t token_limit(const csm_review *a, const char *tok, size_t len)
{
    int64_t exp;
    int64_t left_ms;

    if (csm_jwt_exp(tok, len, &exp) != CSM_OK)
        return INT64_MAX;
    if (exp > INT64_MAX / 1000)
        return INT64_MAX;
    left_ms = exp * 1000 - a->clock.wall_ms(a->clock.ctx);
    return add_sat(now_mono(a), left_ms);
}

csm_auth_verdict csm_review_token(csm_review *a, csm_auth_wait *w, const char *tok, size_t len)
{
    unsigned char key[32];
    entry *e;
    char *body;
    size_t blen = 0;
    csm_auth_verdict v;
    csm_err err;

    sha256(tok, len, key);
    e = cache_find(a, CACHE_TOKEN, key);
    if (e && !e->pending && e->have && now_mono(a) < e->expires) {
        csm_tel_count(a->lookups, "token", "hit");
        if (!e->ok) {
            csm_tel_count(a->authn, "unauthenticated", NULL);
            return CSM_AUTH_UNAUTHENTICATED;
        }
        csm_tel_count(a->authn, "authenticated", NULL);
        return csm_review_access(a, w, e->user);
    }
    if (e && e->pending) {
        csm_tel_count(a->lookups, "token", "merged");
        wait_link(w, &e->waiters);
        return CSM_AUTH_PENDING;
    }
    csm_tel_count(a->lookups, "token", "miss");
    e = entry_for_review(a, CACHE_TOKEN, e, key);
    if (!e) {
        csm_tel_count(a->authn, "error", NULL);
        return CSM_AUTH_UNAVAILABLE;
    }
    e->hard_limit = token_limit(a, tok, len);
    e->stale_until = min64(e->stale_until, e->hard_limit);
    body = csm_authmsg_tokenreview(&a->audiences, tok, len, &blen);
    err = body ? review_send(a, e, TOKENREVIEW_PATH, body, blen) : CSM_ERR_NOMEM;
    if (body) {
        OPENSSL_cleanse(body, blen);
        free(body);
    }
    if (err) {
        v = send_failed(a, e, err);
        if (v == CSM_AUTH_ALLOW) {
            /* A stale "authenticated": the user is still in the entry. */
            csm_tel_count(a->authn, "authenticated", NULL);
            return csm_review_access(a, w, e->user);
        }
        csm_tel_count(a->authn, v == CSM_AUTH_UNAUTHENTICATED ? "unauthenticated" : "error", NULL);
        return v;
    }
    wait_link(w, &e->waiters);
    return CSM_AUTH_PENDING;
}
