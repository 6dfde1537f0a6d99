#include "store/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "store/gzcat.h"

struct csm_block {
    unsigned refs;
    size_t nfam;
    /* off[0..nfam] live right after the struct, the text after them:
     * family i is text[off[i] .. off[i+1]). */
    size_t off[];
};

static char *block_text(const csm_block *b)
{
    return (char *)(b->off + b->nfam + 1);
}

/* Builds a block whose family i is get(src, i). One allocation holds the
 * header, the offsets and the text. */
static csm_block *block_build(size_t nfam,
                              const char *(*get)(const void *src, size_t i, size_t *len),
                              const void *src)
{
    size_t total = 0;
    size_t len;
    csm_block *b;
    char *text;

    for (size_t i = 0; i < nfam; i++) {
        get(src, i, &len);
        if (len > SIZE_MAX / 2 - total)
            return NULL;
        total += len;
    }
    b = malloc(sizeof(*b) + (nfam + 1) * sizeof(size_t) + total);
    if (!b)
        return NULL;
    b->refs = 1;
    b->nfam = nfam;
    text = block_text(b);
    b->off[0] = 0;
    for (size_t i = 0; i < nfam; i++) {
        const char *p = get(src, i, &len);
        if (len)
            memcpy(text + b->off[i], p, len);
        b->off[i + 1] = b->off[i] + len;
    }
    return b;
}

typedef struct arrays_src {
    const char *const *texts;
    const size_t *lens;
} arrays_src;

static const char *get_array(const void *src, size_t i, size_t *len)
{
    const arrays_src *a = src;
    *len = a->lens[i];
    return a->texts[i];
}

static const char *get_buf(const void *src, size_t i, size_t *len)
{
    const csm_buf *bufs = src;
    *len = bufs[i].len;
    return bufs[i].ptr;
}

csm_block *csm_block_new(size_t nfam, const char *const *texts, const size_t *lens)
{
    arrays_src a = {texts, lens};
    return block_build(nfam, get_array, &a);
}

csm_block *csm_block_from_bufs(size_t nfam, const csm_buf *bufs)
{
    return block_build(nfam, get_buf, bufs);
}

csm_block *csm_block_ref(csm_block *b)
{
    b->refs++;
    return b;
}

void csm_block_unref(csm_block *b)
{
    if (!b)
        return;
    if (--b->refs == 0)
        free(b);
}

size_t csm_block_families(const csm_block *b)
{
    return b->nfam;
}

const char *csm_block_slice(const csm_block *b, size_t i, size_t *len)
{
    if (i >= b->nfam) {
        *len = 0;
        return block_text(b);
    }
    *len = b->off[i + 1] - b->off[i];
    return block_text(b) + b->off[i];
}

size_t csm_block_size(const csm_block *b)
{
    return b->off[b->nfam];
}

/*
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), load factor kept at or below 1/2. A slot names its object's
 * place in a group (group, pos); the group's member holds the block and the
 * slot index back, so moving a slot (growth, backward shift) and moving a
 * member (swap-remove) each update the other side in O(1).
 */
typedef struct store_slot {
    char *uid; /* NULL: empty */
    uint64_t hash;
    uint32_t group;
    uint32_t pos;
    uint64_t epoch;
} store_slot;

typedef struct store_member {
    csm_block *blk;
    size_t slot;
} store_member;

/* Objects a group takes at most, whatever their size: bounds the rebuild
 * of a group of tiny objects. */
#define STORE_GROUP_MAX_OBJECTS 4096
/* Compression level of cached gzip pieces: each is compressed once per
 * change of its group, on the scrape that follows the change, so speed
 * still matters more than the last few percent of size. */
#define STORE_GZIP_LEVEL 1

typedef struct store_group {
    store_member *m;
    size_t n;
    size_t cap;
    size_t bytes; /* text of its members */
    int dirty;    /* changed since its run's segment was built */
} store_group;

/*
 * A segment covers one run of STORE_RUN_GROUPS consecutive groups: what a
 * response references is a run's family (about a megabyte), so a response
 * holds few references; what is compressed is a group's family (tens of
 * KB), so a change recompresses little. A run rebuilt because one of its
 * groups changed copies the other groups' compressed pieces from the
 * previous segment instead of compressing them again.
 *
 * Family f of group position j is text[at(f, j) .. at(f, j + 1)), with
 * at(f, j) = off[f * (ngroups + 1) + j]; family f as a whole runs from
 * at(f, 0) to at(f, ngroups) and families follow each other.
 */
