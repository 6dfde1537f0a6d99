/*
 * HTTP server on libevent 2.1's evhttp.
 *
 * Connection accounting. evhttp 2.1 has no hook that fires once per
 * connection with the connection object, so the server pieces one together:
 *
 *   - evhttp asks httpd_bevcb() for the bufferevent of every accepted
 *     connection. That is the one place bufferevents are created (TLS will
 *     swap in bufferevent_openssl there). It records the bufferevent in a
 *     pending httpd_conn, holds a reference on it and activates adopt_ev.
 *   - adopt_ev runs in the same loop pass, before the new socket has been
 *     polled, so before any request on it can be parsed. It finds the
 *     evhttp_connection through the bufferevent's callback argument (evhttp
 *     installs its callbacks with the connection as argument), sets a close
 *     callback and enforces the connection cap. A bufferevent whose callbacks
 *     are gone was freed by evhttp in the meantime; the reference we held
 *     keeps that check safe.
 *   - The close callback fires on every teardown path of an incoming
 *     connection (response done with Connection: close, client gone,
 *     timeout, evhttp_free), so the count cannot drift.
 *
 * In-flight responses. A request is in flight from the moment its handler
 * runs until evhttp reports the response written (on_complete) or the
 * connection dies (close callback with `busy` set); evhttp never calls
 * on_complete for a response abandoned by a disconnect. Handlers reply
 * synchronously, so a connection has at most one response in flight.
 *
 * Zero copy. The plain sink hands each referenced block to the response
 * buffer with evbuffer_add_reference(); the block's release runs from the
 * chain's cleanup when libevent drains it after writing, or when the buffer
 * is freed with an abandoned connection, so exactly once on every path.
 *
 * Held requests. With access control, a request whose answer needs the API
 * server is held: the handler returns without replying and the reply comes
 * from the review's completion. evhttp 2.1 reads nothing while a handler
 * has not replied, so it would not notice the client leaving; and if data
 * did arrive, its read callback would abort the process (it treats input
 * in that state as impossible). So while a request is held the server does
 * what evhttp itself does while writing a response: it switches the read
 * callback off and keeps reading enabled (capped by a watermark), so that
 * EOF, errors and the inactivity timeout reach evhttp's event callback.
 * evhttp then detaches the request from the connection and frees the
 * connection; our close callback cancels the wait and frees the request,
 * which nobody else will (evhttp only frees it when it is replied to).
 * evhttp restores its read callback itself once the reply is written.
 *
 * Deadlines. Each connection has one timer: TLS handshake, then the first
 * request's headers, then the response (response_ms plus the body's size
 * at min_rate, see csm_httpd_limits), then (after each response) the next
 * request's headers. A deadline that passes closes the connection, so a
 * client trickling bytes, or reading them a byte at a time, cannot keep a
 * connection slot for longer than that. The timer covers every reading
 * phase, so the bufferevent has no read timeout (evhttp's one timeout
 * would cut a download that takes longer than it, since the client sends
 * nothing meanwhile); its write timeout is idle_ms of no progress.
 *
 * Connection pressure. Every adopted connection sits in one of two queues
 * in the order it entered it: `waiting` (handshake or request headers not
 * complete) or `idle` (kept alive between requests); a connection whose
 * request is being answered is in neither. At the cap a newcomer evicts
 * the head of `waiting`, else the head of `idle`, else it is closed: a
 * flood of half-open connections only ever displaces itself, while a
 * client that sends its request right away (a probe, Prometheus) gets it
 * answered unless `max_connections` newer connections arrive within its
 * round trip. A per-address count (hash of peers) caps any one client.
 * Each connection reads at most HTTPD_READ_MAX bytes ahead (a watermark
 * set at adoption): evhttp keeps reading while it writes a response, so a
 * client that pipelines requests and never reads would otherwise make the
 * server buffer whatever it sends.
 */
#include "serve/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/crypto.h>

#include "base/clock.h"
#include "store/gzcat.h"
#include "store/store.h"

/* ---- Limits, in one place. ----------------------------------------------- */

/* Request line plus headers. Prometheus sends well under 1 KiB. */
#define HTTPD_MAX_HEADERS_SIZE (16 * 1024)
/* No endpoint takes a body; a small one is read and answered with 405. */
#define HTTPD_MAX_BODY_SIZE 1024
/* evhttp 2.1 has a single inactivity timeout that covers reading a request,
 * writing a response and idling on a kept-alive connection. 60 s outlasts
 * common scrape intervals, so Prometheus reuses its connection. */
#define HTTPD_TIMEOUT_MS 60000
/* A TLS handshake takes a round trip or two; 10 s is generous. */
#define HTTPD_HANDSHAKE_MS 10000
/* Prometheus sends its request headers in one segment. */
#define HTTPD_READ_HEADER_MS 10000
/* Input read ahead of the request being answered (pipelined requests),
 * on every connection; beyond it the server stops reading until evhttp
 * consumes some. More than headers plus body, so evhttp's own size checks
 * (431/413) fire before the watermark can stall a request. */
#define HTTPD_READ_MAX (64 * 1024)
#define HTTPD_REALM    "Bearer realm=\"crd-state-metrics\""
/* Until csm_httpd_set_limits() says otherwise. */
#define HTTPD_MAX_CONNECTIONS 512
/* Every response may take this long, plus its body at the minimum rate:
 * 64 KiB/s moves a 20 MB scrape in about five minutes. */
#define HTTPD_RESPONSE_MS 60000
#define HTTPD_MIN_RATE    (64 * 1024)
/* Deadlines are capped here (a day) so that the arithmetic stays in int. */
#define HTTPD_DEADLINE_MAX_MS (24 * 3600 * 1000)
/* Buckets of the per-address connection count (power of two). */
#define HTTPD_PEER_BUCKETS 1024
/* File descriptors kept for everything but the listeners' connections. */
#define HTTPD_FD_RESERVE 256
/* The most connections the defaults give a server (about 2 KiB of memory
 * each when idle, up to HTTPD_READ_MAX when reading). */
#define HTTPD_DEFAULT_CAP_MAX   65536
#define HTTPD_TELEMETRY_CAP_MAX 1024
/* After accept() fails (out of descriptors), the listener pauses this long
 * instead of spinning on a socket it cannot accept from. */
#define HTTPD_ACCEPT_PAUSE_MS 100
/* evhttp listens with a backlog of 128. A flood that redials in waves (the
 * slow-loris test: 3,000 sockets) overflows that queue between two turns of
 * the loop, and the kernel drops the SYN of a liveness probe that arrives
 * then: the probe waits out the 1 s SYN retransmit. The kernel clamps this to
 * net.core.somaxconn (4096 by default since Linux 5.4). */
#define HTTPD_LISTEN_BACKLOG 4096
/* Paths the server does not serve are authorized as this one path, so
 * that unique unknown paths cannot fill the SubjectAccessReview cache. */
#define HTTPD_UNKNOWN_PATH "/unknown-path"
/* Fast compression: scrape latency matters more than a few percent of
 * size, and metric text compresses well at any level. */
#define HTTPD_GZIP_LEVEL 1
/* Text (not segments) collected before it is compressed as one run. */
#define HTTPD_GZIP_CHUNK (64 * 1024)
/* Runs of text up to this size go into a gzip response uncompressed (as
 * stored blocks): family headers between cached segment pieces. */
#define HTTPD_GZIP_STORE_MAX 1024
/* Most bytes written per write callback (see tune_connection()). 16 times
 * libevent's default; 4 MiB filled the socket buffer in one go, and a
 * client reading at a few MB/s then saw no write event within a 300 ms
 * write timeout (check-httpd's test_response_deadline). */
