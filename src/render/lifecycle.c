#include "render/lifecycle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

/* Longest stem the family names are built from (resource.c's stems are
 * shorter than this). */
#define LC_STEM_MAX 200

/* One live object. The table is open addressing with linear probing and
 * backward-shift deletion, so there are no tombstones to sweep. */
typedef struct lc_obj {
    char *uid; /* NULL: empty slot */
    uint32_t ns;
    uint32_t source;
    uint32_t mark; /* the source's sync generation when last seen */
    double start;  /* relative to lc->base */
} lc_obj;

/* Aggregates of one namespace; kept for the life of the accounting so the
 * counters never disappear. */
typedef struct lc_ns {
    char *name;
    uint64_t hash;
    double closed;   /* seconds of objects that ended */
    double live_sum; /* sum of the live objects' starts (relative to base) */
    size_t live;
    uint64_t created;
    uint64_t deleted;
    double floor; /* highest object-seconds value written so far */
} lc_ns;

struct csm_lifecycle {
    char names[CSM_LC_NFAMILIES][LC_STEM_MAX + 32];
    int enabled[CSM_LC_NFAMILIES];
    int namespaced;
    double watch_start;
    /* Starts are kept relative to base (the watch start) so that sums over
     * many objects keep their sub-millisecond precision. */
    double base;

    lc_obj *obj;
    size_t cap; /* power of two, or 0 */
    size_t nobj;

    lc_ns *ns;
    size_t nns;
    size_t ns_cap;
    uint32_t *ns_index; /* open addressing over ns: index + 1, 0 empty */
    size_t ns_index_cap;

    uint32_t *source_gen; /* per source: generation of the current sync */
    size_t nsource;
};

static const char *const family_suffix[CSM_LC_NFAMILIES] = {
    "_object_seconds_total",
    "_created_total",
    "_deleted_total",
};

static const char *const family_help[CSM_LC_NFAMILIES] = {
    "Seconds objects existed while this exporter watched them, summed per namespace.",
    "Objects created (creationTimestamp after the watch started) while watched.",
    "Objects deleted while watched (DELETED event, relist, or CRD deletion).",
};

csm_err csm_lifecycle_new(const char *stem, int namespaced, double watch_start, csm_lifecycle **out)
{
    csm_lifecycle *lc;

    if (!stem || !stem[0] || strlen(stem) > LC_STEM_MAX || !isfinite(watch_start))
        return CSM_ERR_INVALID;
    lc = calloc(1, sizeof(*lc));
    if (!lc)
        return CSM_ERR_NOMEM;
    for (size_t f = 0; f < CSM_LC_NFAMILIES; f++) {
        snprintf(lc->names[f], sizeof(lc->names[f]), "%s%s", stem, family_suffix[f]);
        lc->enabled[f] = 1;
    }
    lc->namespaced = namespaced;
    lc->watch_start = watch_start;
    lc->base = watch_start;
    *out = lc;
    return CSM_OK;
}

void csm_lifecycle_free(csm_lifecycle *lc)
{
    if (!lc)
        return;
    for (size_t i = 0; i < lc->cap; i++)
        free(lc->obj[i].uid);
    free(lc->obj);
    for (size_t i = 0; i < lc->nns; i++)
        free(lc->ns[i].name);
    free(lc->ns);
    free(lc->ns_index);
    free(lc->source_gen);
    free(lc);
}

void csm_lifecycle_enable(csm_lifecycle *lc, csm_lc_family f, int on)
{
    if (f < CSM_LC_NFAMILIES)
        lc->enabled[f] = on ? 1 : 0;
}

const char *csm_lifecycle_family_name(const csm_lifecycle *lc, csm_lc_family f)
{
    return f < CSM_LC_NFAMILIES ? lc->names[f] : "";
}

size_t csm_lifecycle_live(const csm_lifecycle *lc)
{
    return lc->nobj;
}

/* ---- namespaces ------------------------------------------------------- */

