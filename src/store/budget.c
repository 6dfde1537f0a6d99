#include "store/budget.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

struct csm_budget {
    csm_budget *parent;
    size_t limit; /* 0: unlimited */
    size_t used;
    size_t dropped;
    size_t skipped;
    int dropping; /* state last logged: skipped > 0 */
    char *label;
    csm_log *log;
    csm_tel_family *dropped_tel;
    csm_tel_family *skipped_tel;
};

typedef struct book_entry {
    struct book_entry *next;
    uint64_t hash;
    size_t series;
    unsigned epoch;
    int admitted;
    char uid[];
} book_entry;

struct csm_budget_book {
    csm_budget *budget;
    book_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t n;
    unsigned epoch;
};

csm_err csm_budget_new(csm_budget *parent, size_t limit, const char *label, csm_log *log,
                       csm_tel_family *dropped, csm_tel_family *skipped, csm_budget **out)
{
    csm_budget *b = calloc(1, sizeof(*b));

    if (!b)
        return CSM_ERR_NOMEM;
    b->label = strdup(label ? label : "");
    if (!b->label) {
        free(b);
        return CSM_ERR_NOMEM;
    }
    b->parent = parent;
    b->limit = limit;
    b->log = log;
    b->dropped_tel = dropped;
    b->skipped_tel = skipped;
    if (b->label[0]) {
        const char *v[1] = {b->label};
        if (dropped)
            csm_tel_set(dropped, v, 0);
        if (skipped)
            csm_tel_set(skipped, v, 0);
    }
    *out = b;
    return CSM_OK;
}

void csm_budget_free(csm_budget *b)
{
    const char *v[1];

    if (!b)
        return;
    v[0] = b->label;
    if (b->label[0] && b->dropped_tel)
        csm_tel_remove(b->dropped_tel, v);
    if (b->label[0] && b->skipped_tel)
        csm_tel_remove(b->skipped_tel, v);
    free(b->label);
    free(b);
}

size_t csm_budget_used(const csm_budget *b)
{
    return b->used;
}

size_t csm_budget_dropped(const csm_budget *b)
{
    return b->dropped;
}

size_t csm_budget_skipped(const csm_budget *b)
{
    return b->skipped;
}

/* Telemetry always; a log line only when skipping starts or stops. */
static void report(csm_budget *b)
{
    const char *v[1] = {b->label};
    int dropping = b->skipped > 0;

    if (!b->label[0])
        return;
    if (b->dropped_tel)
        csm_tel_set(b->dropped_tel, v, (double)b->dropped);
    if (b->skipped_tel)
        csm_tel_set(b->skipped_tel, v, (double)b->skipped);
    if (dropping == b->dropping)
        return;
    b->dropping = dropping;
    if (dropping)
        csm_logf(b->log, CSM_LOG_WARN,
                 "%s: series budget reached (%zu series exported, limit %zu here, %zu overall); "
                 "objects that do not fit are skipped and counted in "
                 "crd_state_metrics_series_dropped (logged once until it clears)",
                 b->label, b->used, b->limit, b->parent ? b->parent->limit : 0);
    else
        csm_logf(b->log, CSM_LOG_INFO, "%s: every object fits the series budget again (%zu series)",
                 b->label, b->used);
}

/* ---- books ------------------------------------------------------------ */

csm_err csm_budget_book_new(csm_budget *b, csm_budget_book **out)
{
    csm_budget_book *k = calloc(1, sizeof(*k));

    if (!k)
        return CSM_ERR_NOMEM;
    k->nbuckets = 64;
    k->buckets = calloc(k->nbuckets, sizeof(*k->buckets));
    if (!k->buckets) {
        free(k);
        return CSM_ERR_NOMEM;
    }
    k->budget = b;
    *out = k;
    return CSM_OK;
}

/* Gives back what e holds, in b and every budget above. */
static void release(csm_budget *b, const book_entry *e)
{
    if (e->admitted) {
        for (csm_budget *p = b; p; p = p->parent)
            p->used -= e->series;
    } else {
        b->dropped -= e->series;
        b->skipped--;
    }
}

static book_entry **find(csm_budget_book *k, const char *uid, uint64_t h)
{
    book_entry **pp = &k->buckets[h & (k->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->uid, uid) != 0))
        pp = &(*pp)->next;
    return pp;
}

/* Doubles the table when it averages more than one entry per bucket;
 * failing to grow only makes chains longer. */
static void maybe_grow(csm_budget_book *k)
{
    size_t nb = k->nbuckets * 2;
    book_entry **nbk;

    if (k->n <= k->nbuckets)
        return;
    nbk = calloc(nb, sizeof(*nbk));
    if (!nbk)
        return;
    for (size_t i = 0; i < k->nbuckets; i++) {
        book_entry *e = k->buckets[i];
        while (e) {
            book_entry *next = e->next;
            e->next = nbk[e->hash & (nb - 1)];
            nbk[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    free(k->buckets);
    k->buckets = nbk;
    k->nbuckets = nb;
}

csm_err csm_budget_book_put(csm_budget_book *k, const char *uid, size_t series, int *admit)
{
    uint64_t h = csm_hash_fnv1a64_str(uid);
    book_entry **pp = find(k, uid, h);
    book_entry *e = *pp;
    int fits = 1;

    if (!e) {
        size_t len = strlen(uid);
        e = calloc(1, sizeof(*e) + len + 1);
        if (!e)
            return CSM_ERR_NOMEM;
        memcpy(e->uid, uid, len + 1);
        e->hash = h;
        *pp = e;
        k->n++;
    } else {
        release(k->budget, e);
    }
    for (csm_budget *p = k->budget; p && fits; p = p->parent)
        fits = !p->limit || (p->used <= p->limit && series <= p->limit - p->used);
    e->series = series;
    e->admitted = fits;
    e->epoch = k->epoch;
    if (fits) {
        for (csm_budget *p = k->budget; p; p = p->parent)
            p->used += series;
    } else {
        k->budget->dropped += series;
        k->budget->skipped++;
    }
    report(k->budget);
    *admit = fits;
    maybe_grow(k);
    return CSM_OK;
}

void csm_budget_book_delete(csm_budget_book *k, const char *uid)
{
    book_entry **pp = find(k, uid, csm_hash_fnv1a64_str(uid));
    book_entry *e = *pp;

    if (!e)
        return;
    release(k->budget, e);
    *pp = e->next;
    free(e);
    k->n--;
    report(k->budget);
}

void csm_budget_book_relist_begin(csm_budget_book *k)
{
    k->epoch++;
}

/* Removes the entries not put since the last relist_begin (all: every entry). */
static void sweep(csm_budget_book *k, int all)
{
    for (size_t i = 0; i < k->nbuckets; i++) {
        book_entry **pp = &k->buckets[i];
        while (*pp) {
            book_entry *e = *pp;
            if (!all && e->epoch == k->epoch) {
                pp = &e->next;
                continue;
            }
            release(k->budget, e);
            *pp = e->next;
            free(e);
            k->n--;
        }
    }
    report(k->budget);
}

void csm_budget_book_relist_end(csm_budget_book *k)
{
    sweep(k, 0);
}

void csm_budget_book_clear(csm_budget_book *k)
{
    sweep(k, 1);
}

void csm_budget_book_free(csm_budget_book *k)
{
    if (!k)
        return;
    sweep(k, 1);
    free(k->buckets);
    free(k);
}

size_t csm_budget_count_lines(const char *p, size_t len)
{
    size_t n = 0;
    const char *end = p + len;

    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        n++;
        p = nl + 1;
    }
    return n;
}
