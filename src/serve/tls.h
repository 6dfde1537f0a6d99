/*
 * Server-side TLS for the HTTP listeners, on OpenSSL.
 *
 * A csm_tls holds the serving certificate, its key and (optionally) the CA
 * that signs client certificates, loaded into an SSL_CTX that every new
 * connection of both listeners is created from. A timer polls the files
 * (device, inode, size, mtime, ctime through stat(), which follows links,
 * so the ..data symlink swap of a mounted Secret counts as a change). Once
 * a change has stayed put for one poll interval, a new SSL_CTX is built
 * from the files and replaces the current one for new connections;
 * connections already open keep the SSL_CTX they were created with (each
 * SSL holds a reference), so a rotation drops none of them. Files that do
 * not load (bad PEM, key not matching the certificate, missing file) leave
 * the current context in service; the failure is logged and counted, and
 * the same files are not retried until they change again.
 *
 * Only HTTP/1.1 is offered in ALPN. Renegotiation is refused.
 */
#ifndef CSM_TLS_H
#define CSM_TLS_H

#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "csm/error.h"
#include "base/log.h"
#include "serve/telemetry.h"

/* Protocol versions, with OpenSSL's values (TLS1_2_VERSION, ...). */
#define CSM_TLS_V12 0x0303
#define CSM_TLS_V13 0x0304

typedef struct csm_tls csm_tls;

typedef struct csm_tls_config {
    const char *cert_file;      /* PEM, leaf first, then intermediates */
    const char *key_file;       /* PEM private key */
    const char *client_ca_file; /* PEM CA bundle, or NULL: no client certs */
    /* With client_ca_file: a handshake without a client certificate is
     * refused (mutual TLS as the only access control). Otherwise a client
     * certificate is optional, and one that does not verify is refused. */
    int require_client_cert;
    int min_version; /* CSM_TLS_V12 or CSM_TLS_V13; 0 means TLS 1.2 */
    /* Comma-separated suite names (IANA like TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
     * or OpenSSL's) for TLS 1.2; TLS 1.3 names are accepted and ignored
     * (TLS 1.3 suites are always on, as in Go). NULL: OpenSSL's defaults. */
    const char *cipher_suites;
    int reload_interval_ms; /* file poll period; 0 means 1000 */
} csm_tls_config;

/* Parses "VersionTLS12", "VersionTLS13", "1.2", "1.3" (the first two as
 * kube-rbac-proxy spells them). Older versions are refused on purpose. */
csm_err csm_tls_version_parse(const char *s, int *out);

/*
 * Checks a --tls-cipher-suites value against what the linked OpenSSL
 * offers at its default security level. On success *out (may be NULL)
 * receives the OpenSSL cipher string for the TLS 1.2 suites ("" when the
 * list names only TLS 1.3 suites; free() it). On CSM_ERR_INVALID, why[]
 * names the offending suite.
 */
csm_err csm_tls_cipher_suites_parse(const char *list, char **out, char *why, size_t whylen);

/*
 * Loads the files (failing with CSM_ERR_TLS and the reason in the log if
 * they do not load) and, when base is not NULL, starts polling them. cfg's
 * strings are copied. log and tel (both may be NULL) are borrowed and must
 * outlive the object. *out is freed with csm_tls_free().
 */
csm_err csm_tls_new(struct event_base *base, const csm_tls_config *cfg, csm_log *log,
                    csm_telemetry *tel, csm_tls **out);
void csm_tls_free(csm_tls *t);

/* One poll of the files (what the timer runs). Returns 1 when a new
 * context was installed, else 0. Exposed for tests. */
int csm_tls_poll(csm_tls *t);

/* SHA-256 of the DER certificate new connections are served. */
void csm_tls_fingerprint(const csm_tls *t, unsigned char out[32]);

/*
 * A bufferevent for an accepted connection whose fd is set later (evhttp
 * does), in server handshake state, on the current context. Freeing the
 * bufferevent frees the SSL and closes the socket. NULL on failure.
 */
struct bufferevent *csm_tls_bufferevent_new(csm_tls *t, struct event_base *base);

/* 1 if bev is a TLS bufferevent (made by csm_tls_bufferevent_new). */
int csm_tls_is_tls(struct bufferevent *bev);

/* 1 once the handshake on bev has completed. */
int csm_tls_handshake_done(struct bufferevent *bev);

/* The subject of a verified client certificate: CN is the user, each O a
 * group, as kube-apiserver reads them. */
typedef struct csm_tls_peer {
    char *cn;
    char **orgs;
    size_t norgs;
} csm_tls_peer;

/*
 * Fills *out from the verified client certificate on bev; CSM_ERR_NOT_FOUND
 * when there is none (or no TLS), CSM_ERR_INVALID for a subject without a
 * usable CN. Free with csm_tls_peer_free() (which accepts a zeroed peer).
 */
csm_err csm_tls_peer_get(struct bufferevent *bev, csm_tls_peer *out);
void csm_tls_peer_free(csm_tls_peer *p);

#endif
