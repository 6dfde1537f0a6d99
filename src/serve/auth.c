#include "serve/auth.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/buf.h"

#define TOKENREVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"
#define SAR_PATH         "/apis/authorization.k8s.io/v1/subjectaccessreviews"

#define AUTH_TIMEOUT_MS  10000L
#define AUTH_MAX_ENTRIES 4096
/* Reviews in flight at once (each holds a connection to the API server). */
#define AUTH_MAX_INFLIGHT 64
#define AUTH_BUCKETS      1024 /* power of two */
/* A TokenReview or SubjectAccessReview answer is a few KiB. */
#define AUTH_REPLY_MAX (1u << 20)
/* A JWT payload bigger than this is not a Kubernetes token. */
#define AUTH_JWT_PAYLOAD_MAX (16u * 1024u)
/* Failed reviews are logged at most this often per kind: an outage must
 * not turn every scrape into a log line. */
#define AUTH_WARN_EVERY_MS       10000
#define AUTH_GROUP_AUTHENTICATED "system:authenticated"

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

/* Each cache keeps two age lists of max_entries each: SIDE_POSITIVE for
 * entries whose last answer was yes, SIDE_OTHER for no answers and entries
 * not answered yet. Whoever makes up tokens or gets denied only ever
 * evicts from SIDE_OTHER, so Prometheus' answers stay cached. */
typedef enum cache_side { SIDE_OTHER = 0, SIDE_POSITIVE, NSIDES } cache_side;

struct entry {
    unsigned char key[32];
    cache_kind kind;
    csm_auth *a;
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
    cache_side side; /* the age list it is on */
    entry *hnext;
    entry *older;
    entry *newer;
};

typedef struct cache {
    entry *buckets[AUTH_BUCKETS];
    entry *oldest[NSIDES];
    entry *newest[NSIDES];
    size_t n[NSIDES];
} cache;

struct csm_auth_wait {
    csm_auth *a;
    wlist *list; /* the list this wait is on */
    csm_auth_wait *prev;
    csm_auth_wait *next;
    const char *verb; /* static */
    char *path;
    csm_auth_done_fn done;
    void *arg;
};

typedef struct strlist {
    char **v;
    size_t n;
} strlist;

/* --auth-resource-attributes; NULL fields are left out of the review. */
typedef struct res_attrs {
    char *namespace;
    char *group;
    char *version;
    char *resource;
    char *subresource;
    char *name;
} res_attrs;

struct csm_auth {
    strlist audiences;
    strlist allow_paths;
    strlist allow_groups;
    int have_res;
    res_attrs res;
    int64_t ttl[NCACHES][2]; /* [kind][ok]: ms */
    int64_t stale_ms;
    long timeout_ms;
    size_t max_entries;
    size_t max_inflight;
    size_t inflight;     /* reviews sent and not answered or cancelled */
    size_t inflight_max; /* the most there ever were */
    csm_auth_clock clock;
    csm_auth_transport tr;
    csm_log *log;
    cache caches[NCACHES];
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

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t default_mono(void *ctx)
{
    (void)ctx;
    return clock_ms(CLOCK_MONOTONIC);
}

static int64_t default_wall(void *ctx)
{
    (void)ctx;
    return clock_ms(CLOCK_REALTIME);
}

static int64_t now_mono(const csm_auth *a)
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

static void count(csm_tel_family *f, const char *v0, const char *v1)
{
    const char *v[2] = {v0, v1};
    if (f)
        csm_tel_inc(f, v, 1);
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static csm_err strlist_copy(strlist *dst, const char *const *src, size_t n)
{
    if (n == 0)
        return CSM_OK;
    dst->v = calloc(n, sizeof(*dst->v));
    if (!dst->v)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        dst->v[i] = strdup(src[i] ? src[i] : "");
        if (!dst->v[i])
            return CSM_ERR_NOMEM;
        dst->n++;
    }
    return CSM_OK;
}

static int strlist_has(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], s) == 0)
            return 1;
    }
    return 0;
}

/* Review failures, at most once per AUTH_WARN_EVERY_MS per kind. */
static void warn_review(csm_auth *a, cache_kind k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn_review(csm_auth *a, cache_kind k, const char *fmt, ...)
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

/* ---- Configuration. ------------------------------------------------------ */

static void res_attrs_free(res_attrs *r)
{
    free(r->namespace);
    free(r->group);
    free(r->version);
    free(r->resource);
    free(r->subresource);
    free(r->name);
    memset(r, 0, sizeof(*r));
}

static char **res_field(res_attrs *r, const char *key, size_t n)
{
    static const struct {
        const char *key;
        size_t off;
    } fields[] = {
        {"namespace", offsetof(res_attrs, namespace)},
        {"apiGroup", offsetof(res_attrs, group)},
        {"apiVersion", offsetof(res_attrs, version)},
        {"resource", offsetof(res_attrs, resource)},
        {"subresource", offsetof(res_attrs, subresource)},
        {"name", offsetof(res_attrs, name)},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strlen(fields[i].key) == n && memcmp(fields[i].key, key, n) == 0)
            return (char **)((char *)r + fields[i].off);
    }
    return NULL;
}

