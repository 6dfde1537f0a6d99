/*
 * The server runs on this thread's event loop; clients (libcurl, or raw
 * sockets where the test needs to stall or drop a connection) run on a
 * second thread. The two talk through pipes only: the client writes a byte
 * to `to_main` at each checkpoint, which breaks the loop, and blocks on
 * `to_client` when it needs the main thread to act first.
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <event2/event.h>

#include "check_main.h"
#include "store/gzcat.h"
#include "base/loop.h"
#include "serve/httpd.h"
#include "store/store.h"

#define BODY_MAX (256u << 20)

/* ---- The handler side. --------------------------------------------------- */

typedef struct owner {
    struct mctx *m;
    size_t idx;
} owner;

typedef struct mctx {
    const char *block; /* each ref points at this */
    size_t block_len;
    size_t nrefs;
    owner *owners;
    int *released;         /* per ref */
    size_t released_total; /* all refs */
    size_t released_at_return;
    int calls;
    csm_expo_format last_fmt;
    csm_err fail_with; /* returned after all refs were handed over */
    int ready;
    const char *why;
    csm_store *store; /* its segments follow the refs, through sink->seg */
} mctx;

static const char HEAD_TEXT[] = "# HELP test_info Test.\n# TYPE test_info gauge\n";

static void release(void *p)
{
    owner *o = p;
    o->m->released[o->idx]++;
    o->m->released_total++;
}

static csm_err metrics_cb(void *ctx, csm_expo_format fmt, csm_sink *sink)
{
    mctx *m = ctx;
    csm_err err;

    m->calls++;
    m->last_fmt = fmt;
    err = sink->text(sink, HEAD_TEXT, strlen(HEAD_TEXT));
    for (size_t i = 0; i < m->nrefs; i++) {
        csm_err e = sink->ref(sink, m->block, m->block_len, release, &m->owners[i]);
        if (!err)
            err = e;
    }
    if (!err && m->store) {
        csm_seg *const *segs;
        size_t n;
        err = csm_store_segments(m->store, &segs, &n);
        for (size_t i = 0; !err && i < n; i++) {
            err = sink->text(sink, "# between\n", 10);
            if (!err)
                err = sink->seg(sink, segs[i], 0);
        }
    }
    m->released_at_return = m->released_total;
    return err ? err : m->fail_with;
}

static int ready_cb(void *ctx, csm_buf *why)
{
    mctx *m = ctx;
    if (m->why)
        csm_buf_puts(why, m->why);
    return m->ready;
}

static void mctx_init(mctx *m, size_t nrefs, size_t block_len)
{
    char *b = malloc(block_len + 1);
    memset(m, 0, sizeof(*m));
    ck_assert_ptr_nonnull(b);
    /* A valid sample line padded to block_len. */
    ck_assert_uint_ge(block_len, 32);
    memset(b, 'x', block_len);
    memcpy(b, "test_info{pad=\"", 15);
    memcpy(b + block_len - 5, "\"} 1\n", 5);
    b[block_len] = '\0';
    m->block = b;
    m->block_len = block_len;
    m->nrefs = nrefs;
    m->owners = calloc(nrefs ? nrefs : 1, sizeof(*m->owners));
    m->released = calloc(nrefs ? nrefs : 1, sizeof(*m->released));
    ck_assert_ptr_nonnull(m->owners);
    ck_assert_ptr_nonnull(m->released);
    for (size_t i = 0; i < nrefs; i++) {
        m->owners[i].m = m;
        m->owners[i].idx = i;
    }
    m->ready = 1;
}

/* Every reference handed out in `calls` scrapes was released exactly once. */
static void assert_released_once(const mctx *m, int calls)
{
    ck_assert_int_eq(m->calls, calls);
    for (size_t i = 0; i < m->nrefs; i++)
        ck_assert_int_eq(m->released[i], calls);
    ck_assert_uint_eq(m->released_total, m->nrefs * (size_t)calls);
}

static void mctx_free(mctx *m)
{
    free((char *)m->block);
    free(m->owners);
    free(m->released);
}

/* The body a text scrape must produce. */
static char *expected_body(const mctx *m, int eof, size_t *len)
{
    size_t hl = strlen(HEAD_TEXT);
    size_t n = hl + m->nrefs * m->block_len + (eof ? 6 : 0);
    char *p = malloc(n + 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, HEAD_TEXT, hl);
    for (size_t i = 0; i < m->nrefs; i++)
        memcpy(p + hl + i * m->block_len, m->block, m->block_len);
    if (eof)
        memcpy(p + n - 6, "# EOF\n", 6);
    p[n] = '\0';
    *len = n;
    return p;
}

/* ---- Loop / thread plumbing. --------------------------------------------- */

typedef struct env {
    struct event_base *base;
    csm_httpd *srv;
    mctx m;
    csm_httpd_handlers h;
    csm_telemetry *tel;
    int port;
    int to_main[2];
    int to_client[2];
    struct event *wake;
    pthread_t th;
    void (*client)(struct env *);
    void *arg;
    int wakes; /* client checkpoints seen */
    int done_calls;
} env;

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    env *e = arg;
    char c;
    (void)what;
    if (read(fd, &c, 1) == 1) {
        e->wakes++;
        event_base_loopbreak(e->base);
    }
}

static void env_setup(env *e, size_t nrefs, size_t block_len, csm_telemetry *tel)
{
    memset(e, 0, sizeof(*e));
    mctx_init(&e->m, nrefs, block_len);
    e->h.metrics = metrics_cb;
    e->h.ready = ready_cb;
    e->h.ctx = &e->m;
    e->h.title = "Test <exporter> & co";
    e->tel = tel;
    e->base = event_base_new();
    ck_assert_ptr_nonnull(e->base);
    ck_assert_int_eq(csm_httpd_new(e->base, "127.0.0.1", 0, &e->h, NULL, tel, &e->srv), CSM_OK);
    e->port = csm_httpd_port(e->srv);
    ck_assert_int_gt(e->port, 0);
    ck_assert_int_eq(pipe(e->to_main), 0);
    ck_assert_int_eq(pipe(e->to_client), 0);
    e->wake = event_new(e->base, e->to_main[0], EV_READ | EV_PERSIST, on_wake, e);
    ck_assert_ptr_nonnull(e->wake);
    ck_assert_int_eq(event_add(e->wake, NULL), 0);
}

static void env_teardown(env *e)
{
    csm_httpd_free(e->srv);
    e->srv = NULL;
    event_free(e->wake);
    event_base_free(e->base);
    close(e->to_main[0]);
    close(e->to_main[1]);
    close(e->to_client[0]);
    close(e->to_client[1]);
}

/* env_teardown() and the handler's context, for a test that checks
 * nothing in between. */
static void env_done(env *e)
{
    env_teardown(e);
    mctx_free(&e->m);
}

/* env_setup() with connection limits on the server. */
static void env_limited(env *e, size_t nrefs, size_t block_len, const csm_httpd_limits *l)
{
    env_setup(e, nrefs, block_len, NULL);
    csm_httpd_set_limits(e->srv, l);
}

/* Replaces the server by one on `host` with the handlers in e->h as they
 * are now (no telemetry). */
static void env_relisten(env *e, const char *host)
{
    csm_httpd_free(e->srv);
    ck_assert_int_eq(csm_httpd_new(e->base, host, 0, &e->h, NULL, NULL, &e->srv), CSM_OK);
    e->port = csm_httpd_port(e->srv);
}

/* Client side: checkpoint; the main loop breaks out. */
static void notify_main(env *e)
{
    ck_assert_int_eq(write(e->to_main[1], "x", 1), 1);
}

/* Client side: wait for the main thread's go-ahead. */
static void wait_main(env *e)
{
    char c;
    ck_assert_int_eq(read(e->to_client[0], &c, 1), 1);
}

static void go_client(env *e)
{
    ck_assert_int_eq(write(e->to_client[1], "x", 1), 1);
}

static void *client_main(void *arg)
{
    env *e = arg;
    e->client(e);
    notify_main(e);
    return NULL;
}

static void start_client(env *e, void (*fn)(env *), void *arg)
{
    e->client = fn;
    e->arg = arg;
    ck_assert_int_eq(pthread_create(&e->th, NULL, client_main, e), 0);
}

/* Serves until the client's next checkpoint. */
static void serve_until_checkpoint(env *e)
{
    ck_assert_int_eq(event_base_dispatch(e->base), 0);
}

static void join_client(env *e)
{
    ck_assert_int_eq(pthread_join(e->th, NULL), 0);
}

/* Runs fn on the client thread to completion while serving. */
static void run_client(env *e, void (*fn)(env *), void *arg)
{
    start_client(e, fn, arg);
    serve_until_checkpoint(e);
    join_client(e);
}

/* ---- libcurl client. ----------------------------------------------------- */