static csm_err ns_index_grow(csm_lifecycle *lc)
{
    size_t cap = lc->ns_index_cap ? lc->ns_index_cap * 2 : 16;
    uint32_t *idx = calloc(cap, sizeof(*idx));

    if (!idx)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < lc->nns; i++) {
        size_t p = (size_t)lc->ns[i].hash & (cap - 1);
        while (idx[p])
            p = (p + 1) & (cap - 1);
        idx[p] = (uint32_t)(i + 1);
    }
    free(lc->ns_index);
    lc->ns_index = idx;
    lc->ns_index_cap = cap;
    return CSM_OK;
}

/* Index of namespace name, or SIZE_MAX. */
static size_t ns_find(const csm_lifecycle *lc, const char *name, uint64_t h)
{
    if (!lc->ns_index_cap)
        return SIZE_MAX;
    for (size_t p = (size_t)h & (lc->ns_index_cap - 1); lc->ns_index[p];
         p = (p + 1) & (lc->ns_index_cap - 1)) {
        const lc_ns *n = &lc->ns[lc->ns_index[p] - 1];
        if (n->hash == h && strcmp(n->name, name) == 0)
            return lc->ns_index[p] - 1;
    }
    return SIZE_MAX;
}

static csm_err ns_get(csm_lifecycle *lc, const char *name, size_t *out)
{
    uint64_t h = csm_hash_fnv1a64_str(name);
    size_t i = ns_find(lc, name, h);
    lc_ns *n;

    if (i != SIZE_MAX) {
        *out = i;
        return CSM_OK;
    }
    if (lc->nns >= UINT32_MAX - 1)
        return CSM_ERR_TOO_LARGE;
    if (lc->nns == lc->ns_cap) {
        size_t cap = lc->ns_cap ? lc->ns_cap * 2 : 8;
        lc_ns *grown = realloc(lc->ns, cap * sizeof(*grown));
        if (!grown)
            return CSM_ERR_NOMEM;
        lc->ns = grown;
        lc->ns_cap = cap;
    }
    /* Keep the index at most half full. */
    if ((lc->nns + 1) * 2 > lc->ns_index_cap && ns_index_grow(lc) != CSM_OK)
        return CSM_ERR_NOMEM;
    n = &lc->ns[lc->nns];
    memset(n, 0, sizeof(*n));
    n->name = strdup(name);
    if (!n->name)
        return CSM_ERR_NOMEM;
    n->hash = h;
    {
        size_t p = (size_t)h & (lc->ns_index_cap - 1);
        while (lc->ns_index[p])
            p = (p + 1) & (lc->ns_index_cap - 1);
        lc->ns_index[p] = (uint32_t)(lc->nns + 1);
    }
    *out = lc->nns++;
    return CSM_OK;
}

/* ---- objects ---------------------------------------------------------- */

static size_t obj_find(const csm_lifecycle *lc, const char *uid)
{
    if (!lc->cap)
        return SIZE_MAX;
    for (size_t p = (size_t)csm_hash_fnv1a64_str(uid) & (lc->cap - 1); lc->obj[p].uid;
         p = (p + 1) & (lc->cap - 1)) {
        if (strcmp(lc->obj[p].uid, uid) == 0)
            return p;
    }
    return SIZE_MAX;
}

static csm_err obj_grow(csm_lifecycle *lc)
{
    size_t cap = lc->cap ? lc->cap * 2 : 64;
    lc_obj *t = calloc(cap, sizeof(*t));

    if (!t)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < lc->cap; i++) {
        size_t p;
        if (!lc->obj[i].uid)
            continue;
        p = (size_t)csm_hash_fnv1a64_str(lc->obj[i].uid) & (cap - 1);
        while (t[p].uid)
            p = (p + 1) & (cap - 1);
        t[p] = lc->obj[i];
    }
    free(lc->obj);
    lc->obj = t;
    lc->cap = cap;
    return CSM_OK;
}

/* Removes slot p, shifting later members of its probe run back (no
 * tombstones). */
static void obj_remove_slot(csm_lifecycle *lc, size_t p)
{
    size_t mask = lc->cap - 1;
    size_t hole = p;

    free(lc->obj[p].uid);
    lc->obj[p].uid = NULL;
    lc->nobj--;
    for (size_t q = (p + 1) & mask; lc->obj[q].uid; q = (q + 1) & mask) {
        size_t home = (size_t)csm_hash_fnv1a64_str(lc->obj[q].uid) & mask;
        /* q may fill the hole unless its home lies cyclically in (hole, q]. */
        int stays = hole <= q ? (home > hole && home <= q) : (home > hole || home <= q);
        if (stays)
            continue;
        lc->obj[hole] = lc->obj[q];
        lc->obj[q].uid = NULL;
        hole = q;
    }
}