static csm_err res_attrs_parse(const char *s, res_attrs *out, char *why, size_t whylen)
{
    const char *p = s;
    const char *comma;
    const char *eq;
    size_t len;
    char **field;
    csm_err err = CSM_OK;

    memset(out, 0, sizeof(*out));
    if (why && whylen)
        why[0] = '\0';
    for (;;) {
        comma = strchr(p, ',');
        len = comma ? (size_t)(comma - p) : strlen(p);
        eq = memchr(p, '=', len);
        field = eq ? res_field(out, p, (size_t)(eq - p)) : NULL;
        if (!field) {
            if (why)
                snprintf(why, whylen,
                         "\"%.*s\" is not KEY=VALUE with KEY one of namespace, apiGroup, "
                         "apiVersion, resource, subresource, name",
                         (int)(len > 80 ? 80 : len), p);
            err = CSM_ERR_INVALID;
            goto out;
        }
        if (*field) {
            if (why)
                snprintf(why, whylen, "\"%.*s\" given twice", (int)(eq - p), p);
            err = CSM_ERR_INVALID;
            goto out;
        }
        *field = strndup(eq + 1, len - (size_t)(eq + 1 - p));
        if (!*field) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (!out->resource || !out->resource[0]) {
        if (why)
            snprintf(why, whylen, "resource=... is required");
        err = CSM_ERR_INVALID;
    }
out:
    if (err)
        res_attrs_free(out);
    return err;
}

csm_err csm_auth_resource_attributes_check(const char *s, char *why, size_t whylen)
{
    res_attrs r;
    csm_err err;

    if (!s)
        return CSM_ERR_INVALID;
    err = res_attrs_parse(s, &r, why, whylen);
    res_attrs_free(&r);
    return err;
}

static csm_err register_telemetry(csm_auth *a, csm_telemetry *tel)
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
static void inflight_changed(csm_auth *a)
{
    if (a->inflight > a->inflight_max)
        a->inflight_max = a->inflight;
    if (a->tel_inflight)
        csm_tel_set(a->tel_inflight, NULL, (double)a->inflight);
    if (a->tel_inflight_max)
        csm_tel_set(a->tel_inflight_max, NULL, (double)a->inflight_max);
}

csm_err csm_auth_new(const csm_auth_config *cfg, const csm_auth_transport *tr, csm_log *log,
                     csm_telemetry *tel, csm_auth **out)
{
    csm_auth *a;
    char why[256];
    csm_err err;

    if (!cfg || !tr || !tr->post || !tr->cancel || !out)
        return CSM_ERR_INVALID;
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
    a->max_entries = cfg->max_entries ? cfg->max_entries : AUTH_MAX_ENTRIES;
    a->max_inflight = cfg->max_inflight ? cfg->max_inflight : AUTH_MAX_INFLIGHT;
    if (cfg->clock) {
        a->clock = *cfg->clock;
    } else {
        a->clock.mono_ms = default_mono;
        a->clock.wall_ms = default_wall;
    }
    err = strlist_copy(&a->audiences, cfg->audiences, cfg->naudiences);
    if (!err)
        err = strlist_copy(&a->allow_paths, cfg->allow_paths, cfg->nallow_paths);
    if (!err)
        err = strlist_copy(&a->allow_groups, cfg->allow_groups, cfg->nallow_groups);
    if (!err && cfg->resource_attributes) {
        err = res_attrs_parse(cfg->resource_attributes, &a->res, why, sizeof(why));
        if (err == CSM_ERR_INVALID)
            csm_logf(log, CSM_LOG_ERROR, "auth: resource attributes: %s", why);
        a->have_res = err == CSM_OK;
    }
    if (!err && tel)
        err = register_telemetry(a, tel);
    if (err) {
        csm_auth_free(a);
        return err;
    }
    *out = a;
    return CSM_OK;
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

static void wait_free(csm_auth_wait *w)
{
    if (!w)
        return;
    wait_unlink(w);
    free(w->path);
    free(w);
}

static void entry_remove(csm_auth *a, entry *e);

/* Stops e's review (nobody waits for it any more). */
static void review_cancel(csm_auth *a, entry *e)
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
void csm_auth_cancel(csm_auth_wait *w)
{
    entry *e;

    if (!w)
        return;
    e = w->list ? w->list->owner : NULL;
    wait_free(w);
    if (e && e->pending && !e->waiters.head)
        review_cancel(e->a, e);
}

/* ---- Caches. ------------------------------------------------------------- */

static size_t bucket_of(const unsigned char key[32])
{
    return ((size_t)key[0] | (size_t)key[1] << 8) & (AUTH_BUCKETS - 1);
}

static entry *cache_find(cache *c, const unsigned char key[32])
{
    for (entry *e = c->buckets[bucket_of(key)]; e; e = e->hnext) {
        if (memcmp(e->key, key, 32) == 0)
            return e;
    }
    return NULL;
}

static void age_unlink(cache *c, entry *e)
{
    cache_side sd = e->side;

    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest[sd] = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest[sd] = e->older;
    e->older = NULL;
    e->newer = NULL;
}

static void age_push(cache *c, entry *e)
{
    cache_side sd = e->side;

    e->older = c->newest[sd];
    e->newer = NULL;
    if (c->newest[sd])
        c->newest[sd]->newer = e;
    else
        c->oldest[sd] = e;
    c->newest[sd] = e;
}

/* Frees e, which has no waiters and no review in flight. */
static void entry_remove(csm_auth *a, entry *e)
{
    cache *c = &a->caches[e->kind];
    entry **pp = &c->buckets[bucket_of(e->key)];

    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    age_unlink(c, e);
    c->n[e->side]--;
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

/* Makes room for one more entry on side sd: its oldest entries that have
 * no review in flight go first. 0 if every entry there is busy. */
static int cache_make_room(csm_auth *a, cache *c, cache_side sd)
{
    entry *e = c->oldest[sd];
    entry *next;

    while (c->n[sd] >= a->max_entries && e) {
        next = e->newer;
        if (!e->pending)
            entry_remove(a, e);
        e = next;
    }
    return c->n[sd] < a->max_entries;
}

/* Moves e to the age list of its answer (newest end). May exceed the
 * list's size by one when every other entry there is busy. */
static void entry_set_side(csm_auth *a, entry *e, cache_side sd)
{
    cache *c = &a->caches[e->kind];

    if (e->side == sd)
        return;
    age_unlink(c, e);
    c->n[e->side]--;
    cache_make_room(a, c, sd);
    e->side = sd;
    age_push(c, e);
    c->n[sd]++;
}

static entry *entry_new(csm_auth *a, cache_kind k, const unsigned char key[32])
{
    cache *c = &a->caches[k];
    entry *e;
    size_t b;

    if (!cache_make_room(a, c, SIDE_OTHER))
        return NULL;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    memcpy(e->key, key, 32);
    e->kind = k;
    e->a = a;
    e->side = SIDE_OTHER;
    e->waiters.owner = e;
    e->hard_limit = INT64_MAX;
    b = bucket_of(key);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    age_push(c, e);
    c->n[SIDE_OTHER]++;
    return e;
}

/* ---- Reviews. ------------------------------------------------------------ */

static void review_done(void *arg, const csm_auth_reply *r);

/* Sends body for e (now pending). On failure e is left as it was;
 * CSM_ERR_TOO_LARGE: max_inflight reviews are in flight already. */
static csm_err review_send(csm_auth *a, entry *e, const char *path, const char *body, size_t len)
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
static csm_auth_verdict failure_of(csm_auth *a, cache_kind k, const csm_auth_reply *r)
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

/* status.audiences must share one with the audiences asked for, when both
 * are given (kube-apiserver's webhook authenticator does the same). */
static int audiences_ok(const csm_auth *a, const cJSON *status)
{
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(status, "audiences");
    const cJSON *it;

    if (a->audiences.n == 0 || !cJSON_IsArray(got) || cJSON_GetArraySize(got) == 0)
        return 1;
    cJSON_ArrayForEach(it, got)
    {
        if (cJSON_IsString(it) && strlist_has(&a->audiences, it->valuestring))
            return 1;
    }
    return 0;
}

/* The token echoed in spec.token is wiped before the tree is freed. */
static void wipe_token(cJSON *root)
{
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(root, "spec");
    cJSON *tok = cJSON_GetObjectItemCaseSensitive(spec, "token");

    if (cJSON_IsString(tok) && tok->valuestring)
        OPENSSL_cleanse(tok->valuestring, strlen(tok->valuestring));
}

/* Reads a 2xx answer into *ok and (for tokens) *user. CSM_ERR_PARSE when
 * it does not say. */
static csm_err parse_answer(csm_auth *a, cache_kind k, const csm_auth_reply *r, int *ok,
                            cJSON **user)
{
    cJSON *root = r->body ? cJSON_ParseWithLength(r->body, r->len) : NULL;
    cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    cJSON *u;
    const cJSON *name;
    csm_err err = CSM_OK;

    *ok = 0;
    *user = NULL;
    if (!cJSON_IsObject(status)) {
        err = CSM_ERR_PARSE;
        goto out;
    }
    if (k == CACHE_ACCESS) {
        *ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(status, "allowed"));
        goto out;
    }
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(status, "authenticated")) ||
        !audiences_ok(a, status))
        goto out;
    u = cJSON_GetObjectItemCaseSensitive(status, "user");
    name = cJSON_GetObjectItemCaseSensitive(u, "username");
    if (!cJSON_IsString(name) || !name->valuestring[0])
        goto out; /* authenticated as nobody: not authenticated */
    *user = cJSON_DetachItemViaPointer(status, u);
    *ok = 1;
out:
    if (root && k == CACHE_TOKEN)
        wipe_token(root);
    cJSON_Delete(root);
    return err;
}

