#include "serve/auth/cache.h"

#include <stdlib.h>
#include <string.h>

#define ACACHE_BUCKETS 1024 /* power of two */

struct csm_acache {
    csm_acache_node *buckets[ACACHE_BUCKETS];
    csm_acache_node *oldest[CSM_ACACHE_NSIDES];
    csm_acache_node *newest[CSM_ACACHE_NSIDES];
    size_t n[CSM_ACACHE_NSIDES];
    size_t max;
    csm_acache_ops ops;
};

static size_t bucket_of(const unsigned char key[32])
{
    return ((size_t)key[0] | (size_t)key[1] << 8) & (ACACHE_BUCKETS - 1);
}

csm_err csm_acache_new(size_t max, const csm_acache_ops *ops, csm_acache **out)
{
    csm_acache *c;

    if (!max || !ops || !ops->busy || !ops->drop || !out)
        return CSM_ERR_INVALID;
    c = calloc(1, sizeof(*c));
    if (!c)
        return CSM_ERR_NOMEM;
    c->max = max;
    c->ops = *ops;
    *out = c;
    return CSM_OK;
}

csm_acache_node *csm_acache_find(const csm_acache *c, const unsigned char key[32])
{
    for (csm_acache_node *n = c->buckets[bucket_of(key)]; n; n = n->hnext) {
        if (memcmp(n->key, key, 32) == 0)
            return n;
    }
    return NULL;
}

static void age_unlink(csm_acache *c, csm_acache_node *n)
{
    csm_acache_side sd = n->side;

    if (n->older)
        n->older->newer = n->newer;
    else
        c->oldest[sd] = n->newer;
    if (n->newer)
        n->newer->older = n->older;
    else
        c->newest[sd] = n->older;
    n->older = NULL;
    n->newer = NULL;
}

static void age_push(csm_acache *c, csm_acache_node *n)
{
    csm_acache_side sd = n->side;

    n->older = c->newest[sd];
    n->newer = NULL;
    if (c->newest[sd])
        c->newest[sd]->newer = n;
    else
        c->oldest[sd] = n;
    c->newest[sd] = n;
}

void csm_acache_remove(csm_acache *c, csm_acache_node *n)
{
    csm_acache_node **pp = &c->buckets[bucket_of(n->key)];

    while (*pp && *pp != n)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = n->hnext;
    n->hnext = NULL;
    age_unlink(c, n);
    c->n[n->side]--;
}

/* Makes room for one more entry on side sd: its oldest entries that are
 * not busy go first. 0 if every entry there is busy. */
static int make_room(csm_acache *c, csm_acache_side sd)
{
    csm_acache_node *n = c->oldest[sd];
    csm_acache_node *next;

    while (c->n[sd] >= c->max && n) {
        next = n->newer;
        if (!c->ops.busy(n)) {
            csm_acache_remove(c, n);
            c->ops.drop(n, c->ops.ctx);
        }
        n = next;
    }
    return c->n[sd] < c->max;
}

int csm_acache_insert(csm_acache *c, csm_acache_node *n)
{
    size_t b;

    if (!make_room(c, CSM_ACACHE_OTHER))
        return 0;
    n->side = CSM_ACACHE_OTHER;
    b = bucket_of(n->key);
    n->hnext = c->buckets[b];
    c->buckets[b] = n;
    age_push(c, n);
    c->n[CSM_ACACHE_OTHER]++;
    return 1;
}

void csm_acache_touch(csm_acache *c, csm_acache_node *n)
{
    age_unlink(c, n);
    age_push(c, n);
}

void csm_acache_set_side(csm_acache *c, csm_acache_node *n, csm_acache_side sd)
{
    if (n->side == sd)
        return;
    age_unlink(c, n);
    c->n[n->side]--;
    make_room(c, sd);
    n->side = sd;
    age_push(c, n);
    c->n[sd]++;
}

void csm_acache_free(csm_acache *c)
{
    csm_acache_node *n;

    if (!c)
        return;
    for (int sd = 0; sd < CSM_ACACHE_NSIDES; sd++) {
        while ((n = c->oldest[sd]) != NULL) {
            csm_acache_remove(c, n);
            c->ops.drop(n, c->ops.ctx);
        }
    }
    free(c);
}
