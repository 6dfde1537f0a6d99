/*
 * Access control against a fake transport, whose reviews the tests answer
 * by hand, and a fake clock, which the tests move.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "serve/auth.h"
#include "serve/auth/jwt.h"
#include "base/buf.h"

#define MAXPOSTS 64

/* ---- Fake transport. ----------------------------------------------------- */

typedef struct post {
    char *path;
    char *body;
    csm_auth_reply_fn done;
    void *arg;
    int finished; /* answered or cancelled */
    int cancelled;
} post;

typedef struct fake {
    post posts[MAXPOSTS];
    int n;
    csm_err fail_with; /* returned by the next post() */
    int64_t mono;
    int64_t wall;
} fake;

static csm_err fake_post(void *ctx, const char *path, const char *body, size_t len, long timeout_ms,
                         csm_auth_reply_fn done, void *arg, void **handle)
{
    fake *f = ctx;
    post *p;

    ck_assert_int_gt(timeout_ms, 0);
    if (f->fail_with) {
        csm_err e = f->fail_with;
        f->fail_with = CSM_OK;
        return e;
    }
    ck_assert_int_lt(f->n, MAXPOSTS);
    p = &f->posts[f->n++];
    memset(p, 0, sizeof(*p));
    p->path = strdup(path);
    p->body = strndup(body, len);
    p->done = done;
    p->arg = arg;
    *handle = p;
    return CSM_OK;
}

static void fake_cancel(void *ctx, void *handle)
{
    post *p = handle;
    (void)ctx;
    ck_assert(!p->finished);
    p->finished = 1;
    p->cancelled = 1;
}

static int64_t fake_mono(void *ctx)
{
    return ((fake *)ctx)->mono;
}

static int64_t fake_wall(void *ctx)
{
    return ((fake *)ctx)->wall;
}

static void fake_free(fake *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->posts[i].path);
        free(f->posts[i].body);
    }
}

/* Answers post i with status and body (transport failure when status is 0). */
static void reply(fake *f, int i, long status, const char *body)
{
    post *p = &f->posts[i];
    csm_auth_reply r;

    ck_assert_int_lt(i, f->n);
    ck_assert(!p->finished);
    p->finished = 1;
    memset(&r, 0, sizeof(r));
    r.status = status;
    r.transport_error = status == 0 ? 7 : 0;
    r.body = body;
    r.len = body ? strlen(body) : 0;
    p->done(p->arg, &r);
}

static const char AUTHENTICATED[] =
    "{\"kind\":\"TokenReview\",\"spec\":{\"token\":\"secret\"},\"status\":{\"authenticated\":true,"
    "\"user\":{\"username\":\"system:serviceaccount:mon:prom\",\"uid\":\"u-1\","
    "\"groups\":[\"system:serviceaccounts\",\"system:authenticated\"],"
    "\"extra\":{\"authentication.kubernetes.io/credential-id\":[\"JTI=1\"]}},"
    "\"audiences\":[\"https://kubernetes.default.svc\"]}}";
static const char UNAUTHENTICATED[] =
    "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":false,\"error\":\"invalid "
    "bearer token\"}}";
static const char ALLOWED[] = "{\"kind\":\"SubjectAccessReview\",\"status\":{\"allowed\":true}}";
static const char DENIED[] = "{\"kind\":\"SubjectAccessReview\",\"status\":{\"allowed\":false}}";

#define TR  "/apis/authentication.k8s.io/v1/tokenreviews"
#define SAR "/apis/authorization.k8s.io/v1/subjectaccessreviews"

/* ---- Harness. ------------------------------------------------------------ */

typedef struct result {
    int calls;
    csm_auth_verdict v;
} result;

static void on_done(void *arg, csm_auth_verdict v)
{
    result *r = arg;
    r->calls++;
    r->v = v;
}

typedef struct h {
    fake f;
    csm_auth_clock clock;
    csm_auth_transport tr;
    csm_auth_config cfg;
    csm_telemetry *tel;
    csm_auth *a;
} h;

static void h_config(h *x)
{
    memset(x, 0, sizeof(*x));
    x->f.mono = 1000000;
    x->f.wall = 1700000000000LL;
    x->clock.mono_ms = fake_mono;
    x->clock.wall_ms = fake_wall;
    x->clock.ctx = &x->f;
    x->tr.post = fake_post;
    x->tr.cancel = fake_cancel;
    x->tr.ctx = &x->f;
    x->cfg.ttl_token_ms = 60000;
    x->cfg.ttl_allowed_ms = 300000;
    x->cfg.ttl_denied_ms = 30000;
    x->cfg.clock = &x->clock;
    x->tel = csm_telemetry_new();
    ck_assert_ptr_nonnull(x->tel);
}

static void h_start(h *x)
{
    ck_assert_int_eq(csm_auth_new(&x->cfg, &x->tr, NULL, x->tel, &x->a), CSM_OK);
}

static void h_setup(h *x)
{
    static const char *const paths[] = {"/healthz", "/livez", "/readyz", "/debug/*"};
    h_config(x);
    x->cfg.allow_paths = paths;
    x->cfg.nallow_paths = 4;
    h_start(x);
}

static void h_teardown(h *x)
{
    csm_auth_free(x->a);
    csm_telemetry_free(x->tel);
    fake_free(&x->f);
}