/* Ends the object in slot p at now: its seconds move to the closed sum;
 * deleted says whether it counts in deleted_total (a hand-over to another
 * shard does not). */
static void obj_close(csm_lifecycle *lc, size_t p, double now, int deleted)
{
    lc_obj *o = &lc->obj[p];
    lc_ns *n = &lc->ns[o->ns];
    double end = now - lc->base;

    if (end < o->start)
        end = o->start;
    n->closed += end - o->start;
    n->live_sum -= o->start;
    n->live--;
    if (!n->live)
        n->live_sum = 0; /* drop the rounding the sums collected */
    if (deleted)
        n->deleted++;
    obj_remove_slot(lc, p);
}

static void obj_end(csm_lifecycle *lc, size_t p, double now)
{
    obj_close(lc, p, now, 1);
}

static csm_err source_slot(csm_lifecycle *lc, uint32_t source)
{
    uint32_t *g;

    if (source < lc->nsource)
        return CSM_OK;
    if (source >= UINT32_MAX - 1)
        return CSM_ERR_INVALID;
    g = realloc(lc->source_gen, ((size_t)source + 1) * sizeof(*g));
    if (!g)
        return CSM_ERR_NOMEM;
    for (size_t i = lc->nsource; i <= source; i++)
        g[i] = 0;
    lc->source_gen = g;
    lc->nsource = (size_t)source + 1;
    return CSM_OK;
}

csm_err csm_lifecycle_seen(csm_lifecycle *lc, uint32_t source, const char *uid, const char *ns,
                           double created, int listed, double now)
{
    size_t p;
    size_t nsi;
    double start;
    int counts_created;
    lc_obj *o;
    csm_err err;

    if (!uid || !uid[0] || !isfinite(now))
        return CSM_ERR_INVALID;
    err = source_slot(lc, source);
    if (err)
        return err;
    p = obj_find(lc, uid);
    if (p != SIZE_MAX) {
        /* Known: a MODIFIED event or the same object listed again. */
        lc->obj[p].mark = lc->source_gen[source];
        lc->obj[p].source = source;
        return CSM_OK;
    }
    if (listed) {
        /* It existed before we looked: from its creation, but not before
         * this process watched. Without a timestamp, from now (never count
         * time that cannot be shown). */
        start = isfinite(created) && created > lc->watch_start ? created : lc->watch_start;
        if (!isfinite(created))
            start = now;
        counts_created = isfinite(created) && created >= lc->watch_start;
    } else {
        start = now;
        /* creationTimestamp is truncated to the second: an object created
         * in the second the watch started may show an earlier stamp. An
         * object that appears in a live watch but is older (a label now
         * matches the selector) is not a creation. */
        counts_created = !isfinite(created) || created + 1.0 > lc->watch_start;
    }
    if (start > now)
        start = now;
    err = ns_get(lc, ns ? ns : "", &nsi);
    if (err)
        return err;
    if ((lc->nobj + 1) * 4 > lc->cap * 3) {
        err = obj_grow(lc);
        if (err)
            return err;
    }
    p = (size_t)csm_hash_fnv1a64_str(uid) & (lc->cap - 1);
    while (lc->obj[p].uid)
        p = (p + 1) & (lc->cap - 1);
    o = &lc->obj[p];
    o->uid = strdup(uid);
    if (!o->uid)
        return CSM_ERR_NOMEM;
    o->ns = (uint32_t)nsi;
    o->source = source;
    o->mark = lc->source_gen[source];
    o->start = start - lc->base;
    lc->nobj++;
    lc->ns[nsi].live++;
    lc->ns[nsi].live_sum += o->start;
    if (counts_created)
        lc->ns[nsi].created++;
    return CSM_OK;
}