#define HTTPD_MAX_SINGLE_WRITE (256 * 1024)
/* Reason text from handlers->ready. */
#define HTTPD_READY_WHY_MAX 1024
/* Methods evhttp passes to the dispatcher; ours answer the non-GET/HEAD
 * ones with 405 and an Allow header. Anything else gets evhttp's error. */
#define HTTPD_METHODS                                                                              \
    (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |     \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH)

#define DURATION_NAME "crd_state_metrics_http_request_duration_seconds"

static const double duration_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,   1,    2.5,   5,    10};

typedef enum route {
    ROUTE_INDEX = 0,
    ROUTE_METRICS,
    ROUTE_HEALTHZ,
    ROUTE_LIVEZ,
    ROUTE_READYZ,
    ROUTE_OTHER, /* 404; also the handler label for it */
} route;

static const struct {
    const char *path;
    const char *label;
} routes[] = {
    [ROUTE_INDEX] = {"/", "index"},
    [ROUTE_METRICS] = {"/metrics", "metrics"},
    [ROUTE_HEALTHZ] = {"/healthz", "healthz"},
    [ROUTE_LIVEZ] = {"/livez", "livez"},
    [ROUTE_READYZ] = {"/readyz", "readyz"},
    [ROUTE_OTHER] = {NULL, "other"},
};

/* What the connection's deadline timer is waiting for. */
typedef enum conn_phase {
    PHASE_HANDSHAKE = 0, /* the TLS handshake */
    PHASE_HEADERS,       /* the first request's headers */
    PHASE_BUSY,          /* the response being written (or access control) */
    PHASE_IDLE,          /* the next request's headers */
} conn_phase;

/* The eviction queues (see the top of the file). */
typedef enum conn_queue {
    QUEUE_WAITING = 0,
    QUEUE_IDLE,
    NQUEUES,
    QUEUE_NONE = NQUEUES,
} conn_queue;

typedef struct httpd_conn httpd_conn;

typedef struct httpd_peer httpd_peer;
struct httpd_peer {
    httpd_peer *next;
    unsigned char addr[16]; /* IPv6, or IPv4 mapped into it */
    size_t n;               /* adopted connections from addr */
};

typedef struct conn_list {
    httpd_conn *head; /* oldest */
    httpd_conn *tail;
} conn_list;

struct httpd_conn {
    httpd_conn *prev;
    httpd_conn *next;
    /* Position in s->queues[queue] unless queue is QUEUE_NONE. */
    httpd_conn *qprev;
    httpd_conn *qnext;
    conn_queue queue;
    httpd_peer *peer; /* NULL until adopted */
    int fd;           /* -1 until adopted */
    csm_httpd *s;
    /* Set (and referenced) until adoption; NULL afterwards. */
    struct bufferevent *bev;
    /* NULL until adopted. */
    struct evhttp_connection *evcon;
    /* A response on this connection is in flight. */
    int busy;
    /* Close at adoption: TLS was wanted but could not be set up. */
    int reject;
    conn_phase phase;
    struct event *deadline;
    /* A request held for access control (see the top of the file). */
    struct evhttp_request *held;
    csm_auth_wait *wait;
    int held_route;
    int held_soft;  /* /readyz with credentials: detail or status only */
    double held_t0; /* csm_clock_mono() at arrival */
};

/* Telemetry of the connection limits; all NULL without telemetry. */
typedef struct httpd_tel {
    csm_tel_family *open;
    csm_tel_family *evicted;
    csm_tel_family *refused;
    csm_tel_family *deadlines;
    csm_tel_family *accept_errors;
} httpd_tel;

struct csm_httpd {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock; /* NULL once shut down */
    /* A copy: callers tend to build the struct on the stack. */
    csm_httpd_handlers h;
    csm_log *log;
    csm_tel_family *duration; /* NULL without telemetry */
    int port;
    csm_httpd_limits limits;
    int priority; /* of new connections' bufferevents; -1: the base's default */

    httpd_conn *conns; /* pending and adopted connections */
    size_t nconns;
    size_t nadopted; /* the ones counted against the caps */
    size_t inflight;
    struct event *adopt_ev;
    int cap_warned;  /* the cap was hit and logged; reset below the cap */
    int peer_warned; /* likewise for the per-client cap */
    conn_list queues[NQUEUES];
    httpd_peer *peers[HTTPD_PEER_BUCKETS];
    /* Adopted connections by file descriptor: finding a request's
     * connection is O(1) however many are open. Grown on demand. */
    httpd_conn **byfd;
    size_t nbyfd;
    csm_httpd_stats stats;
    httpd_tel tel;
    struct event *accept_pause;

    int stopping;
    int freeing;
    int done_called;
    void (*done)(void *arg);
    void *done_arg;
    struct event *done_ev;
};

/* ---- Connections. -------------------------------------------------------- */

/*
 * The single place bufferevents for accepted connections are created.
 * evhttp sets the fd after this returns.
 */
static struct bufferevent *httpd_new_bufferevent(csm_httpd *s, struct event_base *base)
{
    if (s->h.tls)
        return csm_tls_bufferevent_new(s->h.tls, base);
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static void tel_open(csm_httpd *s)
{
    if (s->tel.open)
        csm_tel_set(s->tel.open, NULL, (double)s->nadopted);
}

static void queue_remove(httpd_conn *c)
{
    conn_list *l;

    if (c->queue == QUEUE_NONE)
        return;
    l = &c->s->queues[c->queue];
    if (c->qprev)
        c->qprev->qnext = c->qnext;
    else
        l->head = c->qnext;
    if (c->qnext)
        c->qnext->qprev = c->qprev;
    else
        l->tail = c->qprev;
    c->qprev = NULL;
    c->qnext = NULL;
    c->queue = QUEUE_NONE;
}

/* Moves c to the tail (newest end) of queue q. */
static void queue_push(httpd_conn *c, conn_queue q)
{
    conn_list *l = &c->s->queues[q];

    queue_remove(c);
    c->queue = q;
    c->qprev = l->tail;
    if (l->tail)
        l->tail->qnext = c;
    else
        l->head = c;
    l->tail = c;
}

/* The peer's address as 16 bytes (IPv4 mapped into IPv6), or all zero
 * when it cannot be read (every such connection shares one count). */
static void peer_addr(int fd, unsigned char out[16])
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    memset(out, 0, 16);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET6) {
        memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    } else if (ss.ss_family == AF_INET) {
        out[10] = 0xff;
        out[11] = 0xff;
        memcpy(out + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    }
}

static size_t peer_bucket(const unsigned char addr[16])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ addr[i]) * 16777619u;
    return h & (HTTPD_PEER_BUCKETS - 1);
}