/* Checks a request; PENDING verdicts keep their wait in *w when given. */
static csm_auth_verdict check(h *x, const char *method, const char *path, const char *authz,
                              result *r, csm_auth_wait **w)
{
    csm_auth_input in;
    csm_auth_wait *tmp = NULL;
    csm_auth_verdict v;

    memset(&in, 0, sizeof(in));
    in.method = method;
    in.path = path;
    in.authorization = authz;
    v = csm_auth_check(x->a, &in, on_done, r, w ? w : &tmp);
    if (v != CSM_AUTH_PENDING)
        ck_assert_ptr_null(w ? *w : tmp);
    else
        ck_assert_ptr_nonnull(w ? *w : tmp);
    return v;
}

typedef struct text_sink {
    csm_sink s;
    csm_buf b;
} text_sink;

static csm_err text_put(csm_sink *s, const char *p, size_t n)
{
    return csm_buf_append(&((text_sink *)s)->b, p, n);
}

/* The value of one series of the exporter's telemetry, 0 if absent. */
static double count_of(h *x, const char *family, const char *v0, const char *v1)
{
    text_sink ts = {{text_put, NULL, NULL}, {0}};
    char series[256];
    const char *p;
    double v = 0;

    if (v1)
        snprintf(series, sizeof(series), "\n%s{cache=\"%s\",result=\"%s\"} ", family, v0, v1);
    else
        snprintf(series, sizeof(series), "\n%s{result=\"%s\"} ", family, v0);
    csm_buf_init(&ts.b, 1 << 20);
    ck_assert_int_eq(csm_tel_write(x->tel, CSM_EXPO_TEXT, &ts.s), CSM_OK);
    p = strstr(csm_buf_str(&ts.b), series);
    if (p)
        v = strtod(p + strlen(series), NULL);
    csm_buf_free(&ts.b);
    return v;
}

/* A JWT with the given claims (signature is not checked by anyone here). */
static char *jwt(const char *claims)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(claims);
    char *out = malloc(64 + n * 2);
    size_t o = 0;

    ck_assert_ptr_nonnull(out);
    o += (size_t)sprintf(out, "eyJhbGciOiJSUzI1NiJ9.");
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)claims[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)claims[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)claims[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = tbl[v & 63];
    }
    strcpy(out + o, ".c2lnbmF0dXJl");
    return out;
}

/* ---- Tests. -------------------------------------------------------------- */

START_TEST(test_no_credentials)
{
    h x;
    result r = {0};

    h_setup(&x);
    ck_assert_int_eq(check(&x, "GET", "/metrics", NULL, &r, NULL), CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Basic dXNlcjpwYXNz", &r, NULL),
                     CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer", &r, NULL), CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer    ", &r, NULL),
                     CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer a b", &r, NULL),
                     CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearertoken", &r, NULL),
                     CSM_AUTH_UNAUTHENTICATED);
    /* Nothing was asked of the API server, and no callback ran. */
    ck_assert_int_eq(x.f.n, 0);
    ck_assert_int_eq(r.calls, 0);
    ck_assert(count_of(&x, "crd_state_metrics_authn_total", "no_credentials", NULL) == 1);
    ck_assert(count_of(&x, "crd_state_metrics_authn_total", "unauthenticated", NULL) == 5);
    h_teardown(&x);
}
END_TEST

START_TEST(test_always_allowed_paths)
{
    h x;
    result r = {0};

    h_setup(&x);
    ck_assert_int_eq(check(&x, "GET", "/healthz", NULL, &r, NULL), CSM_AUTH_ALLOW);
    ck_assert_int_eq(check(&x, "GET", "/readyz", "Bearer junk", &r, NULL), CSM_AUTH_ALLOW);
    ck_assert_int_eq(check(&x, "GET", "/debug/pprof", NULL, &r, NULL), CSM_AUTH_ALLOW);
    ck_assert_int_eq(check(&x, "GET", "/debug", NULL, &r, NULL), CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(check(&x, "GET", "/healthz/x", NULL, &r, NULL), CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(check(&x, "GET", "/metrics", NULL, &r, NULL), CSM_AUTH_UNAUTHENTICATED);
    ck_assert(csm_auth_path_always_allowed(x.a, "/livez"));
    ck_assert(!csm_auth_path_always_allowed(x.a, "/metrics"));
    ck_assert(!csm_auth_path_always_allowed(NULL, "/livez"));
    ck_assert_int_eq(x.f.n, 0);
    h_teardown(&x);
}
END_TEST

START_TEST(test_token_then_access_then_cached)
{
    h x;
    result r = {0};
    cJSON *body;
    const cJSON *spec;
    const cJSON *attrs;

    h_setup(&x);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "bearer  tok-1  ", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 1);
    ck_assert_str_eq(x.f.posts[0].path, TR);
    ck_assert_str_eq(x.f.posts[0].body, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":"
                                        "\"TokenReview\",\"spec\":{\"token\":\"tok-1\"}}");
    reply(&x.f, 0, 201, AUTHENTICATED);
    /* Authenticated: now the SubjectAccessReview. */
    ck_assert_int_eq(r.calls, 0);
    ck_assert_int_eq(x.f.n, 2);
    ck_assert_str_eq(x.f.posts[1].path, SAR);
    body = cJSON_Parse(x.f.posts[1].body);
    spec = cJSON_GetObjectItem(body, "spec");
    ck_assert_str_eq(cJSON_GetObjectItem(body, "kind")->valuestring, "SubjectAccessReview");
    ck_assert_str_eq(cJSON_GetObjectItem(spec, "user")->valuestring,
                     "system:serviceaccount:mon:prom");
    ck_assert_str_eq(cJSON_GetObjectItem(spec, "uid")->valuestring, "u-1");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(spec, "groups")), 2);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "extra"),
                                              "authentication.kubernetes.io/credential-id"));
    attrs = cJSON_GetObjectItem(spec, "nonResourceAttributes");
    ck_assert_str_eq(cJSON_GetObjectItem(attrs, "path")->valuestring, "/metrics");
    ck_assert_str_eq(cJSON_GetObjectItem(attrs, "verb")->valuestring, "get");
    ck_assert_ptr_null(cJSON_GetObjectItem(spec, "resourceAttributes"));
    cJSON_Delete(body);
    reply(&x.f, 1, 201, ALLOWED);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);

    /* Both answers are cached: HEAD is "get" too, so it is the same review. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer tok-1", &r, NULL), CSM_AUTH_ALLOW);
    ck_assert_int_eq(check(&x, "HEAD", "/metrics", "Bearer tok-1", &r, NULL), CSM_AUTH_ALLOW);
    ck_assert_int_eq(x.f.n, 2);
    /* Another path is another SubjectAccessReview, but the same token. */
    ck_assert_int_eq(check(&x, "GET", "/", "Bearer tok-1", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 3);
    ck_assert_str_eq(x.f.posts[2].path, SAR);
    ck_assert_ptr_nonnull(strstr(x.f.posts[2].body, "\"path\":\"/\""));
    reply(&x.f, 2, 201, DENIED);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_int_eq(r.v, CSM_AUTH_FORBIDDEN);
    ck_assert_int_eq(check(&x, "GET", "/", "Bearer tok-1", &r, NULL), CSM_AUTH_FORBIDDEN);
    ck_assert_int_eq(x.f.n, 3);

    ck_assert(count_of(&x, "crd_state_metrics_authn_total", "authenticated", NULL) == 5);
    ck_assert(count_of(&x, "crd_state_metrics_authz_total", "allowed", NULL) == 3);
    ck_assert(count_of(&x, "crd_state_metrics_authz_total", "denied", NULL) == 2);
    ck_assert(count_of(&x, "crd_state_metrics_auth_cache_lookups_total", "token", "hit") == 4);
    ck_assert(count_of(&x, "crd_state_metrics_auth_cache_lookups_total", "token", "miss") == 1);
    ck_assert(count_of(&x, "crd_state_metrics_auth_cache_lookups_total", "access", "hit") == 3);
    ck_assert(count_of(&x, "crd_state_metrics_auth_cache_lookups_total", "access", "miss") == 2);
    h_teardown(&x);
}
END_TEST

