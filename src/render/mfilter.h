/*
 * --metric-allowlist / --metric-denylist: which metric families are
 * generated at all. Each is a list of POSIX extended regular expressions
 * matched against the whole family name (anchored: "foo_info" does not
 * admit "foo_info_extra"). The lists are mutually exclusive. The filter is
 * consulted once per declared family, so a denied family costs nothing
 * per object.
 */
#ifndef CSM_MFILTER_H
#define CSM_MFILTER_H

#include <stddef.h>

#include "csm/error.h"

typedef struct csm_mfilter csm_mfilter;

/*
 * Compiles the expressions (allow[0..nallow) or deny[0..ndeny), at most
 * one list non-empty). On CSM_ERR_INVALID why[] names the expression and
 * what regcomp() said. Free with csm_mfilter_free() (accepts NULL).
 */
csm_err csm_mfilter_new(const char *const *allow, size_t nallow, const char *const *deny,
                        size_t ndeny, csm_mfilter **out, char *why, size_t whylen);
void csm_mfilter_free(csm_mfilter *f);

/* 1 if the family is generated. Signature of csm_gen_family_filter; ctx is
 * the csm_mfilter (NULL admits everything). */
int csm_mfilter_admits(void *ctx, const char *name);

#endif
