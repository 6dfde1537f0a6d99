#include "store/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

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
 * Where the bytes of an object live (issue 10: steady RSS). An object's
 * text is held once: in its run's segment (what scrapes reference), or, if
 * it changed since that segment was built, in a record in its group's
 * pending buffer, from which the next csm_store_segments() copies it into
 * the rebuilt segment and then frees the buffer. The UID lives with the
 * text (pending record or segment). What is left per object is its member
 * (24 bytes, inline in its group's array), its hash slot (8 bytes at a load
 * factor of 1/4 to 1/2) and, in the segment, one 32-bit offset per family
 * and one for its UID. The caller's block is copied into the pending buffer
 * and dropped at once, so blocks are short-lived and the allocator reuses
 * their memory instead of keeping it between long-lived objects.
 *
 * The hash table uses open addressing with linear probing and
 * backward-shift deletion (no tombstones), load factor kept at or below
 * 1/2. A slot names its object's place in a group (group, pos); the member
 * holds the slot index back, so moving a slot (growth, backward shift) and
 * moving a member (swap-remove) each update the other side in O(1).
 */
typedef struct store_slot {
    uint32_t group; /* 1 + the group's index; 0: empty */
    uint32_t pos;   /* index in the group's members */
} store_slot;

typedef struct store_member {
    uint64_t hash;
    uint32_t slot;
    /* 1 + offset of its record in the group's pending buffer; 0: its text
     * and UID are in its run's segment, row `row` of its group. */
    uint32_t pend;
    uint32_t row;
    uint32_t epoch; /* the relist epoch it was last upserted in */
} store_member;

/* Objects a group takes at most, whatever their size: bounds the rebuild
 * of a group of tiny objects. */
#define STORE_GROUP_MAX_OBJECTS 4096
/* Compression level of cached gzip pieces: each is compressed once per
 * change of its group, on the scrape that follows the change, so speed
 * still matters more than the last few percent of size. */
#define STORE_GZIP_LEVEL 1
/* Dead records (replaced or removed before a rebuild) a pending buffer may
 * hold beyond its live ones before it is compacted: without scrapes, an
 * object updated in a loop would otherwise grow the buffer without bound. */
#define STORE_PEND_SLACK (16 * 1024)
/* Bytes a rebuild must free (pending buffers and replaced segments) before
 * csm_store_segments() asks the allocator to return free pages: after the
 * first scrape of a full sync the pending buffers of every object are free
 * at once, scattered between long-lived allocations, and glibc returns only
 * the top of the heap by itself. malloc_trim() walks the heap (about a
 * millisecond per 100 MB), so small rebuilds skip it. */
#define STORE_TRIM_BYTES (8u << 20)

/*
 * A pending record, at a 4-byte aligned offset: uint32 nfam, uint32 uid
 * length, nfam + 1 uint32 offsets into its text (family f is [off[f],
 * off[f + 1])), the UID and a NUL, the text of each family back to back,
 * padding to 4 bytes.
 */