START_TEST(test_methods_and_unknown_verbs)
{
    h x;
    result r = {0};

    h_setup(&x);
    ck_assert_int_eq(check(&x, "POST", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 0, 201, AUTHENTICATED);
    ck_assert_ptr_nonnull(strstr(x.f.posts[1].body, "\"verb\":\"create\""));
    reply(&x.f, 1, 201, ALLOWED);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    /* A method with no API verb is not authorized at all. */
    ck_assert_int_eq(check(&x, "TRACE", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_FORBIDDEN);
    ck_assert_int_eq(check(&x, NULL, "/metrics", "Bearer t", &r, NULL), CSM_AUTH_FORBIDDEN);
    ck_assert_int_eq(x.f.n, 2);
    h_teardown(&x);
}
END_TEST

START_TEST(test_ttls)
{
    h x;
    result r = {0};

    h_setup(&x);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 0, 201, AUTHENTICATED);
    reply(&x.f, 1, 201, DENIED);
    ck_assert_int_eq(r.v, CSM_AUTH_FORBIDDEN);
    /* Denied answers last 30 s, tokens 60 s. */
    x.f.mono += 29999;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_FORBIDDEN);
    ck_assert_int_eq(x.f.n, 2);
    x.f.mono += 1;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 3);
    ck_assert_str_eq(x.f.posts[2].path, SAR);
    reply(&x.f, 2, 201, ALLOWED);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    /* The token answer (from t=0) expires at 60 s, the allowed one (from
     * t=30 s) at 330 s. */
    x.f.mono += 29999;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_ALLOW);
    x.f.mono += 1;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 4);
    ck_assert_str_eq(x.f.posts[3].path, TR);
    reply(&x.f, 3, 201, AUTHENTICATED);
    /* The access answer is still fresh: no new SubjectAccessReview. */
    ck_assert_int_eq(x.f.n, 4);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    x.f.mono += 300000 - 30000 - 1;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_str_eq(x.f.posts[4].path, TR);
    reply(&x.f, 4, 201, AUTHENTICATED);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    x.f.mono += 1;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_str_eq(x.f.posts[5].path, SAR);
    reply(&x.f, 5, 201, ALLOWED);
    h_teardown(&x);
}
END_TEST

START_TEST(test_unauthenticated_is_cached_for_the_token_ttl)
{
    h x;
    result r = {0};

    h_setup(&x);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer garbage", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 0, 201, UNAUTHENTICATED);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.v, CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(x.f.n, 1); /* no SubjectAccessReview for nobody */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer garbage", &r, NULL),
                     CSM_AUTH_UNAUTHENTICATED);
    x.f.mono += 60000;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer garbage", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 1, 201, "{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"\"}}}");
    ck_assert_int_eq(r.v, CSM_AUTH_UNAUTHENTICATED);
    h_teardown(&x);
}
END_TEST

