/*
 * HTTP/1.1 server on the libevent loop (evhttp), used twice: for /metrics
 * with health endpoints on the metrics port, and for the telemetry port.
 *
 * Responses are built by callbacks that write into a csm_sink; the server
 * negotiates the format (Accept) and gzip (Accept-Encoding) and passes a
 * sink that either references the caller's memory (zero-copy) or deflates
 * it. A slow client only holds references to immutable blocks, so it never
 * blocks ingest.
 */
#ifndef CSM_HTTPD_H
#define CSM_HTTPD_H

#include <event2/event.h>

#include "auth.h"
#include "buf.h"
#include "csm/error.h"
#include "expo.h"
#include "log.h"
#include "telemetry.h"
#include "tls.h"

typedef struct csm_httpd csm_httpd;

typedef struct csm_httpd_handlers {
    /* GET /metrics: writes the whole body in `fmt`, without "# EOF" (the
     * server appends it for OpenMetrics). A failure gives a 500. */
    csm_err (*metrics)(void *ctx, csm_expo_format fmt, csm_sink *sink);
    /* GET /readyz: returns 1 when ready; may append a short reason to why
     * (shown in the body either way). NULL means always ready. */
    int (*ready)(void *ctx, csm_buf *why);
    void *ctx;
    /* Shown on the index page "/" (borrowed, must outlive the server). */
    const char *title;
    /* Optional, borrowed, must outlive the server. With tls every
     * connection speaks TLS; with auth every request to a path that is not
     * always allowed is authenticated and authorized first (401, 403, 503
     * otherwise), and a request waiting for the API server's answer holds
     * its connection only: the loop serves others meanwhile. */
    csm_tls *tls;
    csm_auth *auth;
} csm_httpd_handlers;

/* Per-connection time limits, in milliseconds. */
typedef struct csm_httpd_limits {
    /* From accept to a completed TLS handshake. */
    int handshake_ms;
    /* For the first request's headers: from accept without TLS; with TLS
     * from the end of handshake_ms (when the timer finds the handshake
     * done). Slow-header clients (slowloris) are cut off here however
     * steadily they trickle bytes. */
    int read_header_ms;
    /* Inactivity while reading or writing, and from the end of a response
     * to the next request's headers on a kept-alive connection. */
    int idle_ms;
} csm_httpd_limits;

/*
 * Binds host:port (port 0 picks a free one, see csm_httpd_port()) and serves
 * /, /metrics, /healthz, /livez, /readyz. `tel` (may be NULL) receives a
 * request-duration histogram per handler. h and tel are borrowed and must
 * outlive the server. *out is freed with csm_httpd_free().
 */
csm_err csm_httpd_new(struct event_base *base, const char *host, int port,
                      const csm_httpd_handlers *h, csm_log *log, csm_telemetry *tel,
                      csm_httpd **out);

/* The bound port. */
int csm_httpd_port(const csm_httpd *s);

/* Replaces the default limits (10 s, 10 s, 60 s) for connections accepted
 * from now on; a zero field keeps its current value. */
void csm_httpd_set_limits(csm_httpd *s, const csm_httpd_limits *l);

/*
 * Stops accepting connections; calls done(arg) once every response in flight
 * has been sent (or at once if none is). Used for SIGTERM.
 */
csm_err csm_httpd_shutdown(csm_httpd *s, void (*done)(void *arg), void *arg);

void csm_httpd_free(csm_httpd *s);

#endif
