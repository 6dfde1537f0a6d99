#include "store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

void csm_block_release(void *b)
{
    csm_block_unref(b);
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
 * tombstones), load factor kept at or below 1/2. Slot order is the
 * iteration order, so iteration is stable between modifications.
 */
typedef struct store_slot {
    char *uid; /* NULL: empty */
    uint64_t hash;
    csm_block *blk;
    uint64_t epoch;
} store_slot;

struct csm_store {
    store_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    size_t bytes;
    uint64_t epoch;
};

static uint64_t hash_str(const char *s)
{
    /* FNV-1a: UIDs are random already; this only needs to spread them. */
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

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

static void slot_clear(csm_store *s, store_slot *sl)
{
    s->bytes -= csm_block_size(sl->blk);
    csm_block_unref(sl->blk);
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
        if (old[i].uid)
            s->slots[find_slot(s, old[i].uid, old[i].hash)] = old[i];
    }
    free(old);
    return CSM_OK;
}

csm_err csm_store_upsert(csm_store *s, const char *uid, csm_block *blk)
{
    uint64_t h = hash_str(uid);
    size_t i;
    store_slot *sl;
    csm_err err = CSM_OK;

    if ((s->count + 1) * 2 > s->cap) {
        err = grow(s);
        if (err)
            goto fail;
    }
    i = find_slot(s, uid, h);
    sl = &s->slots[i];
    if (sl->uid) {
        s->bytes -= csm_block_size(sl->blk);
        csm_block_unref(sl->blk);
    } else {
        sl->uid = strdup(uid);
        if (!sl->uid) {
            err = CSM_ERR_NOMEM;
            goto fail;
        }
        sl->hash = h;
        s->count++;
    }
    sl->blk = blk;
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
        memset(&s->slots[j], 0, sizeof(s->slots[j]));
        i = j;
    }
}

csm_err csm_store_delete(csm_store *s, const char *uid)
{
    size_t i = find_slot(s, uid, hash_str(uid));
    if (!s->slots[i].uid)
        return CSM_ERR_NOT_FOUND;
    remove_at(s, i);
    return CSM_OK;
}

csm_block *csm_store_get(const csm_store *s, const char *uid)
{
    size_t i = find_slot(s, uid, hash_str(uid));
    return s->slots[i].uid ? s->slots[i].blk : NULL;
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
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].uid) {
            csm_err err = fn(ctx, s->slots[i].blk);
            if (err)
                return err;
        }
    }
    return CSM_OK;
}