START_TEST(test_jwt_exp)
{
    int64_t exp = 0;
    char *t;

    t = jwt("{\"iss\":\"k\",\"exp\":1700000100,\"sub\":\"x\"}");
    ck_assert_int_eq(csm_jwt_exp(t, strlen(t), &exp), CSM_OK);
    ck_assert_int_eq(exp, 1700000100);
    free(t);
    t = jwt("{\"exp\":1700000100.75}");
    ck_assert_int_eq(csm_jwt_exp(t, strlen(t), &exp), CSM_OK);
    ck_assert_int_eq(exp, 1700000100);
    free(t);
    /* Payload lengths that leave 1 and 2 trailing base64 characters. */
    t = jwt("{\"exp\":12}");
    ck_assert_int_eq(csm_jwt_exp(t, strlen(t), &exp), CSM_OK);
    ck_assert_int_eq(exp, 12);
    free(t);
    t = jwt("{\"exp\":123}");
    ck_assert_int_eq(csm_jwt_exp(t, strlen(t), &exp), CSM_OK);
    ck_assert_int_eq(exp, 123);
    free(t);
    /* Only the given length counts. */
    t = jwt("{\"exp\":5}");
    ck_assert_int_eq(csm_jwt_exp(t, strlen(t) - 3, &exp), CSM_OK);
    ck_assert_int_eq(csm_jwt_exp(t, 10, &exp), CSM_ERR_NOT_FOUND);
    free(t);
    exp = 42;
    /* No exp, a non-numeric one, or nonsense: not found, *exp untouched. */
    t = jwt("{\"sub\":\"x\"}");
    ck_assert_int_eq(csm_jwt_exp(t, strlen(t), &exp), CSM_ERR_NOT_FOUND);
    free(t);
    t = jwt("{\"exp\":\"1700000000\"}");
    ck_assert_int_eq(csm_jwt_exp(t, strlen(t), &exp), CSM_ERR_NOT_FOUND);
    free(t);
    t = jwt("{\"exp\":-5}");
    ck_assert_int_eq(csm_jwt_exp(t, strlen(t), &exp), CSM_ERR_NOT_FOUND);
    free(t);
    t = jwt("[1,2]");
    ck_assert_int_eq(csm_jwt_exp(t, strlen(t), &exp), CSM_ERR_NOT_FOUND);
    free(t);
    ck_assert_int_eq(csm_jwt_exp("opaque-token", 12, &exp), CSM_ERR_NOT_FOUND);
    ck_assert_int_eq(csm_jwt_exp("a.b", 3, &exp), CSM_ERR_NOT_FOUND);
    ck_assert_int_eq(csm_jwt_exp("a.b.c.d.e", 9, &exp), CSM_ERR_NOT_FOUND);
    ck_assert_int_eq(csm_jwt_exp(".eyJleHAiOjF9.x", 15, &exp), CSM_ERR_NOT_FOUND);
    ck_assert_int_eq(csm_jwt_exp("h.eyJleHAiOjF9=.x", 17, &exp), CSM_ERR_NOT_FOUND);
    ck_assert_int_eq(csm_jwt_exp("h.e.x", 5, &exp), CSM_ERR_NOT_FOUND);
    ck_assert_int_eq(csm_jwt_exp("h.eyJleHAiOjF9.x", 16, &exp), CSM_OK);
    ck_assert_int_eq(exp, 1);
    ck_assert_int_eq(csm_jwt_exp(NULL, 0, &exp), CSM_ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_token_entry_never_outlives_exp)
{
    h x;
    result r = {0};
    char hdr[1024];
    char claims[128];
    char *t;
    int64_t now_s;

    h_setup(&x);
    now_s = x.f.wall / 1000;
    /* Expires in 5 s; the token TTL is 60 s. */
    snprintf(claims, sizeof(claims), "{\"exp\":%lld}", (long long)(now_s + 5));
    t = jwt(claims);
    snprintf(hdr, sizeof(hdr), "Bearer %s", t);
    ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
    /* The TokenReview body carries the token as is. */
    ck_assert_ptr_nonnull(strstr(x.f.posts[0].body, t));
    reply(&x.f, 0, 201, AUTHENTICATED);
    reply(&x.f, 1, 201, ALLOWED);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    x.f.mono += 4999;
    x.f.wall += 4999;
    ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_ALLOW);
    ck_assert_int_eq(x.f.n, 2);
    x.f.mono += 1;
    x.f.wall += 1;
    /* At exp the cached answer is gone; the API server decides again. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 3);
    ck_assert_str_eq(x.f.posts[2].path, TR);
    reply(&x.f, 2, 201, UNAUTHENTICATED);
    ck_assert_int_eq(r.v, CSM_AUTH_UNAUTHENTICATED);
    free(t);

    /* A token already expired by our clock is still asked about (the API
     * server has the last word) but its answer is not cached. */
    snprintf(claims, sizeof(claims), "{\"exp\":%lld}", (long long)(x.f.wall / 1000 - 10));
    t = jwt(claims);
    snprintf(hdr, sizeof(hdr), "Bearer %s", t);
    ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 3, 201, AUTHENTICATED);
    /* Same user and path as above: the access answer is still cached. */
    ck_assert_int_eq(x.f.n, 4);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
    ck_assert_str_eq(x.f.posts[4].path, TR);
    reply(&x.f, 4, 201, UNAUTHENTICATED);
    free(t);
    h_teardown(&x);
}
END_TEST

/* A JWT that expired before the host booted maps to a negative monotonic
 * time; the TTL arithmetic must not overflow on it (UBSan found this in
 * tests/fuzz/fuzz-auth) and the answer must not be cached. */
