/*
 * The review answer caches of access control: a hash on a 32-byte key
 * (a SHA-256, so its first bytes already spread the buckets) and two age
 * lists, oldest first, of at most max entries each.
 *
 * CSM_ACACHE_POSITIVE holds entries whose last answer was yes,
 * CSM_ACACHE_OTHER no answers and entries not answered yet. Whoever makes
 * up tokens or gets denied only ever evicts from CSM_ACACHE_OTHER, so the
 * answers of real clients stay cached.
 *
 * Entries are the caller's: it embeds a csm_acache_node as the FIRST
 * member of its entry struct (so a node pointer is the entry pointer) and
 * owns the memory. The cache only links nodes; when it must evict, it
 * unlinks the oldest node that ops->busy() does not hold and hands it to
 * ops->drop() to free. Everything is O(1) except eviction, which skips
 * busy entries (at most the reviews in flight).
 */
#ifndef CSM_ACACHE_H
#define CSM_ACACHE_H

#include <stddef.h>

#include "csm/error.h"

typedef enum csm_acache_side {
    CSM_ACACHE_OTHER = 0,
    CSM_ACACHE_POSITIVE,
    CSM_ACACHE_NSIDES,
} csm_acache_side;

typedef struct csm_acache_node csm_acache_node;

/* Read key and side; the links are the cache's. */
struct csm_acache_node {
    unsigned char key[32];
    csm_acache_side side; /* the age list it is on */
    csm_acache_node *hnext;
    csm_acache_node *older;
    csm_acache_node *newer;
};

typedef struct csm_acache_ops {
    /* 1: n may not be evicted now (a review for it is in flight). */
    int (*busy)(const csm_acache_node *n);
    /* n was unlinked (evicted, or left over at csm_acache_free); free it. */
    void (*drop)(csm_acache_node *n, void *ctx);
    void *ctx;
} csm_acache_ops;

typedef struct csm_acache csm_acache;

/* max entries per side (> 0); ops is copied. *out is freed with
 * csm_acache_free(). */
csm_err csm_acache_new(size_t max, const csm_acache_ops *ops, csm_acache **out);

/* Hands every node still linked to ops->drop (busy or not), then frees
 * the cache. NULL is fine. */
void csm_acache_free(csm_acache *c);

/* The node with this key, or NULL. */
csm_acache_node *csm_acache_find(const csm_acache *c, const unsigned char key[32]);

/* Links n (key set by the caller, not in the cache yet) as the newest on
 * CSM_ACACHE_OTHER, evicting first if that side is full. 0 (n not
 * linked) when every entry there is busy. */
int csm_acache_insert(csm_acache *c, csm_acache_node *n);

/* Unlinks n; the caller frees it. */
void csm_acache_remove(csm_acache *c, csm_acache_node *n);

/* Makes n the newest on its side. */
void csm_acache_touch(csm_acache *c, csm_acache_node *n);

/* Moves n to the newest end of side sd, evicting there first if it is
 * full; the side may exceed max by one when every entry on it is busy. */
void csm_acache_set_side(csm_acache *c, csm_acache_node *n, csm_acache_side sd);

#endif
