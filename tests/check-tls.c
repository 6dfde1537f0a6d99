/*
 * The TLS module against real certificates (made here with OpenSSL) and
 * real handshakes: the server side runs on this thread's event loop on one
 * end of a socketpair, a blocking OpenSSL client on a second thread on the
 * other end.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "check_main.h"
#include "serve/tls.h"

/* ---- Certificates. ------------------------------------------------------- */

typedef struct pair {
    EVP_PKEY *key;
    X509 *cert;
} pair;

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ck_assert_ptr_nonnull(ext);
    ck_assert_int_eq(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A P-256 key and a certificate for it, signed by `ca` (self-signed when
 * NULL). kind: 'a' CA, 's' server, 'c' client. orgs is NULL-terminated. */
static pair make_pair(const char *cn, const char *const *orgs, const pair *ca, char kind)
{
    static long serial = 1;
    pair p;
    X509_NAME *name = X509_NAME_new();
    X509 *issuer;

    p.key = EVP_EC_gen("P-256");
    p.cert = X509_new();
    ck_assert_ptr_nonnull(p.key);
    ck_assert_ptr_nonnull(p.cert);
    ck_assert_ptr_nonnull(name);
    X509_set_version(p.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(p.cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(p.cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(p.cert), 3600);
    X509_set_pubkey(p.cert, p.key);
    for (size_t i = 0; orgs && orgs[i]; i++)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)orgs[i], -1, -1,
                                   0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(p.cert, name);
    issuer = ca ? ca->cert : p.cert;
    X509_set_issuer_name(p.cert, X509_get_subject_name(issuer));
    if (kind == 'a') {
        add_ext(p.cert, issuer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(p.cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(p.cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(p.cert, issuer, NID_key_usage, "critical,digitalSignature");
        add_ext(p.cert, issuer, NID_ext_key_usage, kind == 's' ? "serverAuth" : "clientAuth");
    }
    ck_assert_int_gt(X509_sign(p.cert, ca ? ca->key : p.key, EVP_sha256()), 0);
    X509_NAME_free(name);
    return p;
}

static void pair_free(pair *p)
{
    EVP_PKEY_free(p->key);
    X509_free(p->cert);
}

static void fingerprint(X509 *x, unsigned char out[32])
{
    unsigned int n = 0;
    ck_assert_int_eq(X509_digest(x, EVP_sha256(), out, &n), 1);
    ck_assert_uint_eq(n, 32);
}

/* Writes the file through a temporary name and rename(), as a careful
 * writer (or kubelet) does. */
static void write_file(const char *path, const char *text)
{
    char tmp[512];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
}

static void write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    char tmp[512];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    if (cert)
        ck_assert_int_eq(PEM_write_X509(f, cert), 1);
    if (key)
        ck_assert_int_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
}

typedef struct dir {
    char path[256];
    char cert[300];
    char key[300];
    char ca[300];
} dir;

static void dir_make(dir *d)
{
    snprintf(d->path, sizeof(d->path), "/tmp/check-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d->path));
    snprintf(d->cert, sizeof(d->cert), "%s/tls.crt", d->path);
    snprintf(d->key, sizeof(d->key), "%s/tls.key", d->path);
    snprintf(d->ca, sizeof(d->ca), "%s/ca.crt", d->path);
}

static void dir_remove(dir *d)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
    ck_assert_int_eq(system(cmd), 0);
}

static void install(const dir *d, const pair *p)
{
    write_pem(d->cert, p->cert, NULL);
    write_pem(d->key, NULL, p->key);
}

/* Serves the pair in d, polled by hand (or every interval_ms on base). */
static csm_tls *tls_open(const dir *d, csm_telemetry *tel, struct event_base *base, int interval_ms)
{
    csm_tls_config cfg;
    csm_tls *t = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.cert_file = d->cert;
    cfg.key_file = d->key;
    cfg.reload_interval_ms = interval_ms;
    ck_assert_int_eq(csm_tls_new(base, &cfg, NULL, tel, &t), CSM_OK);
    return t;
}

/* ---- Telemetry. ---------------------------------------------------------- */

typedef struct tel_sink {
    csm_sink s;
    char buf[65536];
    size_t len;
} tel_sink;

static csm_err ts_text(csm_sink *s, const char *p, size_t n)
{
    tel_sink *t = (tel_sink *)s;
    ck_assert_uint_lt(t->len + n, sizeof(t->buf));
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return CSM_OK;
}

static int has_line(csm_telemetry *tel, const char *line)
{
    tel_sink ts;
    memset(&ts, 0, sizeof(ts));
    ts.s.text = ts_text;
    ck_assert_int_eq(csm_tel_write(tel, CSM_EXPO_TEXT, &ts.s), CSM_OK);
    return strstr(ts.buf, line) != NULL;
}

/* ---- Parsing. ------------------------------------------------------------ */

START_TEST(test_version_parse)
{
    int v = 0;

    ck_assert_int_eq(csm_tls_version_parse("VersionTLS12", &v), CSM_OK);
    ck_assert_int_eq(v, CSM_TLS_V12);
    ck_assert_int_eq(csm_tls_version_parse("VersionTLS13", &v), CSM_OK);
    ck_assert_int_eq(v, CSM_TLS_V13);
    ck_assert_int_eq(csm_tls_version_parse("1.2", &v), CSM_OK);
    ck_assert_int_eq(v, CSM_TLS_V12);
    ck_assert_int_eq(csm_tls_version_parse("1.3", &v), CSM_OK);
    ck_assert_int_eq(v, CSM_TLS_V13);
    /* Older versions are not offered at all. */
    ck_assert_int_eq(csm_tls_version_parse("VersionTLS11", &v), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tls_version_parse("VersionTLS10", &v), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tls_version_parse("1.1", &v), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tls_version_parse("versiontls12", &v), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tls_version_parse("", &v), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tls_version_parse(NULL, &v), CSM_ERR_INVALID);
}
END_TEST

START_TEST(test_cipher_suites_parse)
{
    char *out = NULL;
    char why[256];

    /* IANA names map to OpenSSL's. */
    ck_assert_int_eq(csm_tls_cipher_suites_parse("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
                                                 "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                                                 &out, why, sizeof(why)),
                     CSM_OK);
    ck_assert_str_eq(out, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384");
    free(out);
    /* OpenSSL names work too; TLS 1.3 names are accepted and left out. */
    ck_assert_int_eq(csm_tls_cipher_suites_parse("TLS_AES_128_GCM_SHA256,ECDHE-ECDSA-CHACHA20-"
                                                 "POLY1305",
                                                 &out, why, sizeof(why)),
                     CSM_OK);
    ck_assert_str_eq(out, "ECDHE-ECDSA-CHACHA20-POLY1305");
    free(out);
    ck_assert_int_eq(csm_tls_cipher_suites_parse("TLS_AES_256_GCM_SHA384", &out, why, sizeof(why)),
                     CSM_OK);
    ck_assert_str_eq(out, "");
    free(out);
    /* Unknown or compiled out (RC4): the message names it. */
    ck_assert_int_eq(csm_tls_cipher_suites_parse("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
                                                 "TLS_RSA_WITH_RC4_128_SHA",
                                                 &out, why, sizeof(why)),
                     CSM_ERR_INVALID);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(why, "unknown or unavailable cipher suite \"TLS_RSA_WITH_RC4_128_SHA\"");
    ck_assert_int_eq(csm_tls_cipher_suites_parse("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,", NULL,
                                                 why, sizeof(why)),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tls_cipher_suites_parse("", NULL, why, sizeof(why)), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tls_cipher_suites_parse("ALL", NULL, why, sizeof(why)), CSM_ERR_INVALID);
}
END_TEST

/* ---- Loading and reloading. ---------------------------------------------- */

START_TEST(test_load_errors)
{
    dir d;
    pair a = make_pair("a", NULL, NULL, 's');
    pair b = make_pair("b", NULL, NULL, 's');
    csm_tls_config cfg;
    csm_tls *t = NULL;

    dir_make(&d);
    memset(&cfg, 0, sizeof(cfg));
    cfg.cert_file = d.cert;
    cfg.key_file = d.key;
    /* Missing files. */
    ck_assert_int_eq(csm_tls_new(NULL, &cfg, NULL, NULL, &t), CSM_ERR_TLS);
    ck_assert_ptr_null(t);
    /* A key that does not belong to the certificate. */
    write_pem(d.cert, a.cert, NULL);
    write_pem(d.key, NULL, b.key);
    ck_assert_int_eq(csm_tls_new(NULL, &cfg, NULL, NULL, &t), CSM_ERR_TLS);
    /* Not PEM at all. */
    write_file(d.cert, "hello\n");
    write_pem(d.key, NULL, a.key);
    ck_assert_int_eq(csm_tls_new(NULL, &cfg, NULL, NULL, &t), CSM_ERR_TLS);
    /* Good files, but the suites rule out TLS 1.2 while it is allowed. */
    install(&d, &a);
    cfg.cipher_suites = "TLS_AES_128_GCM_SHA256";
    ck_assert_int_eq(csm_tls_new(NULL, &cfg, NULL, NULL, &t), CSM_ERR_INVALID);
    cfg.min_version = CSM_TLS_V13;
    ck_assert_int_eq(csm_tls_new(NULL, &cfg, NULL, NULL, &t), CSM_OK);
    csm_tls_free(t);
    t = NULL;
    /* Client CA file missing. */
    cfg.cipher_suites = NULL;
    cfg.client_ca_file = d.ca;
    ck_assert_int_eq(csm_tls_new(NULL, &cfg, NULL, NULL, &t), CSM_ERR_TLS);
    ck_assert_int_eq(csm_tls_new(NULL, NULL, NULL, NULL, &t), CSM_ERR_INVALID);
    csm_tls_free(NULL);
    pair_free(&a);
    pair_free(&b);
    dir_remove(&d);
}
END_TEST

START_TEST(test_reload_after_settling)
{
    dir d;
    pair a = make_pair("a", NULL, NULL, 's');
    pair b = make_pair("b", NULL, NULL, 's');
    unsigned char fa[32], fb[32], now[32];
    csm_telemetry *tel = csm_telemetry_new();
    csm_tls *t;

    dir_make(&d);
    install(&d, &a);
    fingerprint(a.cert, fa);
    fingerprint(b.cert, fb);
    t = tls_open(&d, tel, NULL, 0);
    csm_tls_fingerprint(t, now);
    ck_assert(memcmp(now, fa, 32) == 0);
    /* Nothing changed: nothing happens. */
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    install(&d, &b);
    /* The first poll only notices; the change is acted on once it has
     * held for a poll interval. */
    ck_assert_int_eq(csm_tls_poll(t), 0);
    csm_tls_fingerprint(t, now);
    ck_assert(memcmp(now, fa, 32) == 0);
    ck_assert_int_eq(csm_tls_poll(t), 1);
    csm_tls_fingerprint(t, now);
    ck_assert(memcmp(now, fb, 32) == 0);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert(has_line(tel, "crd_state_metrics_tls_reloads_total{result=\"success\"} 1\n"));
    ck_assert(has_line(tel, "crd_state_metrics_tls_certificate_expiry_timestamp_seconds "));
    csm_tls_free(t);
    csm_telemetry_free(tel);
    pair_free(&a);
    pair_free(&b);
    dir_remove(&d);
}
END_TEST

START_TEST(test_bad_files_keep_old)
{
    dir d;
    pair a = make_pair("a", NULL, NULL, 's');
    pair b = make_pair("b", NULL, NULL, 's');
    pair c = make_pair("c", NULL, NULL, 's');
    unsigned char fa[32], fc[32], now[32];
    csm_telemetry *tel = csm_telemetry_new();
    csm_tls *t;

    dir_make(&d);
    install(&d, &a);
    fingerprint(a.cert, fa);
    fingerprint(c.cert, fc);
    t = tls_open(&d, tel, NULL, 0);
    /* A truncated certificate. */
    write_file(d.cert, "-----BEGIN CERTIFICATE-----\nMIIB\n");
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    csm_tls_fingerprint(t, now);
    ck_assert(memcmp(now, fa, 32) == 0);
    ck_assert(has_line(tel, "crd_state_metrics_tls_reloads_total{result=\"error\"} 1\n"));
    /* Not retried (nor logged, nor counted) until the files change. */
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert(has_line(tel, "crd_state_metrics_tls_reloads_total{result=\"error\"} 1\n"));
    /* A certificate whose key has not arrived yet: refused as well. */
    write_pem(d.cert, b.cert, NULL);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert(has_line(tel, "crd_state_metrics_tls_reloads_total{result=\"error\"} 2\n"));
    csm_tls_fingerprint(t, now);
    ck_assert(memcmp(now, fa, 32) == 0);
    /* Both files good again. */
    install(&d, &c);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert_int_eq(csm_tls_poll(t), 1);
    csm_tls_fingerprint(t, now);
    ck_assert(memcmp(now, fc, 32) == 0);
    ck_assert(has_line(tel, "crd_state_metrics_tls_reloads_total{result=\"success\"} 1\n"));
    /* A file that vanishes keeps the old pair in service too. */
    ck_assert_int_eq(unlink(d.key), 0);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    csm_tls_fingerprint(t, now);
    ck_assert(memcmp(now, fc, 32) == 0);
    ck_assert(has_line(tel, "crd_state_metrics_tls_reloads_total{result=\"error\"} 3\n"));
    csm_tls_free(t);
    csm_telemetry_free(tel);
    pair_free(&a);
    pair_free(&b);
    pair_free(&c);
    dir_remove(&d);
}
END_TEST

/* A Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<version>/, and
 * an update swaps ..data in one rename(). The files' own paths never
 * change. */
static void secret_version(const char *root, const char *version, const pair *p)
{
    char path[600];
    char link[600];
    char tmp[600];

    snprintf(path, sizeof(path), "%s/%s", root, version);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/%s/tls.crt", root, version);
    write_pem(path, p->cert, NULL);
    snprintf(path, sizeof(path), "%s/%s/tls.key", root, version);
    write_pem(path, NULL, p->key);
    snprintf(link, sizeof(link), "%s/..data", root);
    snprintf(tmp, sizeof(tmp), "%s/..data_tmp", root);
    ck_assert_int_eq(symlink(version, tmp), 0);
    ck_assert_int_eq(rename(tmp, link), 0);
}

START_TEST(test_secret_symlink_swap)
{
    dir d;
    pair a = make_pair("a", NULL, NULL, 's');
    pair b = make_pair("b", NULL, NULL, 's');
    unsigned char fa[32], fb[32], now[32];
    csm_tls *t;

    dir_make(&d);
    fingerprint(a.cert, fa);
    fingerprint(b.cert, fb);
    secret_version(d.path, "..2024_01_01", &a);
    ck_assert_int_eq(symlink("..data/tls.crt", d.cert), 0);
    ck_assert_int_eq(symlink("..data/tls.key", d.key), 0);
    t = tls_open(&d, NULL, NULL, 0);
    csm_tls_fingerprint(t, now);
    ck_assert(memcmp(now, fa, 32) == 0);
    secret_version(d.path, "..2024_02_01", &b);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert_int_eq(csm_tls_poll(t), 1);
    csm_tls_fingerprint(t, now);
    ck_assert(memcmp(now, fb, 32) == 0);
    csm_tls_free(t);
    pair_free(&a);
    pair_free(&b);
    dir_remove(&d);
}
END_TEST

START_TEST(test_reload_timer)
{
    dir d;
    pair a = make_pair("a", NULL, NULL, 's');
    pair b = make_pair("b", NULL, NULL, 's');
    unsigned char fb[32], now[32];
    struct event_base *base = event_base_new();
    struct timeval tv = {0, 200 * 1000};
    csm_tls *t;

    dir_make(&d);
    install(&d, &a);
    fingerprint(b.cert, fb);
    t = tls_open(&d, NULL, base, 50);
    install(&d, &b);
    /* Two polls at 50 ms happen well within 200 ms. */
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    csm_tls_fingerprint(t, now);
    ck_assert(memcmp(now, fb, 32) == 0);
    csm_tls_free(t);
    event_base_free(base);
    pair_free(&a);
    pair_free(&b);
    dir_remove(&d);
}
END_TEST

/* ---- Connections. -------------------------------------------------------- */

typedef struct hs {
    /* client side, set by the test */
    int fd;
    pair *client; /* certificate to present, or NULL */
    int max_version;
    const unsigned char *alpn; /* wire format, or NULL */
    size_t alpn_len;
    /* client side results */
    int ok;         /* handshake done and the server's greeting read */
    int reason;     /* OpenSSL reason code of the failure */
    char proto[32]; /* ALPN result */
    unsigned char served[32];
    int done_fd;    /* written when the client is done */
    char suite[64]; /* the cipher suite agreed on */
} hs;

static void *client_main(void *arg)
{
    hs *h = arg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl;
    char buf[8];
    const unsigned char *p = NULL;
    unsigned int n = 0;

    ck_assert_ptr_nonnull(ctx);
    /* The test client is willing to go as low as asked, so that a refusal
     * is the server's doing. */
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    if (h->max_version)
        SSL_CTX_set_max_proto_version(ctx, h->max_version);
    if (h->client) {
        SSL_CTX_use_certificate(ctx, h->client->cert);
        SSL_CTX_use_PrivateKey(ctx, h->client->key);
    }
    if (h->alpn)
        SSL_CTX_set_alpn_protos(ctx, h->alpn, (unsigned int)h->alpn_len);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, h->fd);
    ERR_clear_error();
    /* TLS 1.3 reports a refused client certificate only after the
     * client's side of the handshake: the read of the greeting sees it. */
    if (SSL_connect(ssl) == 1 && SSL_read(ssl, buf, 2) == 2 && memcmp(buf, "hi", 2) == 0) {
        h->ok = 1;
        SSL_get0_alpn_selected(ssl, &p, &n);
        snprintf(h->proto, sizeof(h->proto), "%.*s", (int)n, (const char *)p);
        snprintf(h->suite, sizeof(h->suite), "%s",
                 SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
        fingerprint(SSL_get0_peer_certificate(ssl), h->served);
    } else {
        h->reason = ERR_GET_REASON(ERR_peek_last_error());
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(h->fd);
    ck_assert_int_eq(write(h->done_fd, "x", 1), 1);
    return NULL;
}

typedef struct server {
    struct event_base *base;
    struct bufferevent *bev;
    int connected;
    int done_at_connect; /* csm_tls_handshake_done() said so then */
    int failed;
} server;

static void server_event(struct bufferevent *bev, short what, void *arg)
{
    server *s = arg;
    if (what & BEV_EVENT_CONNECTED) {
        s->connected = 1;
        s->done_at_connect = csm_tls_handshake_done(bev);
        bufferevent_write(bev, "hi", 2);
    } else {
        s->failed = 1;
    }
}

static void on_client_done(evutil_socket_t fd, short what, void *arg)
{
    char c;
    (void)what;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    event_base_loopbreak(arg);
}

/* One handshake of client h against t; server state in *s (bev left for
 * the caller to inspect and free). */
static void handshake(csm_tls *t, hs *h, server *s)
{
    int sv[2];
    int done[2];
    pthread_t th;
    struct event *ev;

    memset(s, 0, sizeof(*s));
    s->base = event_base_new();
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(pipe(done), 0);
    evutil_make_socket_nonblocking(sv[0]);
    s->bev = csm_tls_bufferevent_new(t, s->base);
    ck_assert_ptr_nonnull(s->bev);
    ck_assert(csm_tls_is_tls(s->bev));
    ck_assert(!csm_tls_handshake_done(s->bev));
    ck_assert_int_eq(bufferevent_setfd(s->bev, sv[0]), 0);
    bufferevent_setcb(s->bev, NULL, NULL, server_event, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    ev = event_new(s->base, done[0], EV_READ, on_client_done, s->base);
    event_add(ev, NULL);
    h->fd = sv[1];
    h->done_fd = done[1];
    ck_assert_int_eq(pthread_create(&th, NULL, client_main, h), 0);
    event_base_dispatch(s->base);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    event_free(ev);
    close(done[0]);
    close(done[1]);
}

static void server_free(server *s)
{
    bufferevent_free(s->bev); /* closes sv[0], frees the SSL */
    event_base_free(s->base);
}

typedef struct pki {
    dir d;
    pair ca;
    pair other_ca;
    pair server;
    pair alice;   /* signed by ca */
    pair mallory; /* signed by other_ca */
} pki;

static void pki_make(pki *k)
{
    static const char *const alice_orgs[] = {"metrics-readers", "team-a", NULL};
    dir_make(&k->d);
    k->ca = make_pair("test-ca", NULL, NULL, 'a');
    k->other_ca = make_pair("other-ca", NULL, NULL, 'a');
    k->server = make_pair("localhost", NULL, NULL, 's');
    k->alice = make_pair("alice", alice_orgs, &k->ca, 'c');
    k->mallory = make_pair("alice", alice_orgs, &k->other_ca, 'c');
    install(&k->d, &k->server);
    write_pem(k->d.ca, k->ca.cert, NULL);
}

static void pki_free(pki *k)
{
    pair_free(&k->ca);
    pair_free(&k->other_ca);
    pair_free(&k->server);
    pair_free(&k->alice);
    pair_free(&k->mallory);
    dir_remove(&k->d);
}

static csm_tls *pki_tls(pki *k, int with_ca, int require)
{
    csm_tls_config cfg;
    csm_tls *t = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.cert_file = k->d.cert;
    cfg.key_file = k->d.key;
    cfg.client_ca_file = with_ca ? k->d.ca : NULL;
    cfg.require_client_cert = require;
    ck_assert_int_eq(csm_tls_new(NULL, &cfg, NULL, NULL, &t), CSM_OK);
    return t;
}

START_TEST(test_handshake_versions_and_alpn)
{
    static const unsigned char h2_h11[] = "\x02h2\x08http/1.1";
    static const unsigned char h2[] = "\x02h2";
    pki k;
    csm_tls *t;
    server s;
    hs h;
    csm_tls_peer peer;
    unsigned char fp[32];

    pki_make(&k);
    t = pki_tls(&k, 0, 0);
    csm_tls_fingerprint(t, fp);

    memset(&h, 0, sizeof(h));
    h.alpn = h2_h11;
    h.alpn_len = sizeof(h2_h11) - 1;
    handshake(t, &h, &s);
    ck_assert(h.ok);
    ck_assert(s.connected);
    ck_assert(s.done_at_connect);
    ck_assert_str_eq(h.proto, "http/1.1"); /* never h2 */
    /* OpenSSL's client offers AES-256-GCM first; the server's order wins. */
    ck_assert_str_eq(h.suite, "TLS_AES_128_GCM_SHA256");
    ck_assert(memcmp(h.served, fp, 32) == 0);
    /* No client CA: no client identity. */
    ck_assert_int_eq(csm_tls_peer_get(s.bev, &peer), CSM_ERR_NOT_FOUND);
    server_free(&s);

    /* A client that only speaks h2 gets no protocol, not h2. */
    memset(&h, 0, sizeof(h));
    h.alpn = h2;
    h.alpn_len = sizeof(h2) - 1;
    handshake(t, &h, &s);
    ck_assert(h.ok);
    ck_assert_str_eq(h.proto, "");
    server_free(&s);

    /* TLS 1.2 works, TLS 1.1 and 1.0 are refused by the server. */
    memset(&h, 0, sizeof(h));
    h.max_version = TLS1_2_VERSION;
    handshake(t, &h, &s);
    ck_assert(h.ok);
    server_free(&s);
    memset(&h, 0, sizeof(h));
    h.max_version = TLS1_1_VERSION;
    handshake(t, &h, &s);
    ck_assert(!h.ok);
    ck_assert(!s.connected);
    ck_assert_int_eq(h.reason, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
    server_free(&s);
    memset(&h, 0, sizeof(h));
    h.max_version = TLS1_VERSION;
    handshake(t, &h, &s);
    ck_assert(!h.ok);
    ck_assert_int_eq(h.reason, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
    server_free(&s);
    csm_tls_free(t);
    pki_free(&k);
}
END_TEST

START_TEST(test_min_version_13)
{
    pki k;
    csm_tls_config cfg;
    csm_tls *t = NULL;
    server s;
    hs h;

    pki_make(&k);
    memset(&cfg, 0, sizeof(cfg));
    cfg.cert_file = k.d.cert;
    cfg.key_file = k.d.key;
    cfg.min_version = CSM_TLS_V13;
    ck_assert_int_eq(csm_tls_new(NULL, &cfg, NULL, NULL, &t), CSM_OK);
    memset(&h, 0, sizeof(h));
    h.max_version = TLS1_2_VERSION;
    handshake(t, &h, &s);
    ck_assert(!h.ok);
    ck_assert_int_eq(h.reason, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
    server_free(&s);
    memset(&h, 0, sizeof(h));
    handshake(t, &h, &s);
    ck_assert(h.ok);
    server_free(&s);
    csm_tls_free(t);
    pki_free(&k);
}
END_TEST

START_TEST(test_client_certificates)
{
    pki k;
    csm_tls *t;
    server s;
    hs h;
    csm_tls_peer peer;

    pki_make(&k);
    t = pki_tls(&k, 1, 0);

    /* Signed by the CA: CN is the user, each O a group. */
    memset(&h, 0, sizeof(h));
    h.client = &k.alice;
    handshake(t, &h, &s);
    ck_assert(h.ok);
    ck_assert_int_eq(csm_tls_peer_get(s.bev, &peer), CSM_OK);
    ck_assert_str_eq(peer.cn, "alice");
    ck_assert_uint_eq(peer.norgs, 2);
    ck_assert_str_eq(peer.orgs[0], "metrics-readers");
    ck_assert_str_eq(peer.orgs[1], "team-a");
    csm_tls_peer_free(&peer);
    csm_tls_peer_free(&peer); /* zeroed: fine again */
    server_free(&s);

    /* Same subject, another CA: refused in the handshake. */
    memset(&h, 0, sizeof(h));
    h.client = &k.mallory;
    handshake(t, &h, &s);
    ck_assert(!h.ok);
    ck_assert_int_eq(h.reason, SSL_R_TLSV1_ALERT_UNKNOWN_CA);
    ck_assert_int_eq(csm_tls_peer_get(s.bev, &peer), CSM_ERR_NOT_FOUND);
    server_free(&s);

    /* No certificate is fine when it is optional (a token may follow). */
    memset(&h, 0, sizeof(h));
    handshake(t, &h, &s);
    ck_assert(h.ok);
    ck_assert_int_eq(csm_tls_peer_get(s.bev, &peer), CSM_ERR_NOT_FOUND);
    server_free(&s);
    csm_tls_free(t);

    /* ... and refused when required. */
    t = pki_tls(&k, 1, 1);
    memset(&h, 0, sizeof(h));
    handshake(t, &h, &s);
    ck_assert(!h.ok);
    ck_assert_int_eq(h.reason, SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED);
    server_free(&s);
    memset(&h, 0, sizeof(h));
    h.client = &k.alice;
    handshake(t, &h, &s);
    ck_assert(h.ok);
    server_free(&s);
    csm_tls_free(t);
    ck_assert_int_eq(csm_tls_peer_get(NULL, &peer), CSM_ERR_NOT_FOUND);
    pki_free(&k);
}
END_TEST

/* Connections made before a reload keep the certificate they started
 * with; connections made after get the new one. */
START_TEST(test_open_connections_keep_their_context)
{
    pki k;
    pair b = make_pair("localhost", NULL, NULL, 's');
    unsigned char fa[32], fb[32], got[32];
    struct event_base *base = event_base_new();
    struct bufferevent *before;
    struct bufferevent *after;
    csm_tls *t;
    server s;
    hs h;

    pki_make(&k);
    t = pki_tls(&k, 0, 0);
    fingerprint(k.server.cert, fa);
    fingerprint(b.cert, fb);
    before = csm_tls_bufferevent_new(t, base);
    install(&k.d, &b);
    ck_assert_int_eq(csm_tls_poll(t), 0);
    ck_assert_int_eq(csm_tls_poll(t), 1);
    after = csm_tls_bufferevent_new(t, base);
    fingerprint(SSL_get_certificate(bufferevent_openssl_get_ssl(before)), got);
    ck_assert(memcmp(got, fa, 32) == 0);
    fingerprint(SSL_get_certificate(bufferevent_openssl_get_ssl(after)), got);
    ck_assert(memcmp(got, fb, 32) == 0);
    /* The old context lives on in `before` alone; freeing the module
     * first must not pull it from under the connection. */
    csm_tls_free(t);
    fingerprint(SSL_get_certificate(bufferevent_openssl_get_ssl(before)), got);
    ck_assert(memcmp(got, fa, 32) == 0);
    bufferevent_free(before);
    bufferevent_free(after);
    event_base_free(base);

    /* And a real handshake after a reload serves the new one. */
    t = pki_tls(&k, 0, 0);
    memset(&h, 0, sizeof(h));
    handshake(t, &h, &s);
    ck_assert(h.ok);
    ck_assert(memcmp(h.served, fb, 32) == 0);
    server_free(&s);
    csm_tls_free(t);
    pair_free(&b);
    pki_free(&k);
}
END_TEST

START_TEST(test_plain_bufferevent_is_not_tls)
{
    struct event_base *base = event_base_new();
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
    csm_tls_peer peer;

    ck_assert(!csm_tls_is_tls(bev));
    ck_assert(!csm_tls_handshake_done(bev));
    ck_assert_int_eq(csm_tls_peer_get(bev, &peer), CSM_ERR_NOT_FOUND);
    bufferevent_free(bev);
    event_base_free(base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("core");

    signal(SIGPIPE, SIG_IGN);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_version_parse);
    tcase_add_test(tc, test_cipher_suites_parse);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_reload_after_settling);
    tcase_add_test(tc, test_bad_files_keep_old);
    tcase_add_test(tc, test_secret_symlink_swap);
    tcase_add_test(tc, test_reload_timer);
    tcase_add_test(tc, test_handshake_versions_and_alpn);
    tcase_add_test(tc, test_min_version_13);
    tcase_add_test(tc, test_client_certificates);
    tcase_add_test(tc, test_open_connections_keep_their_context);
    tcase_add_test(tc, test_plain_bufferevent_is_not_tls);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