START_TEST(test_long_expired_token)
{
    h x;
    result r = {0};
    char hdr[1024];
    char *t;

    h_config(&x);
    x.f.mono = 5000; /* 5 s after boot */
    x.cfg.stale_ms = 300000;
    h_start(&x);
    t = jwt("{\"exp\":1}");
    snprintf(hdr, sizeof(hdr), "Bearer %s", t);
    ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 0, 201, AUTHENTICATED);
    reply(&x.f, 1, 201, ALLOWED);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    /* Not cached, and no stale stand-in when the API server fails. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
    ck_assert_str_eq(x.f.posts[2].path, TR);
    reply(&x.f, 2, 0, NULL);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_int_eq(r.v, CSM_AUTH_UNAVAILABLE);
    free(t);
    h_teardown(&x);
}
END_TEST

START_TEST(test_concurrent_reviews_merge)
{
    h x;
    result r[4];
    csm_auth_wait *w[4] = {NULL};

    memset(r, 0, sizeof(r));
    h_setup(&x);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer same", &r[i], &w[i]),
                         CSM_AUTH_PENDING);
    /* One TokenReview for all four. */
    ck_assert_int_eq(x.f.n, 1);
    /* One client goes away while waiting. */
    csm_auth_cancel(w[2]);
    csm_auth_cancel(NULL);
    reply(&x.f, 0, 201, AUTHENTICATED);
    /* The three left continue into one SubjectAccessReview. */
    ck_assert_int_eq(x.f.n, 2);
    ck_assert_str_eq(x.f.posts[1].path, SAR);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(r[i].calls, 0);
    /* A fifth request arriving now joins the review in flight. */
    {
        result late = {0};
        ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer same", &late, NULL),
                         CSM_AUTH_PENDING);
        ck_assert_int_eq(x.f.n, 2);
        csm_auth_cancel(w[0]);
        reply(&x.f, 1, 201, ALLOWED);
        ck_assert_int_eq(late.calls, 1);
        ck_assert_int_eq(late.v, CSM_AUTH_ALLOW);
    }
    ck_assert_int_eq(r[0].calls, 0);
    ck_assert_int_eq(r[1].calls, 1);
    ck_assert_int_eq(r[1].v, CSM_AUTH_ALLOW);
    ck_assert_int_eq(r[2].calls, 0);
    ck_assert_int_eq(r[3].calls, 1);
    ck_assert(count_of(&x, "crd_state_metrics_auth_cache_lookups_total", "token", "merged") == 3);
    ck_assert(count_of(&x, "crd_state_metrics_auth_cache_lookups_total", "access", "merged") == 3);

    /* Different tokens of the same user are reviewed separately. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer other", &r[0], NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 3);
    reply(&x.f, 2, 201, AUTHENTICATED);
    /* ... but the same user on the same path is the same (cached) access. */
    ck_assert_int_eq(r[0].calls, 1);
    ck_assert_int_eq(r[0].v, CSM_AUTH_ALLOW);
    ck_assert_int_eq(x.f.n, 3);
    h_teardown(&x);
}
END_TEST

START_TEST(test_failures_are_not_cached)
{
    h x;
    result r = {0};
    result r2 = {0};

    h_setup(&x);
    /* Unreachable API server: 503 for every waiter, and nothing cached. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r2, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 0, 0, NULL);
    ck_assert_int_eq(r.v, CSM_AUTH_UNAVAILABLE);
    ck_assert_int_eq(r2.v, CSM_AUTH_UNAVAILABLE);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 2);
    reply(&x.f, 1, 503, "{\"kind\":\"Status\"}");
    ck_assert_int_eq(r.v, CSM_AUTH_UNAVAILABLE);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 2, 429, NULL);
    ck_assert_int_eq(r.v, CSM_AUTH_UNAVAILABLE);
    /* The exporter may not create reviews: a configuration error, 500. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 3, 403, "{\"kind\":\"Status\",\"reason\":\"Forbidden\"}");
    ck_assert_int_eq(r.v, CSM_AUTH_ERROR);
    /* A 2xx without a status. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 4, 201, "{\"kind\":\"TokenReview\"}");
    ck_assert_int_eq(r.v, CSM_AUTH_ERROR);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 5, 201, "not json");
    ck_assert_int_eq(r.v, CSM_AUTH_ERROR);
    /* The request cannot even be sent. */
    x.f.fail_with = CSM_ERR_IO;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_UNAVAILABLE);
    /* Token fine, access review fails. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 6, 201, AUTHENTICATED);
    reply(&x.f, 7, 0, NULL);
    ck_assert_int_eq(r.v, CSM_AUTH_UNAVAILABLE);
    x.f.fail_with = CSM_ERR_IO;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_UNAVAILABLE);
    ck_assert(count_of(&x, "crd_state_metrics_authn_total", "error", NULL) == 8);
    ck_assert(count_of(&x, "crd_state_metrics_authz_total", "error", NULL) == 2);
    h_teardown(&x);
}
END_TEST

START_TEST(test_stale_if_error)
{
    h x;
    result r = {0};
    char hdr[1024];
    char claims[128];
    char *t;

    h_config(&x);
    x.cfg.stale_ms = 300000;
    h_start(&x);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 0, 201, AUTHENTICATED);
    reply(&x.f, 1, 201, ALLOWED);
    /* Both answers expired (token at 60 s, access at 300 s) ... */
    x.f.mono += 300000;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    /* ... and the API server is gone: the old answers stand in. */
    reply(&x.f, 2, 0, NULL);
    ck_assert_int_eq(x.f.n, 4);
    reply(&x.f, 3, 0, NULL);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    ck_assert(count_of(&x, "crd_state_metrics_auth_cache_lookups_total", "token", "stale") == 1);
    ck_assert(count_of(&x, "crd_state_metrics_auth_cache_lookups_total", "access", "stale") == 1);
    /* Every request asks again rather than trusting the stale answer. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    x.f.fail_with = CSM_ERR_IO;
    reply(&x.f, 4, 503, NULL);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    /* Past the token's stale window (60 s + 300 s) it is over. */
    x.f.mono = 1000000 + 360000;
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 5, 0, NULL);
    ck_assert_int_eq(r.v, CSM_AUTH_UNAVAILABLE);

    /* Never past a token's exp, however long the stale window. */
    snprintf(claims, sizeof(claims), "{\"exp\":%lld}", (long long)(x.f.wall / 1000 + 90));
    t = jwt(claims);
    snprintf(hdr, sizeof(hdr), "Bearer %s", t);
    ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 6, 201, AUTHENTICATED);
    ck_assert_int_eq(x.f.n, 8);
    reply(&x.f, 7, 201, ALLOWED);
    x.f.mono += 60000;
    x.f.wall += 60000;
    ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 8, 0, NULL);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW); /* 60 s < exp at 90 s */
    x.f.mono += 30000;
    x.f.wall += 30000;
    ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 9, 0, NULL);
    ck_assert_int_eq(r.v, CSM_AUTH_UNAVAILABLE);
    free(t);
    h_teardown(&x);
}
END_TEST