typedef struct store_group {
    store_member *m;
    uint32_t n;
    uint32_t cap;
    size_t bytes; /* text of its members */
    char *pend;
    size_t pend_len;
    size_t pend_cap;
    size_t pend_dead; /* bytes of records no member names */
    int dirty;        /* changed since its run's segment was built */
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
 * at(f, 0) to at(f, ngroups) and families follow each other. Row r of group
 * j (the object that was its member r when the segment was built) has its
 * family f at at(f, j) + rows[rowat[j] + r * nfam + f] up to the same of
 * row r + 1 (row nrows[j] ends the group), and its UID at uids +
 * rows[rowat[j] + (nrows[j] + 1) * nfam + r].
 */
#define STORE_RUN_GROUPS 16

struct csm_seg {
    unsigned refs;
    size_t nfam;
    size_t ngroups;
    size_t objects;
    char *text;
    char *uids;
    uint32_t *rows;
    size_t nrows[STORE_RUN_GROUPS];
    size_t rowat[STORE_RUN_GROUPS];
    csm_gzpiece *piece; /* nfam * ngroups, [f * ngroups + j]; data NULL until compressed */
    csm_gzpiece *cat;   /* nfam: the family's pieces back to back, built on first use */
    size_t off[];       /* nfam * (ngroups + 1); then piece[], cat[], rows[], uids, text */
};

struct csm_store {
    store_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    size_t bytes;
    uint32_t epoch;

    store_group *groups;
    size_t ngroups;
    size_t open;    /* the group new objects go to while it has room */
    int changed;    /* some group is dirty */
    csm_seg **runs; /* per run of STORE_RUN_GROUPS groups; NULL if empty */
    size_t nruns;
    csm_seg **segs; /* the non-NULL runs, for callers */
    size_t nsegs;
};

/* ---- pending records ----------------------------------------------------- */

static uint32_t rd32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static void wr32(char *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}

static const char *rec_of(const store_group *g, const store_member *m)
{
    return g->pend + m->pend - 1;
}

static size_t rec_nfam(const char *r)
{
    return rd32(r);
}

/* Offset i of the record's text (i <= nfam; offset nfam is its length). */
static size_t rec_off(const char *r, size_t i)
{
    return rd32(r + 8 + 4 * i);
}

static const char *rec_uid(const char *r)
{
    return r + 8 + 4 * ((size_t)rd32(r) + 1);
}

/* Text of family f (f < nfam). */
static const char *rec_text(const char *r, size_t f, size_t *len)
{
    *len = rec_off(r, f + 1) - rec_off(r, f);
    return rec_uid(r) + rd32(r + 4) + 1 + rec_off(r, f);
}

static size_t rec_size_for(size_t nfam, size_t uidlen, size_t text)
{
    return (8 + 4 * (nfam + 1) + uidlen + 1 + text + 3) & ~(size_t)3;
}

static size_t rec_size(const char *r)
{
    return rec_size_for(rd32(r), rd32(r + 4), rec_off(r, rd32(r)));
}

/* ---- where a member's bytes are ------------------------------------------ */

static const csm_seg *seg_of(const csm_store *s, size_t gi)
{
    return s->runs[gi / STORE_RUN_GROUPS];
}

static size_t seg_at(const csm_seg *sg, size_t f, size_t j)
{
    return sg->off[f * (sg->ngroups + 1) + j];
}

static const uint32_t *seg_row(const csm_seg *sg, size_t j, size_t row)
{
    return sg->rows + sg->rowat[j] + row * sg->nfam;
}

static size_t member_nfam(const csm_store *s, size_t gi, const store_member *m)
{
    if (m->pend)
        return rec_nfam(rec_of(&s->groups[gi], m));
    return seg_of(s, gi)->nfam;
}

/* The member's text of family f (borrowed; len 0 if f is out of range). */
static const char *member_text(const csm_store *s, size_t gi, const store_member *m, size_t f,
                               size_t *len)
{
    const csm_seg *sg;
    const uint32_t *r;
    size_t j = gi % STORE_RUN_GROUPS;

    *len = 0;
    if (f >= member_nfam(s, gi, m))
        return "";
    if (m->pend)
        return rec_text(rec_of(&s->groups[gi], m), f, len);
    sg = seg_of(s, gi);
    r = seg_row(sg, j, m->row);
    *len = r[sg->nfam + f] - r[f];
    return sg->text + seg_at(sg, f, j) + r[f];
}

static size_t member_bytes(const csm_store *s, size_t gi, const store_member *m)
{
    size_t total = 0;
    size_t nfam = member_nfam(s, gi, m);

    if (m->pend) {
        const char *r = rec_of(&s->groups[gi], m);
        return rec_off(r, rec_nfam(r));
    }
    for (size_t f = 0; f < nfam; f++) {
        size_t len;
        member_text(s, gi, m, f, &len);
        total += len;
    }
    return total;
}

static const char *member_uid(const csm_store *s, size_t gi, const store_member *m)
{
    const csm_seg *sg;
    size_t j = gi % STORE_RUN_GROUPS;

    if (m->pend)
        return rec_uid(rec_of(&s->groups[gi], m));
    sg = seg_of(s, gi);
    return sg->uids + sg->rows[sg->rowat[j] + (sg->nrows[j] + 1) * sg->nfam + m->row];
}

static store_member *member_of(const csm_store *s, const store_slot *sl)
{
    return &s->groups[sl->group - 1].m[sl->pos];
}

static const char *slot_uid(const csm_store *s, const store_slot *sl)
{
    return member_uid(s, sl->group - 1, member_of(s, sl));
}

/* ---- pending buffers ----------------------------------------------------- */

/* Rewrites g's pending buffer with only the records its members name. On
 * allocation failure the buffer stays as it is (only larger than needed). */
static void pend_compact(store_group *g)
{
    size_t live = g->pend_len - g->pend_dead;
    char *np = live ? malloc(live) : NULL;
    size_t at = 0;

    if (live && !np)
        return;
    for (uint32_t k = 0; k < g->n; k++) {
        store_member *m = &g->m[k];
        size_t sz;
        if (!m->pend)
            continue;
        sz = rec_size(rec_of(g, m));
        memcpy(np + at, rec_of(g, m), sz);
        m->pend = (uint32_t)at + 1;
        at += sz;
    }
    free(g->pend);
    g->pend = np;
    g->pend_len = at;
    g->pend_cap = live;
    g->pend_dead = 0;
}

/* Appends the record of (uid, blk) to g's pending buffer and returns its
 * offset + 1 in *out (what store_member.pend holds). */
static csm_err pend_add(store_group *g, const char *uid, const csm_block *blk, uint32_t *out)
{
    size_t uidlen = strlen(uid);
    size_t nfam = csm_block_families(blk);
    size_t text = csm_block_size(blk);
    size_t sz;
    char *r;
    char *p;

    if (nfam > UINT32_MAX / 8 || uidlen > UINT32_MAX / 2 || text > UINT32_MAX / 2)
        return CSM_ERR_TOO_LARGE;
    sz = rec_size_for(nfam, uidlen, text);
    if (g->pend_dead > g->pend_len - g->pend_dead + STORE_PEND_SLACK)
        pend_compact(g);
    if (sz > UINT32_MAX - 1 - g->pend_len)
        return CSM_ERR_TOO_LARGE;
    if (g->pend_len + sz > g->pend_cap) {
        size_t ncap = g->pend_cap ? g->pend_cap + g->pend_cap / 2 : 1024;
        if (ncap < g->pend_len + sz)
            ncap = g->pend_len + sz;
        p = realloc(g->pend, ncap);
        if (!p)
            return CSM_ERR_NOMEM;
        g->pend = p;
        g->pend_cap = ncap;
    }
    r = g->pend + g->pend_len;
    memset(r, 0, sz);
    wr32(r, (uint32_t)nfam);
    wr32(r + 4, (uint32_t)uidlen);
    p = r + 8 + 4 * (nfam + 1);
    memcpy(p, uid, uidlen + 1);
    p += uidlen + 1;
    text = 0;
    for (size_t f = 0; f < nfam; f++) {
        size_t len;
        const char *t = csm_block_slice(blk, f, &len);
        wr32(r + 8 + 4 * f, (uint32_t)text);
        if (len)
            memcpy(p + text, t, len);
        text += len;
    }
    wr32(r + 8 + 4 * nfam, (uint32_t)text);
    *out = (uint32_t)g->pend_len + 1;
    g->pend_len += sz;
    return CSM_OK;
}

/* The member's record, if it has one, is no longer named. */
static void pend_drop(store_group *g, const store_member *m)
{
    if (m->pend)
        g->pend_dead += rec_size(rec_of(g, m));
}

static size_t pend_free(store_group *g)
{
    size_t freed = g->pend_cap;

    free(g->pend);
    g->pend = NULL;
    g->pend_len = g->pend_cap = g->pend_dead = 0;
    return freed;
}

/* ---- the table ----------------------------------------------------------- */

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

/* Removes the slot's member from its group (swap with the last member). */
static void member_remove(csm_store *s, store_slot *sl)
{
    size_t gi = sl->group - 1;
    store_group *g = &s->groups[gi];
    store_member *m = &g->m[sl->pos];
    size_t bytes = member_bytes(s, gi, m);

    g->bytes -= bytes;
    s->bytes -= bytes;
    pend_drop(g, m);
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
    memset(sl, 0, sizeof(*sl));
    s->count--;
}

void csm_store_clear(csm_store *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].group)
            slot_clear(s, &s->slots[i]);
    }
}

