#include "serve/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/buf.h"
#include "base/strlist.h"

#define TLS_RELOAD_INTERVAL_MS 1000
/* Session resumption with client certificates needs a session id context;
 * without one OpenSSL refuses to resume ("session id context
 * uninitialized") and the handshake fails. */
#define TLS_SESSION_ID_CTX "crd-state-metrics"
/* Longer chains than this are not what a metrics client presents. */
#define TLS_VERIFY_DEPTH 8
#define TLS_WHY_MAX      512
#define TLS_CIPHERS_MAX  4096
/* Subject fields longer than this are refused rather than cut. */
#define TLS_NAME_MAX 1024

enum { FILE_CERT = 0, FILE_KEY, FILE_CA, NFILES };

/* What stat() says about one file; err is errno when stat() failed. */
typedef struct filesig {
    int err;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct timespec ctime;
} filesig;

typedef struct sigset {
    filesig f[NFILES];
} sigset;

struct csm_tls {
    char *files[NFILES]; /* FILE_CA may be NULL */
    int require_client_cert;
    int min_version;
    char *ciphers; /* OpenSSL cipher string, or NULL for the defaults */

    SSL_CTX *ctx; /* what new connections get */
    unsigned char fp[32];

    sigset loaded; /* the files ctx was built from */
    sigset seen;   /* at the previous poll */
    sigset failed; /* the last files that did not load */
    int have_failed;

    struct event *timer;
    csm_log *log;
    csm_tel_family *reloads; /* NULL without telemetry */
    csm_tel_family *expiry;
};

static const struct {
    const char *name;
    int version;
} tls_versions[] = {
    {"VersionTLS12", CSM_TLS_V12},
    {"VersionTLS13", CSM_TLS_V13},
    {"1.2", CSM_TLS_V12},
    {"1.3", CSM_TLS_V13},
};

csm_err csm_tls_version_parse(const char *s, int *out)
{
    if (!s || !out)
        return CSM_ERR_INVALID;
    for (size_t i = 0; i < sizeof(tls_versions) / sizeof(tls_versions[0]); i++) {
        if (strcmp(s, tls_versions[i].name) == 0) {
            *out = tls_versions[i].version;
            return CSM_OK;
        }
    }
    return CSM_ERR_INVALID;
}

static const char *version_name(int v)
{
    return v == CSM_TLS_V13 ? "TLS 1.3" : "TLS 1.2";
}

/* Formats the OpenSSL error queue's latest entry after `what` into why[]
 * and empties the queue, so that no stale error confuses a later call. */
static void ssl_why(char *why, size_t whylen, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char detail[256];

    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    else
        snprintf(detail, sizeof(detail), "%s", errno ? strerror(errno) : "unknown error");
    /* A long OpenSSL reason may be cut to fit why; the start says enough.
     * Looking at the result is what tells GCC the cut is intended (its
     * -Wformat-truncation fails the release build otherwise). */
    if (snprintf(why, whylen, "%s: %s", what, detail) >= (int)whylen && whylen > 4)
        memcpy(why + whylen - 4, "...", 4);
    ERR_clear_error();
}

static const SSL_CIPHER *cipher_find(STACK_OF(SSL_CIPHER) * all, const char *name, size_t len)
{
    for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
        const char *std = SSL_CIPHER_standard_name(c);
        const char *ossl = SSL_CIPHER_get_name(c);
        if ((std && strlen(std) == len && memcmp(std, name, len) == 0) ||
            (ossl && strlen(ossl) == len && memcmp(ossl, name, len) == 0))
            return c;
    }
    return NULL;
}