static void observe(csm_auth *a, entry *e)
{
    const char *v[1] = {review_label[e->kind]};
    if (a->durations)
        csm_tel_observe(a->durations, v, (double)(now_mono(a) - e->started) / 1000.0);
}

static csm_auth_verdict access_stage(csm_auth *a, csm_auth_wait *w, const cJSON *user);

static void finish(csm_auth_wait *w, csm_auth_verdict v)
{
    csm_auth_done_fn done = w->done;
    void *arg = w->arg;

    wait_free(w);
    done(arg, v);
}

/* The transport's completion for a review. */
static void review_done(void *arg, const csm_auth_reply *r)
{
    entry *e = arg;
    csm_auth *a = e->a;
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
    } else if (parse_answer(a, k, r, &ok, &user) != CSM_OK) {
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
        entry_set_side(a, e, ok ? SIDE_POSITIVE : SIDE_OTHER);
    } else if (e->have && now < e->stale_until) {
        count(a->lookups, cache_label[k], "stale");
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
            count(k == CACHE_TOKEN ? a->authn : a->authz, "error", NULL);
            v = failed;
        } else if (k == CACHE_ACCESS) {
            count(a->authz, ok ? "allowed" : "denied", NULL);
            v = ok ? CSM_AUTH_ALLOW : CSM_AUTH_FORBIDDEN;
        } else if (!ok) {
            count(a->authn, "unauthenticated", NULL);
            v = CSM_AUTH_UNAUTHENTICATED;
        } else {
            count(a->authn, "authenticated", NULL);
            wait_unlink(w);
            v = access_stage(a, w, user);
            if (v == CSM_AUTH_PENDING)
                continue;
        }
        finish(w, v);
    }
    cJSON_Delete(user);
}