csm_err csm_lifecycle_deleted(csm_lifecycle *lc, const char *uid, double now)
{
    size_t p = uid ? obj_find(lc, uid) : SIZE_MAX;

    if (p == SIZE_MAX)
        return CSM_ERR_NOT_FOUND;
    obj_end(lc, p, now);
    return CSM_OK;
}

csm_err csm_lifecycle_handed_over(csm_lifecycle *lc, const char *uid, double now)
{
    size_t p = uid ? obj_find(lc, uid) : SIZE_MAX;

    if (p == SIZE_MAX)
        return CSM_ERR_NOT_FOUND;
    obj_close(lc, p, now, 0);
    return CSM_OK;
}

void csm_lifecycle_take_over(csm_lifecycle *lc, double now)
{
    if (isfinite(now) && now > lc->watch_start)
        lc->watch_start = now;
}

csm_err csm_lifecycle_sync_begin(csm_lifecycle *lc, uint32_t source)
{
    csm_err err = source_slot(lc, source);
    if (err)
        return err;
    lc->source_gen[source]++;
    return CSM_OK;
}

/* Ends every object that matches (all, or those of source not seen in its
 * current sync). Restarts the scan at a removed slot, since backward shift
 * may move an unvisited object into it; O(table) per call. */
static size_t sweep(csm_lifecycle *lc, int all, uint32_t source, double now)
{
    size_t ended = 0;
    size_t i = 0;

    while (i < lc->cap) {
        lc_obj *o = &lc->obj[i];
        if (o->uid && (all || (o->source == source && o->mark != lc->source_gen[source]))) {
            obj_end(lc, i, now);
            ended++;
            continue;
        }
        i++;
    }
    return ended;
}

size_t csm_lifecycle_sync_end(csm_lifecycle *lc, uint32_t source, double now)
{
    if (source >= lc->nsource)
        return 0;
    return sweep(lc, 0, source, now);
}

size_t csm_lifecycle_clear(csm_lifecycle *lc, double now)
{
    return sweep(lc, 1, 0, now);
}

/* Object-seconds of namespace n at now, without the monotonic floor. */
static double ns_seconds(const csm_lifecycle *lc, const lc_ns *n, double now)
{
    double v = n->closed + (double)n->live * (now - lc->base) - n->live_sum;
    return v > n->closed ? v : n->closed;
}

csm_err csm_lifecycle_values(const csm_lifecycle *lc, const char *ns, double now, double *seconds,
                             uint64_t *created, uint64_t *deleted)
{
    const char *name = ns ? ns : "";
    size_t i = ns_find(lc, name, csm_hash_fnv1a64_str(name));
    const lc_ns *n;

    if (i == SIZE_MAX)
        return CSM_ERR_NOT_FOUND;
    n = &lc->ns[i];
    if (seconds)
        *seconds = ns_seconds(lc, n, now);
    if (created)
        *created = n->created;
    if (deleted)
        *deleted = n->deleted;
    return CSM_OK;
}

csm_err csm_lifecycle_write(csm_lifecycle *lc, csm_expo_format fmt, double now, csm_buf *out)
{
    static const char *const ns_label[1] = {"namespace"};
    csm_err err = CSM_OK;

    if (!lc->nns)
        return CSM_OK;
    /* The floor first, so all families of one scrape agree on it. */
    for (size_t i = 0; i < lc->nns; i++) {
        double v = ns_seconds(lc, &lc->ns[i], now);
        if (v > lc->ns[i].floor)
            lc->ns[i].floor = v;
    }
    for (size_t f = 0; !err && f < CSM_LC_NFAMILIES; f++) {
        if (!lc->enabled[f])
            continue;
        err = csm_expo_family_header(out, fmt, lc->names[f], family_help[f], CSM_METRIC_COUNTER);
        for (size_t i = 0; !err && i < lc->nns; i++) {
            const lc_ns *n = &lc->ns[i];
            const char *v[1] = {n->name};
            double value = f == CSM_LC_OBJECT_SECONDS ? n->floor
                           : f == CSM_LC_CREATED      ? (double)n->created
                                                      : (double)n->deleted;
            err = csm_expo_sample(out, lc->names[f], lc->namespaced ? 1 : 0, ns_label, v, value);
        }
    }
    return err;
}
