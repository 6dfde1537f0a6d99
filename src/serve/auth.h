/*
 * Access control for the HTTP listeners through the Kubernetes API, as
 * kube-rbac-proxy and controller-runtime's WithAuthenticationAndAuthorization
 * do it: a Bearer token is checked with a TokenReview, a verified client
 * certificate stands for its CN (user) and O (groups), and the user is then
 * checked with a SubjectAccessReview for the request's path and verb (or
 * for configured resource attributes).
 *
 * Answers are cached: TokenReviews by SHA-256 of the token (the token
 * itself is never kept), SubjectAccessReviews by SHA-256 of the review
 * request, which holds every attribute the answer depends on. A token's
 * entry never outlives the token: when the token is a JWT its "exp" claim
 * (read without verifying; the API server did the verifying) caps the
 * entry. Identical reviews asked while one is in flight wait for that one
 * instead of sending another; a review nobody waits for any more (every
 * client gave up) is cancelled. A review that fails (API server unreachable,
 * timeout, 5xx) is not cached and answers CSM_AUTH_UNAVAILABLE, unless
 * stale_ms allows an answer that expired a little while ago to stand in.
 *
 * The API calls go through a transport (csm_auth_transport) so that tests
 * can complete them by hand; serve/auth/kctransport.h has the real one.
 * Everything runs on the caller's event loop; nothing here blocks.
 *
 * The parts, in src/serve/auth/: review (the TokenReview and
 * SubjectAccessReview stages, waits, telemetry), cache (the LRU + hash the
 * answers live in), jwt (the "exp" claim), resattrs
 * (--auth-resource-attributes), kctransport (the API client adapter).
 * This file is the front: configuration, credentials and verbs.
 */
#ifndef CSM_AUTH_H
#define CSM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"
#include "base/log.h"
#include "serve/telemetry.h"

typedef struct csm_auth csm_auth;
typedef struct csm_auth_wait csm_auth_wait;

typedef enum csm_auth_verdict {
    CSM_AUTH_ALLOW = 0,
    CSM_AUTH_UNAUTHENTICATED, /* 401: no credentials, or they are not valid */
    CSM_AUTH_FORBIDDEN,       /* 403: authenticated, not authorized */
    CSM_AUTH_UNAVAILABLE,     /* 503: the API server could not answer */
    CSM_AUTH_ERROR,           /* 500: the API server refused the review itself */
    CSM_AUTH_PENDING,         /* from csm_auth_check(): the answer comes later */
} csm_auth_verdict;

/* ---- Transport. ---------------------------------------------------------- */

typedef struct csm_auth_reply {
    long status;         /* HTTP status, 0 if none arrived */
    int transport_error; /* non-zero: connection, TLS or timeout failure */
    const char *body;    /* the response body (any status), may be NULL */
    size_t len;
} csm_auth_reply;

typedef void (*csm_auth_reply_fn)(void *arg, const csm_auth_reply *r);

typedef struct csm_auth_transport {
    /*
     * Starts POST `path` with a JSON body, which the transport copies
     * before returning (the caller then wipes its own copy: TokenReview
     * bodies hold the token). done(arg, reply) runs later from the event
     * loop, never from inside post(), exactly once unless cancel(handle)
     * ran first. The reply is valid during the call only.
     */
    csm_err (*post)(void *ctx, const char *path, const char *body, size_t len, long timeout_ms,
                    csm_auth_reply_fn done, void *arg, void **handle);
    void (*cancel)(void *ctx, void *handle);
    void *ctx;
} csm_auth_transport;

/* ---- Configuration. ------------------------------------------------------ */

typedef struct csm_auth_clock {
    int64_t (*mono_ms)(void *ctx); /* for TTLs */
    int64_t (*wall_ms)(void *ctx); /* Unix time, for JWT "exp" */
    void *ctx;
} csm_auth_clock;