/* The entry to ask with: a fresh pending one, or `e` (expired) turned
 * pending again with its old answer kept while it may still stand in. */
static entry *entry_for_review(csm_auth *a, cache_kind k, entry *e, const unsigned char key[32])
{
    int64_t now = now_mono(a);

    if (!e)
        return entry_new(a, k, key);
    if (!(e->have && now < e->stale_until))
        entry_forget_answer(e);
    age_unlink(&a->caches[k], e);
    age_push(&a->caches[k], e);
    return e;
}

/* A review could not even be sent: as a failed one, for this request. */
static csm_auth_verdict send_failed(csm_auth *a, entry *e, csm_err err)
{
    cache_kind k = e->kind;
    int ok = e->ok;

    if (err == CSM_ERR_TOO_LARGE)
        warn_review(a, k, "%zu reviews in flight already (the cap)", a->max_inflight);
    else
        warn_review(a, k, "cannot send the request: %s", csm_strerror(err));
    if (e->have && now_mono(a) < e->stale_until) {
        count(a->lookups, cache_label[k], "stale");
        if (k == CACHE_TOKEN)
            return ok ? CSM_AUTH_ALLOW : CSM_AUTH_UNAUTHENTICATED;
        return ok ? CSM_AUTH_ALLOW : CSM_AUTH_FORBIDDEN;
    }
    entry_remove(a, e);
    return CSM_AUTH_UNAVAILABLE;
}

/* ---- The access stage: SubjectAccessReview. ------------------------------ */

static int in_allowed_group(const csm_auth *a, const cJSON *user)
{
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(user, "groups");
    const cJSON *g;

    if (a->allow_groups.n == 0)
        return 0;
    cJSON_ArrayForEach(g, groups)
    {
        if (cJSON_IsString(g) && strlist_has(&a->allow_groups, g->valuestring))
            return 1;
    }
    return 0;
}

static csm_err add_str(cJSON *obj, const char *key, const char *val)
{
    if (!val)
        return CSM_OK;
    return cJSON_AddStringToObject(obj, key, val) ? CSM_OK : CSM_ERR_NOMEM;
}

/* Copies user.<from> into spec.<to> when present. */
static csm_err copy_item(cJSON *spec, const char *to, const cJSON *user, const char *from)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(user, from);
    cJSON *dup;

    if (!it)
        return CSM_OK;
    dup = cJSON_Duplicate(it, 1);
    if (!dup || !cJSON_AddItemToObject(spec, to, dup)) {
        cJSON_Delete(dup);
        return CSM_ERR_NOMEM;
    }
    return CSM_OK;
}

