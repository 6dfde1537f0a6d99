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

#include "serve/auth.h"
#include "base/buf.h"
#include "csm/error.h"
#include "render/expo.h"
#include "base/log.h"
#include "serve/telemetry.h"
#include "serve/tls.h"

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

/* Per-connection limits. Times in milliseconds. */
typedef struct csm_httpd_limits {
    /* From accept to a completed TLS handshake. */
    int handshake_ms;
    /* For the first request's headers: from accept without TLS; with TLS
     * from the end of handshake_ms (when the timer finds the handshake
     * done). Slow-header clients (slowloris) are cut off here however
     * steadily they trickle bytes. */
    int read_header_ms;
    /* Inactivity while writing, and from the end of a response to the next
     * request's headers on a kept-alive connection. */
    int idle_ms;
    /* The absolute deadline of a response: response_ms for every response
     * (which also bounds waiting for access control), plus the time its
     * body takes at min_rate bytes per second. A client that reads slower
     * than that on average is cut off however steadily it reads; one that
     * reads at least that fast always finishes. */
    int response_ms;
    long min_rate;
    /* Open connections. At the cap a new connection evicts the oldest one
     * that has not sent its request headers yet, else the oldest idle
     * kept-alive one, else it is closed. */
    long max_connections;
    /* Open connections per client address (IPv4, or IPv6 address); a
     * client at its cap has new connections closed at once. */
    long max_per_client;
} csm_httpd_limits;

/* What the connection limits did so far (for tests and telemetry). */
typedef struct csm_httpd_stats {
    size_t open;               /* connections open now */
    size_t peak;               /* most connections open at once */
    size_t evicted_waiting;    /* evicted before completing their request headers */
    size_t evicted_idle;       /* evicted while idle between requests */
    size_t refused_capacity;   /* closed at accept: at the cap, nothing to evict */
    size_t refused_per_client; /* closed at accept: the client was at its cap */
    size_t deadline_closed;    /* closed by a deadline (handshake, headers, idle, response) */
    size_t accept_errors;      /* accept() failed (e.g. out of file descriptors) */
} csm_httpd_stats;
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

/* Replaces the default limits (10 s, 10 s, 60 s, 60 s, 64 KiB/s, 512
 * connections, no per-client cap) for connections accepted from now on; a
 * zero field keeps its current value. */
void csm_httpd_set_limits(csm_httpd *s, const csm_httpd_limits *l);

/* The loop priority (base/loop.h) of connections accepted from now on;
 * until set, the base's default. The wiring gives the telemetry port
 * CSM_LOOP_INGEST: the exporter's own counts and health answer ahead of a
 * scrape storm on the metrics port. CSM_ERR_INVALID for a priority the
 * base does not have. */
csm_err csm_httpd_set_priority(csm_httpd *s, int priority);

/* Copies the counters; *out is zeroed for a NULL server. */
void csm_httpd_get_stats(const csm_httpd *s, csm_httpd_stats *out);

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (a slow-loris flood is
 * fought with file descriptors) and stores the soft limit now in force in
 * *limit. CSM_ERR_IO (errno set) if the limit cannot be read; failing to
 * raise it is not an error, *limit then says what there is.
 */
csm_err csm_httpd_raise_fd_limit(long *limit);

/*
 * Connection caps for a process with fd_limit descriptors and two servers:
 * the metrics server's cap and per-client cap, and the telemetry server's
 * cap. 256 descriptors stay for the API client, files and plugins.
 */
void csm_httpd_default_caps(long fd_limit, long *metrics_max, long *per_client,
                            long *telemetry_max);

/*
 * Stops accepting connections; calls done(arg) once every response in flight
 * has been sent (or at once if none is). Used for SIGTERM.
 */
csm_err csm_httpd_shutdown(csm_httpd *s, void (*done)(void *arg), void *arg);

void csm_httpd_free(csm_httpd *s);

#endif