typedef struct csm_auth_config {
    /* TokenReview spec.audiences; none means the API server's own. */
    const char *const *audiences;
    size_t naudiences;
    /* Paths served without any check (exact match). */
    const char *const *allow_paths;
    size_t nallow_paths;
    /* Users in any of these groups are allowed without a SubjectAccessReview. */
    const char *const *allow_groups;
    size_t nallow_groups;
    /* "namespace=..,apiGroup=..,apiVersion=..,resource=..,subresource=..,name=.."
     * (resource required): review these resource attributes instead of the
     * non-resource path. NULL: the path. */
    const char *resource_attributes;
    int64_t ttl_token_ms;   /* TokenReview answers (either way) */
    int64_t ttl_allowed_ms; /* SubjectAccessReview: allowed */
    int64_t ttl_denied_ms;  /* SubjectAccessReview: denied */
    /* When a review fails, an answer that expired at most this long ago is
     * used instead of CSM_AUTH_UNAVAILABLE (never past a token's "exp").
     * 0: never. */
    int64_t stale_ms;
    long timeout_ms; /* per review request; 0 means 10 s */
    /* Per cache and answer: allowed (authenticated) answers and the rest
     * (denied, unauthenticated, not answered yet) have max_entries each, so
     * made-up tokens cannot evict the answers of real clients. 0: 4096. */
    size_t max_entries;
    /* TokenReviews and SubjectAccessReviews in flight at once; a request
     * that would need one more is answered CSM_AUTH_UNAVAILABLE (503) at
     * once (or from a stale answer). 0: 64. */
    size_t max_inflight;
    /* NULL: CLOCK_MONOTONIC and CLOCK_REALTIME. Tests pass their own. */
    const csm_auth_clock *clock;
} csm_auth_config;

/* Checks a --auth-resource-attributes value; why[] says what is wrong. */
csm_err csm_auth_resource_attributes_check(const char *s, char *why, size_t whylen);

/*
 * cfg's strings are copied; tr is copied (its ctx is borrowed); log and tel
 * (both may be NULL) are borrowed. *out is freed with csm_auth_free().
 */
csm_err csm_auth_new(const csm_auth_config *cfg, const csm_auth_transport *tr, csm_log *log,
                     csm_telemetry *tel, csm_auth **out);

/* Cancels reviews in flight. Every csm_auth_wait must have completed or
 * been cancelled before. */
void csm_auth_free(csm_auth *a);

/* ---- Checking requests. -------------------------------------------------- */

typedef struct csm_auth_input {
    const char *method;        /* HTTP method; GET and HEAD map to "get" */
    const char *path;          /* request path, without the query */
    const char *authorization; /* the Authorization header, or NULL */
    /* A verified client certificate's subject (see csm_tls_peer_get), or
     * cert_user NULL. A certificate is used before a Bearer token, as
     * kube-apiserver does. */
    const char *cert_user;
    const char *const *cert_groups;
    size_t ncert_groups;
} csm_auth_input;

typedef void (*csm_auth_done_fn)(void *arg, csm_auth_verdict v);

/*
 * Decides on a request. Returns the verdict when it is known at once
 * (always-allowed path, cache hit, no credentials, ...). Otherwise returns
 * CSM_AUTH_PENDING with *wait set: done(arg, verdict) then runs later from
 * the event loop, once, unless csm_auth_cancel(*wait) runs first (the
 * wait is freed either way). `in` is not kept; the caller may wipe the
 * Authorization header right after the call.
 */
csm_auth_verdict csm_auth_check(csm_auth *a, const csm_auth_input *in, csm_auth_done_fn done,
                                void *arg, csm_auth_wait **wait);

/* Drops a pending wait (its client went away); no callback follows. The
 * review it waited for carries on for other waiters (and its answer is
 * cached); with none left it is cancelled. NULL is fine. */
void csm_auth_cancel(csm_auth_wait *w);

/* 1 if the path is served without any check. */
int csm_auth_path_always_allowed(const csm_auth *a, const char *path);

/* The HTTP status a verdict is answered with (200 for CSM_AUTH_ALLOW). */
int csm_auth_http_status(csm_auth_verdict v);

#endif