/* The SubjectAccessReview request for user doing verb on path. Its bytes
 * are also the cache key: they hold everything the answer depends on. */
static char *sar_body(const csm_auth *a, const cJSON *user, const char *verb, const char *path)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *spec = cJSON_AddObjectToObject(root, "spec");
    cJSON *attrs;
    const res_attrs *r = &a->res;
    char *out = NULL;
    csm_err err = CSM_ERR_NOMEM;

    if (!root || !spec)
        goto out;
    err = add_str(root, "apiVersion", "authorization.k8s.io/v1");
    if (!err)
        err = add_str(root, "kind", "SubjectAccessReview");
    if (!err)
        err = copy_item(spec, "user", user, "username");
    if (!err)
        err = copy_item(spec, "uid", user, "uid");
    if (!err)
        err = copy_item(spec, "groups", user, "groups");
    if (!err)
        err = copy_item(spec, "extra", user, "extra");
    if (err)
        goto out;
    err = CSM_ERR_NOMEM;
    if (a->have_res) {
        attrs = cJSON_AddObjectToObject(spec, "resourceAttributes");
        if (!attrs)
            goto out;
        err = add_str(attrs, "namespace", r->namespace);
        if (!err)
            err = add_str(attrs, "verb", verb);
        if (!err)
            err = add_str(attrs, "group", r->group);
        if (!err)
            err = add_str(attrs, "version", r->version);
        if (!err)
            err = add_str(attrs, "resource", r->resource);
        if (!err)
            err = add_str(attrs, "subresource", r->subresource);
        if (!err)
            err = add_str(attrs, "name", r->name);
    } else {
        attrs = cJSON_AddObjectToObject(spec, "nonResourceAttributes");
        if (!attrs)
            goto out;
        err = add_str(attrs, "path", path);
        if (!err)
            err = add_str(attrs, "verb", verb);
    }
    if (!err)
        out = cJSON_PrintUnformatted(root);
out:
    cJSON_Delete(root);
    return out;
}

/* Decides on an authenticated user: a verdict, or PENDING with w queued. */
static csm_auth_verdict access_stage(csm_auth *a, csm_auth_wait *w, const cJSON *user)
{
    unsigned char key[32];
    char *body;
    entry *e;
    csm_auth_verdict v;
    csm_err err;

    if (in_allowed_group(a, user)) {
        count(a->authz, "allowed", NULL);
        return CSM_AUTH_ALLOW;
    }
    body = sar_body(a, user, w->verb, w->path);
    if (!body) {
        count(a->authz, "error", NULL);
        return CSM_AUTH_ERROR;
    }
    sha256(body, strlen(body), key);
    e = cache_find(&a->caches[CACHE_ACCESS], key);
    if (e && !e->pending && e->have && now_mono(a) < e->expires) {
        count(a->lookups, "access", "hit");
        count(a->authz, e->ok ? "allowed" : "denied", NULL);
        v = e->ok ? CSM_AUTH_ALLOW : CSM_AUTH_FORBIDDEN;
        goto out;
    }
    if (e && e->pending) {
        count(a->lookups, "access", "merged");
        wait_link(w, &e->waiters);
        v = CSM_AUTH_PENDING;
        goto out;
    }
    count(a->lookups, "access", "miss");
    e = entry_for_review(a, CACHE_ACCESS, e, key);
    if (!e) {
        count(a->authz, "error", NULL);
        v = CSM_AUTH_UNAVAILABLE;
        goto out;
    }
    err = review_send(a, e, SAR_PATH, body, strlen(body));
    if (err) {
        v = send_failed(a, e, err);
        count(a->authz,
              v == CSM_AUTH_ALLOW       ? "allowed"
              : v == CSM_AUTH_FORBIDDEN ? "denied"
                                        : "error",
              NULL);
        goto out;
    }
    wait_link(w, &e->waiters);
    v = CSM_AUTH_PENDING;
out:
    free(body);
    return v;
}

/* ---- The token stage: TokenReview. --------------------------------------- */

/*
 * Finds the token in "Bearer <token>" (scheme in any case, as RFC 7235
 * says). Tokens are printable ASCII without spaces; anything else is not
 * a credential this server understands.
 */
static int bearer_token(const char *h, const char **tok, size_t *len)
{
    const char *p = h;
    size_t n = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return 0;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    while (p[n] > 0x20 && p[n] < 0x7f)
        n++;
    *tok = p;
    *len = n;
    for (p += n; *p; p++) {
        if (*p != ' ' && *p != '\t')
            return 0;
    }
    return n > 0;
}

/*
 * The TokenReview request, in one allocation of exactly the right size so
 * that no realloc leaves a copy of the token behind. The caller wipes and
 * frees it.
 */
