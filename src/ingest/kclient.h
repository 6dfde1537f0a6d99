/*
 * Asynchronous Kubernetes API client: libcurl's multi interface driven by
 * the libevent loop. One multi handle serves every request, so connections
 * (and TLS sessions) are reused between list pages, discovery and re-watches.
 *
 * A request delivers its 2xx body as it arrives (watch streams never end
 * up in memory whole) and then exactly one done() call, unless it was
 * cancelled first. Non-2xx bodies are kept (up to a cap) so the caller can
 * read the Kubernetes Status in them.
 *
 * Callbacks run on the event loop. A data() callback must not start or
 * cancel requests (curl forbids re-entering the multi handle there); it may
 * return an error to abort its own request. done() may do anything,
 * including starting new requests.
 */
#ifndef CSM_KCLIENT_H
#define CSM_KCLIENT_H

#include <event2/event.h>
#include <stddef.h>

#include "csm/error.h"
#include "ingest/kubeconfig.h"
#include "base/log.h"

/* The longest Retry-After honoured (10 minutes); a larger one is cut to it. */
#define CSM_KCLIENT_RETRY_AFTER_MAX_S 600

typedef struct csm_kclient csm_kclient;
typedef struct csm_kreq csm_kreq;

typedef struct csm_kresp {
    long status;         /* HTTP status; 0 when no response arrived */
    int transport_error; /* non-zero: connection, TLS or timeout failure */
    int aborted;         /* data() returned an error */
    const char *error;   /* curl's message for transport errors, else NULL */
    double retry_after;  /* Retry-After in seconds (<= CSM_KCLIENT_RETRY_AFTER_MAX_S), or -1 */
    const char *body;    /* non-2xx body (NUL-terminated, capped), or NULL */
    size_t body_len;
} csm_kresp;

typedef struct csm_kreq_cbs {
    /* 2xx body bytes; return non-OK to abort the request. */
    csm_err (*data)(void *ctx, const char *p, size_t n);
    /* Completion; resp and its strings are valid during the call only. The
     * request is freed right after done() returns. */
    void (*done)(void *ctx, const csm_kresp *resp);
    void *ctx;
} csm_kreq_cbs;

/*
 * auth is borrowed and must outlive the client; the client reads the
 * bearer token through csm_kauth_bearer() for every request and forces a
 * re-read after a 401. Logs a warning when TLS verification is disabled by
 * the kubeconfig. *out is freed with csm_kclient_free(), which cancels
 * every request still running (without calling done()).
 */
csm_err csm_kclient_new(struct event_base *base, csm_kauth *auth, csm_log *log, csm_kclient **out);
void csm_kclient_free(csm_kclient *c);

/*
 * Starts `method` (GET or POST) on `path` ("/apis/...?..."; the server
 * prefix comes from the kubeconfig). body/body_len is sent as JSON for POST
 * (copied). timeout_s bounds the whole request (0: none). On success *out
 * (may be NULL) receives a handle usable with csm_kreq_cancel() until
 * done() has been called.
 */
csm_err csm_kclient_request(csm_kclient *c, const char *method, const char *path, const char *body,
                            size_t body_len, long timeout_s, const csm_kreq_cbs *cbs,
                            csm_kreq **out);

/* Stops a request; no callback runs for it afterwards. Not from data(). */
void csm_kreq_cancel(csm_kreq *r);

/*
 * The request seam: the GET that the list/watch loops and discovery need,
 * as a table of functions, so that their tests answer requests by hand
 * without a server (tests/check-informer.c, tests/check-resource.c).
 * get() behaves as csm_kclient_request(c, "GET", path, NULL, 0, ...):
 * the callbacks run later from the event loop, never from inside get(), and
 * done() exactly once unless cancel(ctx, handle) ran first. *handle is the
 * transport's own (opaque to the caller) until done() has been called.
 */
typedef struct csm_kreq_transport {
    csm_err (*get)(void *ctx, const char *path, long timeout_s, const csm_kreq_cbs *cbs,
                   void **handle);
    void (*cancel)(void *ctx, void *handle);
    void *ctx;
} csm_kreq_transport;

/* The transport over c (borrowed: it must outlive every request). */
void csm_kclient_transport(csm_kclient *c, csm_kreq_transport *out);

#endif