START_TEST(test_audiences)
{
    static const char *const auds[] = {"crd-state-metrics"};
    h x;
    result r = {0};

    h_config(&x);
    x.cfg.audiences = auds;
    x.cfg.naudiences = 1;
    h_start(&x);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer a\"b\\c", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_str_eq(x.f.posts[0].body,
                     "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\","
                     "\"spec\":{\"audiences\":[\"crd-state-metrics\"],\"token\":\"a\\\"b\\\\c\"}}");
    /* Authenticated, but for another audience (status.audiences). */
    reply(&x.f, 0, 201, AUTHENTICATED);
    ck_assert_int_eq(r.v, CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(x.f.n, 1);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer d", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 1, 201,
          "{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"u\"},"
          "\"audiences\":[\"x\",\"crd-state-metrics\"]}}");
    ck_assert_int_eq(x.f.n, 3);
    reply(&x.f, 2, 201, ALLOWED);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    /* No status.audiences: what was asked for is what was checked. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer e", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 3, 201, "{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"u\"}}}");
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW); /* same user and path: cached access */
    h_teardown(&x);
}
END_TEST

START_TEST(test_always_allowed_groups)
{
    static const char *const groups[] = {"system:masters", "system:serviceaccounts"};
    h x;
    result r = {0};

    h_config(&x);
    x.cfg.allow_groups = groups;
    x.cfg.nallow_groups = 2;
    h_start(&x);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 0, 201, AUTHENTICATED);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    ck_assert_int_eq(x.f.n, 1); /* no SubjectAccessReview */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_ALLOW);
    h_teardown(&x);
}
END_TEST

