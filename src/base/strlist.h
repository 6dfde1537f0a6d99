/*
 * A list of owned C strings: the comma-separated flags (--namespaces,
 * --auth-token-audiences, ...), the copies the modules keep of their
 * configuration, and plain string arrays freed in one call.
 *
 * The struct is open because the command line embeds lists by value
 * (csm_config); treat items/n as read-only outside this module. An empty
 * list is all zeros and needs no init call.
 */
#ifndef CSM_STRLIST_H
#define CSM_STRLIST_H

#include <stddef.h>

#include "csm/error.h"

typedef struct csm_strlist {
    char **items; /* n strings, each owned by the list */
    size_t n;
} csm_strlist;

/* Frees every item and leaves l empty (reusable). NULL is fine. */
void csm_strlist_clear(csm_strlist *l);

/* Appends a copy of s[0..n) (which need not be NUL-terminated). On
 * CSM_ERR_NOMEM l is unchanged. Cost: one realloc per push. */
csm_err csm_strlist_push(csm_strlist *l, const char *s, size_t n);

/* Appends copies of src[0..n); a NULL src[i] is copied as "". On
 * CSM_ERR_NOMEM the items copied so far stay (csm_strlist_clear frees). */
csm_err csm_strlist_append(csm_strlist *l, const char *const *src, size_t n);

/* 1 if some item equals s (strcmp), else 0. Linear: lists are short. */
int csm_strlist_has(const csm_strlist *l, const char *s);

/* Frees n strings (NULL entries allowed) and the array v itself: for
 * parallel arrays whose length is kept elsewhere. v NULL is fine. */
void csm_strv_free(char **v, size_t n);

#endif