static char *tokenreview_body(const csm_auth *a, const char *tok, size_t len, size_t *outlen)
{
    static const char head[] =
        "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{";
    static const char tail[] = "\"}}";
    cJSON *auds = NULL;
    char *auds_text = NULL;
    size_t need = sizeof(head) - 1 + sizeof("\"token\":\"") - 1 + sizeof(tail) - 1;
    size_t o = 0;
    char *out = NULL;

    if (a->audiences.n) {
        auds = cJSON_CreateStringArray((const char *const *)a->audiences.v, (int)a->audiences.n);
        auds_text = auds ? cJSON_PrintUnformatted(auds) : NULL;
        if (!auds_text)
            goto out;
        need += sizeof("\"audiences\":,") - 1 + strlen(auds_text);
    }
    for (size_t i = 0; i < len; i++)
        need += (tok[i] == '"' || tok[i] == '\\') ? 2 : 1;
    out = malloc(need + 1);
    if (!out)
        goto out;
    memcpy(out, head, sizeof(head) - 1);
    o = sizeof(head) - 1;
    if (auds_text) {
        o += (size_t)sprintf(out + o, "\"audiences\":%s,", auds_text);
    }
    memcpy(out + o, "\"token\":\"", sizeof("\"token\":\"") - 1);
    o += sizeof("\"token\":\"") - 1;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] == '"' || tok[i] == '\\')
            out[o++] = '\\';
        out[o++] = tok[i];
    }
    memcpy(out + o, tail, sizeof(tail) - 1);
    o += sizeof(tail) - 1;
    out[o] = '\0';
    *outlen = o;
out:
    cJSON_free(auds_text);
    cJSON_Delete(auds);
    return out;
}

/* When the token is a JWT: the monotonic time its "exp" corresponds to. */
static int64_t token_limit(const csm_auth *a, const char *tok, size_t len)
{
    int64_t exp;
    int64_t left_ms;

    if (csm_auth_jwt_exp(tok, len, &exp) != CSM_OK)
        return INT64_MAX;
    if (exp > INT64_MAX / 1000)
        return INT64_MAX;
    left_ms = exp * 1000 - a->clock.wall_ms(a->clock.ctx);
    return add_sat(now_mono(a), left_ms);
}

static csm_auth_verdict token_stage(csm_auth *a, csm_auth_wait *w, const char *tok, size_t len)
{
    unsigned char key[32];
    entry *e;
    char *body;
    size_t blen = 0;
    csm_auth_verdict v;
    csm_err err;

    sha256(tok, len, key);
    e = cache_find(&a->caches[CACHE_TOKEN], key);
    if (e && !e->pending && e->have && now_mono(a) < e->expires) {
        count(a->lookups, "token", "hit");
        if (!e->ok) {
            count(a->authn, "unauthenticated", NULL);
            return CSM_AUTH_UNAUTHENTICATED;
        }
        count(a->authn, "authenticated", NULL);
        return access_stage(a, w, e->user);
    }
    if (e && e->pending) {
        count(a->lookups, "token", "merged");
        wait_link(w, &e->waiters);
        return CSM_AUTH_PENDING;
    }
    count(a->lookups, "token", "miss");
    e = entry_for_review(a, CACHE_TOKEN, e, key);
    if (!e) {
        count(a->authn, "error", NULL);
        return CSM_AUTH_UNAVAILABLE;
    }
    e->hard_limit = token_limit(a, tok, len);
    e->stale_until = min64(e->stale_until, e->hard_limit);
    body = tokenreview_body(a, tok, len, &blen);
    err = body ? review_send(a, e, TOKENREVIEW_PATH, body, blen) : CSM_ERR_NOMEM;
    if (body) {
        OPENSSL_cleanse(body, blen);
        free(body);
    }
    if (err) {
        v = send_failed(a, e, err);
        if (v == CSM_AUTH_ALLOW) {
            /* A stale "authenticated": the user is still in the entry. */
            count(a->authn, "authenticated", NULL);
            return access_stage(a, w, e->user);
        }
        count(a->authn, v == CSM_AUTH_UNAUTHENTICATED ? "unauthenticated" : "error", NULL);
        return v;
    }
    wait_link(w, &e->waiters);
    return CSM_AUTH_PENDING;
}

/* ---- Requests. ----------------------------------------------------------- */

static const char *verb_of(const char *method)
{
    static const struct {
        const char *method;
        const char *verb;
    } verbs[] = {
        {"GET", "get"},    {"HEAD", "get"},    {"POST", "create"},
        {"PUT", "update"}, {"PATCH", "patch"}, {"DELETE", "delete"},
    };
    for (size_t i = 0; method && i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(method, verbs[i].method) == 0)
            return verbs[i].verb;
    }
    return NULL;
}