#define STORE_RUN_GROUPS 16

struct csm_seg {
    unsigned refs;
    size_t nfam;
    size_t ngroups;
    size_t objects;
    char *text;
    csm_gzpiece *piece; /* nfam * ngroups, [f * ngroups + j]; data NULL until compressed */
    csm_gzpiece *cat;   /* nfam: the family's pieces back to back, built on first use */
    size_t off[];       /* nfam * (ngroups + 1); then piece[], cat[], then the text */
};

struct csm_store {
    store_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    size_t bytes;
    uint64_t epoch;

    store_group *groups;
    size_t ngroups;
    size_t open;    /* the group new objects go to while it has room */
    int changed;    /* some group is dirty */
    csm_seg **runs; /* per run of STORE_RUN_GROUPS groups; NULL if empty */
    size_t nruns;
    csm_seg **segs; /* the non-NULL runs, for callers */
    size_t nsegs;
};

csm_store *csm_store_new(void)
{
    csm_store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cap = 16;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    if (!s->slots) {
        free(s);
        return NULL;
    }
    return s;
}

static store_member *member_of(const csm_store *s, const store_slot *sl)
{
    return &s->groups[sl->group].m[sl->pos];
}

/* Removes the slot's member from its group (swap with the last member). */
static void member_remove(csm_store *s, store_slot *sl)
{
    store_group *g = &s->groups[sl->group];
    store_member *m = &g->m[sl->pos];

    g->bytes -= csm_block_size(m->blk);
    s->bytes -= csm_block_size(m->blk);
    csm_block_unref(m->blk);
    g->n--;
    if (sl->pos != g->n) {
        *m = g->m[g->n];
        s->slots[m->slot].pos = sl->pos;
    }
    g->dirty = 1;
    s->changed = 1;
}

static void slot_clear(csm_store *s, store_slot *sl)
{
    member_remove(s, sl);
    free(sl->uid);
    memset(sl, 0, sizeof(*sl));
    s->count--;
}

void csm_store_clear(csm_store *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].uid)
            slot_clear(s, &s->slots[i]);
    }
}

void csm_store_free(csm_store *s)
{
    if (!s)
        return;
    csm_store_clear(s);
    for (size_t i = 0; i < s->ngroups; i++)
        free(s->groups[i].m);
    for (size_t i = 0; i < s->nruns; i++)
        csm_seg_unref(s->runs[i]);
    free(s->groups);
    free(s->runs);
    free(s->segs);
    free(s->slots);
    free(s);
}

static size_t find_slot(const csm_store *s, const char *uid, uint64_t h)
{
    size_t mask = s->cap - 1;
    size_t i = (size_t)h & mask;

    while (s->slots[i].uid) {
        if (s->slots[i].hash == h && strcmp(s->slots[i].uid, uid) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static csm_err grow(csm_store *s)
{
    size_t ncap = s->cap * 2;
    store_slot *old = s->slots;
    size_t ocap = s->cap;
    store_slot *n = calloc(ncap, sizeof(*n));

    if (!n)
        return CSM_ERR_NOMEM;
    s->slots = n;
    s->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].uid) {
            size_t k = find_slot(s, old[i].uid, old[i].hash);
            s->slots[k] = old[i];
            member_of(s, &s->slots[k])->slot = k;
        }
    }
    free(old);
    return CSM_OK;
}

static int group_has_room(const store_group *g)
{
    return g->bytes < CSM_STORE_GROUP_BYTES && g->n < STORE_GROUP_MAX_OBJECTS;
}

/* A group with room for one more object (a new one if none has room), with
 * space for its member reserved; returns its index in *out. */
