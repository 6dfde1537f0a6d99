/*
 * Per-resource lists in kube-state-metrics' flag syntax:
 *
 *     memcacheds=[app,tier],*=[*]
 *
 * as --metric-labels-allowlist, --metric-annotations-allowlist and
 * --generators take them. A resource is named by its plural ("memcacheds")
 * or "*" for every resource; an item "*" means everything.
 */
#ifndef CSM_RESLIST_H
#define CSM_RESLIST_H

#include <stddef.h>

#include "csm/error.h"

typedef struct csm_reslist csm_reslist;

/*
 * Parses text. With plain_ok, text without any '=' is a plain comma list
 * that applies to every resource ("info,labels" is "*=[info,labels]").
 * Blanks around names and items are ignored; "" is the empty list. On
 * CSM_ERR_INVALID why[] says what is wrong. Free with csm_reslist_free()
 * (which accepts NULL).
 */
csm_err csm_reslist_parse(const char *text, int plain_ok, csm_reslist **out, char *why,
                          size_t whylen);
void csm_reslist_free(csm_reslist *l);

/* The items given for exactly `resource` ("*" for the wildcard entry),
 * *n of them (borrowed); NULL when the resource has no entry. */
const char *const *csm_reslist_get(const csm_reslist *l, const char *resource, size_t *n);

/* Number of entries, and entry i's resource name (borrowed). */
size_t csm_reslist_entries(const csm_reslist *l);
const char *csm_reslist_resource(const csm_reslist *l, size_t i);

#endif