int csm_auth_path_always_allowed(const csm_auth *a, const char *path)
{
    size_t n;

    if (!a || !path)
        return 0;
    for (size_t i = 0; i < a->allow_paths.n; i++) {
        const char *p = a->allow_paths.v[i];
        n = strlen(p);
        /* A trailing '*' allows every path under the prefix. */
        if (n && p[n - 1] == '*' ? strncmp(path, p, n - 1) == 0 : strcmp(path, p) == 0)
            return 1;
    }
    return 0;
}

/* The user a verified client certificate stands for, as kube-apiserver's
 * x509 authenticator sees it (plus system:authenticated, which the API
 * server adds to every authenticated user). */
static cJSON *cert_user(const csm_auth_input *in)
{
    cJSON *u = cJSON_CreateObject();
    cJSON *groups = cJSON_AddArrayToObject(u, "groups");
    int has_auth = 0;

    if (!u || !groups || !cJSON_AddStringToObject(u, "username", in->cert_user))
        goto fail;
    for (size_t i = 0; i < in->ncert_groups; i++) {
        cJSON *g = cJSON_CreateString(in->cert_groups[i]);
        if (!g || !cJSON_AddItemToArray(groups, g)) {
            cJSON_Delete(g);
            goto fail;
        }
        has_auth |= strcmp(in->cert_groups[i], AUTH_GROUP_AUTHENTICATED) == 0;
    }
    if (!has_auth && !cJSON_AddItemToArray(groups, cJSON_CreateString(AUTH_GROUP_AUTHENTICATED)))
        goto fail;
    return u;
fail:
    cJSON_Delete(u);
    return NULL;
}

csm_auth_verdict csm_auth_check(csm_auth *a, const csm_auth_input *in, csm_auth_done_fn done,
                                void *arg, csm_auth_wait **wait)
{
    csm_auth_wait *w = NULL;
    const char *verb;
    const char *tok;
    size_t len;
    cJSON *user;
    csm_auth_verdict v;

    if (wait)
        *wait = NULL;
    if (!a || !in || !in->path || !done || !wait)
        return CSM_AUTH_ERROR;
    if (csm_auth_path_always_allowed(a, in->path))
        return CSM_AUTH_ALLOW;
    verb = verb_of(in->method);
    if (!verb)
        return CSM_AUTH_FORBIDDEN;
    w = calloc(1, sizeof(*w));
    if (w)
        w->path = strdup(in->path);
    if (!w || !w->path) {
        wait_free(w);
        return CSM_AUTH_ERROR;
    }
    w->a = a;
    w->verb = verb;
    w->done = done;
    w->arg = arg;

    if (in->cert_user) {
        user = cert_user(in);
        if (!user) {
            v = CSM_AUTH_ERROR;
            goto out;
        }
        count(a->authn, "authenticated", NULL);
        v = access_stage(a, w, user);
        cJSON_Delete(user);
    } else if (!in->authorization) {
        count(a->authn, "no_credentials", NULL);
        v = CSM_AUTH_UNAUTHENTICATED;
    } else if (!bearer_token(in->authorization, &tok, &len)) {
        count(a->authn, "unauthenticated", NULL);
        v = CSM_AUTH_UNAUTHENTICATED;
    } else {
        v = token_stage(a, w, tok, len);
    }
out:
    if (v == CSM_AUTH_PENDING)
        *wait = w;
    else
        wait_free(w);
    return v;
}

int csm_auth_http_status(csm_auth_verdict v)
{
    switch (v) {
    case CSM_AUTH_ALLOW:
        return 200;
    case CSM_AUTH_UNAUTHENTICATED:
        return 401;
    case CSM_AUTH_FORBIDDEN:
        return 403;
    case CSM_AUTH_UNAVAILABLE:
        return 503;
    case CSM_AUTH_ERROR:
    case CSM_AUTH_PENDING:
        break;
    }
    return 500;
}

void csm_auth_free(csm_auth *a)
{
    if (!a)
        return;
    for (int k = 0; k < NCACHES; k++) {
        cache *c = &a->caches[k];
        for (int sd = 0; sd < NSIDES; sd++) {
            while (c->oldest[sd]) {
                entry *e = c->oldest[sd];
                if (e->pending)
                    a->tr.cancel(a->tr.ctx, e->review);
                /* Waits still queued are a caller bug; unhook them so their
                 * memory is not reached through a freed entry. */
                while (e->waiters.head)
                    wait_unlink(e->waiters.head);
                entry_remove(a, e);
            }
        }
    }
    strlist_free(&a->audiences);
    strlist_free(&a->allow_paths);
    strlist_free(&a->allow_groups);
    res_attrs_free(&a->res);
    free(a);
}

/* ---- JWT. ---------------------------------------------------------------- */

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes unpadded base64url into out (room for len*3/4 bytes). */
static int b64url_decode(const char *in, size_t len, unsigned char *out, size_t *outlen)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *outlen = o;
    return 0;
}