static csm_err group_pick(csm_store *s, size_t *out)
{
    store_group *g;
    size_t i = s->open;

    if (i >= s->ngroups || !group_has_room(&s->groups[i])) {
        /* Linear in groups, but only when the open group fills up. */
        for (i = 0; i < s->ngroups && !group_has_room(&s->groups[i]); i++)
            ;
    }
    if (i == s->ngroups) {
        store_group *ng;
        csm_seg **nsegs;
        if (s->ngroups >= UINT32_MAX)
            return CSM_ERR_NOMEM;
        ng = realloc(s->groups, (s->ngroups + 1) * sizeof(*ng));
        if (!ng)
            return CSM_ERR_NOMEM;
        s->groups = ng;
        if (s->ngroups % STORE_RUN_GROUPS == 0) {
            size_t nr = s->ngroups / STORE_RUN_GROUPS + 1;
            nsegs = realloc(s->runs, nr * sizeof(*nsegs));
            if (!nsegs)
                return CSM_ERR_NOMEM;
            s->runs = nsegs;
            s->runs[nr - 1] = NULL;
            nsegs = realloc(s->segs, nr * sizeof(*nsegs));
            if (!nsegs)
                return CSM_ERR_NOMEM;
            s->segs = nsegs;
            s->nruns = nr;
        }
        memset(&s->groups[i], 0, sizeof(s->groups[i]));
        s->ngroups++;
    }
    g = &s->groups[i];
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 64;
        store_member *nm = realloc(g->m, ncap * sizeof(*nm));
        if (!nm)
            return CSM_ERR_NOMEM;
        g->m = nm;
        g->cap = ncap;
    }
    s->open = i;
    *out = i;
    return CSM_OK;
}

csm_err csm_store_upsert(csm_store *s, const char *uid, csm_block *blk)
{
    uint64_t h = csm_hash_fnv1a64_str(uid);
    size_t i;
    size_t gi;
    store_slot *sl;
    store_group *g;
    csm_err err = CSM_OK;

    if ((s->count + 1) * 2 > s->cap) {
        err = grow(s);
        if (err)
            goto fail;
    }
    i = find_slot(s, uid, h);
    sl = &s->slots[i];
    if (sl->uid) {
        store_member *m = member_of(s, sl);
        g = &s->groups[sl->group];
        g->bytes -= csm_block_size(m->blk);
        s->bytes -= csm_block_size(m->blk);
        csm_block_unref(m->blk);
        m->blk = blk;
    } else {
        err = group_pick(s, &gi);
        if (err)
            goto fail;
        sl->uid = strdup(uid);
        if (!sl->uid) {
            err = CSM_ERR_NOMEM;
            goto fail;
        }
        sl->hash = h;
        g = &s->groups[gi];
        sl->group = (uint32_t)gi;
        sl->pos = (uint32_t)g->n;
        g->m[g->n].blk = blk;
        g->m[g->n].slot = i;
        g->n++;
        s->count++;
    }
    g->bytes += csm_block_size(blk);
    g->dirty = 1;
    s->changed = 1;
    sl->epoch = s->epoch;
    s->bytes += csm_block_size(blk);
    return CSM_OK;
fail:
    csm_block_unref(blk);
    return err;
}

/* Removes slot i and shifts the following cluster back so that probing
 * still finds every key without tombstones. */
static void remove_at(csm_store *s, size_t i)
{
    size_t mask = s->cap - 1;
    size_t j = i;

    slot_clear(s, &s->slots[i]);
    for (;;) {
        size_t home;
        j = (j + 1) & mask;
        if (!s->slots[j].uid)
            break;
        home = (size_t)s->slots[j].hash & mask;
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        s->slots[i] = s->slots[j];
        member_of(s, &s->slots[i])->slot = i;
        memset(&s->slots[j], 0, sizeof(s->slots[j]));
        i = j;
    }
}

csm_err csm_store_delete(csm_store *s, const char *uid)
{
    size_t i = find_slot(s, uid, csm_hash_fnv1a64_str(uid));
    if (!s->slots[i].uid)
        return CSM_ERR_NOT_FOUND;
    remove_at(s, i);
    return CSM_OK;
}

csm_block *csm_store_get(const csm_store *s, const char *uid)
{
    size_t i = find_slot(s, uid, csm_hash_fnv1a64_str(uid));
    return s->slots[i].uid ? member_of(s, &s->slots[i])->blk : NULL;
}

size_t csm_store_count(const csm_store *s)
{
    return s->count;
}

size_t csm_store_bytes(const csm_store *s)
{
    return s->bytes;
}

void csm_store_relist_begin(csm_store *s)
{
    s->epoch++;
}

/* Removes the entries drop() selects in one pass. remove_at() may shift a
 * later entry into slot i, so i only advances past a kept entry. An entry
 * shifted backwards across the wrap-around comes from a low slot that this
 * loop already visited and kept. */