typedef struct http_res {
    long status;
    csm_buf body;
    csm_buf headers;
    CURLcode rc;
} http_res;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    csm_buf *b = arg;
    return csm_buf_append(b, p, size * n) == CSM_OK ? size * n : 0;
}

/* Performs one request; headers is NULL-terminated (or NULL). The body is
 * not decoded, so a gzip response arrives compressed. With tls, https
 * verified against the test CA in data/tls. */
static void http_do_ex(int port, int tls, const char *method, const char *path,
                       const char *const *headers, http_res *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *sl = NULL;
    char url[256];

    ck_assert_ptr_nonnull(c);
    memset(r, 0, sizeof(*r));
    csm_buf_init(&r->body, BODY_MAX);
    csm_buf_init(&r->headers, 1 << 16);
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", tls ? "https" : "http", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (tls)
        curl_easy_setopt(c, CURLOPT_CAINFO, "data/tls/ca.crt");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    for (size_t i = 0; headers && headers[i]; i++)
        sl = curl_slist_append(sl, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(sl);
    curl_easy_cleanup(c);
}

static void http_do(int port, const char *method, const char *path, const char *const *headers,
                    http_res *r)
{
    http_do_ex(port, 0, method, path, headers, r);
}

static void http_res_free(http_res *r)
{
    csm_buf_free(&r->body);
    csm_buf_free(&r->headers);
}

/* Case-insensitive search for "Name: value" among the response headers. */
static int has_header(const http_res *r, const char *line)
{
    const char *h = csm_buf_str(&r->headers);
    size_t n = strlen(line);
    for (const char *p = h; *p; p++) {
        if (strncasecmp(p, line, n) == 0 && (p == h || p[-1] == '\n'))
            return 1;
    }
    return 0;
}

static char *gunzip(const char *p, size_t n, size_t *out_len)
{
    z_stream zs;
    size_t cap = 1 << 20;
    size_t len = 0;
    char *out = malloc(cap);
    int rc;

    memset(&zs, 0, sizeof(zs));
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    do {
        if (len == cap) {
            cap *= 2;
            out = realloc(out, cap);
            ck_assert_ptr_nonnull(out);
        }
        zs.next_out = (Bytef *)out + len;
        zs.avail_out = (uInt)(cap - len);
        rc = inflate(&zs, Z_NO_FLUSH);
        len = cap - zs.avail_out;
        ck_assert_msg(rc == Z_OK || rc == Z_STREAM_END, "inflate: %d", rc);
    } while (rc != Z_STREAM_END);
    ck_assert_uint_eq(zs.avail_in, 0);
    inflateEnd(&zs);
    *out_len = len;
    return out;
}

/* ---- Scenarios. ---------------------------------------------------------- */

typedef struct scenario {
    const char *method;
    const char *path;
    const char *headers[4];
    http_res res;
} scenario;

static void client_one(env *e)
{
    scenario *sc = e->arg;
    http_do(e->port, sc->method, sc->path, sc->headers, &sc->res);
}

static void request(env *e, scenario *sc)
{
    run_client(e, client_one, sc);
    ck_assert_msg(sc->res.rc == CURLE_OK, "curl: %s", curl_easy_strerror(sc->res.rc));
}

START_TEST(test_metrics_text_zero_copy)
{
    env e;
    scenario sc = {"GET", "/metrics", {"Accept: text/plain;version=0.0.4", NULL}, {0}};
    size_t elen;
    char *exp;

    env_setup(&e, 1000, 100, NULL);
    request(&e, &sc);
    ck_assert_int_eq(sc.res.status, 200);
    ck_assert(has_header(&sc.res, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    ck_assert(!has_header(&sc.res, "Content-Encoding:"));
    ck_assert(has_header(&sc.res, "Vary: Accept, Accept-Encoding\r\n"));
    exp = expected_body(&e.m, 0, &elen);
    ck_assert_uint_eq(sc.res.body.len, elen);
    ck_assert(memcmp(sc.res.body.ptr, exp, elen) == 0);
    ck_assert_int_eq(e.m.last_fmt, CSM_EXPO_TEXT);
    /* Zero copy: nothing was released while the handler ran, everything
     * once the response had been written. */
    ck_assert_uint_eq(e.m.released_at_return, 0);
    assert_released_once(&e.m, 1);
    free(exp);
    http_res_free(&sc.res);
    env_teardown(&e);
    assert_released_once(&e.m, 1);
    mctx_free(&e.m);
}
END_TEST

START_TEST(test_metrics_openmetrics_eof)
{
    env e;
    scenario sc = {"GET",
                   "/metrics",
                   {"Accept: application/openmetrics-text;version=1.0.0,application/"
                    "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/"
                    "*;q=0.1",
                    NULL},
                   {0}};
    size_t elen;
    char *exp;

    env_setup(&e, 3, 64, NULL);
    request(&e, &sc);
    ck_assert_int_eq(sc.res.status, 200);
    ck_assert(has_header(
        &sc.res, "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"));
    exp = expected_body(&e.m, 1, &elen);
    ck_assert_uint_eq(sc.res.body.len, elen);
    ck_assert(memcmp(sc.res.body.ptr, exp, elen) == 0);
    /* Exactly one "# EOF", at the very end. */
    ck_assert_ptr_eq(strstr(csm_buf_str(&sc.res.body), "# EOF"),
                     sc.res.body.ptr + sc.res.body.len - 6);
    ck_assert_int_eq(e.m.last_fmt, CSM_EXPO_OPENMETRICS);
    assert_released_once(&e.m, 1);
    free(exp);
    http_res_free(&sc.res);
    env_done(&e);
}
END_TEST

START_TEST(test_metrics_gzip)
{
    env e;
    scenario plain = {"GET", "/metrics", {"Accept: application/openmetrics-text", NULL}, {0}};
    scenario gz = {"GET",
                   "/metrics",
                   {"Accept: application/openmetrics-text", "Accept-Encoding: gzip", NULL},
                   {0}};
    char *out;
    size_t n;

    /* ~2 MiB so the deflate loop runs through many output chunks. */
    env_setup(&e, 20000, 100, NULL);
    request(&e, &plain);
    request(&e, &gz);
    ck_assert_int_eq(gz.res.status, 200);
    ck_assert(has_header(&gz.res, "Content-Encoding: gzip\r\n"));
    ck_assert(has_header(&gz.res, "Vary: Accept, Accept-Encoding\r\n"));
    ck_assert_uint_lt(gz.res.body.len, plain.res.body.len / 4);
    out = gunzip(gz.res.body.ptr, gz.res.body.len, &n);
    ck_assert_uint_eq(n, plain.res.body.len);
    ck_assert(memcmp(out, plain.res.body.ptr, n) == 0);
    /* The gzip sink copies, so it releases each block straight away. */
    ck_assert_uint_eq(e.m.released_at_return, 2 * e.m.nrefs);
    assert_released_once(&e.m, 2);
    free(out);
    http_res_free(&plain.res);
    http_res_free(&gz.res);
    env_done(&e);
}
END_TEST

/* Segments through both sinks: the gzip response stitched from cached
 * pieces and stored blocks inflates to exactly the plain body, a second
 * gzip scrape reuses the cached pieces, and a held segment outlives the
 * store's change. */
START_TEST(test_metrics_segments_gzip)
{
    env e;
    scenario plain = {"GET", "/metrics", {NULL}, {0}};
    scenario gz = {"GET", "/metrics", {"Accept-Encoding: gzip", NULL}, {0}};
    scenario gz2 = {"GET", "/metrics", {"Accept-Encoding: gzip", NULL}, {0}};
    csm_store *st = csm_store_new();
    csm_seg *const *segs;
    const csm_gzpiece *pc1;
    const csm_gzpiece *pc2;
    size_t nseg;
    char uid[32];
    char line[96];
    char *out;
    size_t n;

    ck_assert_ptr_nonnull(st);
    /* About 2.5 MB: several segments. */
    for (int k = 0; k < 100000; k++) {
        const char *t[1] = {line};
        size_t l[1];
        snprintf(uid, sizeof(uid), "u%d", k);
        l[0] = (size_t)snprintf(line, sizeof(line), "test_info{o=\"%d\"} 1\n", k);
        ck_assert_int_eq(csm_store_upsert(st, uid, csm_block_new(1, t, l)), CSM_OK);
    }
    env_setup(&e, 1, 64, NULL);
    e.m.store = st;
    request(&e, &plain);
    request(&e, &gz);
    ck_assert_int_eq(gz.res.status, 200);
    ck_assert(has_header(&gz.res, "Content-Encoding: gzip\r\n"));
    ck_assert_uint_lt(gz.res.body.len, plain.res.body.len / 4);
    out = gunzip(gz.res.body.ptr, gz.res.body.len, &n);
    ck_assert_uint_eq(n, plain.res.body.len);
    ck_assert(memcmp(out, plain.res.body.ptr, n) == 0);
    ck_assert_ptr_nonnull(strstr(csm_buf_str(&plain.res.body), "test_info{o=\"99999\"} 1\n"));
    free(out);
    ck_assert_int_eq(csm_store_segments(st, &segs, &nseg), CSM_OK);
    ck_assert_uint_gt(nseg, 1);
    ck_assert_int_eq(csm_seg_gzip(segs[0], 0, &pc1), CSM_OK);
    request(&e, &gz2);
    ck_assert_int_eq(csm_seg_gzip(segs[0], 0, &pc2), CSM_OK);
    /* Cached: the same piece, not compressed again. */
    ck_assert_ptr_eq(pc1, pc2);
    ck_assert_ptr_eq(pc1->data, pc2->data);
    ck_assert_uint_eq(gz2.res.body.len, gz.res.body.len);
    ck_assert(memcmp(gz2.res.body.ptr, gz.res.body.ptr, gz.res.body.len) == 0);
    http_res_free(&plain.res);
    http_res_free(&gz.res);
    http_res_free(&gz2.res);
    env_done(&e);
    csm_store_free(st);
}
END_TEST

START_TEST(test_gzip_refused_with_q0)
{
    env e;
    scenario sc = {"GET", "/metrics", {"Accept-Encoding: gzip;q=0, identity", NULL}, {0}};

    env_setup(&e, 2, 64, NULL);
    request(&e, &sc);
    ck_assert_int_eq(sc.res.status, 200);
    ck_assert(!has_header(&sc.res, "Content-Encoding:"));
    ck_assert(memcmp(sc.res.body.ptr, HEAD_TEXT, strlen(HEAD_TEXT)) == 0);
    http_res_free(&sc.res);
    env_done(&e);
}
END_TEST

START_TEST(test_head_metrics)
{
    env e;
    scenario sc = {"HEAD", "/metrics", {NULL}, {0}};

    env_setup(&e, 2, 64, NULL);
    request(&e, &sc);
    ck_assert_int_eq(sc.res.status, 200);
    ck_assert(has_header(&sc.res, "Content-Type: text/plain; version=0.0.4"));
    ck_assert_uint_eq(sc.res.body.len, 0);
    ck_assert_int_eq(e.m.calls, 0);
    http_res_free(&sc.res);
    env_done(&e);
}
END_TEST

START_TEST(test_metrics_error_500)
{
    env e;
    scenario sc = {"GET", "/metrics", {"Accept-Encoding: gzip", NULL}, {0}};
    scenario sc2 = {"GET", "/metrics", {NULL}, {0}};

    env_setup(&e, 50, 64, NULL);
    e.m.fail_with = CSM_ERR_TOO_LARGE;
    request(&e, &sc);
    ck_assert_int_eq(sc.res.status, 500);
    ck_assert(!has_header(&sc.res, "Content-Encoding:"));
    ck_assert_str_eq(csm_buf_str(&sc.res.body), "internal error\n");
    request(&e, &sc2);
    ck_assert_int_eq(sc2.res.status, 500);
    ck_assert_str_eq(csm_buf_str(&sc2.res.body), "internal error\n");
    /* The partial bodies were discarded and every block released once. */
    assert_released_once(&e.m, 2);
    http_res_free(&sc.res);
    http_res_free(&sc2.res);
    env_teardown(&e);
    assert_released_once(&e.m, 2);
    mctx_free(&e.m);
}
END_TEST

START_TEST(test_health_and_errors)
{
    env e;
    scenario healthz = {"GET", "/healthz", {NULL}, {0}};
    scenario livez = {"GET", "/livez", {NULL}, {0}};
    scenario missing = {"GET", "/nope", {NULL}, {0}};
    scenario post = {"POST", "/metrics", {NULL}, {0}};
    scenario put = {"PUT", "/healthz", {NULL}, {0}};
    scenario query = {"GET", "/healthz?verbose=1", {NULL}, {0}};

    env_setup(&e, 1, 64, NULL);
    request(&e, &healthz);
    request(&e, &livez);
    request(&e, &missing);
    request(&e, &post);
    request(&e, &put);
    request(&e, &query);
    ck_assert_int_eq(healthz.res.status, 200);
    ck_assert_str_eq(csm_buf_str(&healthz.res.body), "ok\n");
    ck_assert_int_eq(livez.res.status, 200);
    ck_assert_str_eq(csm_buf_str(&livez.res.body), "ok\n");
    ck_assert_int_eq(missing.res.status, 404);
    ck_assert_int_eq(post.res.status, 405);
    ck_assert(has_header(&post.res, "Allow: GET, HEAD\r\n"));
    ck_assert_int_eq(put.res.status, 405);
    ck_assert_int_eq(query.res.status, 200);
    /* POST never reached the metrics handler. */
    ck_assert_int_eq(e.m.calls, 0);
    http_res_free(&healthz.res);
    http_res_free(&livez.res);
    http_res_free(&missing.res);
    http_res_free(&post.res);
    http_res_free(&put.res);
    http_res_free(&query.res);
    env_done(&e);
}
END_TEST

START_TEST(test_index)
{
    env e;
    scenario sc = {"GET", "/", {NULL}, {0}};
    const char *b;

    env_setup(&e, 1, 64, NULL);
    request(&e, &sc);
    ck_assert_int_eq(sc.res.status, 200);
    ck_assert(has_header(&sc.res, "Content-Type: text/html"));
    b = csm_buf_str(&sc.res.body);
    ck_assert_ptr_nonnull(strstr(b, "<title>Test &lt;exporter&gt; &amp; co</title>"));
    ck_assert_ptr_nonnull(strstr(b, "href=\"metrics\""));
    ck_assert_ptr_nonnull(strstr(b, "href=\"healthz\""));
    ck_assert_ptr_nonnull(strstr(b, "href=\"livez\""));
    ck_assert_ptr_nonnull(strstr(b, "href=\"readyz\""));
    http_res_free(&sc.res);
    env_done(&e);
}
END_TEST

START_TEST(test_readyz)
{
    env e;
    scenario a = {"GET", "/readyz", {NULL}, {0}};
    scenario b = {"GET", "/readyz", {NULL}, {0}};

    env_setup(&e, 1, 64, NULL);
    e.m.ready = 0;
    e.m.why = "2 of 3 informers synced";
    request(&e, &a);
    ck_assert_int_eq(a.res.status, 503);
    ck_assert_str_eq(csm_buf_str(&a.res.body), "not ready: 2 of 3 informers synced\n");
    e.m.ready = 1;
    e.m.why = NULL;
    request(&e, &b);
    ck_assert_int_eq(b.res.status, 200);
    ck_assert_str_eq(csm_buf_str(&b.res.body), "ok\n");
    http_res_free(&a.res);
    http_res_free(&b.res);
    env_done(&e);
}
END_TEST

START_TEST(test_readyz_default)
{
    env e;
    scenario a = {"GET", "/readyz", {NULL}, {0}};

    env_setup(&e, 1, 64, NULL);
    e.h.ready = NULL;
    env_relisten(&e, "127.0.0.1");
    request(&e, &a);
    ck_assert_int_eq(a.res.status, 200);
    http_res_free(&a.res);
    env_done(&e);
}
END_TEST

START_TEST(test_priority)
{
    env e;
    scenario a = {"GET", "/healthz", {NULL}, {0}};
    struct event_base *lb = NULL;
    csm_httpd *ls = NULL;

    /* A plain base has one priority: 0 is valid, 1 is not. */
    env_setup(&e, 1, 64, NULL);
    ck_assert_int_eq(csm_httpd_set_priority(e.srv, 1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_httpd_set_priority(e.srv, -1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_httpd_set_priority(NULL, 0), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_httpd_set_priority(e.srv, CSM_LOOP_INGEST), CSM_OK);
    /* Connections accepted after it are served as before. */
    request(&e, &a);
    ck_assert_int_eq(a.res.status, 200);
    http_res_free(&a.res);
    env_teardown(&e);
    mctx_free(&e.m);

    /* The exporter's base has both. */
    ck_assert_int_eq(csm_loop_new(&lb), CSM_OK);
    ck_assert_int_eq(csm_httpd_new(lb, "127.0.0.1", 0, &e.h, NULL, NULL, &ls), CSM_OK);
    ck_assert_int_eq(csm_httpd_set_priority(ls, CSM_LOOP_SERVE), CSM_OK);
    ck_assert_int_eq(csm_httpd_set_priority(ls, CSM_LOOP_INGEST), CSM_OK);
    ck_assert_int_eq(csm_httpd_set_priority(ls, CSM_LOOP_PRIORITIES), CSM_ERR_INVALID);
    csm_httpd_free(ls);
    event_base_free(lb);
}
END_TEST

START_TEST(test_headers_too_large)
{
    env e;
    char *big = malloc(20001);
    scenario sc = {"GET", "/healthz", {NULL, NULL}, {0}};
    scenario after = {"GET", "/healthz", {NULL}, {0}};

    ck_assert_ptr_nonnull(big);
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', 20000 - 7);
    big[20000] = '\0';
    sc.headers[0] = big;
    env_setup(&e, 1, 64, NULL);
    run_client(&e, client_one, &sc);
    /* evhttp answers and closes; curl may or may not see the status. */
    ck_assert_msg(sc.res.status == 400 || sc.res.status == 413 || sc.res.status == 431 ||
                      (sc.res.status == 0 && sc.res.rc != CURLE_OK),
                  "status %ld", sc.res.status);
    ck_assert_int_ne(sc.res.status, 200);
    /* The server keeps serving. */
    request(&e, &after);
    ck_assert_int_eq(after.res.status, 200);
    free(big);
    http_res_free(&sc.res);
    http_res_free(&after.res);
    env_done(&e);
}
END_TEST

START_TEST(test_bind_ipv6_any_accepts_ipv4)
{
    env e;
    scenario sc = {"GET", "/healthz", {NULL}, {0}};
    csm_httpd *s2 = NULL;

    env_setup(&e, 1, 64, NULL);
    env_relisten(&e, "::");
    ck_assert_int_gt(e.port, 0);
    request(&e, &sc); /* the client connects to 127.0.0.1 */
    ck_assert_int_eq(sc.res.status, 200);
    /* The port is taken now. */
    ck_assert_int_eq(csm_httpd_new(e.base, "::", e.port, &e.h, NULL, NULL, &s2), CSM_ERR_IO);
    ck_assert_ptr_null(s2);
    ck_assert_int_eq(csm_httpd_new(e.base, "127.0.0.1", 70000, &e.h, NULL, NULL, &s2),
                     CSM_ERR_INVALID);
    http_res_free(&sc.res);
    env_done(&e);
}
END_TEST

typedef struct buf_sink {
    csm_sink s;
    csm_buf b;
} buf_sink;

static csm_err bs_text(csm_sink *s, const char *p, size_t n)
{
    return csm_buf_append(&((buf_sink *)s)->b, p, n);
}

START_TEST(test_telemetry_durations)
{
    env e;
    csm_telemetry *tel = csm_telemetry_new();
    scenario m1 = {"GET", "/metrics", {NULL}, {0}};
    scenario m2 = {"GET", "/metrics", {NULL}, {0}};
    scenario h = {"GET", "/healthz", {NULL}, {0}};
    scenario x = {"GET", "/x", {NULL}, {0}};
    buf_sink bs = {{bs_text, NULL, NULL}, {0}};
    const char *out;

    ck_assert_ptr_nonnull(tel);
    env_setup(&e, 1, 64, tel);
    request(&e, &m1);
    request(&e, &m2);
    request(&e, &h);
    request(&e, &x);
    env_teardown(&e);
    /* The family belongs to the registry and outlives the server. */
    csm_buf_init(&bs.b, 1 << 20);
    ck_assert_int_eq(csm_tel_write(tel, CSM_EXPO_TEXT, &bs.s), CSM_OK);
    out = csm_buf_str(&bs.b);
    ck_assert_ptr_nonnull(
        strstr(out, "# TYPE crd_state_metrics_http_request_duration_seconds histogram\n"));
    ck_assert_ptr_nonnull(strstr(
        out, "crd_state_metrics_http_request_duration_seconds_count{handler=\"metrics\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(out, "crd_state_metrics_http_request_duration_seconds_bucket{"
                                      "handler=\"metrics\",le=\"+Inf\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(
        out, "crd_state_metrics_http_request_duration_seconds_count{handler=\"healthz\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(
        out, "crd_state_metrics_http_request_duration_seconds_count{handler=\"other\"} 1\n"));
    ck_assert_ptr_null(strstr(out, "handler=\"readyz\""));
    csm_buf_free(&bs.b);
    http_res_free(&m1.res);
    http_res_free(&m2.res);
    http_res_free(&h.res);
    http_res_free(&x.res);
    csm_telemetry_free(tel);
    mctx_free(&e.m);
}
END_TEST

/* Raw-socket client: connects and sends a GET for `path`. */
static int raw_get(int port, const char *path, int close_after)
{
    struct sockaddr_in sa;
    char req[256];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int n;

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path,
                 close_after ? "Connection: close\r\n" : "");
    ck_assert_int_eq(write(fd, req, (size_t)n), n);
    return fd;
}

/* Reads until EOF; returns the byte count. */
static size_t read_all(int fd)
{
    char buf[65536];
    size_t total = 0;
    ssize_t n;

    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(n, 0);
        if (n == 0)
            return total;
        total += (size_t)n;
    }
}

typedef struct stall {
    size_t got;
} stall;

/* Requests a large body, reads a little, lets the main thread shut the
 * server down, then reads the rest. */
static void client_stall_then_read(env *e)
{
    stall *st = e->arg;
    char buf[1024];
    int fd = raw_get(e->port, "/metrics", 1);
    ssize_t n = read(fd, buf, sizeof(buf));

    ck_assert_int_gt(n, 0);
    notify_main(e);
    wait_main(e);
    st->got = (size_t)n + read_all(fd);
    close(fd);
}

static void on_done(void *arg)
{
    env *e = arg;
    e->done_calls++;
    event_base_loopbreak(e->base);
}

static int port_accepts(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int rc;

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    return rc == 0;
}

START_TEST(test_shutdown_waits_for_inflight)
{
    env e;
    stall st = {0};
    size_t elen;
    char *exp;

    /* 64 MiB: far more than socket buffers hold, so the response cannot
     * complete while the client is not reading. */
    env_setup(&e, 1024, 64 * 1024, NULL);
    exp = expected_body(&e.m, 0, &elen);
    start_client(&e, client_stall_then_read, &st);
    serve_until_checkpoint(&e); /* the response has started */
    ck_assert_int_eq(csm_httpd_shutdown(e.srv, on_done, &e), CSM_OK);
    ck_assert_int_eq(csm_httpd_shutdown(e.srv, on_done, &e), CSM_ERR_INVALID);
    for (int i = 0; i < 20; i++)
        event_base_loop(e.base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(e.done_calls, 0);
    ck_assert(!port_accepts(e.port));
    go_client(&e);
    /* Both done() and the client's last checkpoint break the loop, in
     * either order. */
    while (e.done_calls == 0 || e.wakes < 2)
        serve_until_checkpoint(&e);
    join_client(&e);
    ck_assert_uint_ge(st.got, elen);
    assert_released_once(&e.m, 1);
    ck_assert_int_eq(e.done_calls, 1);
    free(exp);
    env_done(&e);
}
END_TEST

START_TEST(test_shutdown_idle)
{
    env e;

    env_setup(&e, 1, 64, NULL);
    ck_assert_int_eq(csm_httpd_shutdown(e.srv, on_done, &e), CSM_OK);
    /* Not called from inside shutdown itself ... */
    ck_assert_int_eq(e.done_calls, 0);
    /* ... but on the next loop pass. */
    serve_until_checkpoint(&e);
    ck_assert_int_eq(e.done_calls, 1);
    ck_assert(!port_accepts(e.port));
    env_done(&e);
}
END_TEST

/* Requests a large body, reads a little and hangs up. */
static void client_disconnect(env *e)
{
    char buf[1024];
    int fd = raw_get(e->port, "/metrics", 0);
    ck_assert_int_gt(read(fd, buf, sizeof(buf)), 0);
    close(fd);
}

START_TEST(test_disconnect_releases_once)
{
    env e;

    env_setup(&e, 1024, 64 * 1024, NULL);
    run_client(&e, client_disconnect, NULL);
    ck_assert_int_eq(e.m.calls, 1);
    /* The abandoned response is still in flight until the server notices;
     * shutdown completes only once it has, and by then every block must
     * have been released exactly once. */
    ck_assert_int_eq(csm_httpd_shutdown(e.srv, on_done, &e), CSM_OK);
    serve_until_checkpoint(&e);
    ck_assert_int_eq(e.done_calls, 1);
    assert_released_once(&e.m, 1);
    env_teardown(&e);
    assert_released_once(&e.m, 1);
    mctx_free(&e.m);
}
END_TEST

START_TEST(test_free_with_open_response)
{
    env e;
    stall st = {0};

    env_setup(&e, 1024, 64 * 1024, NULL);
    start_client(&e, client_stall_then_read, &st);
    serve_until_checkpoint(&e);
    ck_assert_uint_lt(e.m.released_total, e.m.nrefs);
    /* Freeing the server abandons the response: its blocks are released. */
    csm_httpd_free(e.srv);
    e.srv = NULL;
    assert_released_once(&e.m, 1);
    go_client(&e);
    join_client(&e);
    ck_assert_uint_lt(st.got, 64u << 20);
    env_done(&e);
}
END_TEST

#define CAP   512
#define EXTRA 8

typedef struct capres {
    int eofs_first;
    int eofs_final;
    int kept_ok;
    long after_status;
} capres;

static int raw_connect(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Counts sockets that have hit EOF (or a reset); marks them in `dead`. */
static int count_eofs(struct pollfd *p, int n, int *dead, int timeout_ms)
{
    int eofs = 0;
    char c;

    for (int i = 0; i < n; i++)
        p[i].events = dead[i] ? 0 : POLLIN;
    if (poll(p, (nfds_t)n, timeout_ms) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (!dead[i] && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) && read(p[i].fd, &c, 1) <= 0)
            dead[i] = 1;
        eofs += dead[i];
    }
    return eofs;
}

static void client_cap(env *e)
{
    capres *r = e->arg;
    struct pollfd p[CAP + EXTRA];
    int dead[CAP + EXTRA] = {0};
    int n = CAP + EXTRA;
    int eofs = 0;
    http_res res;

    for (int i = 0; i < n; i++)
        p[i].fd = raw_connect(e->port);
    /* The server closes the connections beyond the cap at once. Wait (with
     * a generous bound) until it has closed as many as it will. */
    for (int round = 0; round < 100 && eofs < EXTRA; round++)
        eofs = count_eofs(p, n, dead, 100);
    r->eofs_first = eofs;
    /* No further closes: the others are kept. */
    r->eofs_final = count_eofs(p, n, dead, 200);
    /* A kept connection still serves. */
    for (int i = 0; i < n; i++) {
        if (!dead[i]) {
            char buf[512];
            const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
            ssize_t got;
            ck_assert_int_eq(write(p[i].fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
            got = read(p[i].fd, buf, sizeof(buf) - 1);
            r->kept_ok = got > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0;
            break;
        }
    }
    for (int i = 0; i < n; i++)
        close(p[i].fd);
    /* Once the server has seen the closes, new connections are welcome
     * again. It sees them asynchronously, hence the retries. */
    for (int i = 0; i < 100; i++) {
        http_do(e->port, "GET", "/healthz", NULL, &res);
        r->after_status = res.status;
        http_res_free(&res);
        if (r->after_status == 200)
            break;
        usleep(50 * 1000);
    }
}

/* Descriptors test_connection_cap needs: both ends of every connection. */
#define CAP_NOFILE (2 * (CAP + EXTRA) + 64)

/*
 * Makes RLIMIT_NOFILE at least CAP_NOFILE for this process and the forked
 * test processes: the soft limit up to the hard one, and the hard one too
 * where that is allowed (root). Returns 1 if the limit is high enough now,
 * else 0 (reason printed).
 */
static int cap_nofile_ok(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur >= CAP_NOFILE)
        return 1;
    if (rl.rlim_max < CAP_NOFILE)
        rl.rlim_max = CAP_NOFILE; /* needs CAP_SYS_RESOURCE; fails otherwise */
    rl.rlim_cur = CAP_NOFILE;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
        rl.rlim_cur < CAP_NOFILE) {
        fprintf(stderr, "test_connection_cap: SKIPPED: RLIMIT_NOFILE cannot be raised to %d: %s\n",
                CAP_NOFILE, strerror(errno));
        return 0;
    }
    return 1;
}

START_TEST(test_connection_cap)
{
    env e;
    capres r = {0};
    struct rlimit rl;

    /* main() raised the limit before adding this test (cap_nofile_ok). */
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_uint_ge(rl.rlim_cur, CAP_NOFILE);
    env_setup(&e, 1, 64, NULL);
    run_client(&e, client_cap, &r);
    ck_assert_int_eq(r.eofs_first, EXTRA);
    ck_assert_int_eq(r.eofs_final, EXTRA);
    ck_assert(r.kept_ok);
    ck_assert_int_eq(r.after_status, 200);
    env_done(&e);
}
END_TEST

/* ---- Connection pressure, read watermark, response deadlines. ---------- */

static long elapsed_ms(const struct timespec *t0);
static int closed_within(int fd, int timeout_ms);

/* A connected socket whose receive buffer is small (set before connect,
 * so the window is small from the start); rcvbuf 0 keeps the default. */
static int small_connect(int port, int rcvbuf)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    if (rcvbuf)
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* 1 if fd got a complete 200 answer to GET /healthz (Connection: close). */
static int healthz_on(int fd, int keep_alive)
{
    const char *req = keep_alive ? "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                                 : "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    char buf[1024];
    ssize_t got;
    size_t len = 0;

    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
        return 0;
    /* The answer is small; wait for its body ("ok\n"). */
    while (len < sizeof(buf) - 1) {
        got = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (got <= 0)
            break;
        len += (size_t)got;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\nok\n"))
            break;
    }
    buf[len] = '\0';
    return len > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "\r\n\r\nok\n");
}

typedef struct pressure {
    int newcomer_ok;
    int oldest_closed;
    int others_open;
} pressure;

/*
 * Runs `client` against a server with limits l; every pressure scenario
 * must end with the newcomer answered, the one it names closed and the
 * others open. *st: the server's counters afterwards.
 */
static void run_pressure(const csm_httpd_limits *l, void (*client)(env *), csm_httpd_stats *st)
{
    env e;
    pressure r = {0, 0, 0};

    env_limited(&e, 1, 64, l);
    run_client(&e, client, &r);
    ck_assert(r.newcomer_ok);
    ck_assert(r.oldest_closed);
    ck_assert(r.others_open);
    csm_httpd_get_stats(e.srv, st);
    env_done(&e);
}

/* Four silent connections fill the cap; a fifth that asks right away is
 * answered, and the oldest silent one makes room. */
static void client_evict_waiting(env *e)
{
    pressure *r = e->arg;
    int fd[4];
    int nc;

    for (int i = 0; i < 4; i++) {
        fd[i] = raw_connect(e->port);
        usleep(20 * 1000); /* adopted in this order */
    }
    nc = raw_connect(e->port);
    r->newcomer_ok = healthz_on(nc, 0);
    r->oldest_closed = closed_within(fd[0], 2000);
    r->others_open = 1;
    for (int i = 1; i < 4; i++)
        r->others_open &= !closed_within(fd[i], 100);
    close(nc);
    for (int i = 0; i < 4; i++)
        close(fd[i]);
}

START_TEST(test_evict_oldest_without_headers)
{
    csm_httpd_limits l = {0, 0, 0, 0, 0, 4, 0};
    csm_httpd_stats st;

    run_pressure(&l, client_evict_waiting, &st);
    ck_assert_uint_eq(st.evicted_waiting, 1);
    ck_assert_uint_eq(st.evicted_idle, 0);
    ck_assert_uint_eq(st.refused_capacity, 0);
    ck_assert_uint_eq(st.peak, 4);
}
END_TEST

/* Two kept-alive connections, idle after one request each, fill the cap;
 * a newcomer evicts the older idle one. */
static void client_evict_idle(env *e)
{
    pressure *r = e->arg;
    int a = raw_connect(e->port);
    int b;
    int nc;

    ck_assert(healthz_on(a, 1));
    b = raw_connect(e->port);
    ck_assert(healthz_on(b, 1));
    nc = raw_connect(e->port);
    r->newcomer_ok = healthz_on(nc, 0);
    r->oldest_closed = closed_within(a, 2000);
    r->others_open = !closed_within(b, 100) && healthz_on(b, 1);
    close(a);
    close(b);
    close(nc);
}

START_TEST(test_evict_oldest_idle)
{
    csm_httpd_limits l = {0, 0, 0, 0, 0, 2, 0};
    csm_httpd_stats st;

    run_pressure(&l, client_evict_idle, &st);
    ck_assert_uint_eq(st.evicted_idle, 1);
    ck_assert_uint_eq(st.evicted_waiting, 0);
}
END_TEST

/* One address may hold three connections; the fourth is closed at once
 * and the three stay. */
static void client_per_client(env *e)
{
    pressure *r = e->arg;
    int fd[3];
    int extra;

    for (int i = 0; i < 3; i++)
        fd[i] = raw_connect(e->port);
    extra = raw_connect(e->port);
    r->oldest_closed = closed_within(extra, 2000); /* here: the newcomer */
    r->others_open = 1;
    for (int i = 0; i < 3; i++)
        r->others_open &= !closed_within(fd[i], 100);
    r->newcomer_ok = healthz_on(fd[2], 0);
    close(extra);
    for (int i = 0; i < 3; i++)
        close(fd[i]);
}

START_TEST(test_per_client_cap)
{
    csm_httpd_limits l = {0, 0, 0, 0, 0, 0, 3};
    csm_httpd_stats st;

    run_pressure(&l, client_per_client, &st);
    ck_assert_uint_eq(st.refused_per_client, 1);
    ck_assert_uint_eq(st.evicted_waiting, 0);
}
END_TEST

typedef struct flood {
    size_t written;
    int closed;
    long ms;
} flood;

/* Pipelines GET /metrics without ever reading, for up to 5 s. */
static void client_pipeline_never_read(env *e)
{
    flood *r = e->arg;
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
    char chunk[64 * (sizeof(req) - 1)];
    int sndbuf = 64 * 1024;
    struct timespec t0;
    struct pollfd p;
    int fd = small_connect(e->port, 16 * 1024);
    ssize_t n;

    for (size_t i = 0; i < 64; i++)
        memcpy(chunk + i * (sizeof(req) - 1), req, sizeof(req) - 1);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed_ms(&t0) < 5000) {
        p.fd = fd;
        p.events = POLLOUT;
        p.revents = 0;
        if (poll(&p, 1, 50) < 0)
            break;
        if (p.revents & (POLLERR | POLLHUP)) {
            r->closed = 1;
            break;
        }
        if (!(p.revents & POLLOUT))
            continue;
        n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            r->closed = 1; /* EPIPE or ECONNRESET: the server closed */
            break;
        }
        if (n > 0)
            r->written += (size_t)n;
    }
    r->ms = elapsed_ms(&t0);
    close(fd);
}

START_TEST(test_pipelined_never_reading)
{
    env e;
    flood r = {0, 0, 0};
    /* 300 ms plus 512 KiB at 1 MiB/s: each response has about 0.8 s. */
    csm_httpd_limits l = {0, 0, 10000, 300, 1 << 20, 0, 0};
    csm_httpd_stats st;

    env_limited(&e, 8, 64 * 1024, &l);
    run_client(&e, client_pipeline_never_read, &r);
    /* Without a read watermark the server reads whatever arrives while its
     * answer waits: the client could send at memory speed. With it, the
     * kernel's socket buffers are all there is. */
    ck_assert_msg(r.written < (32u << 20), "the server took %zu bytes", r.written);
    ck_assert_msg(r.closed, "not closed after %ld ms", r.ms);
    csm_httpd_get_stats(e.srv, &st);
    ck_assert_uint_ge(st.deadline_closed, 1);
    env_done(&e);
}
END_TEST

typedef struct download {
    int chunk;    /* bytes per read */
    int pause_ms; /* between reads */
    int rcvbuf;   /* 0: the default */
    size_t got;   /* body and headers */
    int eof;
    long ms;
} download;

/* Reads a Connection: close response `chunk` bytes every pause_ms. */
static void client_download(env *e)
{
    download *d = e->arg;
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    char *buf = malloc((size_t)d->chunk);
    struct timespec t0;
    int fd = small_connect(e->port, d->rcvbuf);
    ssize_t n;

    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed_ms(&t0) < 20000) {
        n = read(fd, buf, (size_t)d->chunk);
        if (n <= 0) {
            d->eof = 1;
            break;
        }
        d->got += (size_t)n;
        usleep((useconds_t)d->pause_ms * 1000);
    }
    d->ms = elapsed_ms(&t0);
    free(buf);
    close(fd);
}

START_TEST(test_response_deadline)
{
    env e;
    /* 8 MiB of body: more than the kernel's socket buffers (tcp_wmem's
     * 4 MiB), so the server sees how fast the client reads. idle_ms 300
     * was also the read timeout before, which cut any download longer
     * than that. Deadline: 300 ms + 8 MiB at 2 MiB/s = 4.3 s. */
    csm_httpd_limits l = {0, 0, 300, 300, 2 << 20, 0, 0};
    csm_httpd_limits slow_l = {0, 0, 20000, 0, 0, 0, 0};
    download fast = {64 * 1024, 10, 0, 0, 0, 0};
    download slow = {1024, 20, 16 * 1024, 0, 0, 0};
    size_t body = 128 * 64 * 1024;
    csm_httpd_stats st;

    env_limited(&e, 128, 64 * 1024, &l);
    /* An honest client reading faster than the minimum rate (up to
     * 6.4 MB/s here) finishes, although the download takes longer than
     * idle_ms. */
    run_client(&e, client_download, &fast);
    ck_assert(fast.eof);
    ck_assert_uint_gt(fast.got, body);
    ck_assert_int_gt(fast.ms, 300);
    /* A client reading 50 KB/s (a read every 20 ms) is cut at the
     * deadline. The kernel signals room to write only now and then at that
     * pace, so idle_ms goes up to show the deadline, not the write
     * timeout, doing it. */
    csm_httpd_set_limits(e.srv, &slow_l);
    run_client(&e, client_download, &slow);
    ck_assert(slow.eof);
    ck_assert_uint_lt(slow.got, body);
    ck_assert_int_ge(slow.ms, 4000);
    ck_assert_int_lt(slow.ms, 12000);
    csm_httpd_get_stats(e.srv, &st);
    ck_assert_uint_eq(st.deadline_closed, 1);
    env_done(&e);
}
END_TEST

/* ---- TLS, access control and deadlines. ---------------------------------- */

/* A stand-in for the API server: reviews wait until the test answers. */
typedef struct fake_review {
    csm_auth_reply_fn done;
    void *arg;
    int open;
    char path[64];
} fake_review;

typedef struct fake_api {
    fake_review r[16];
    int n;
} fake_api;

static csm_err fapi_post(void *ctx, const char *path, const char *body, size_t len, long timeout_ms,
                         csm_auth_reply_fn done, void *arg, void **handle)
{
    fake_api *f = ctx;
    fake_review *r = &f->r[f->n++];
    (void)body;
    (void)len;
    (void)timeout_ms;
    ck_assert_int_le(f->n, 16);
    r->done = done;
    r->arg = arg;
    r->open = 1;
    snprintf(r->path, sizeof(r->path), "%s", path);
    *handle = r;
    return CSM_OK;
}

static void fapi_cancel(void *ctx, void *handle)
{
    (void)ctx;
    ((fake_review *)handle)->open = 0;
}

static void fapi_reply(fake_api *f, int i, long status, const char *body)
{
    csm_auth_reply rep = {status, status == 0 ? 7 : 0, body, body ? strlen(body) : 0};
    ck_assert_int_lt(i, f->n);
    ck_assert(f->r[i].open);
    f->r[i].open = 0;
    f->r[i].done(f->r[i].arg, &rep);
}

#define TOKEN_OK(user)                                                                             \
    "{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"" user "\",\"groups\":["         \
    "\"system:authenticated\"]}}}"
static const char SAR_ALLOWED[] = "{\"status\":{\"allowed\":true}}";
static const char SAR_DENIED[] = "{\"status\":{\"allowed\":false}}";

static csm_auth *auth_new(fake_api *f)
{
    static const char *const paths[] = {"/healthz", "/livez", "/readyz"};
    csm_auth_transport tr = {fapi_post, fapi_cancel, f};
    csm_auth_config cfg;
    csm_auth *a = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.allow_paths = paths;
    cfg.nallow_paths = 3;
    cfg.ttl_token_ms = 60000;
    cfg.ttl_allowed_ms = 60000;
    cfg.ttl_denied_ms = 60000;
    ck_assert_int_eq(csm_auth_new(&cfg, &tr, NULL, NULL, &a), CSM_OK);
    return a;
}

static csm_tls *tls_new(void)
{
    csm_tls_config cfg;
    csm_tls *t = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.cert_file = "data/tls/server.crt";
    cfg.key_file = "data/tls/server.key";
    ck_assert_int_eq(csm_tls_new(NULL, &cfg, NULL, NULL, &t), CSM_OK);
    return t;
}

/* Replaces the server of e by one with TLS, access control and limits. */
static void env_secure(env *e, csm_tls *tls, csm_auth *auth, const csm_httpd_limits *l)
{
    e->h.tls = tls;
    e->h.auth = auth;
    env_relisten(e, "127.0.0.1");
    if (l)
        csm_httpd_set_limits(e->srv, l);
}

/* Serves until the fake API server has received n reviews. */
static void serve_until_reviews(env *e, fake_api *f, int n)
{
    while (f->n < n)
        ck_assert_int_ne(event_base_loop(e->base, EVLOOP_ONCE), -1);
}

/* Serves a little without blocking, so that input reaches the server. */
static void serve_briefly(env *e)
{
    for (int i = 0; i < 50; i++) {
        event_base_loop(e->base, EVLOOP_NONBLOCK);
        usleep(2000);
    }
}

START_TEST(test_auth_held_requests)
{
    env e;
    fake_api f = {0};
    csm_auth *a = auth_new(&f);
    scenario ok = {"GET", "/metrics", {"Authorization: Bearer good", NULL}, {0}};
    scenario again = {"GET", "/metrics", {"Authorization: Bearer good", NULL}, {0}};
    scenario anon = {"GET", "/metrics", {NULL}, {0}};
    scenario health = {"GET", "/healthz", {NULL}, {0}};
    scenario post = {"POST", "/metrics", {NULL}, {0}};
    scenario denied = {"GET", "/metrics", {"Authorization: Bearer bob", NULL}, {0}};
    scenario down = {"GET", "/nope", {"Authorization: Bearer carol", NULL}, {0}};
    size_t elen;
    char *exp;

    env_setup(&e, 3, 64, NULL);
    env_secure(&e, NULL, a, NULL);
    exp = expected_body(&e.m, 0, &elen);

    /* Held through two reviews, then served. */
    start_client(&e, client_one, &ok);
    serve_until_reviews(&e, &f, 1);
    ck_assert_str_eq(f.r[0].path, "/apis/authentication.k8s.io/v1/tokenreviews");
    ck_assert_int_eq(e.m.calls, 0);
    fapi_reply(&f, 0, 201, TOKEN_OK("alice"));
    ck_assert_int_eq(f.n, 2);
    ck_assert_str_eq(f.r[1].path, "/apis/authorization.k8s.io/v1/subjectaccessreviews");
    fapi_reply(&f, 1, 201, SAR_ALLOWED);
    serve_until_checkpoint(&e);
    join_client(&e);
    ck_assert_int_eq(ok.res.status, 200);
    ck_assert_uint_eq(ok.res.body.len, elen);
    ck_assert(memcmp(ok.res.body.ptr, exp, elen) == 0);

    /* Cached: answered at once. */
    request(&e, &again);
    ck_assert_int_eq(again.res.status, 200);
    ck_assert_int_eq(f.n, 2);
    request(&e, &anon);
    ck_assert_int_eq(anon.res.status, 401);
    ck_assert(has_header(&anon.res, "WWW-Authenticate: Bearer realm=\"crd-state-metrics\"\r\n"));
    request(&e, &health);
    ck_assert_int_eq(health.res.status, 200);
    request(&e, &post);
    ck_assert_int_eq(post.res.status, 405);

    start_client(&e, client_one, &denied);
    serve_until_reviews(&e, &f, 3);
    fapi_reply(&f, 2, 201, TOKEN_OK("bob"));
    fapi_reply(&f, 3, 201, SAR_DENIED);
    serve_until_checkpoint(&e);
    join_client(&e);
    ck_assert_int_eq(denied.res.status, 403);
    ck_assert_str_eq(csm_buf_str(&denied.res.body), "forbidden\n");

    /* The API server is unreachable; the path (a 404 once allowed) does
     * not matter before access control. */
    start_client(&e, client_one, &down);
    serve_until_reviews(&e, &f, 5);
    fapi_reply(&f, 4, 0, NULL);
    serve_until_checkpoint(&e);
    join_client(&e);
    ck_assert_int_eq(down.res.status, 503);
    ck_assert_int_eq(e.m.calls, 2);

    free(exp);
    http_res_free(&ok.res);
    http_res_free(&again.res);
    http_res_free(&anon.res);
    http_res_free(&health.res);
    http_res_free(&post.res);
    http_res_free(&denied.res);
    http_res_free(&down.res);
    env_teardown(&e);
    csm_auth_free(a);
    mctx_free(&e.m);
}
END_TEST

static int raw_send(int port, const char *text)
{
    int fd = raw_connect(port);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    return fd;
}

static const char HELD_GET[] =
    "GET /metrics HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer held\r\n\r\n";

/* Sends a request, waits for the main thread, hangs up. */
static void client_send_then_close(env *e)
{
    int fd = raw_send(e->port, HELD_GET);
    notify_main(e);
    wait_main(e);
    close(fd);
}

/* A server with access control holding one request, whose client waits
 * for go_client() to hang up. */
static csm_auth *start_held(env *e, fake_api *f)
{
    csm_auth *a = auth_new(f);

    env_setup(e, 3, 64, NULL);
    env_secure(e, NULL, a, NULL);
    start_client(e, client_send_then_close, NULL);
    serve_until_reviews(e, f, 1);
    return a;
}

START_TEST(test_auth_client_gone_while_held)
{
    env e;
    fake_api f = {0};
    csm_auth *a = start_held(&e, &f);

    go_client(&e);
    join_client(&e);
    /* The server notices the hang-up while the request is held: shutdown
     * then completes without the review ever being answered (otherwise
     * the request would stay in flight and this would not return). */
    ck_assert_int_eq(csm_httpd_shutdown(e.srv, on_done, &e), CSM_OK);
    while (e.done_calls == 0)
        serve_until_checkpoint(&e);
    ck_assert_int_eq(e.m.calls, 0);
    /* Nobody waits for the review any more: it was cancelled, so a client
     * that sends a token and hangs up holds no API server request. */
    ck_assert_int_eq(f.n, 1);
    ck_assert(!f.r[0].open);
    env_teardown(&e);
    csm_auth_free(a);
    mctx_free(&e.m);
}
END_TEST

typedef struct pipelined {
    char buf[8192];
    size_t len;
} pipelined;

/* Sends one request, and a second one only once the first is held. */
static void client_pipelined(env *e)
{
    pipelined *p = e->arg;
    const char second[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer held\r\n"
                          "Connection: close\r\n\r\n";
    int fd = raw_send(e->port, HELD_GET);
    ssize_t n;

    notify_main(e);
    wait_main(e);
    ck_assert_int_eq(write(fd, second, sizeof(second) - 1), (ssize_t)sizeof(second) - 1);
    for (;;) {
        n = read(fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
        if (n <= 0)
            break;
        p->len += (size_t)n;
    }
    p->buf[p->len] = '\0';
    close(fd);
}

START_TEST(test_auth_input_while_held)
{
    env e;
    fake_api f = {0};
    csm_auth *a = auth_new(&f);
    pipelined p = {{0}, 0};
    const char *second;

    env_setup(&e, 3, 64, NULL);
    env_secure(&e, NULL, a, NULL);
    start_client(&e, client_pipelined, &p);
    serve_until_reviews(&e, &f, 1);
    go_client(&e);
    /* The next request arrives while the first is held: evhttp must not
     * see it yet (it would abort the process), nor lose it. */
    serve_briefly(&e);
    fapi_reply(&f, 0, 201, TOKEN_OK("alice"));
    fapi_reply(&f, 1, 201, SAR_ALLOWED);
    serve_until_checkpoint(&e);
    join_client(&e);
    ck_assert_int_eq(f.n, 2); /* the second request was answered from the cache */
    ck_assert_int_eq(strncmp(p.buf, "HTTP/1.1 200 OK\r\n", 17), 0);
    second = strstr(p.buf + 17, "HTTP/1.1 200 OK\r\n");
    ck_assert_ptr_nonnull(second);
    ck_assert_ptr_nonnull(strstr(second, "Connection: close\r\n"));
    ck_assert_int_eq(e.m.calls, 2);
    env_teardown(&e);
    csm_auth_free(a);
    mctx_free(&e.m);
}
END_TEST

START_TEST(test_auth_free_while_held)
{
    env e;
    fake_api f = {0};
    csm_auth *a = start_held(&e, &f);

    /* Freeing the server cancels the wait, and with it the review nobody
     * else waits for; evhttp frees the request. */
    csm_httpd_free(e.srv);
    e.srv = NULL;
    go_client(&e);
    join_client(&e);
    ck_assert(!f.r[0].open);
    csm_auth_free(a);
    env_done(&e);
}
END_TEST

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* 1 once the server has closed fd (EOF or reset) within timeout_ms. */
static int closed_within(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    char buf[4096];

    while (poll(&p, 1, timeout_ms) == 1) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return 1;
    }
    return 0;
}

typedef struct timing {
    long ms; /* until the server closed */
    int closed;
} timing;

/* Trickles header bytes every 50 ms, as slowloris does. */
static void client_slow_headers(env *e)
{
    timing *t = e->arg;
    struct timespec t0;
    int fd = raw_send(e->port, "GET /metrics HTTP/1.1\r\n");

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed_ms(&t0) < 5000) {
        if (write(fd, "X-A: b\r\n", 8) != 8 || closed_within(fd, 50)) {
            t->closed = 1;
            break;
        }
    }
    t->ms = elapsed_ms(&t0);
    close(fd);
}

/* Connects and sends nothing. */
static void client_silent(env *e)
{
    timing *t = e->arg;
    struct timespec t0;
    int fd = raw_connect(e->port);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    t->closed = closed_within(fd, 5000);
    t->ms = elapsed_ms(&t0);
    close(fd);
}

/* One request on a kept-alive connection, then silence. */
static void client_idle_after_response(env *e)
{
    timing *t = e->arg;
    struct timespec t0;
    char buf[4096];
    int fd = raw_send(e->port, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");

    ck_assert_int_gt(read(fd, buf, sizeof(buf)), 12);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t->closed = closed_within(fd, 5000);
    t->ms = elapsed_ms(&t0);
    close(fd);
}

START_TEST(test_deadlines)
{
    env e;
    timing slow = {0, 0};
    timing idle = {0, 0};
    timing silent = {0, 0};
    csm_httpd_limits l = {0, 300, 400, 0, 0, 0, 0};
    scenario after = {"GET", "/healthz", {NULL}, {0}};

    env_limited(&e, 1, 64, &l);
    /* Headers trickled in steadily still have to be complete in time. */
    run_client(&e, client_slow_headers, &slow);
    ck_assert(slow.closed);
    ck_assert_int_ge(slow.ms, 250);
    ck_assert_int_lt(slow.ms, 2000);
    run_client(&e, client_idle_after_response, &idle);
    ck_assert(idle.closed);
    ck_assert_int_ge(idle.ms, 350);
    ck_assert_int_lt(idle.ms, 2000);
    run_client(&e, client_silent, &silent);
    ck_assert(silent.closed);
    ck_assert_int_ge(silent.ms, 250);
    ck_assert_int_lt(silent.ms, 2000);
    /* Nothing leaked into the server's view: it still serves. */
    request(&e, &after);
    ck_assert_int_eq(after.res.status, 200);
    http_res_free(&after.res);
    env_done(&e);
}
END_TEST

START_TEST(test_auth_unknown_paths_one_entry)
{
    env e;
    fake_api f = {0};
    csm_auth *a = auth_new(&f);
    scenario first = {"GET", "/unknown-1", {"Authorization: Bearer low", NULL}, {0}};
    scenario second = {"GET", "/unknown-2", {"Authorization: Bearer low", NULL}, {0}};

    env_setup(&e, 1, 64, NULL);
    env_secure(&e, NULL, a, NULL);
    start_client(&e, client_one, &first);
    serve_until_reviews(&e, &f, 1);
    fapi_reply(&f, 0, 201, TOKEN_OK("low"));
    fapi_reply(&f, 1, 201, SAR_ALLOWED);
    serve_until_checkpoint(&e);
    join_client(&e);
    ck_assert_int_eq(first.res.status, 404);
    /* Another unknown path is the same question: answered from the cache,
     * so unique paths cannot churn the SubjectAccessReview cache. */
    request(&e, &second);
    ck_assert_int_eq(second.res.status, 404);
    ck_assert_int_eq(f.n, 2);
    http_res_free(&first.res);
    http_res_free(&second.res);
    env_teardown(&e);
    csm_auth_free(a);
    mctx_free(&e.m);
}
END_TEST

START_TEST(test_auth_readyz_detail)
{
    env e;
    fake_api f = {0};
    csm_auth *a = auth_new(&f);
    scenario anon = {"GET", "/readyz", {NULL}, {0}};
    scenario reader = {"GET", "/readyz", {"Authorization: Bearer reader", NULL}, {0}};
    scenario junk = {"GET", "/readyz", {"Authorization: Bearer junk", NULL}, {0}};

    env_setup(&e, 1, 64, NULL);
    env_secure(&e, NULL, a, NULL);
    e.m.why = "memcacheds: synced, 3 objects\n";
    /* Always allowed, but only the status for a client without
     * credentials. */
    request(&e, &anon);
    ck_assert_int_eq(anon.res.status, 200);
    ck_assert_str_eq(csm_buf_str(&anon.res.body), "ok\n");
    ck_assert_int_eq(f.n, 0);
    /* Credentials that may read /readyz: the detail. */
    start_client(&e, client_one, &reader);
    serve_until_reviews(&e, &f, 1);
    fapi_reply(&f, 0, 201, TOKEN_OK("reader"));
    fapi_reply(&f, 1, 201, SAR_ALLOWED);
    serve_until_checkpoint(&e);
    join_client(&e);
    ck_assert_int_eq(reader.res.status, 200);
    ck_assert_str_eq(csm_buf_str(&reader.res.body), "ok: memcacheds: synced, 3 objects\n\n");
    /* Credentials that do not authenticate: still 200 (the path is always
     * allowed), status only. */
    start_client(&e, client_one, &junk);
    serve_until_reviews(&e, &f, 3);
    fapi_reply(&f, 2, 201, "{\"status\":{\"authenticated\":false}}");
    serve_until_checkpoint(&e);
    join_client(&e);
    ck_assert_int_eq(junk.res.status, 200);
    ck_assert_str_eq(csm_buf_str(&junk.res.body), "ok\n");
    http_res_free(&anon.res);
    http_res_free(&reader.res);
    http_res_free(&junk.res);
    env_teardown(&e);
    csm_auth_free(a);
    mctx_free(&e.m);
}
END_TEST

typedef struct tls_scenario {
    http_res res;
    http_res plain;
} tls_scenario;

static void client_tls(env *e)
{
    tls_scenario *t = e->arg;
    http_do_ex(e->port, 1, "GET", "/metrics", NULL, &t->res);
    http_do_ex(e->port, 0, "GET", "/metrics", NULL, &t->plain);
}

START_TEST(test_tls_serving)
{
    env e;
    csm_tls *tls = tls_new();
    tls_scenario sc;
    timing silent = {0, 0};
    csm_httpd_limits l = {300, 0, 0, 0, 0, 0, 0};
    size_t elen;
    char *exp;

    memset(&sc, 0, sizeof(sc));
    env_setup(&e, 20, 64, NULL);
    env_secure(&e, tls, NULL, &l);
    exp = expected_body(&e.m, 0, &elen);
    run_client(&e, client_tls, &sc);
    ck_assert_msg(sc.res.rc == CURLE_OK, "curl: %s", curl_easy_strerror(sc.res.rc));
    ck_assert_int_eq(sc.res.status, 200);
    ck_assert_uint_eq(sc.res.body.len, elen);
    ck_assert(memcmp(sc.res.body.ptr, exp, elen) == 0);
    /* Clear text on the TLS port gets no HTTP answer. */
    ck_assert_int_ne(sc.plain.rc, CURLE_OK);
    ck_assert_int_eq(sc.plain.status, 0);
    /* A TCP connection that never starts the handshake is closed. */
    run_client(&e, client_silent, &silent);
    ck_assert(silent.closed);
    ck_assert_int_ge(silent.ms, 250);
    ck_assert_int_lt(silent.ms, 2000);
    ck_assert_int_eq(e.m.calls, 1);
    free(exp);
    http_res_free(&sc.res);
    http_res_free(&sc.plain);
    env_teardown(&e);
    csm_tls_free(tls);
    mctx_free(&e.m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("httpd");
    TCase *tc = tcase_create("core");
    int failed;
    int cap_ok;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_metrics_text_zero_copy);
    tcase_add_test(tc, test_priority);
    tcase_add_test(tc, test_metrics_openmetrics_eof);
    tcase_add_test(tc, test_metrics_gzip);
    tcase_add_test(tc, test_metrics_segments_gzip);
    tcase_add_test(tc, test_gzip_refused_with_q0);
    tcase_add_test(tc, test_head_metrics);
    tcase_add_test(tc, test_metrics_error_500);
    tcase_add_test(tc, test_health_and_errors);
    tcase_add_test(tc, test_index);
    tcase_add_test(tc, test_readyz);
    tcase_add_test(tc, test_readyz_default);
    tcase_add_test(tc, test_headers_too_large);
    tcase_add_test(tc, test_bind_ipv6_any_accepts_ipv4);
    tcase_add_test(tc, test_telemetry_durations);
    tcase_add_test(tc, test_shutdown_waits_for_inflight);
    tcase_add_test(tc, test_shutdown_idle);
    tcase_add_test(tc, test_disconnect_releases_once);
    tcase_add_test(tc, test_free_with_open_response);
    cap_ok = cap_nofile_ok();
    if (cap_ok)
        tcase_add_test(tc, test_connection_cap);
    tcase_add_test(tc, test_auth_held_requests);
    tcase_add_test(tc, test_auth_client_gone_while_held);
    tcase_add_test(tc, test_auth_input_while_held);
    tcase_add_test(tc, test_auth_free_while_held);
    tcase_add_test(tc, test_deadlines);
    tcase_add_test(tc, test_tls_serving);
    tcase_add_test(tc, test_evict_oldest_without_headers);
    tcase_add_test(tc, test_evict_oldest_idle);
    tcase_add_test(tc, test_per_client_cap);
    tcase_add_test(tc, test_pipelined_never_reading);
    tcase_add_test(tc, test_response_deadline);
    tcase_add_test(tc, test_auth_unknown_paths_one_entry);
    tcase_add_test(tc, test_auth_readyz_detail);
    suite_add_tcase(s, tc);
    failed = csm_check_run(s);
    curl_global_cleanup();
    if (failed)
        return EXIT_FAILURE;
    /* A test that could not run makes the whole binary SKIP (meson's 77),
     * so the runner reports it instead of a silent pass. */
    return cap_ok ? EXIT_SUCCESS : 77;
}
