/*
 * A Kubernetes GROUP/VERSION/KIND: the type every stage names a resource
 * by (the command line, discovery, the config, the resources), its
 * parser with the API server's naming rules, its one text form, and
 * small lists of them.
 */
#ifndef CSM_GVK_H
#define CSM_GVK_H

#include <stddef.h>

#include "csm/error.h"

/* group is "" for the core group. Strings owned by whoever filled it in:
 * csm_gvk_parse() and csm_gvk_list_add() allocate them, csm_gvk_free()
 * releases them. */
typedef struct csm_gvk {
    char *group;
    char *version;
    char *kind;
} csm_gvk;

/*
 * Parses "cache.example.com/v1/Memcached" or "v1/ConfigMap": the group an
 * RFC 1123 subdomain, the version 1 to 63 of [a-z0-9], the kind
 * [A-Za-z][A-Za-z0-9]*. On success *out owns its strings (free them with
 * csm_gvk_free()). On CSM_ERR_INVALID, why[] (when not NULL) holds the
 * reason, user text quoted (base/quote.h), and *out is zeroed.
 */
csm_err csm_gvk_parse(const char *s, csm_gvk *out, char *why, size_t whylen);

/* Frees the strings and zeroes *g; accepts NULL. */
void csm_gvk_free(csm_gvk *g);

/*
 * The one text form of a GVK, "group/version/kind", or "version/kind" for
 * the core group: what --resource takes, what logs, messages and resource
 * labels show. Written into out[0..len) like snprintf (NUL-terminated when
 * len > 0, cut if short); returns the length of the whole text, so a
 * result >= len means it was cut.
 */
size_t csm_gvk_format(char *out, size_t len, const char *group, const char *version,
                      const char *kind);

/* The same text in a new string, whatever its length (the kind has no
 * limit); NULL when out of memory. The caller frees it. */
char *csm_gvk_text(const char *group, const char *version, const char *kind);

/* Appends a copy of group/version/kind to *list (*n entries) unless an
 * equal entry is there. On CSM_ERR_NOMEM the list stays valid. Cost O(*n). */
csm_err csm_gvk_list_add(csm_gvk **list, size_t *n, const char *group, const char *version,
                         const char *kind);
/* Frees n entries and the array; accepts NULL. */
void csm_gvk_list_free(csm_gvk *list, size_t n);

/* An RFC 1123 label of n bytes (what a namespace name must be, and each
 * dot-separated part of a group): 1 to 63 of [a-z0-9-], alphanumeric at
 * both ends. */
int csm_gvk_is_dns_label(const char *s, size_t n);

#endif