csm_err csm_tls_cipher_suites_parse(const char *list, char **out, char *why, size_t whylen)
{
    SSL_CTX *probe = NULL;
    STACK_OF(SSL_CIPHER) * all;
    csm_buf b;
    const char *p = list;
    const char *comma;
    const SSL_CIPHER *c;
    size_t len;
    csm_err err = CSM_OK;

    csm_buf_init(&b, TLS_CIPHERS_MAX);
    if (why && whylen)
        why[0] = '\0';
    if (out)
        *out = NULL;
    if (!list)
        return CSM_ERR_INVALID;
    /* Every suite this OpenSSL could enable: a name outside this list is
     * misspelt or compiled out (RC4, for one). */
    probe = SSL_CTX_new(TLS_server_method());
    if (!probe || SSL_CTX_set_cipher_list(probe, "ALL") != 1) {
        ERR_clear_error();
        err = CSM_ERR_NOMEM;
        goto out;
    }
    all = SSL_CTX_get_ciphers(probe);
    for (;;) {
        comma = strchr(p, ',');
        len = comma ? (size_t)(comma - p) : strlen(p);
        c = len ? cipher_find(all, p, len) : NULL;
        if (!c) {
            if (why)
                snprintf(why, whylen, "unknown or unavailable cipher suite \"%.*s\"",
                         (int)(len > 80 ? 80 : len), p);
            err = CSM_ERR_INVALID;
            goto out;
        }
        /* TLS 1.3 suites are configured apart from the cipher list and
         * stay on, as Go (and so kube-rbac-proxy) does. */
        if (strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") != 0) {
            err = csm_buf_printf(&b, "%s%s", b.len ? ":" : "", SSL_CIPHER_get_name(c));
            if (err)
                goto out;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (out) {
        *out = strdup(csm_buf_str(&b));
        if (!*out)
            err = CSM_ERR_NOMEM;
    }
out:
    csm_buf_free(&b);
    SSL_CTX_free(probe);
    return err;
}

/* ---- Loading. ------------------------------------------------------------ */

/* Offers http/1.1 only: no h2 means none of HTTP/2's stream multiplexing
 * and so none of its rapid-reset exposure. A client offering only h2 gets
 * no ALPN answer and must speak HTTP/1.1 or leave. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    (void)ssl;
    (void)arg;

    if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static csm_err load_client_ca(const csm_tls *t, SSL_CTX *ctx, char *why, size_t whylen)
{
    const char *ca = t->files[FILE_CA];
    STACK_OF(X509_NAME) * names;
    char what[TLS_WHY_MAX];
    int mode = SSL_VERIFY_PEER;

    snprintf(what, sizeof(what), "client CA file %s", ca);
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        ssl_why(why, whylen, what);
        return CSM_ERR_TLS;
    }
    /* The CA names go into the CertificateRequest so a client holding
     * several certificates picks the right one. */
    names = SSL_load_client_CA_file(ca);
    if (!names) {
        ssl_why(why, whylen, what);
        return CSM_ERR_TLS;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    if (t->require_client_cert)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, NULL);
    SSL_CTX_set_verify_depth(ctx, TLS_VERIFY_DEPTH);
    return CSM_OK;
}

#define TLS_V13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* Builds a context from the files as they are now. On failure returns
 * NULL with the reason in why[]. */
static SSL_CTX *ctx_build(const csm_tls *t, char *why, size_t whylen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    char what[TLS_WHY_MAX];

    ERR_clear_error();
    if (!ctx) {
        ssl_why(why, whylen, "SSL_CTX_new");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, t->min_version) != 1) {
        ssl_why(why, whylen, "minimum TLS version");
        goto fail;
    }
    /* Client-initiated renegotiation costs the server a handshake per
     * request of the client: a cheap way to burn CPU. Compression is
     * CRIME. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* Idle kept-alive connections then hold no read/write buffers. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* TLS 1.3 suites in server order, AES-128-GCM first (OpenSSL's default
     * puts AES-256-GCM first): the suite every TLS 1.3 peer must implement
     * (RFC 8446 9.1), and four fewer AES rounds per block on both ends of a
     * 36 MB body. All three stay on, as Go orders and offers them. */
    if (SSL_CTX_set_ciphersuites(ctx, TLS_V13_SUITES) != 1) {
        ssl_why(why, whylen, "TLS 1.3 cipher suites");
        goto fail;
    }
    if (t->ciphers && t->ciphers[0] && SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1) {
        ssl_why(why, whylen, "cipher suites");
        goto fail;
    }
    if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SESSION_ID_CTX,
                                       sizeof(TLS_SESSION_ID_CTX) - 1) != 1) {
        ssl_why(why, whylen, "session id context");
        goto fail;
    }
    snprintf(what, sizeof(what), "certificate file %s", t->files[FILE_CERT]);
    if (SSL_CTX_use_certificate_chain_file(ctx, t->files[FILE_CERT]) != 1) {
        ssl_why(why, whylen, what);
        goto fail;
    }
    snprintf(what, sizeof(what), "private key file %s", t->files[FILE_KEY]);
    if (SSL_CTX_use_PrivateKey_file(ctx, t->files[FILE_KEY], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_why(why, whylen, what);
        goto fail;
    }
    if (t->files[FILE_CA] && load_client_ca(t, ctx, why, whylen) != CSM_OK)
        goto fail;
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static void sig_read(const csm_tls *t, sigset *s)
{
    struct stat st;

    memset(s, 0, sizeof(*s));
    for (int i = 0; i < NFILES; i++) {
        if (!t->files[i])
            continue;
        if (stat(t->files[i], &st) != 0) {
            s->f[i].err = errno ? errno : EIO;
            continue;
        }
        s->f[i].dev = st.st_dev;
        s->f[i].ino = st.st_ino;
        s->f[i].size = st.st_size;
        s->f[i].mtime = st.st_mtim;
        s->f[i].ctime = st.st_ctim;
    }
}

static int ts_eq(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static int sig_eq(const sigset *a, const sigset *b)
{
    for (int i = 0; i < NFILES; i++) {
        const filesig *x = &a->f[i];
        const filesig *y = &b->f[i];
        if (x->err != y->err || x->dev != y->dev || x->ino != y->ino || x->size != y->size ||
            !ts_eq(x->mtime, y->mtime) || !ts_eq(x->ctime, y->ctime))
            return 0;
    }
    return 1;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Makes ctx the one new connections get, and says so. */
static void ctx_install(csm_tls *t, SSL_CTX *ctx, const char *how)
{
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    unsigned int mdlen = 0;
    char fp[65];
    struct tm tm;
    double expiry = 0;
    char until[32] = "?";

    memset(t->fp, 0, sizeof(t->fp));
    if (leaf && X509_digest(leaf, EVP_sha256(), t->fp, &mdlen) != 1)
        memset(t->fp, 0, sizeof(t->fp));
    if (leaf && ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1) {
        expiry = (double)timegm(&tm);
        strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    ERR_clear_error();
    /* Connections already open hold their own reference through their
     * SSL: this only drops the server's. */
    SSL_CTX_free(t->ctx);
    t->ctx = ctx;
    hex(t->fp, sizeof(t->fp), fp);
    csm_logf(t->log, CSM_LOG_INFO,
             "tls: %s serving certificate sha256:%s (valid until %s, min %s%s)", how, fp, until,
             version_name(t->min_version),
             t->files[FILE_CA] ? (t->require_client_cert ? ", client certificate required"
                                                         : ", client certificates verified")
                               : "");
    if (expiry > 0 && expiry < (double)time(NULL))
        csm_logf(t->log, CSM_LOG_WARN, "tls: the serving certificate expired at %s", until);
    if (t->expiry)
        csm_tel_set(t->expiry, NULL, expiry);
}

int csm_tls_poll(csm_tls *t)
{
    sigset now;
    char why[TLS_WHY_MAX];
    SSL_CTX *ctx;
    int settled;

    if (!t)
        return 0;
    sig_read(t, &now);
    /* Act on a change only once the files look the same as one poll ago:
     * a writer that replaces the certificate and the key one after the
     * other is caught between the two otherwise. */
    settled = sig_eq(&now, &t->seen);
    t->seen = now;
    if (!settled || sig_eq(&now, &t->loaded))
        return 0;
    if (t->have_failed && sig_eq(&now, &t->failed))
        return 0; /* already tried and reported */
    ctx = ctx_build(t, why, sizeof(why));
    if (!ctx) {
        t->failed = now;
        t->have_failed = 1;
        csm_tel_count(t->reloads, "error", NULL);
        csm_logf(t->log, CSM_LOG_ERROR,
                 "tls: the changed certificate files do not load, still serving the previous "
                 "certificate: %s",
                 why);
        return 0;
    }
    t->loaded = now;
    t->have_failed = 0;
    csm_tel_count(t->reloads, "success", NULL);
    ctx_install(t, ctx, "reloaded:");
    return 1;
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    csm_tls_poll(arg);
}

static csm_err copy_config(csm_tls *t, const csm_tls_config *cfg, char *why, size_t whylen)
{
    const char *src[NFILES] = {cfg->cert_file, cfg->key_file, cfg->client_ca_file};
    csm_err err;

    for (int i = 0; i < NFILES; i++) {
        if (!src[i])
            continue;
        t->files[i] = strdup(src[i]);
        if (!t->files[i])
            return CSM_ERR_NOMEM;
    }
    t->require_client_cert = cfg->require_client_cert;
    t->min_version = cfg->min_version ? cfg->min_version : CSM_TLS_V12;
    if (t->min_version != CSM_TLS_V12 && t->min_version != CSM_TLS_V13) {
        snprintf(why, whylen, "unsupported minimum TLS version 0x%x", (unsigned)t->min_version);
        return CSM_ERR_INVALID;
    }
    if (cfg->cipher_suites) {
        err = csm_tls_cipher_suites_parse(cfg->cipher_suites, &t->ciphers, why, whylen);
        if (err)
            return err;
        if (!t->ciphers[0] && t->min_version < CSM_TLS_V13) {
            snprintf(why, whylen,
                     "the cipher suites name no TLS 1.2 suite, so TLS 1.2 could not "
                     "work; list one or set the minimum version to TLS 1.3");
            return CSM_ERR_INVALID;
        }
    }
    return CSM_OK;
}

static csm_err register_telemetry(csm_tls *t, csm_telemetry *tel)
{
    static const char *const result[] = {"result"};
    csm_err err;

    err = csm_tel_family_add(tel, "crd_state_metrics_tls_reloads_total",
                             "Reloads of the serving certificate files after they changed, by "
                             "result (error: the previous certificate stays in service).",
                             CSM_METRIC_COUNTER, 1, result, &t->reloads);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_tls_certificate_expiry_timestamp_seconds",
                                 "Unix time at which the serving certificate expires.",
                                 CSM_METRIC_GAUGE, 0, NULL, &t->expiry);
    return err;
}

csm_err csm_tls_new(struct event_base *base, const csm_tls_config *cfg, csm_log *log,
                    csm_telemetry *tel, csm_tls **out)
{
    csm_tls *t = NULL;
    char why[TLS_WHY_MAX] = "";
    SSL_CTX *ctx;
    struct timeval tv;
    int ms;
    csm_err err;

    if (!cfg || !out || !cfg->cert_file || !cfg->key_file)
        return CSM_ERR_INVALID;
    *out = NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return CSM_ERR_NOMEM;
    t->log = log;
    err = copy_config(t, cfg, why, sizeof(why));
    if (err) {
        if (why[0])
            csm_logf(log, CSM_LOG_ERROR, "tls: %s", why);
        goto out;
    }
    if (tel) {
        err = register_telemetry(t, tel);
        if (err)
            goto out;
    }
    sig_read(t, &t->loaded);
    t->seen = t->loaded;
    ctx = ctx_build(t, why, sizeof(why));
    if (!ctx) {
        csm_logf(log, CSM_LOG_ERROR, "tls: %s", why);
        err = CSM_ERR_TLS;
        goto out;
    }
    ctx_install(t, ctx, "loaded");
    if (base) {
        ms = cfg->reload_interval_ms > 0 ? cfg->reload_interval_ms : TLS_RELOAD_INTERVAL_MS;
        tv.tv_sec = ms / 1000;
        tv.tv_usec = (ms % 1000) * 1000;
        t->timer = event_new(base, -1, EV_PERSIST, poll_cb, t);
        if (!t->timer || event_add(t->timer, &tv) != 0) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
    }
    *out = t;
    t = NULL;
out:
    csm_tls_free(t);
    return err;
}

void csm_tls_free(csm_tls *t)
{
    if (!t)
        return;
    if (t->timer)
        event_free(t->timer);
    SSL_CTX_free(t->ctx);
    for (int i = 0; i < NFILES; i++)
        free(t->files[i]);
    free(t->ciphers);
    free(t);
}

void csm_tls_fingerprint(const csm_tls *t, unsigned char out[32])
{
    memcpy(out, t->fp, sizeof(t->fp));
}

/* ---- Connections. -------------------------------------------------------- */

struct bufferevent *csm_tls_bufferevent_new(csm_tls *t, struct event_base *base)
{
    SSL *ssl = SSL_new(t->ctx);
    struct bufferevent *bev;

    if (!ssl) {
        ERR_clear_error();
        return NULL;
    }
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl); /* not taken over on failure */
        ERR_clear_error();
        return NULL;
    }
    /* A client that closes without close_notify is not an error worth
     * more than an ordinary EOF: nothing of ours is cut short by it. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

int csm_tls_is_tls(struct bufferevent *bev)
{
    return bev && bufferevent_openssl_get_ssl(bev) != NULL;
}

int csm_tls_handshake_done(struct bufferevent *bev)
{
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl && SSL_is_init_finished(ssl);
}

/* A subject value as UTF-8 without NUL or control characters. */
static char *entry_text(const X509_NAME_ENTRY *e)
{
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    char *s = NULL;

    if (n > 0 && n <= TLS_NAME_MAX) {
        int ok = 1;
        for (int i = 0; i < n; i++) {
            if (utf8[i] < 0x20 || utf8[i] == 0x7f)
                ok = 0;
        }
        if (ok)
            s = strndup((const char *)utf8, (size_t)n);
    }
    OPENSSL_free(utf8);
    ERR_clear_error();
    return s;
}

csm_err csm_tls_peer_get(struct bufferevent *bev, csm_tls_peer *out)
{
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    X509 *cert;
    const X509_NAME *name;
    int last_cn = -1;
    char **orgs;
    char *o;

    if (!out)
        return CSM_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    if (!ssl)
        return CSM_ERR_NOT_FOUND;
    cert = SSL_get0_peer_certificate(ssl);
    /* With SSL_VERIFY_PEER a certificate that fails verification ends the
     * handshake; the check is for a context without a client CA. */
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK ||
        !SSL_CTX_get_verify_mode(SSL_get_SSL_CTX(ssl)))
        return CSM_ERR_NOT_FOUND;
    name = X509_get_subject_name(cert);
    /* Several CNs: the last one counts, as in Go's crypto/x509. */
    for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(name, NID_commonName, i))
        last_cn = i;
    if (last_cn < 0)
        return CSM_ERR_INVALID;
    out->cn = entry_text(X509_NAME_get_entry(name, last_cn));
    if (!out->cn || !out->cn[0])
        goto invalid;
    for (int i = X509_NAME_get_index_by_NID(name, NID_organizationName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(name, NID_organizationName, i)) {
        o = entry_text(X509_NAME_get_entry(name, i));
        if (!o)
            goto invalid;
        orgs = realloc(out->orgs, (out->norgs + 1) * sizeof(*orgs));
        if (!orgs) {
            free(o);
            csm_tls_peer_free(out);
            return CSM_ERR_NOMEM;
        }
        out->orgs = orgs;
        out->orgs[out->norgs++] = o;
    }
    return CSM_OK;
invalid:
    csm_tls_peer_free(out);
    return CSM_ERR_INVALID;
}

void csm_tls_peer_free(csm_tls_peer *p)
{
    if (!p)
        return;
    free(p->cn);
    csm_strv_free(p->orgs, p->norgs);
    memset(p, 0, sizeof(*p));
}