static size_t remove_where(csm_store *s, int (*drop)(void *ctx, const store_slot *sl), void *ctx)
{
    size_t removed = 0;
    size_t i = 0;

    while (i < s->cap) {
        if (s->slots[i].uid && drop(ctx, &s->slots[i])) {
            remove_at(s, i);
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

static int unconfirmed(void *ctx, const store_slot *sl)
{
    const csm_store *s = ctx;
    return sl->epoch != s->epoch;
}

size_t csm_store_relist_end(csm_store *s)
{
    return remove_where(s, unconfirmed, s);
}

typedef struct keep_pred {
    csm_store_keep_fn keep;
    void *ctx;
} keep_pred;

static int not_kept(void *ctx, const store_slot *sl)
{
    const keep_pred *k = ctx;
    return !k->keep(k->ctx, sl->uid);
}

size_t csm_store_remove_if(csm_store *s, csm_store_keep_fn keep, void *ctx)
{
    keep_pred k = {keep, ctx};
    return remove_where(s, not_kept, &k);
}

csm_err csm_store_foreach(const csm_store *s, csm_store_visit_fn fn, void *ctx)
{
    for (size_t g = 0; g < s->ngroups; g++) {
        for (size_t k = 0; k < s->groups[g].n; k++) {
            csm_err err = fn(ctx, s->groups[g].m[k].blk);
            if (err)
                return err;
        }
    }
    return CSM_OK;
}

/* ---- segments ------------------------------------------------------------ */

static size_t *seg_at(csm_seg *sg, size_t f, size_t j)
{
    return &sg->off[f * (sg->ngroups + 1) + j];
}

/* The segment of run r (NULL if its groups are empty or on allocation
 * failure, told apart by *err). Pieces of groups that did not change are
 * copied from old, the run's previous segment. */
static csm_seg *seg_build(const csm_store *s, size_t r, const csm_seg *old, csm_err *err)
{
    size_t first = r * STORE_RUN_GROUPS;
    size_t ng = s->ngroups - first < STORE_RUN_GROUPS ? s->ngroups - first : STORE_RUN_GROUPS;
    size_t nfam = 0;
    size_t total = 0;
    size_t objects = 0;
    size_t hdr;
    size_t at = 0;
    csm_seg *sg;

    *err = CSM_OK;
    for (size_t j = 0; j < ng; j++) {
        const store_group *g = &s->groups[first + j];
        for (size_t k = 0; k < g->n; k++) {
            size_t f = csm_block_families(g->m[k].blk);
            nfam = f > nfam ? f : nfam;
            total += csm_block_size(g->m[k].blk);
        }
        objects += g->n;
    }
    if (!objects)
        return NULL;
    *err = CSM_ERR_NOMEM;
    if (nfam > (SIZE_MAX / 8) / (ng + 1) / (sizeof(size_t) + 2 * sizeof(csm_gzpiece)))
        return NULL;
    hdr = sizeof(*sg) + nfam * (ng + 1) * sizeof(size_t) + nfam * (ng + 1) * sizeof(csm_gzpiece);
    if (total > SIZE_MAX / 2 - hdr)
        return NULL;
    sg = malloc(hdr + total);
    if (!sg)
        return NULL;
    sg->refs = 1;
    sg->nfam = nfam;
    sg->ngroups = ng;
    sg->objects = objects;
    sg->piece = (csm_gzpiece *)(void *)(sg->off + nfam * (ng + 1));
    sg->cat = sg->piece + nfam * ng;
    memset(sg->piece, 0, nfam * (ng + 1) * sizeof(csm_gzpiece));
    sg->text = (char *)sg + hdr;
    for (size_t f = 0; f < nfam; f++) {
        for (size_t j = 0; j < ng; j++) {
            const store_group *g = &s->groups[first + j];
            *seg_at(sg, f, j) = at;
            for (size_t k = 0; k < g->n; k++) {
                size_t len;
                const char *p = csm_block_slice(g->m[k].blk, f, &len);
                if (len)
                    memcpy(sg->text + at, p, len);
                at += len;
            }
        }
        *seg_at(sg, f, ng) = at;
    }
    /* Carry over what is compressed already; a failed copy is only
     * compressed again later. */
    for (size_t j = 0; old && old->nfam == nfam && j < ng && j < old->ngroups; j++) {
        if (s->groups[first + j].dirty)
            continue;
        for (size_t f = 0; f < nfam; f++) {
            const csm_gzpiece *op = &old->piece[f * old->ngroups + j];
            csm_gzpiece *np = &sg->piece[f * ng + j];
            if (!op->data)
                continue;
            np->data = malloc(op->len ? op->len : 1);
            if (!np->data)
                continue;
            memcpy(np->data, op->data, op->len);
            np->len = op->len;
            np->crc = op->crc;
            np->raw_len = op->raw_len;
        }
    }
    *err = CSM_OK;
    return sg;
}

csm_err csm_store_segments(csm_store *s, csm_seg *const **out, size_t *n)
{
    csm_err err = CSM_OK;

    if (s->changed) {
        for (size_t r = 0; r < s->nruns; r++) {
            size_t first = r * STORE_RUN_GROUPS;
            size_t last =
                first + STORE_RUN_GROUPS < s->ngroups ? first + STORE_RUN_GROUPS : s->ngroups;
            int dirty = 0;
            csm_seg *sg;
            csm_err e;
            for (size_t i = first; i < last; i++)
                dirty |= s->groups[i].dirty;
            if (!dirty)
                continue;
            sg = seg_build(s, r, s->runs[r], &e);
            if (e) {
                err = e;
                continue;
            }
            csm_seg_unref(s->runs[r]);
            s->runs[r] = sg;
            for (size_t i = first; i < last; i++)
                s->groups[i].dirty = 0;
        }
        s->nsegs = 0;
        for (size_t r = 0; r < s->nruns; r++) {
            if (s->runs[r])
                s->segs[s->nsegs++] = s->runs[r];
        }
        s->changed = err != CSM_OK;
    }
    *out = s->segs;
    *n = err ? 0 : s->nsegs;
    return err;
}

csm_seg *csm_seg_ref(csm_seg *g)
{
    g->refs++;
    return g;
}

void csm_seg_unref(csm_seg *g)
{
    if (!g || --g->refs)
        return;
    for (size_t i = 0; i < g->nfam * (g->ngroups + 1); i++)
        csm_gz_piece_free(&g->piece[i]);
    free(g);
}

void csm_seg_release(void *g)
{
    csm_seg_unref(g);
}

const char *csm_seg_slice(const csm_seg *g, size_t i, size_t *len)
{
    size_t a;

    if (i >= g->nfam) {
        *len = 0;
        return g->text;
    }
    a = g->off[i * (g->ngroups + 1)];
    *len = g->off[i * (g->ngroups + 1) + g->ngroups] - a;
    return g->text + a;
}

csm_err csm_seg_gzip(csm_seg *g, size_t i, const csm_gzpiece **out)
{
    csm_gzpiece *cat;
    csm_gzcat acc;
    size_t total = 0;

    if (i >= g->nfam)
        return CSM_ERR_INVALID;
    cat = &g->cat[i];
    if (cat->data)
        goto out;
    for (size_t j = 0; j < g->ngroups; j++) {
        csm_gzpiece *pc = &g->piece[i * g->ngroups + j];
        size_t a = *seg_at(g, i, j);
        size_t b = *seg_at(g, i, j + 1);
        if (!pc->data && b > a) {
            csm_err err = csm_gz_piece_deflate(g->text + a, b - a, STORE_GZIP_LEVEL, pc);
            if (err)
                return err;
        }
        total += pc->len;
    }
    /* The run's family as one piece: sync-flushed pieces concatenate. */
    cat->data = malloc(total ? total : 1);
    if (!cat->data)
        return CSM_ERR_NOMEM;
    csm_gzcat_init(&acc);
    for (size_t j = 0; j < g->ngroups; j++) {
        const csm_gzpiece *pc = &g->piece[i * g->ngroups + j];
        if (!pc->data)
            continue;
        memcpy(cat->data + cat->len, pc->data, pc->len);
        cat->len += pc->len;
        csm_gzcat_add_piece(&acc, pc);
    }
    cat->crc = acc.crc;
    cat->raw_len = (size_t)acc.len;
out:
    *out = cat;
    return CSM_OK;
}

size_t csm_seg_objects(const csm_seg *g)
{
    return g->objects;
}