/* The count for addr, created at zero; NULL on allocation failure. */
static httpd_peer *peer_get(csm_httpd *s, const unsigned char addr[16])
{
    size_t b = peer_bucket(addr);
    httpd_peer *p;

    for (p = s->peers[b]; p; p = p->next) {
        if (memcmp(p->addr, addr, 16) == 0)
            return p;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    memcpy(p->addr, addr, 16);
    p->next = s->peers[b];
    s->peers[b] = p;
    return p;
}

static void peer_put(csm_httpd *s, httpd_peer *p)
{
    httpd_peer **pp;

    if (!p || --p->n > 0)
        return;
    for (pp = &s->peers[peer_bucket(p->addr)]; *pp && *pp != p; pp = &(*pp)->next)
        ;
    if (*pp)
        *pp = p->next;
    free(p);
}

/* Records c under its descriptor; CSM_ERR_NOMEM leaves c unrecorded. */
static csm_err byfd_set(csm_httpd *s, httpd_conn *c)
{
    size_t n = s->nbyfd ? s->nbyfd : 64;
    httpd_conn **v;

    if (c->fd < 0)
        return CSM_ERR_INVALID;
    if ((size_t)c->fd >= s->nbyfd) {
        while (n <= (size_t)c->fd)
            n *= 2;
        v = realloc(s->byfd, n * sizeof(*v));
        if (!v)
            return CSM_ERR_NOMEM;
        memset(v + s->nbyfd, 0, (n - s->nbyfd) * sizeof(*v));
        s->byfd = v;
        s->nbyfd = n;
    }
    s->byfd[c->fd] = c;
    return CSM_OK;
}

static void conn_forget(httpd_conn *c)
{
    csm_httpd *s = c->s;

    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    queue_remove(c);
    if (c->fd >= 0 && (size_t)c->fd < s->nbyfd && s->byfd[c->fd] == c)
        s->byfd[c->fd] = NULL;
    if (c->peer) {
        peer_put(s, c->peer);
        s->nadopted--;
        s->stats.open = s->nadopted;
        tel_open(s);
    }
    if (s->nadopted < (size_t)s->limits.max_connections)
        s->cap_warned = 0;
    if (c->bev)
        bufferevent_decref(c->bev);
    if (c->deadline)
        event_free(c->deadline);
    free(c);
}

static void maybe_done(csm_httpd *s)
{
    if (s->stopping && !s->freeing && !s->done_called && s->inflight == 0) {
        s->done_called = 1;
        /* Deferred to a fresh loop pass so done() may free the server. */
        event_active(s->done_ev, EV_TIMEOUT, 1);
    }
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    csm_httpd *s = arg;
    (void)fd;
    (void)what;
    if (s->done)
        s->done(s->done_arg);
}

static void arm_deadline(httpd_conn *c, conn_phase phase, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    c->phase = phase;
    if (c->deadline)
        evtimer_add(c->deadline, &tv);
}

/* response_ms plus `bytes` at min_rate, capped at a day. */
static int response_deadline_ms(const csm_httpd *s, size_t bytes)
{
    double ms = (double)s->limits.response_ms + (double)bytes * 1000.0 / (double)s->limits.min_rate;
    return ms < HTTPD_DEADLINE_MAX_MS ? (int)ms : HTTPD_DEADLINE_MAX_MS;
}

/* The reply to c's request was handed to evhttp: its deadline now counts
 * the body waiting to be written. */
static void arm_response_deadline(httpd_conn *c)
{
    struct bufferevent *bev;

    if (!c || !c->busy || !c->evcon || c->held)
        return;
    bev = evhttp_connection_get_bufferevent(c->evcon);
    arm_deadline(c, PHASE_BUSY,
                 response_deadline_ms(c->s, evbuffer_get_length(bufferevent_get_output(bev))));
}

/* A response stopped being in flight (written or abandoned). */
static void conn_idle(httpd_conn *c)
{
    if (!c->busy)
        return;
    c->busy = 0;
    c->s->inflight--;
    maybe_done(c->s);
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
    httpd_conn *c = arg;
    (void)evcon;
    csm_auth_cancel(c->wait);
    c->wait = NULL;
    /* A held request that evhttp detached (client gone, timeout) is ours
     * to free; one still attached (evhttp_free) is freed by evhttp. */
    if (c->held && !evhttp_request_get_connection(c->held))
        evhttp_request_free(c->held);
    c->held = NULL;
    if (c->busy && c->fd >= 0) {
        /* A response abandoned (deadline, write timeout, server freed):
         * reset rather than close, or the kernel would go on sending what
         * its buffers hold (megabytes) at the client's pace. */
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    conn_idle(c);
    conn_forget(c);
}

static const char *phase_missed(conn_phase p)
{
    switch (p) {
    case PHASE_HANDSHAKE:
        return "did not complete the TLS handshake";
    case PHASE_HEADERS:
        return "did not send its request headers";
    case PHASE_IDLE:
        return "did not send its next request";
    case PHASE_BUSY:
        return "did not read its response";
    }
    return "timed out";
}

static const char *phase_label(conn_phase p)
{
    switch (p) {
    case PHASE_HANDSHAKE:
        return "handshake";
    case PHASE_HEADERS:
        return "headers";
    case PHASE_IDLE:
        return "idle";
    case PHASE_BUSY:
        return "response";
    }
    return "other";
}

static void conn_deadline(evutil_socket_t fd, short what, void *arg)
{
    httpd_conn *c = arg;
    csm_httpd *s = c->s;
    struct bufferevent *bev;
    (void)fd;
    (void)what;

    if (!c->evcon)
        return;
    bev = evhttp_connection_get_bufferevent(c->evcon);
    if (c->phase == PHASE_HANDSHAKE && csm_tls_handshake_done(bev)) {
        arm_deadline(c, PHASE_HEADERS, s->limits.read_header_ms);
        return;
    }
    csm_logf(s->log, CSM_LOG_DEBUG, "http: closing a connection that %s in time",
             phase_missed(c->phase));
    s->stats.deadline_closed++;
    csm_tel_count(s->tel.deadlines, phase_label(c->phase), NULL);

    /* Runs the close callback, which frees c (and this timer). */
    evhttp_connection_free(c->evcon);
}

static struct bufferevent *httpd_bevcb(struct event_base *base, void *arg)
{
    csm_httpd *s = arg;
    struct bufferevent *bev = httpd_new_bufferevent(s, base);
    int reject = 0;
    httpd_conn *c;

    if (!bev && s->h.tls) {
        /* Returning NULL would make evhttp serve this connection in clear
         * text; a plain bufferevent that adoption closes does not. */
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        reject = 1;
    }
    if (!bev)
        return NULL; /* evhttp falls back to its own bufferevent, untracked */
    if (s->priority >= 0)
        bufferevent_priority_set(bev, s->priority); /* checked by csm_httpd_set_priority() */
    c = calloc(1, sizeof(*c));
    if (c)
        c->deadline = evtimer_new(base, conn_deadline, c);
    if (!c || !c->deadline) {
        free(c);
        return bev; /* served, just not counted; httpd_request refuses clear text */
    }
    c->s = s;
    c->bev = bev;
    c->reject = reject;
    c->fd = -1;
    c->queue = QUEUE_NONE;
    bufferevent_incref(bev);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (s->h.tls)
        arm_deadline(c, PHASE_HANDSHAKE, s->limits.handshake_ms);
    else
        arm_deadline(c, PHASE_HEADERS, s->limits.read_header_ms);
    event_active(s->adopt_ev, EV_TIMEOUT, 1);
    return bev;
}

/* Frees the oldest connection that has not sent its request headers, else
 * the oldest idle one; 0 if there is none. */
static int evict_one(csm_httpd *s)
{
    for (int q = 0; q < NQUEUES; q++) {
        httpd_conn *v = s->queues[q].head;
        if (!v)
            continue;
        if (q == QUEUE_WAITING)
            s->stats.evicted_waiting++;
        else
            s->stats.evicted_idle++;
        csm_tel_count(s->tel.evicted, q == QUEUE_WAITING ? "waiting" : "idle", NULL);
        csm_logf(s->log, s->cap_warned ? CSM_LOG_DEBUG : CSM_LOG_WARN,
                 "http: %ld connections open, evicting the oldest %s one%s",
                 s->limits.max_connections,
                 q == QUEUE_WAITING ? "without complete request headers" : "idle",
                 s->cap_warned ? "" : " (further evictions are logged at debug level)");
        s->cap_warned = 1;
        evhttp_connection_free(v->evcon); /* the close callback forgets v */
        return 1;
    }
    return 0;
}

/* Closes the newly adopted c at once (counted by the caller). */
static void refuse(httpd_conn *c, struct evhttp_connection *evcon)
{
    /* Forget first: evhttp_connection_free() would run the close callback,
     * but not being tracked must not depend on that. */
    conn_forget(c);
    evhttp_connection_free(evcon);
}

/* Links one pending connection to its evhttp_connection, or drops it. */
static void conn_adopt(httpd_conn *c)
{
    csm_httpd *s = c->s;
    void *evcon = NULL;
    struct bufferevent *bev = c->bev;
    struct timeval wtv;
    unsigned char addr[16];

    bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
    if (!evcon) {
        conn_forget(c); /* evhttp already freed it */
        return;
    }
    bufferevent_decref(bev);
    c->bev = NULL;
    c->evcon = evcon;
    if (c->reject) {
        csm_logf(s->log, CSM_LOG_ERROR, "http: cannot set up TLS for a new connection");
        refuse(c, evcon);
        return;
    }
    c->fd = (int)bufferevent_getfd(bev);
    peer_addr(c->fd, addr);
    c->peer = peer_get(s, addr);
    if (!c->peer || byfd_set(s, c) != CSM_OK) {
        c->peer = NULL;
        refuse(c, evcon);
        return;
    }
    c->peer->n++;
    s->nadopted++;
    if (c->peer->n > (size_t)s->limits.max_per_client) {
        s->stats.refused_per_client++;
        csm_tel_count(s->tel.refused, "per_client", NULL);
        csm_logf(s->log, s->peer_warned ? CSM_LOG_DEBUG : CSM_LOG_WARN,
                 "http: a client has %ld connections open, closing its new ones%s",
                 s->limits.max_per_client,
                 s->peer_warned ? "" : " (further ones are logged at debug level)");
        s->peer_warned = 1;
        refuse(c, evcon);
        return;
    }
    if (s->nadopted > (size_t)s->limits.max_connections && !evict_one(s)) {
        s->stats.refused_capacity++;
        csm_tel_count(s->tel.refused, "capacity", NULL);
        csm_logf(s->log, CSM_LOG_DEBUG,
                 "http: %ld connections open and all busy, closing a new one",
                 s->limits.max_connections);
        refuse(c, evcon);
        return;
    }
    if (s->nadopted > s->stats.peak)
        s->stats.peak = s->nadopted;
    s->stats.open = s->nadopted;
    tel_open(s);
    queue_push(c, QUEUE_WAITING);
    /* No read timeout (the deadline timer covers reading); writing must
     * make progress every idle_ms. */
    wtv.tv_sec = s->limits.idle_ms / 1000;
    wtv.tv_usec = (s->limits.idle_ms % 1000) * 1000;
    bufferevent_set_timeouts(bev, NULL, &wtv);
    bufferevent_setwatermark(bev, EV_READ, 0, HTTPD_READ_MAX);
    evhttp_connection_set_closecb(evcon, conn_closed, c);
}

static void adopt_cb(evutil_socket_t fd, short what, void *arg)
{
    csm_httpd *s = arg;
    httpd_conn *c = s->conns;
    httpd_conn *prev;
    (void)fd;
    (void)what;

    /* Pending connections are a prefix of the list (new ones are linked
     * at the head, and every pass adopts them all), newest first. They are
     * adopted oldest first, so that the queues keep accept order. Adopting
     * one may evict an adopted connection, never a pending one, so the
     * prev links inside the prefix stay valid. */
    if (!c || c->evcon)
        return;
    while (c->next && !c->next->evcon)
        c = c->next;
    for (; c; c = prev) {
        prev = c->prev;
        conn_adopt(c);
    }
}

/* O(1): adopted connections are indexed by descriptor. */
static httpd_conn *conn_of(csm_httpd *s, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    evutil_socket_t fd;
    httpd_conn *c;

    if (!evcon)
        return NULL;
    fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    if (fd < 0 || (size_t)fd >= s->nbyfd)
        return NULL;
    c = s->byfd[fd];
    return c && c->evcon == evcon ? c : NULL;
}

static void request_complete(struct evhttp_request *req, void *arg)
{
    httpd_conn *c = arg;
    (void)req;
    conn_idle(c);
    queue_push(c, QUEUE_IDLE);
    /* If the connection is closing, the close callback frees the timer. */
    arm_deadline(c, PHASE_IDLE, c->s->limits.idle_ms);
}

/* Marks the response to req as in flight until it is written or dropped;
 * returns its connection (NULL for an untracked one). */
static httpd_conn *track_request(csm_httpd *s, struct evhttp_request *req)
{
    httpd_conn *c = conn_of(s, req);

    if (!c)
        return NULL; /* untracked connection: cannot see it die, so not counted */
    c->busy = 1;
    s->inflight++;
    evhttp_request_set_on_complete_cb(req, request_complete, c);
    queue_remove(c);
    /* Until the reply is known: access control must answer in time too. */
    arm_deadline(c, PHASE_BUSY, response_deadline_ms(s, 0));
    return c;
}

/* ---- Sinks. -------------------------------------------------------------- */

typedef struct plain_sink {
    csm_sink base;
    struct evbuffer *out;
} plain_sink;

/* What an evbuffer reference needs to release its block. One small
 * allocation per referenced block; freed by ref_cleanup(). */
typedef struct ref_hold {
    void (*release)(void *owner);
    void *owner;
} ref_hold;

static void ref_cleanup(const void *data, size_t len, void *extra)
{
    ref_hold *h = extra;
    (void)data;
    (void)len;
    h->release(h->owner);
    free(h);
}

/* The cleanup of a reference into a segment (its text or its gzip piece):
 * the segment is the owner itself, so no ref_hold is needed. */
static void seg_cleanup(const void *data, size_t len, void *extra)
{
    (void)data;
    (void)len;
    csm_seg_unref(extra);
}

/* Appends [p, p+n) of seg by reference, holding a reference on seg. */
static csm_err add_seg_ref(struct evbuffer *out, csm_seg *seg, const void *p, size_t n)
{
    csm_seg_ref(seg);
    /* On failure evbuffer_add_reference() does not run the cleanup. */
    if (evbuffer_add_reference(out, p, n, seg_cleanup, seg) != 0) {
        csm_seg_unref(seg);
        return CSM_ERR_NOMEM;
    }
    return CSM_OK;
}

static csm_err plain_text(csm_sink *sink, const char *p, size_t n)
{
    plain_sink *ps = (plain_sink *)sink;
    if (n == 0)
        return CSM_OK;
    return evbuffer_add(ps->out, p, n) == 0 ? CSM_OK : CSM_ERR_NOMEM;
}

static csm_err plain_ref(csm_sink *sink, const char *p, size_t n, void (*release)(void *owner),
                         void *owner)
{
    plain_sink *ps = (plain_sink *)sink;
    ref_hold *h;

    if (n == 0) {
        release(owner);
        return CSM_OK;
    }
    h = malloc(sizeof(*h));
    if (!h) {
        release(owner);
        return CSM_ERR_NOMEM;
    }
    h->release = release;
    h->owner = owner;
    /* On failure evbuffer_add_reference() does not run the cleanup. */
    if (evbuffer_add_reference(ps->out, p, n, ref_cleanup, h) != 0) {
        free(h);
        release(owner);
        return CSM_ERR_NOMEM;
    }
    return CSM_OK;
}

static csm_err plain_seg(csm_sink *sink, csm_seg *seg, size_t fam)
{
    plain_sink *ps = (plain_sink *)sink;
    size_t n;
    const char *p = csm_seg_slice(seg, fam, &n);

    if (n == 0)
        return CSM_OK;
    return add_seg_ref(ps->out, seg, p, n);
}

/*
 * The gzip sink stitches one gzip stream (see gzcat.h): a segment's family
 * goes in as its cached piece, by reference, compressed at most once per
 * change of the segment; other text collects in `pending` and goes in
 * before the next piece or at the end, as stored blocks when it is small
 * (family headers: no compression at all) or deflated afresh (telemetry,
 * tests' bodies). Each deflated run starts from an empty window, since the
 * decompressed history before it holds pieces this stream did not see.
 */
typedef struct gzip_sink {
    csm_sink base;
    struct evbuffer *out;
    csm_gzcat cat;
    csm_buf pending;
} gzip_sink;

static csm_err gzip_add_stored(gzip_sink *g, const char *p, size_t n)
{
    unsigned char hdr[CSM_GZ_STORED_LEN];

    csm_gzcat_add_text(&g->cat, p, n);
    while (n) {
        size_t slice = n < CSM_GZ_STORED_MAX ? n : CSM_GZ_STORED_MAX;
        csm_gz_stored_header(hdr, slice);
        if (evbuffer_add(g->out, hdr, sizeof(hdr)) != 0 || evbuffer_add(g->out, p, slice) != 0)
            return CSM_ERR_NOMEM;
        p += slice;
        n -= slice;
    }
    return CSM_OK;
}

static csm_err gzip_flush(gzip_sink *g)
{
    csm_gzpiece pc;
    csm_err err = CSM_OK;

    if (g->pending.len == 0)
        return CSM_OK;
    if (g->pending.len <= HTTPD_GZIP_STORE_MAX) {
        err = gzip_add_stored(g, g->pending.ptr, g->pending.len);
    } else {
        err = csm_gz_piece_deflate(g->pending.ptr, g->pending.len, HTTPD_GZIP_LEVEL, &pc);
        if (!err) {
            csm_gzcat_add_piece(&g->cat, &pc);
            if (evbuffer_add(g->out, pc.data, pc.len) != 0)
                err = CSM_ERR_NOMEM;
            csm_gz_piece_free(&pc);
        }
    }
    csm_buf_reset(&g->pending);
    return err;
}

static csm_err gzip_text(csm_sink *sink, const char *p, size_t n)
{
    gzip_sink *g = (gzip_sink *)sink;
    csm_err err;

    if (n == 0)
        return CSM_OK;
    /* Larger runs compress better; past the chunk size, flush. */
    err = csm_buf_append(&g->pending, p, n);
    if (!err && g->pending.len >= HTTPD_GZIP_CHUNK)
        err = gzip_flush(g);
    return err;
}

/* Compressing copies, so the block is released right away. */
static csm_err gzip_ref(csm_sink *sink, const char *p, size_t n, void (*release)(void *owner),
                        void *owner)
{
    csm_err err = gzip_text(sink, p, n);
    release(owner);
    return err;
}

static csm_err gzip_seg(csm_sink *sink, csm_seg *seg, size_t fam)
{
    gzip_sink *g = (gzip_sink *)sink;
    const csm_gzpiece *pc;
    csm_err err = gzip_flush(g);

    if (!err)
        err = csm_seg_gzip(seg, fam, &pc);
    if (err)
        return err;
    if (pc->raw_len == 0)
        return CSM_OK;
    csm_gzcat_add_piece(&g->cat, pc);
    return add_seg_ref(g->out, seg, pc->data, pc->len);
}

static csm_err gzip_begin(gzip_sink *g, struct evbuffer *out)
{
    unsigned char hdr[CSM_GZ_HEADER_LEN];

    memset(g, 0, sizeof(*g));
    g->base.text = gzip_text;
    g->base.ref = gzip_ref;
    g->base.seg = gzip_seg;
    g->out = out;
    /* A run is flushed once it reaches HTTPD_GZIP_CHUNK, so one append
     * beyond that is the most it holds... plus that append itself. */
    csm_buf_init(&g->pending, SIZE_MAX / 4);
    csm_gzcat_init(&g->cat);
    csm_gz_header(hdr);
    return evbuffer_add(out, hdr, sizeof(hdr)) == 0 ? CSM_OK : CSM_ERR_NOMEM;
}

static csm_err gzip_finish(gzip_sink *g)
{
    unsigned char tr[CSM_GZ_TRAILER_LEN];
    csm_err err = gzip_flush(g);

    if (err)
        return err;
    csm_gz_trailer(&g->cat, tr);
    return evbuffer_add(g->out, tr, sizeof(tr)) == 0 ? CSM_OK : CSM_ERR_NOMEM;
}

static void gzip_end(gzip_sink *g)
{
    csm_buf_free(&g->pending);
}

/*
 * Per-connection socket settings for answering, applied on the first
 * response of a connection (the bufferevent's write maximum tells whether
 * this one was seen). TCP_NODELAY: a response leaves in several writes, and
 * with Nagle the last small one waits for the client's delayed ACK (about
 * 40 ms per kept-alive scrape). The write maximum: libevent writes at most
 * 16 KiB per write callback by default, one loop pass and one write(2) (one
 * SSL_write per slice with TLS) per 16 KiB; large writes let a segment go
 * out in one writev(2) or a few large SSL_writes.
 */
static void tune_connection(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd;
    int one = 1;

    if (!bev || bufferevent_get_max_single_write(bev) == HTTPD_MAX_SINGLE_WRITE)
        return;
    bufferevent_set_max_single_write(bev, HTTPD_MAX_SINGLE_WRITE);
    fd = bufferevent_getfd(bev);
    /* Best effort: a UNIX socket (tests) has no Nagle to switch off. */
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- Responses. ---------------------------------------------------------- */

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

/* Sends what is in req's output buffer. Non-2xx answers are logged at debug
 * level only (a 503 from /readyz before the first sync is routine, probes
 * would flood the log); the causes of 5xx are logged at error where they
 * happen. */
static void send_reply(csm_httpd *s, struct evhttp_request *req, int code, const char *reason)
{
    if (code < 200 || code >= 300) {
        csm_logf(s->log, CSM_LOG_DEBUG, "http: %s %.200s -> %d",
                 method_name(evhttp_request_get_command(req)), evhttp_request_get_uri(req), code);
    }
    evhttp_send_reply(req, code, reason, NULL);
}

/* Replies with a short plain-text body. */
static void reply_text(csm_httpd *s, struct evhttp_request *req, int code, const char *reason,
                       const char *body)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);

    evbuffer_drain(out, evbuffer_get_length(out));
    evhttp_remove_header(hdrs, "Content-Type");
    evhttp_add_header(hdrs, "Content-Type", "text/plain; charset=utf-8");
    evbuffer_add(out, body, strlen(body));
    send_reply(s, req, code, reason);
}

static void html_escape(struct evbuffer *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            evbuffer_add(out, "&lt;", 4);
            break;
        case '>':
            evbuffer_add(out, "&gt;", 4);
            break;
        case '&':
            evbuffer_add(out, "&amp;", 5);
            break;
        case '"':
            evbuffer_add(out, "&quot;", 6);
            break;
        case '\'':
            evbuffer_add(out, "&#39;", 5);
            break;
        default:
            evbuffer_add(out, s, 1);
        }
    }
}

