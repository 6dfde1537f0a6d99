/*
 * --auth-resource-attributes: the resource attributes a SubjectAccessReview
 * asks about instead of the request's non-resource path,
 * "namespace=..,apiGroup=..,apiVersion=..,resource=..,subresource=..,name=.."
 * (resource required, each key at most once, any order).
 */
#ifndef CSM_RESATTRS_H
#define CSM_RESATTRS_H

#include <stddef.h>

#include "csm/error.h"

/* Owned strings; NULL fields are left out of the review. */
typedef struct csm_resattrs {
    char *namespace;
    char *group;
    char *version;
    char *resource;
    char *subresource;
    char *name;
} csm_resattrs;

/* Parses s into *out (freed with csm_resattrs_free; zeroed on failure).
 * CSM_ERR_INVALID: why[] (may be NULL) says what is wrong. */
csm_err csm_resattrs_parse(const char *s, csm_resattrs *out, char *why, size_t whylen);

/* Frees the fields and zeroes *r. */
void csm_resattrs_free(csm_resattrs *r);

#endif
