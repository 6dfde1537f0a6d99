/*
 * The API objects of access control, built and read without any state:
 * the TokenReview and SubjectAccessReview requests (authentication.k8s.io/v1,
 * authorization.k8s.io/v1) and what their answers say. The review stages
 * (serve/auth/review.c) send and cache them.
 */
#ifndef CSM_AUTHMSG_H
#define CSM_AUTHMSG_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/strlist.h"
#include "csm/error.h"
#include "serve/auth/resattrs.h"

/*
 * The TokenReview request for tok[0..len) with spec.audiences (none: the
 * API server's own); *outlen gets its length. NULL: out of memory. It
 * holds the token: the caller wipes it (OPENSSL_cleanse) and frees it.
 */
char *csm_authmsg_tokenreview(const csm_strlist *audiences, const char *tok, size_t len,
                              size_t *outlen);

/*
 * The SubjectAccessReview request for user (a TokenReview status.user:
 * username, uid, groups, extra are copied when present) doing verb on
 * path, or on the resource attributes res when res is not NULL. Its bytes
 * are also the cache key: they hold everything the answer depends on.
 * NULL: out of memory. Freed with cJSON_free().
 */
char *csm_authmsg_sar(const cJSON *user, const char *verb, const char *path,
                      const csm_resattrs *res);

/*
 * Reads a TokenReview answer: *ok is 1 when status.authenticated is true,
 * the user has a non-empty username and (when audiences are asked for and
 * status.audiences is given) one audience matches; *user (freed with
 * cJSON_Delete) is then status.user, else NULL. The token the answer
 * echoes is wiped from the parsed tree. CSM_ERR_PARSE: no status object.
 */
csm_err csm_authmsg_token_answer(const csm_strlist *audiences, const char *body, size_t len,
                                 int *ok, cJSON **user);

/* Reads a SubjectAccessReview answer: *ok is status.allowed.
 * CSM_ERR_PARSE: no status object. */
csm_err csm_authmsg_access_answer(const char *body, size_t len, int *ok);

#endif
