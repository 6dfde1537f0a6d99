/*
 * A fake csm_kreq_transport (ingest/kclient.h) for the suites of the
 * modules that issue API requests (check-informer, check-resource): get()
 * only records the request; the test answers it by hand with
 * fake_kreq_feed() (2xx body bytes, as a stream delivers them) and
 * fake_kreq_finish() (the completion), from the test's own code, never
 * from inside get(), as the real client runs callbacks from the event loop.
 */
#ifndef CSM_FAKEKREQ_H
#define CSM_FAKEKREQ_H

#include <check.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/kclient.h"

#define FAKE_KREQ_MAX 64

typedef enum fake_kreq_state {
    FAKE_KREQ_OPEN = 0,
    FAKE_KREQ_DONE,
    FAKE_KREQ_CANCELLED,
} fake_kreq_state;

typedef struct fake_kreq {
    char *path;
    long timeout_s;
    csm_kreq_cbs cbs;
    fake_kreq_state state;
    int aborted; /* data() returned an error: the request is over */
} fake_kreq;

typedef struct fake_kreq_transport {
    fake_kreq reqs[FAKE_KREQ_MAX];
    size_t n;
    csm_err fail_with; /* returned by the next get() */
} fake_kreq_transport;

static inline csm_err fake_kreq_get(void *ctx, const char *path, long timeout_s,
                                    const csm_kreq_cbs *cbs, void **handle)
{
    fake_kreq_transport *f = ctx;
    fake_kreq *r;

    if (f->fail_with) {
        csm_err e = f->fail_with;
        f->fail_with = CSM_OK;
        return e;
    }
    ck_assert_uint_lt(f->n, FAKE_KREQ_MAX);
    r = &f->reqs[f->n++];
    memset(r, 0, sizeof(*r));
    r->path = strdup(path);
    ck_assert_ptr_nonnull(r->path);
    r->timeout_s = timeout_s;
    r->cbs = *cbs;
    *handle = r;
    return CSM_OK;
}

static inline void fake_kreq_cancel(void *ctx, void *handle)
{
    fake_kreq *r = handle;

    (void)ctx;
    /* Cancelling a request whose done() already ran is a use after free
     * with the real client. */
    ck_assert_int_eq(r->state, FAKE_KREQ_OPEN);
    r->state = FAKE_KREQ_CANCELLED;
}

static inline void fake_kreq_init(fake_kreq_transport *f, csm_kreq_transport *out)
{
    memset(f, 0, sizeof(*f));
    out->get = fake_kreq_get;
    out->cancel = fake_kreq_cancel;
    out->ctx = f;
}

static inline void fake_kreq_free(fake_kreq_transport *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->reqs[i].path);
    f->n = 0;
}

/* The latest request, which must still be open (borrowed). */
static inline fake_kreq *fake_kreq_open(fake_kreq_transport *f)
{
    ck_assert_uint_gt(f->n, 0);
    ck_assert_int_eq(f->reqs[f->n - 1].state, FAKE_KREQ_OPEN);
    return &f->reqs[f->n - 1];
}

/* Delivers n bytes of 2xx body to the request; returns what data()
 * returned (an error ends the request: finish it with fake_kreq_finish()). */
static inline csm_err fake_kreq_feedn(fake_kreq *r, const char *p, size_t n)
{
    csm_err err;

    ck_assert_int_eq(r->state, FAKE_KREQ_OPEN);
    ck_assert(!r->aborted);
    err = r->cbs.data ? r->cbs.data(r->cbs.ctx, p, n) : CSM_OK;
    if (err)
        r->aborted = 1;
    return err;
}

static inline csm_err fake_kreq_feed(fake_kreq *r, const char *text)
{
    return fake_kreq_feedn(r, text, strlen(text));
}

/*
 * Completes the request as the real client does: a 2xx body is delivered
 * through data() first (unless a feed already aborted it), a non-2xx body
 * goes into the response; status 0 with transport_error set is a
 * connection failure. retry_after < 0: no Retry-After.
 */
static inline void fake_kreq_finish_full(fake_kreq *r, long status, const char *body,
                                         int transport_error, double retry_after)
{
    csm_kresp resp;

    ck_assert_int_eq(r->state, FAKE_KREQ_OPEN);
    memset(&resp, 0, sizeof(resp));
    resp.status = status;
    resp.retry_after = retry_after;
    resp.transport_error = transport_error;
    if (transport_error)
        resp.error = "Couldn't connect to server";
    if (status >= 200 && status < 300 && body && !r->aborted)
        (void)fake_kreq_feed(r, body);
    else if (body) {
        resp.body = body;
        resp.body_len = strlen(body);
    }
    resp.aborted = r->aborted;
    r->state = FAKE_KREQ_DONE;
    if (r->cbs.done)
        r->cbs.done(r->cbs.ctx, &resp);
}

static inline void fake_kreq_finish(fake_kreq *r, long status, const char *body)
{
    fake_kreq_finish_full(r, status, body, 0, -1);
}

static inline double fake_kreq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the event loop (the caller's timers: backoffs, deferred teardowns)
 * until the transport has seen n requests or 5 s have passed, which the
 * caller's next check then reports. */
static inline void fake_kreq_wait(fake_kreq_transport *f, struct event_base *base, size_t n)
{
    double until = fake_kreq_now() + 5.0;

    while (f->n < n && fake_kreq_now() < until)
        event_base_loop(base, EVLOOP_ONCE);
}

#endif