void csm_store_free(csm_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ngroups; i++) {
        free(s->groups[i].m);
        pend_free(&s->groups[i]);
    }
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

    while (s->slots[i].group) {
        const store_member *m = member_of(s, &s->slots[i]);
        if (m->hash == h && strcmp(slot_uid(s, &s->slots[i]), uid) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static csm_err grow(csm_store *s)
{
    size_t ncap = s->cap * 2;
    size_t mask = ncap - 1;
    store_slot *old = s->slots;
    size_t ocap = s->cap;
    store_slot *n;

    if (ncap > (size_t)UINT32_MAX + 1)
        return CSM_ERR_NOMEM;
    n = calloc(ncap, sizeof(*n));
    if (!n)
        return CSM_ERR_NOMEM;
    s->slots = n;
    s->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        store_member *m;
        size_t k;
        if (!old[i].group)
            continue;
        m = &s->groups[old[i].group - 1].m[old[i].pos];
        /* Keys are distinct: the first empty slot from home is its place. */
        for (k = (size_t)m->hash & mask; n[k].group; k = (k + 1) & mask)
            ;
        n[k] = old[i];
        m->slot = (uint32_t)k;
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
        if (s->ngroups >= UINT32_MAX - 1)
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
        /* 1.5x: the arrays are long-lived, a doubling leaves half unused. */
        uint32_t ncap = g->cap ? g->cap + g->cap / 2 : 16;
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
    store_member *m;
    uint32_t pend;
    csm_err err = CSM_OK;

    if ((s->count + 1) * 2 > s->cap) {
        err = grow(s);
        if (err)
            goto out;
    }
    i = find_slot(s, uid, h);
    sl = &s->slots[i];
    if (sl->group) {
        size_t old;
        gi = sl->group - 1;
        g = &s->groups[gi];
        m = &g->m[sl->pos];
        old = member_bytes(s, gi, m);
        err = pend_add(g, uid, blk, &pend);
        if (err)
            goto out;
        pend_drop(g, m);
        g->bytes -= old;
        s->bytes -= old;
    } else {
        err = group_pick(s, &gi);
        if (err)
            goto out;
        g = &s->groups[gi];
        err = pend_add(g, uid, blk, &pend);
        if (err)
            goto out;
        sl->group = (uint32_t)gi + 1;
        sl->pos = g->n;
        m = &g->m[g->n++];
        memset(m, 0, sizeof(*m));
        m->hash = h;
        m->slot = (uint32_t)i;
        s->count++;
    }
    m->pend = pend;
    m->epoch = s->epoch;
    g->bytes += csm_block_size(blk);
    s->bytes += csm_block_size(blk);
    g->dirty = 1;
    s->changed = 1;
out:
    /* Its text is copied (or the upsert failed): the block is not kept. */
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
        if (!s->slots[j].group)
            break;
        home = (size_t)member_of(s, &s->slots[j])->hash & mask;
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        s->slots[i] = s->slots[j];
        member_of(s, &s->slots[i])->slot = (uint32_t)i;
        memset(&s->slots[j], 0, sizeof(s->slots[j]));
        i = j;
    }
}

csm_err csm_store_delete(csm_store *s, const char *uid)
{
    size_t i = find_slot(s, uid, csm_hash_fnv1a64_str(uid));
    if (!s->slots[i].group)
        return CSM_ERR_NOT_FOUND;
    remove_at(s, i);
    return CSM_OK;
}

csm_err csm_store_text(const csm_store *s, const char *uid, size_t family, const char **p,
                       size_t *len)
{
    size_t i = find_slot(s, uid, csm_hash_fnv1a64_str(uid));
    const store_slot *sl = &s->slots[i];

    *p = "";
    *len = 0;
    if (!sl->group)
        return CSM_ERR_NOT_FOUND;
    *p = member_text(s, sl->group - 1, member_of(s, sl), family, len);
    return CSM_OK;
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
    if (++s->epoch == 0) {
        /* Wrapped: no member may carry the new epoch from 2^32 relists ago. */
        for (size_t g = 0; g < s->ngroups; g++) {
            for (uint32_t k = 0; k < s->groups[g].n; k++)
                s->groups[g].m[k].epoch = 0;
        }
        s->epoch = 1;
    }
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
        if (s->slots[i].group && drop(ctx, &s->slots[i])) {
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
    return member_of(s, sl)->epoch != s->epoch;
}

size_t csm_store_relist_end(csm_store *s)
{
    return remove_where(s, unconfirmed, s);
}

typedef struct keep_pred {
    const csm_store *s;
    csm_store_keep_fn keep;
    void *ctx;
} keep_pred;

static int not_kept(void *ctx, const store_slot *sl)
{
    const keep_pred *k = ctx;
    return !k->keep(k->ctx, slot_uid(k->s, sl));
}

size_t csm_store_remove_if(csm_store *s, csm_store_keep_fn keep, void *ctx)
{
    keep_pred k = {s, keep, ctx};
    return remove_where(s, not_kept, &k);
}

csm_err csm_store_foreach(const csm_store *s, csm_store_visit_fn fn, void *ctx)
{
    for (size_t g = 0; g < s->ngroups; g++) {
        for (uint32_t k = 0; k < s->groups[g].n; k++) {
            csm_err err = fn(ctx, member_uid(s, g, &s->groups[g].m[k]));
            if (err)
                return err;
        }
    }
    return CSM_OK;
}

/* ---- segments ------------------------------------------------------------ */

/* The segment of run r (NULL if its groups are empty or on failure, told
 * apart by *err), built from the members' current text: their pending
 * records, or the run's current segment (old). Pieces of groups that did
 * not change are copied from old. */
static csm_seg *seg_build(const csm_store *s, size_t r, const csm_seg *old, csm_err *err)
{
    size_t first = r * STORE_RUN_GROUPS;
    size_t ng = s->ngroups - first < STORE_RUN_GROUPS ? s->ngroups - first : STORE_RUN_GROUPS;
    size_t nfam = 0;
    size_t total = 0;
    size_t uidbytes = 0;
    size_t nrows = 0;
    size_t objects = 0;
    size_t hdr;
    size_t at = 0;
    csm_seg *sg;

    *err = CSM_OK;
    for (size_t j = 0; j < ng; j++) {
        const store_group *g = &s->groups[first + j];
        for (uint32_t k = 0; k < g->n; k++) {
            size_t f = member_nfam(s, first + j, &g->m[k]);
            nfam = f > nfam ? f : nfam;
            uidbytes += strlen(member_uid(s, first + j, &g->m[k])) + 1;
        }
        /* Row offsets are 32 bits, relative to the group's family. */
        if (g->bytes > UINT32_MAX || uidbytes > UINT32_MAX) {
            *err = CSM_ERR_TOO_LARGE;
            return NULL;
        }
        total += g->bytes;
        objects += g->n;
    }
    if (!objects)
        return NULL;
    *err = CSM_ERR_NOMEM;
    for (size_t j = 0; j < ng; j++)
        nrows += (s->groups[first + j].n + 1) * nfam + s->groups[first + j].n;
    if (nfam > (SIZE_MAX / 8) / (ng + 1) / (sizeof(size_t) + 2 * sizeof(csm_gzpiece)))
        return NULL;
    hdr = sizeof(*sg) + nfam * (ng + 1) * sizeof(size_t) + nfam * (ng + 1) * sizeof(csm_gzpiece);
    if (nrows > (SIZE_MAX / 8) / sizeof(uint32_t))
        return NULL;
    hdr += nrows * sizeof(uint32_t);
    if (total > SIZE_MAX / 4 - hdr - uidbytes)
        return NULL;
    sg = malloc(hdr + uidbytes + total);
    if (!sg)
        return NULL;
    memset(sg, 0, sizeof(*sg));
    sg->refs = 1;
    sg->nfam = nfam;
    sg->ngroups = ng;
    sg->objects = objects;
    sg->piece = (csm_gzpiece *)(void *)(sg->off + nfam * (ng + 1));
    sg->cat = sg->piece + nfam * ng;
    memset(sg->piece, 0, nfam * (ng + 1) * sizeof(csm_gzpiece));
    sg->rows = (uint32_t *)(void *)(sg->cat + nfam);
    sg->uids = (char *)sg + hdr;
    sg->text = sg->uids + uidbytes;
    nrows = 0;
    for (size_t j = 0; j < ng; j++) {
        sg->nrows[j] = s->groups[first + j].n;
        sg->rowat[j] = nrows;
        nrows += (sg->nrows[j] + 1) * nfam + sg->nrows[j];
    }
    for (size_t f = 0; f < nfam; f++) {
        for (size_t j = 0; j < ng; j++) {
            const store_group *g = &s->groups[first + j];
            size_t start = at;
            sg->off[f * (ng + 1) + j] = at;
            for (uint32_t k = 0; k < g->n; k++) {
                size_t len;
                const char *p = member_text(s, first + j, &g->m[k], f, &len);
                sg->rows[sg->rowat[j] + k * nfam + f] = (uint32_t)(at - start);
                if (len)
                    memcpy(sg->text + at, p, len);
                at += len;
            }
            sg->rows[sg->rowat[j] + g->n * nfam + f] = (uint32_t)(at - start);
        }
        sg->off[f * (ng + 1) + ng] = at;
    }
    at = 0;
    for (size_t j = 0; j < ng; j++) {
        const store_group *g = &s->groups[first + j];
        uint32_t *uo = sg->rows + sg->rowat[j] + (g->n + 1) * nfam;
        for (uint32_t k = 0; k < g->n; k++) {
            const char *u = member_uid(s, first + j, &g->m[k]);
            size_t len = strlen(u) + 1;
            uo[k] = (uint32_t)at;
            memcpy(sg->uids + at, u, len);
            at += len;
        }
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

/* Bytes of the segment's own allocation (text, UIDs, tables), for the
 * decision to trim. */
static size_t seg_footprint(const csm_seg *sg)
{
    if (!sg)
        return 0;
    return (size_t)(sg->text - (const char *)sg) +
           (sg->nfam ? seg_at(sg, sg->nfam - 1, sg->ngroups) : 0);
}

/* Rebuilds run r; returns the bytes the rebuild freed (or 0) in *freed. */
static csm_err run_rebuild(csm_store *s, size_t r, size_t *freed)
{
    size_t first = r * STORE_RUN_GROUPS;
    size_t last = first + STORE_RUN_GROUPS < s->ngroups ? first + STORE_RUN_GROUPS : s->ngroups;
    csm_seg *old = s->runs[r];
    csm_err err;
    csm_seg *sg = seg_build(s, r, old, &err);

    if (err)
        return err;
    /* From here on every member's text is in sg, row = its position. */
    s->runs[r] = sg;
    for (size_t i = first; i < last; i++) {
        store_group *g = &s->groups[i];
        for (uint32_t k = 0; k < g->n; k++) {
            g->m[k].pend = 0;
            g->m[k].row = k;
        }
        *freed += pend_free(g);
        g->dirty = 0;
    }
    if (old && old->refs == 1)
        *freed += seg_footprint(old);
    csm_seg_unref(old);
    return CSM_OK;
}

csm_err csm_store_segments(csm_store *s, csm_seg *const **out, size_t *n)
{
    csm_err err = CSM_OK;
    size_t freed = 0;

    if (s->changed) {
        for (size_t r = 0; r < s->nruns; r++) {
            size_t first = r * STORE_RUN_GROUPS;
            size_t last =
                first + STORE_RUN_GROUPS < s->ngroups ? first + STORE_RUN_GROUPS : s->ngroups;
            int dirty = 0;
            csm_err e;
            for (size_t i = first; i < last; i++)
                dirty |= s->groups[i].dirty;
            if (!dirty)
                continue;
            e = run_rebuild(s, r, &freed);
            if (e)
                err = e;
        }
        s->nsegs = 0;
        for (size_t r = 0; r < s->nruns; r++) {
            if (s->runs[r])
                s->segs[s->nsegs++] = s->runs[r];
        }
        s->changed = err != CSM_OK;
#ifdef __GLIBC__
        if (freed >= STORE_TRIM_BYTES)
            malloc_trim(0);
#endif
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
    a = seg_at(g, i, 0);
    *len = seg_at(g, i, g->ngroups) - a;
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
        size_t a = seg_at(g, i, j);
        size_t b = seg_at(g, i, j + 1);
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