START_TEST(test_resource_attributes)
{
    h x;
    result r = {0};
    cJSON *body;
    const cJSON *attrs;
    char why[256];

    h_config(&x);
    x.cfg.resource_attributes =
        "namespace=monitoring,apiGroup=,resource=services,subresource=proxy,name=csm";
    h_start(&x);
    ck_assert_int_eq(check(&x, "HEAD", "/metrics", "Bearer t", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 0, 201, AUTHENTICATED);
    body = cJSON_Parse(x.f.posts[1].body);
    attrs = cJSON_GetObjectItem(cJSON_GetObjectItem(body, "spec"), "resourceAttributes");
    ck_assert_ptr_nonnull(attrs);
    ck_assert_str_eq(cJSON_GetObjectItem(attrs, "namespace")->valuestring, "monitoring");
    ck_assert_str_eq(cJSON_GetObjectItem(attrs, "verb")->valuestring, "get");
    ck_assert_str_eq(cJSON_GetObjectItem(attrs, "group")->valuestring, "");
    ck_assert_str_eq(cJSON_GetObjectItem(attrs, "resource")->valuestring, "services");
    ck_assert_str_eq(cJSON_GetObjectItem(attrs, "subresource")->valuestring, "proxy");
    ck_assert_str_eq(cJSON_GetObjectItem(attrs, "name")->valuestring, "csm");
    ck_assert_ptr_null(cJSON_GetObjectItem(attrs, "version"));
    ck_assert_ptr_null(
        cJSON_GetObjectItem(cJSON_GetObjectItem(body, "spec"), "nonResourceAttributes"));
    cJSON_Delete(body);
    reply(&x.f, 1, 201, ALLOWED);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    /* The path does not matter then: same review, cached. */
    ck_assert_int_eq(check(&x, "GET", "/", "Bearer t", &r, NULL), CSM_AUTH_ALLOW);
    h_teardown(&x);

    ck_assert_int_eq(csm_auth_resource_attributes_check("resource=pods", why, sizeof(why)), CSM_OK);
    ck_assert_int_eq(csm_auth_resource_attributes_check("namespace=a", why, sizeof(why)),
                     CSM_ERR_INVALID);
    ck_assert_str_eq(why, "resource=... is required");
    ck_assert_int_eq(csm_auth_resource_attributes_check("resource=a,resource=b", why, sizeof(why)),
                     CSM_ERR_INVALID);
    ck_assert_str_eq(why, "\"resource\" given twice");
    ck_assert_int_eq(csm_auth_resource_attributes_check("resource=a,verb=list", why, sizeof(why)),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(csm_auth_resource_attributes_check("resource", why, sizeof(why)),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(csm_auth_resource_attributes_check("", why, sizeof(why)), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_auth_resource_attributes_check(NULL, why, sizeof(why)), CSM_ERR_INVALID);
}
END_TEST

START_TEST(test_client_certificate_identity)
{
    static const char *const groups[] = {"metrics-readers"};
    h x;
    result r = {0};
    csm_auth_input in;
    csm_auth_wait *w = NULL;
    cJSON *body;
    const cJSON *spec;
    const cJSON *g;

    h_setup(&x);
    memset(&in, 0, sizeof(in));
    in.method = "GET";
    in.path = "/metrics";
    in.authorization = "Bearer ignored-when-a-certificate-is-there";
    in.cert_user = "alice";
    in.cert_groups = groups;
    in.ncert_groups = 1;
    ck_assert_int_eq(csm_auth_check(x.a, &in, on_done, &r, &w), CSM_AUTH_PENDING);
    /* No TokenReview: straight to the SubjectAccessReview. */
    ck_assert_int_eq(x.f.n, 1);
    ck_assert_str_eq(x.f.posts[0].path, SAR);
    body = cJSON_Parse(x.f.posts[0].body);
    spec = cJSON_GetObjectItem(body, "spec");
    ck_assert_str_eq(cJSON_GetObjectItem(spec, "user")->valuestring, "alice");
    g = cJSON_GetObjectItem(spec, "groups");
    ck_assert_int_eq(cJSON_GetArraySize(g), 2);
    ck_assert_str_eq(cJSON_GetArrayItem(g, 0)->valuestring, "metrics-readers");
    ck_assert_str_eq(cJSON_GetArrayItem(g, 1)->valuestring, "system:authenticated");
    ck_assert_ptr_null(cJSON_GetObjectItem(spec, "uid"));
    cJSON_Delete(body);
    reply(&x.f, 0, 201, DENIED);
    ck_assert_int_eq(r.v, CSM_AUTH_FORBIDDEN);
    ck_assert_int_eq(csm_auth_check(x.a, &in, on_done, &r, &w), CSM_AUTH_FORBIDDEN);
    ck_assert(count_of(&x, "crd_state_metrics_authn_total", "authenticated", NULL) == 2);
    h_teardown(&x);
}
END_TEST

START_TEST(test_eviction)
{
    h x;
    result r = {0};
    char hdr[32];

    h_config(&x);
    x.cfg.max_entries = 2;
    h_start(&x);
    for (int i = 0; i < 3; i++) {
        snprintf(hdr, sizeof(hdr), "Bearer t%d", i);
        ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
        reply(&x.f, x.f.n - 1, 201, UNAUTHENTICATED);
    }
    ck_assert_int_eq(x.f.n, 3);
    /* t0 was the oldest and made room for t2. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t2", &r, NULL), CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t1", &r, NULL), CSM_AUTH_UNAUTHENTICATED);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t0", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 4);
    /* Entries with a review in flight are never evicted: with t0 and t3
     * pending, t4 has no room and is turned away rather than evicting. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t3", &r, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer t4", &r, NULL), CSM_AUTH_UNAVAILABLE);
    ck_assert_int_eq(x.f.n, 5);
    reply(&x.f, 3, 201, UNAUTHENTICATED);
    reply(&x.f, 4, 201, UNAUTHENTICATED);
    h_teardown(&x);
}
END_TEST

START_TEST(test_free_cancels_reviews)
{
    h x;
    result r = {0};
    csm_auth_wait *w = NULL;

    h_setup(&x);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer a", &r, &w), CSM_AUTH_PENDING);
    csm_auth_cancel(w);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer b", &r, &w), CSM_AUTH_PENDING);
    csm_auth_cancel(w);
    csm_auth_free(x.a);
    x.a = NULL;
    ck_assert(x.f.posts[0].cancelled);
    ck_assert(x.f.posts[1].cancelled);
    ck_assert_int_eq(r.calls, 0);
    csm_telemetry_free(x.tel);
    fake_free(&x.f);
    csm_auth_free(NULL);
}
END_TEST

/* A telemetry series without labels, 0 if absent. */
static double plain_of(h *x, const char *family)
{
    text_sink ts = {{text_put, NULL, NULL}, {0}};
    char series[256];
    const char *p;
    double v = -1;

    snprintf(series, sizeof(series), "\n%s ", family);
    csm_buf_init(&ts.b, 1 << 20);
    ck_assert_int_eq(csm_tel_write(x->tel, CSM_EXPO_TEXT, &ts.s), CSM_OK);
    p = strstr(csm_buf_str(&ts.b), series);
    if (p)
        v = strtod(p + strlen(series), NULL);
    csm_buf_free(&ts.b);
    return v;
}

START_TEST(test_inflight_cap)
{
    h x;
    result r[4] = {{0}};
    result again = {0};
    char hdr[32];

    h_config(&x);
    x.cfg.max_inflight = 2;
    h_start(&x);
    for (int i = 0; i < 2; i++) {
        snprintf(hdr, sizeof(hdr), "Bearer flood%d", i);
        ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r[i], NULL), CSM_AUTH_PENDING);
    }
    /* A third made-up token finds the cap reached: 503 at once, nothing
     * sent. The same token as one in flight still merges into it. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer flood2", &r[2], NULL),
                     CSM_AUTH_UNAVAILABLE);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer flood0", &r[3], NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 2);
    ck_assert(plain_of(&x, "crd_state_metrics_auth_reviews_in_flight") == 2);
    ck_assert(plain_of(&x, "crd_state_metrics_auth_reviews_refused_total") == 1);
    reply(&x.f, 0, 201, UNAUTHENTICATED);
    ck_assert_int_eq(r[0].calls, 1);
    ck_assert_int_eq(r[3].calls, 1);
    ck_assert(plain_of(&x, "crd_state_metrics_auth_reviews_in_flight") == 1);
    /* Room again. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer flood2", &again, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 3);
    ck_assert(plain_of(&x, "crd_state_metrics_auth_reviews_in_flight_max") == 2);
    reply(&x.f, 1, 201, UNAUTHENTICATED);
    reply(&x.f, 2, 201, UNAUTHENTICATED);
    ck_assert(plain_of(&x, "crd_state_metrics_auth_reviews_in_flight") == 0);
    h_teardown(&x);
}
END_TEST

START_TEST(test_cancel_last_waiter_cancels_review)
{
    h x;
    result r1 = {0};
    result r2 = {0};
    csm_auth_wait *w1 = NULL;
    csm_auth_wait *w2 = NULL;

    h_setup(&x);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer gone", &r1, &w1), CSM_AUTH_PENDING);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer gone", &r2, &w2), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 1);
    /* One of two waiters leaves: the review goes on for the other. */
    csm_auth_cancel(w1);
    ck_assert(!x.f.posts[0].cancelled);
    /* The last one leaves: nobody needs the answer, the review stops. */
    csm_auth_cancel(w2);
    ck_assert(x.f.posts[0].cancelled);
    ck_assert(plain_of(&x, "crd_state_metrics_auth_reviews_in_flight") == 0);
    /* Nothing was cached: the token is asked about again. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer gone", &r1, NULL), CSM_AUTH_PENDING);
    ck_assert_int_eq(x.f.n, 2);
    reply(&x.f, 1, 201, UNAUTHENTICATED);
    ck_assert_int_eq(r2.calls, 0);
    h_teardown(&x);
}
END_TEST

START_TEST(test_negatives_cannot_evict_positives)
{
    h x;
    result r = {0};
    char hdr[32];

    h_config(&x);
    x.cfg.max_entries = 2;
    h_start(&x);
    /* Prometheus: authenticated and allowed. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer prom", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 0, 201, AUTHENTICATED);
    reply(&x.f, 1, 201, ALLOWED);
    ck_assert_int_eq(r.v, CSM_AUTH_ALLOW);
    /* Twenty made-up tokens, each answered "unauthenticated": far more
     * than the cache holds. */
    for (int i = 0; i < 20; i++) {
        snprintf(hdr, sizeof(hdr), "Bearer junk%d", i);
        ck_assert_int_eq(check(&x, "GET", "/metrics", hdr, &r, NULL), CSM_AUTH_PENDING);
        reply(&x.f, x.f.n - 1, 201, UNAUTHENTICATED);
    }
    ck_assert_int_eq(x.f.n, 22);
    /* Prometheus' answers are still cached: no review. */
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer prom", &r, NULL), CSM_AUTH_ALLOW);
    ck_assert_int_eq(x.f.n, 22);
    /* A denied SubjectAccessReview lands with the negatives too. */
    ck_assert_int_eq(check(&x, "GET", "/other", "Bearer prom", &r, NULL), CSM_AUTH_PENDING);
    reply(&x.f, 22, 201, DENIED);
    ck_assert_int_eq(r.v, CSM_AUTH_FORBIDDEN);
    ck_assert_int_eq(check(&x, "GET", "/metrics", "Bearer prom", &r, NULL), CSM_AUTH_ALLOW);
    ck_assert_int_eq(x.f.n, 23);
    h_teardown(&x);
}
END_TEST

START_TEST(test_new_errors)
{
    h x;
    csm_auth *a = NULL;

    h_config(&x);
    ck_assert_int_eq(csm_auth_new(NULL, &x.tr, NULL, NULL, &a), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_auth_new(&x.cfg, NULL, NULL, NULL, &a), CSM_ERR_INVALID);
    x.cfg.resource_attributes = "bogus";
    ck_assert_int_eq(csm_auth_new(&x.cfg, &x.tr, NULL, NULL, &a), CSM_ERR_INVALID);
    ck_assert_ptr_null(a);
    ck_assert_int_eq(csm_auth_http_status(CSM_AUTH_ALLOW), 200);
    ck_assert_int_eq(csm_auth_http_status(CSM_AUTH_UNAUTHENTICATED), 401);
    ck_assert_int_eq(csm_auth_http_status(CSM_AUTH_FORBIDDEN), 403);
    ck_assert_int_eq(csm_auth_http_status(CSM_AUTH_UNAVAILABLE), 503);
    ck_assert_int_eq(csm_auth_http_status(CSM_AUTH_ERROR), 500);
    csm_telemetry_free(x.tel);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_no_credentials);
    tcase_add_test(tc, test_always_allowed_paths);
    tcase_add_test(tc, test_token_then_access_then_cached);
    tcase_add_test(tc, test_methods_and_unknown_verbs);
    tcase_add_test(tc, test_ttls);
    tcase_add_test(tc, test_unauthenticated_is_cached_for_the_token_ttl);
    tcase_add_test(tc, test_jwt_exp);
    tcase_add_test(tc, test_token_entry_never_outlives_exp);
    tcase_add_test(tc, test_long_expired_token);
    tcase_add_test(tc, test_concurrent_reviews_merge);
    tcase_add_test(tc, test_failures_are_not_cached);
    tcase_add_test(tc, test_stale_if_error);
    tcase_add_test(tc, test_audiences);
    tcase_add_test(tc, test_always_allowed_groups);
    tcase_add_test(tc, test_resource_attributes);
    tcase_add_test(tc, test_client_certificate_identity);
    tcase_add_test(tc, test_eviction);
    tcase_add_test(tc, test_free_cancels_reviews);
    tcase_add_test(tc, test_new_errors);
    tcase_add_test(tc, test_inflight_cap);
    tcase_add_test(tc, test_cancel_last_waiter_cancels_review);
    tcase_add_test(tc, test_negatives_cannot_evict_positives);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