csm_err csm_auth_jwt_exp(const char *token, size_t len, int64_t *exp)
{
    const char *dot1;
    const char *dot2;
    const char *end;
    unsigned char *payload = NULL;
    size_t plen = 0;
    cJSON *claims = NULL;
    const cJSON *e;
    csm_err err = CSM_ERR_NOT_FOUND;

    if (!token || !exp)
        return CSM_ERR_NOT_FOUND;
    end = token + len;
    dot1 = memchr(token, '.', len);
    if (!dot1)
        return CSM_ERR_NOT_FOUND;
    dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
    /* Exactly three parts: a JWE (five) is not read. */
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) || dot1 == token ||
        (size_t)(dot2 - dot1 - 1) > AUTH_JWT_PAYLOAD_MAX)
        return CSM_ERR_NOT_FOUND;
    payload = malloc((size_t)(dot2 - dot1) + 1);
    if (!payload)
        return CSM_ERR_NOMEM;
    if (b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, &plen) != 0)
        goto out;
    claims = cJSON_ParseWithLength((const char *)payload, plen);
    e = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    /* NumericDate: seconds, possibly fractional; beyond 2^53 a double is
     * not exact and no real token expires that late. */
    if (cJSON_IsNumber(e) && isfinite(e->valuedouble) && e->valuedouble > 0 &&
        e->valuedouble < 9007199254740992.0) {
        *exp = (int64_t)floor(e->valuedouble);
        err = CSM_OK;
    }
out:
    OPENSSL_cleanse(payload, (size_t)(dot2 - dot1) + 1);
    free(payload);
    cJSON_Delete(claims);
    return err;
}

/* ---- The kclient transport. ---------------------------------------------- */

typedef struct kc_post {
    csm_kreq *req;
    csm_auth_reply_fn done;
    void *arg;
    /* The 2xx body. TokenReview answers echo the token, so the buffer is
     * grown by copy-and-wipe rather than realloc, and wiped at the end. */
    char *body;
    size_t len;
    size_t cap;
} kc_post;

static void kc_post_free(kc_post *k)
{
    if (k->body) {
        OPENSSL_cleanse(k->body, k->cap);
        free(k->body);
    }
    free(k);
}

static csm_err kc_data(void *ctx, const char *p, size_t n)
{
    kc_post *k = ctx;
    size_t cap;
    char *nb;

    if (n > AUTH_REPLY_MAX - k->len)
        return CSM_ERR_TOO_LARGE;
    if (k->len + n + 1 > k->cap) {
        cap = k->cap ? k->cap : 4096;
        while (cap < k->len + n + 1)
            cap *= 2;
        nb = malloc(cap);
        if (!nb)
            return CSM_ERR_NOMEM;
        if (k->body) {
            memcpy(nb, k->body, k->len);
            OPENSSL_cleanse(k->body, k->cap);
            free(k->body);
        }
        k->body = nb;
        k->cap = cap;
    }
    memcpy(k->body + k->len, p, n);
    k->len += n;
    k->body[k->len] = '\0';
    return CSM_OK;
}

static void kc_done(void *ctx, const csm_kresp *resp)
{
    kc_post *k = ctx;
    csm_auth_reply r;

    memset(&r, 0, sizeof(r));
    r.status = resp->status;
    r.transport_error = resp->transport_error;
    if (resp->status >= 200 && resp->status < 300) {
        /* An aborted body (too large) is no answer. */
        r.body = resp->aborted ? NULL : k->body;
        r.len = resp->aborted ? 0 : k->len;
    } else {
        r.body = resp->body;
        r.len = resp->body_len;
    }
    k->done(k->arg, &r);
    kc_post_free(k);
}

static csm_err kc_post_start(void *ctx, const char *path, const char *body, size_t len,
                             long timeout_ms, csm_auth_reply_fn done, void *arg, void **handle)
{
    kc_post *k = calloc(1, sizeof(*k));
    csm_kreq_cbs cbs;
    csm_err err;

    if (!k)
        return CSM_ERR_NOMEM;
    k->done = done;
    k->arg = arg;
    cbs.data = kc_data;
    cbs.done = kc_done;
    cbs.ctx = k;
    /* kclient counts whole seconds; round up so a short timeout is not 0
     * (which would mean none). */
    err =
        csm_kclient_request(ctx, "POST", path, body, len, (timeout_ms + 999) / 1000, &cbs, &k->req);
    if (err) {
        kc_post_free(k);
        return err;
    }
    *handle = k;
    return CSM_OK;
}

static void kc_post_cancel(void *ctx, void *handle)
{
    kc_post *k = handle;
    (void)ctx;
    if (!k)
        return;
    csm_kreq_cancel(k->req);
    kc_post_free(k);
}

void csm_auth_kclient_transport(csm_kclient *kc, csm_auth_transport *out)
{
    out->post = kc_post_start;
    out->cancel = kc_post_cancel;
    out->ctx = kc;
}