static void handle_index(csm_httpd *s, struct evhttp_request *req)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    const char *title = s->h.title ? s->h.title : "crd-state-metrics";

    evbuffer_add_printf(out, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    html_escape(out, title);
    evbuffer_add_printf(out, "</title></head>\n<body><h1>");
    html_escape(out, title);
    evbuffer_add_printf(out, "</h1>\n<ul>\n"
                             "<li><a href=\"metrics\">/metrics</a></li>\n"
                             "<li><a href=\"healthz\">/healthz</a></li>\n"
                             "<li><a href=\"livez\">/livez</a></li>\n"
                             "<li><a href=\"readyz\">/readyz</a></li>\n"
                             "</ul>\n</body></html>\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/html; charset=utf-8");
    send_reply(s, req, HTTP_OK, "OK");
}

/* The reason text (resources, counts, API errors) is for authorized
 * clients only (detail): the others learn the status and nothing else. */
static void handle_readyz(csm_httpd *s, struct evhttp_request *req, int detail)
{
    csm_buf why;
    csm_buf body;
    int ok = 1;

    csm_buf_init(&why, HTTPD_READY_WHY_MAX);
    csm_buf_init(&body, HTTPD_READY_WHY_MAX + 64);
    if (s->h.ready)
        ok = s->h.ready(s->h.ctx, &why);
    if (csm_buf_puts(&body, ok ? "ok" : "not ready") == CSM_OK && why.len && detail)
        csm_buf_printf(&body, ": %s", csm_buf_str(&why));
    csm_buf_putc(&body, '\n');
    reply_text(s, req, ok ? HTTP_OK : HTTP_SERVUNAVAIL, ok ? "OK" : "Service Unavailable",
               csm_buf_str(&body));
    csm_buf_free(&why);
    csm_buf_free(&body);
}

