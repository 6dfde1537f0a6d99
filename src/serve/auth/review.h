/*
 * The review stages of access control: a Bearer token is checked with a
 * TokenReview, the user it stands for (or a client certificate's) with a
 * SubjectAccessReview. Answers are cached (serve/auth/cache.h): TokenReviews
 * by SHA-256 of the token (the token itself is never kept), capped by the
 * token's JWT "exp"; SubjectAccessReviews by SHA-256 of the review request,
 * which holds every attribute the answer depends on. Identical reviews
 * asked while one is in flight wait for that one; a review nobody waits
 * for any more is cancelled. See serve/auth.h for failures and stale
 * answers. Runs on the caller's event loop through the transport; nothing
 * here blocks.
 *
 * The front (serve/auth.c) parses the request and owns the waits it hands
 * in here; this module owns the caches, the reviews in flight and the
 * auth telemetry families.
 */
#ifndef CSM_REVIEW_H
#define CSM_REVIEW_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/log.h"
#include "csm/error.h"
#include "serve/auth.h"
#include "serve/telemetry.h"

typedef struct csm_review csm_review;

/*
 * Takes every setting of cfg but allow_paths (strings copied; an invalid
 * resource_attributes is logged and fails with CSM_ERR_INVALID). tr is
 * copied (its ctx is borrowed); log and tel (both may be NULL) are
 * borrowed. *out is freed with csm_review_free().
 */
csm_err csm_review_new(const csm_auth_config *cfg, const csm_auth_transport *tr, csm_log *log,
                       csm_telemetry *tel, csm_review **out);

/* Cancels the reviews in flight; waits still queued are unhooked (a
 * caller bug) but not freed. NULL is fine. */
void csm_review_free(csm_review *rv);

/* A wait for one request: verb static, path copied. NULL: out of memory.
 * Freed by csm_review_wait_free() when it never got queued, else by the
 * stage that completes it (done(arg, verdict) runs once) or by
 * csm_review_wait_cancel(). */
csm_auth_wait *csm_review_wait_new(const char *verb, const char *path, csm_auth_done_fn done,
                                   void *arg);
void csm_review_wait_free(csm_auth_wait *w);

/* Drops a queued wait without a callback; a review left with no waiter
 * is cancelled (its answer would be cached otherwise). NULL is fine. */
void csm_review_wait_cancel(csm_auth_wait *w);

/* Counts an authentication decision the front made without a review
 * (crd_state_metrics_authn_total{result}). */
csm_err csm_review_count_authn(csm_review *rv, const char *result);

/* Decides on token[0..len): a verdict, or CSM_AUTH_PENDING with w queued
 * (w is not freed either way). */
csm_auth_verdict csm_review_token(csm_review *rv, csm_auth_wait *w, const char *tok, size_t len);

/* Decides on an authenticated user (a TokenReview status.user: username,
 * uid, groups, extra; borrowed): a verdict, or CSM_AUTH_PENDING with w
 * queued. */
csm_auth_verdict csm_review_access(csm_review *rv, csm_auth_wait *w, const cJSON *user);

#endif