/*
 * GET/HEAD /metrics. The body is written straight into the request's output
 * buffer; on failure it is drained (running the release of every reference
 * already added) and replaced by a 500. HEAD gets the headers only: evhttp
 * sends neither a body nor a length for HEAD, so building one is wasted.
 */
static void handle_metrics(csm_httpd *s, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    csm_expo_format fmt = csm_expo_negotiate(evhttp_find_header(in, "Accept"));
    int gz = csm_expo_accepts_gzip(evhttp_find_header(in, "Accept-Encoding"));
    plain_sink ps = {{plain_text, plain_ref, plain_seg}, out};
    gzip_sink gs;
    csm_sink *sink = &ps.base;
    csm_err err = CSM_OK;

    memset(&gs, 0, sizeof(gs));
    evhttp_add_header(hdrs, "Content-Type", csm_expo_content_type(fmt));
    evhttp_add_header(hdrs, "Vary", "Accept, Accept-Encoding");
    if (gz)
        evhttp_add_header(hdrs, "Content-Encoding", "gzip");
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
        goto out;

    tune_connection(req);
    if (gz) {
        err = gzip_begin(&gs, out);
        if (err)
            goto out;
        sink = &gs.base;
    }
    if (!s->h.metrics) {
        err = CSM_ERR_INTERNAL;
        goto out;
    }
    err = s->h.metrics(s->h.ctx, fmt, sink);
    if (!err && fmt == CSM_EXPO_OPENMETRICS)
        err = sink->text(sink, "# EOF\n", 6);
    if (!err && gz)
        err = gzip_finish(&gs);
out:
    gzip_end(&gs);
    if (err) {
        csm_logf(s->log, CSM_LOG_ERROR, "http: building /metrics failed: %s", csm_strerror(err));
        evhttp_remove_header(hdrs, "Content-Encoding");
        reply_text(s, req, HTTP_INTERNAL, "Internal Server Error", "internal error\n");
        return;
    }
    send_reply(s, req, HTTP_OK, "OK");
}

static route route_of(const char *path)
{
    if (!path)
        return ROUTE_OTHER;
    for (int r = 0; r < ROUTE_OTHER; r++) {
        if (strcmp(path, routes[r].path) == 0)
            return (route)r;
    }
    return ROUTE_OTHER;
}

static void observe(csm_httpd *s, route r, double t0)
{
    const char *label[1] = {routes[r].label};
    if (s->duration)
        csm_tel_observe(s->duration, label, csm_clock_since(t0));
}

/* The answer to a request that passed access control (if any). */
static void serve(csm_httpd *s, struct evhttp_request *req, route r, int detail)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (r == ROUTE_OTHER) {
        reply_text(s, req, HTTP_NOTFOUND, "Not Found", "not found\n");
    } else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        reply_text(s, req, HTTP_BADMETHOD, "Method Not Allowed", "method not allowed\n");
    } else if (r == ROUTE_METRICS) {
        handle_metrics(s, req);
    } else if (r == ROUTE_READYZ) {
        handle_readyz(s, req, detail);
    } else if (r == ROUTE_INDEX) {
        handle_index(s, req);
    } else {
        reply_text(s, req, HTTP_OK, "OK", "ok\n");
    }
}

/* Answers a request according to the access-control verdict, with the
 * status csm_auth_http_status() gives it. */
static void answer(csm_httpd *s, struct evhttp_request *req, route r, csm_auth_verdict v)
{
    struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
    int code = csm_auth_http_status(v);

    switch (code) {
    case HTTP_OK:
        serve(s, req, r, 1);
        return;
    case 401:
        evhttp_add_header(hdrs, "WWW-Authenticate", HTTPD_REALM);
        reply_text(s, req, code, "Unauthorized", "unauthorized\n");
        return;
    case 403:
        reply_text(s, req, code, "Forbidden", "forbidden\n");
        return;
    case HTTP_SERVUNAVAIL:
        reply_text(s, req, code, "Service Unavailable",
                   "cannot check access: the Kubernetes API server did not answer\n");
        return;
    }
    reply_text(s, req, code, "Internal Server Error", "cannot check access\n");
}

/* The Authorization header is not needed once access control has read it;
 * wiping it keeps the token out of memory that outlives the request. */
static void wipe_authorization(struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);

    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
        if (strcasecmp(kv->key, "Authorization") == 0 && kv->value)
            OPENSSL_cleanse(kv->value, strlen(kv->value));
    }
}

/* A /readyz request with credentials on an always-allowed path: the
 * status for anyone, the detail if the credentials may get /metrics. */
static void answer_soft(csm_httpd *s, struct evhttp_request *req, route r, csm_auth_verdict v)
{
    serve(s, req, r, v == CSM_AUTH_ALLOW);
}

/* Holds req on c until auth_done (see the top of the file). Reading stays
 * capped by the connection's watermark (HTTPD_READ_MAX). */
static void hold(httpd_conn *c, struct evhttp_request *req, route r, int soft, double t0)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    bufferevent_data_cb writecb = NULL;
    bufferevent_event_cb eventcb = NULL;
    void *cbarg = NULL;

    c->held = req;
    c->held_route = r;
    c->held_soft = soft;
    c->held_t0 = t0;
    bufferevent_getcb(bev, NULL, &writecb, &eventcb, &cbarg);
    bufferevent_setcb(bev, NULL, writecb, eventcb, cbarg);
    bufferevent_enable(bev, EV_READ);
}

static void auth_done(void *arg, csm_auth_verdict v)
{
    httpd_conn *c = arg;
    struct evhttp_request *req = c->held;
    route r = (route)c->held_route;

    c->wait = NULL;
    c->held = NULL;
    /* Reading stays enabled with the read callback off, as evhttp has it
     * while it writes the reply; it restores its callback afterwards. */
    if (c->held_soft)
        answer_soft(c->s, req, r, v);
    else
        answer(c->s, req, r, v);
    arm_response_deadline(c);
    observe(c->s, r, c->held_t0);
}

/* Access control for req; either answers it or holds it. soft: req is a
 * /readyz request on an always-allowed path (see answer_soft()). */
static void authorize(csm_httpd *s, httpd_conn *c, struct evhttp_request *req, route r,
                      const char *path, int soft, double t0)
{
    csm_tls_peer peer = {NULL, NULL, 0};
    csm_auth_input in;
    csm_auth_verdict v;

    if (!c) {
        /* An untracked connection (allocation failure) cannot be watched
         * while held; ask the client to come back. */
        if (soft)
            answer_soft(s, req, r, CSM_AUTH_UNAVAILABLE);
        else
            answer(s, req, r, CSM_AUTH_UNAVAILABLE);
        observe(s, r, t0);
        return;
    }
    memset(&in, 0, sizeof(in));
    in.method = method_name(evhttp_request_get_command(req));
    /* Unknown paths are one path to the cache (and 404 once allowed). The
     * /readyz detail is what /metrics tells too (resources, counts), so it
     * takes the right to get /metrics: Kubernetes' default RBAC lets every
     * user get /readyz itself (system:public-info-viewer). */
    in.path = soft ? routes[ROUTE_METRICS].path : r == ROUTE_OTHER ? HTTPD_UNKNOWN_PATH : path;
    in.authorization = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (s->h.tls &&
        csm_tls_peer_get(evhttp_connection_get_bufferevent(c->evcon), &peer) == CSM_OK) {
        in.cert_user = peer.cn;
        in.cert_groups = (const char *const *)peer.orgs;
        in.ncert_groups = peer.norgs;
    }
    v = csm_auth_check(s->h.auth, &in, auth_done, c, &c->wait);
    wipe_authorization(req);
    csm_tls_peer_free(&peer);
    if (v == CSM_AUTH_PENDING) {
        hold(c, req, r, soft, t0);
        return;
    }
    if (soft)
        answer_soft(s, req, r, v);
    else
        answer(s, req, r, v);
    arm_response_deadline(c);
    observe(s, r, t0);
}

/* 1 if the request carries credentials: an Authorization header or a
 * client certificate. */
static int has_credentials(csm_httpd *s, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    csm_tls_peer peer = {NULL, NULL, 0};
    int has;

    if (evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"))
        return 1;
    if (!s->h.tls || !evcon ||
        csm_tls_peer_get(evhttp_connection_get_bufferevent(evcon), &peer) != CSM_OK)
        return 0;
    has = peer.cn != NULL;
    csm_tls_peer_free(&peer);
    return has;
}

/* Every request that reaches a handler passes here. */
static void httpd_request(struct evhttp_request *req, void *arg)
{
    csm_httpd *s = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    route r = route_of(path);
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
    double t0 = csm_clock_mono();
    httpd_conn *c;

    c = track_request(s, req);
    if (s->stopping)
        evhttp_add_header(hdrs, "Connection", "close");

    if (s->h.tls && !csm_tls_is_tls(evhttp_connection_get_bufferevent(evcon))) {
        /* Only reachable if TLS could not be set up for the connection and
         * evhttp fell back to a plain one: never serve in clear text. */
        evhttp_add_header(hdrs, "Connection", "close");
        reply_text(s, req, HTTP_BADREQUEST, "Bad Request", "TLS required\n");
    } else if (s->h.auth && r == ROUTE_READYZ && csm_auth_path_always_allowed(s->h.auth, path) &&
               has_credentials(s, req) && (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)) {
        authorize(s, c, req, r, path, 1, t0);
        return; /* observed when answered */
    } else if (!s->h.auth || csm_auth_path_always_allowed(s->h.auth, path)) {
        /* Without access control everyone is authorized. */
        serve(s, req, r, !s->h.auth);
    } else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        /* Nothing is served for other methods, so there is nothing to
         * authorize: 405 tells no more than the Allow header. */
        evhttp_add_header(hdrs, "Allow", "GET, HEAD");
        reply_text(s, req, HTTP_BADMETHOD, "Method Not Allowed", "method not allowed\n");
    } else {
        authorize(s, c, req, r, path ? path : "/", 0, t0);
        return; /* observed when answered */
    }
    arm_response_deadline(c);
    observe(s, r, t0);
}

/* ---- Life cycle. --------------------------------------------------------- */

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
    csm_httpd *s = arg;
    (void)fd;
    (void)what;
    if (s->sock)
        evconnlistener_enable(evhttp_bound_socket_get_listener(s->sock));
}

/* accept() failed for another reason than a retry: out of descriptors,
 * mostly. The listening socket stays readable, so without a pause the loop
 * would spin on it; the connections already open are served meanwhile. */
static void accept_error(struct evconnlistener *l, void *arg)
{
    csm_httpd *s = arg;
    struct timeval tv = {0, HTTPD_ACCEPT_PAUSE_MS * 1000};
    int e = errno;

    s->stats.accept_errors++;
    csm_tel_count(s->tel.accept_errors, NULL, NULL);
    csm_logf(s->log, s->stats.accept_errors == 1 ? CSM_LOG_WARN : CSM_LOG_DEBUG,
             "http: cannot accept a connection: %s; pausing %d ms", strerror(e),
             HTTPD_ACCEPT_PAUSE_MS);
    evconnlistener_disable(l);
    evtimer_add(s->accept_pause, &tv);
}

static csm_err register_telemetry(csm_httpd *s, csm_telemetry *tel)
{
    static const char *const handler[] = {"handler"};
    static const char *const reason[] = {"reason"};
    static const char *const queue[] = {"queue"};
    static const char *const phase[] = {"phase"};
    csm_err err;

    err = csm_tel_histogram_add(tel, DURATION_NAME,
                                "Time to build the response to an HTTP request, by handler.", 1,
                                handler, duration_bounds,
                                sizeof(duration_bounds) / sizeof(duration_bounds[0]), &s->duration);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_http_connections",
                                 "Connections open on the metrics port.", CSM_METRIC_GAUGE, 0, NULL,
                                 &s->tel.open);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_http_connections_evicted_total",
                                 "Connections closed at the connection cap to make room, by queue "
                                 "(waiting: request headers not complete; idle: kept alive).",
                                 CSM_METRIC_COUNTER, 1, queue, &s->tel.evicted);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_http_connections_refused_total",
                                 "New connections closed at once, by reason (per_client: the "
                                 "client address was at its cap; capacity: at the cap with "
                                 "every connection busy).",
                                 CSM_METRIC_COUNTER, 1, reason, &s->tel.refused);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_http_deadline_closes_total",
                                 "Connections closed because a deadline passed, by phase "
                                 "(handshake, headers, response, idle).",
                                 CSM_METRIC_COUNTER, 1, phase, &s->tel.deadlines);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_http_accept_errors_total",
                                 "accept() failures on the metrics port (out of file "
                                 "descriptors, mostly).",
                                 CSM_METRIC_COUNTER, 0, NULL, &s->tel.accept_errors);
    if (!err)
        err = csm_tel_set(s->tel.open, NULL, 0);
    return err;
}

static csm_err bind_port(csm_httpd *s, const char *host, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    evutil_socket_t fd;

    s->sock = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    /* "::" covers IPv4 too where IPv6 is enabled (bindv6only=0); a host
     * without IPv6 gets the IPv4 wildcard instead. */
    if (!s->sock && strcmp(host, "::") == 0)
        s->sock = evhttp_bind_socket_with_handle(s->http, "0.0.0.0", (ev_uint16_t)port);
    if (!s->sock) {
        csm_logf(s->log, CSM_LOG_ERROR, "http: cannot listen on [%s]:%d: %s", host, port,
                 strerror(errno));
        return CSM_ERR_IO;
    }
    fd = evhttp_bound_socket_get_fd(s->sock);
    /* listen() again on a listening socket only changes its backlog. */
    if (listen(fd, HTTPD_LISTEN_BACKLOG) != 0) {
        csm_logf(s->log, CSM_LOG_ERROR, "http: cannot set the listen backlog on [%s]:%d: %s", host,
                 port, strerror(errno));
        return CSM_ERR_IO;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return CSM_ERR_IO;
    if (ss.ss_family == AF_INET6)
        s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return CSM_OK;
}

/* A NULL host means every interface. */
csm_err csm_httpd_new(struct event_base *base, const char *host, int port,
                      const csm_httpd_handlers *h, csm_log *log, csm_telemetry *tel,
                      csm_httpd **out)
{
    csm_httpd *s = NULL;
    struct timeval tv = {HTTPD_TIMEOUT_MS / 1000, (HTTPD_TIMEOUT_MS % 1000) * 1000};
    csm_err err = CSM_OK;

    if (!base || !h || !out || port < 0 || port > 65535)
        return CSM_ERR_INVALID;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return CSM_ERR_NOMEM;
    s->base = base;
    s->h = *h;
    s->log = log;
    s->limits.handshake_ms = HTTPD_HANDSHAKE_MS;
    s->limits.read_header_ms = HTTPD_READ_HEADER_MS;
    s->limits.idle_ms = HTTPD_TIMEOUT_MS;
    s->limits.response_ms = HTTPD_RESPONSE_MS;
    s->limits.min_rate = HTTPD_MIN_RATE;
    s->limits.max_connections = HTTPD_MAX_CONNECTIONS;
    s->limits.max_per_client = HTTPD_MAX_CONNECTIONS;
    s->priority = -1;
    if (tel) {
        err = register_telemetry(s, tel);
        if (err)
            goto out;
    }
    s->adopt_ev = event_new(base, -1, 0, adopt_cb, s);
    s->done_ev = event_new(base, -1, 0, done_cb, s);
    s->accept_pause = evtimer_new(base, accept_resume, s);
    s->http = evhttp_new(base);
    if (!s->adopt_ev || !s->done_ev || !s->accept_pause || !s->http) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    evhttp_set_max_headers_size(s->http, HTTPD_MAX_HEADERS_SIZE);
    evhttp_set_max_body_size(s->http, HTTPD_MAX_BODY_SIZE);
    evhttp_set_timeout_tv(s->http, &tv);
    evhttp_set_allowed_methods(s->http, HTTPD_METHODS);
    evhttp_set_bevcb(s->http, httpd_bevcb, s);
    evhttp_set_gencb(s->http, httpd_request, s);
    err = bind_port(s, host ? host : "::", port);
    if (err)
        goto out;
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s->sock), accept_error);
    *out = s;
    s = NULL;
out:
    csm_httpd_free(s);
    return err;
}

int csm_httpd_port(const csm_httpd *s)
{
    return s ? s->port : -1;
}

csm_err csm_httpd_set_priority(csm_httpd *s, int priority)
{
    if (!s || priority < 0 || priority >= event_base_get_npriorities(s->base))
        return CSM_ERR_INVALID;
    s->priority = priority;
    return CSM_OK;
}

void csm_httpd_set_limits(csm_httpd *s, const csm_httpd_limits *l)
{
    struct timeval tv;

    if (!s || !l)
        return;
    if (l->handshake_ms > 0)
        s->limits.handshake_ms = l->handshake_ms;
    if (l->read_header_ms > 0)
        s->limits.read_header_ms = l->read_header_ms;
    if (l->idle_ms > 0) {
        s->limits.idle_ms = l->idle_ms;
        tv.tv_sec = l->idle_ms / 1000;
        tv.tv_usec = (l->idle_ms % 1000) * 1000;
        evhttp_set_timeout_tv(s->http, &tv);
    }
    if (l->response_ms > 0)
        s->limits.response_ms = l->response_ms;
    if (l->min_rate > 0)
        s->limits.min_rate = l->min_rate;
    if (l->max_connections > 0)
        s->limits.max_connections = l->max_connections;
    if (l->max_per_client > 0)
        s->limits.max_per_client = l->max_per_client;
}

void csm_httpd_get_stats(const csm_httpd *s, csm_httpd_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (s)
        *out = s->stats;
}

csm_err csm_httpd_raise_fd_limit(long *limit)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return CSM_ERR_IO;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    if (limit)
        *limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX
                                                                                : (long)rl.rlim_cur;
    return CSM_OK;
}

void csm_httpd_default_caps(long fd_limit, long *metrics_max, long *per_client, long *telemetry_max)
{
    long budget = fd_limit - HTTPD_FD_RESERVE;
    long tel;
    long m;

    if (budget < 64)
        budget = 64; /* a tiny limit: accept errors pause the listener */
    tel = budget / 8 < HTTPD_TELEMETRY_CAP_MAX ? budget / 8 : HTTPD_TELEMETRY_CAP_MAX;
    if (tel < 8)
        tel = 8;
    m = budget - tel < HTTPD_DEFAULT_CAP_MAX ? budget - tel : HTTPD_DEFAULT_CAP_MAX;
    if (m < 16)
        m = 16;
    if (metrics_max)
        *metrics_max = m;
    if (per_client)
        *per_client = m / 8 < 16 ? 16 : m / 8;
    if (telemetry_max)
        *telemetry_max = tel;
}

/*
 * Closes the listening socket at once. Connections already open stay until
 * the server is freed; responses sent from now on carry Connection: close.
 * done(arg) runs from the event loop (never from inside this call), once.
 */
csm_err csm_httpd_shutdown(csm_httpd *s, void (*done)(void *arg), void *arg)
{
    if (!s || s->stopping)
        return CSM_ERR_INVALID;
    s->stopping = 1;
    s->done = done;
    s->done_arg = arg;
    if (s->sock) {
        evhttp_del_accept_socket(s->http, s->sock);
        s->sock = NULL;
    }
    maybe_done(s);
    return CSM_OK;
}

/*
 * Frees connections too, releasing the blocks of unsent responses before it
 * returns: libevent 2.1 finalizes a freed bufferevent (and its buffers) only
 * on a later loop pass or in event_base_free(), so the output of every
 * connection is drained here first. Must not be called from inside one of
 * the server's own request callbacks.
 */
void csm_httpd_free(csm_httpd *s)
{
    struct evbuffer *pending;

    if (!s)
        return;
    s->freeing = 1;
    for (httpd_conn *c = s->conns; c; c = c->next) {
        if (!c->evcon)
            continue;
        pending = bufferevent_get_output(evhttp_connection_get_bufferevent(c->evcon));
        /* A bufferevent keeps the start of its output frozen; only its own
         * writer drains it, and does so the same way. */
        evbuffer_unfreeze(pending, 1);
        evbuffer_drain(pending, evbuffer_get_length(pending));
        evbuffer_freeze(pending, 1);
    }
    /* Runs the close callback of every adopted connection, which unlinks it. */
    if (s->http)
        evhttp_free(s->http);
    while (s->conns)
        conn_forget(s->conns); /* pending ones drop their bufferevent reference */
    if (s->adopt_ev)
        event_free(s->adopt_ev);
    if (s->done_ev)
        event_free(s->done_ev);
    if (s->accept_pause)
        event_free(s->accept_pause);
    for (size_t b = 0; b < HTTPD_PEER_BUCKETS; b++) {
        while (s->peers[b]) {
            httpd_peer *p = s->peers[b];
            s->peers[b] = p->next;
            free(p);
        }
    }
    free(s->byfd);
    free(s);
}
