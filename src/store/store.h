/*
 * Rendered metric text per object.
 *
 * A csm_block is the immutable, reference-counted text of one object: for
 * each family of its resource, the sample lines ("name{...} value\n") that
 * the object contributes, back to back, with an offset table. It is rendered
 * once per object change and then only referenced: a scrape appends slices
 * of it to the response without copying, taking a reference that the HTTP
 * layer drops when the bytes are on the wire. Replacing an object in the
 * store never disturbs a scrape that still holds the old block.
 *
 * A csm_store maps object UID to its current text for one informer (one
 * resource in one namespace or in all). It copies a block's text on upsert
 * and does not keep the block: an object's text is held once, in the
 * segment scrapes reference, or (changed since the last
 * csm_store_segments()) in a pending buffer of its group. Relists follow
 * mark and sweep: csm_store_relist_begin(), upsert every listed object,
 * then csm_store_relist_end() drops whatever was not listed. Objects are
 * never removed before the new list is in, so no scrape sees a half-empty
 * store.
 *
 * Not thread-safe: everything runs on the exporter's event loop.
 */
#ifndef CSM_STORE_H
#define CSM_STORE_H

#include <stddef.h>

#include "base/buf.h"
#include "csm/error.h"

typedef struct csm_block csm_block;

/*
 * Builds a block from nfam texts (texts[i] has lens[i] bytes; NULL allowed
 * when the length is 0). Returns a block with one reference, or NULL on
 * allocation failure. One allocation holds the header, offsets and text.
 */
csm_block *csm_block_new(size_t nfam, const char *const *texts, const size_t *lens);
/* The same from nfam buffers (family i is bufs[i]), without an index array:
 * what rendering uses, once per object change. */
csm_block *csm_block_from_bufs(size_t nfam, const csm_buf *bufs);
csm_block *csm_block_ref(csm_block *b);
/* Drops a reference; frees on the last. Accepts NULL. */
void csm_block_unref(csm_block *b);
size_t csm_block_families(const csm_block *b);
/* The text for family i (borrowed, *len bytes, not NUL-terminated);
 * len 0 if i is out of range. */
const char *csm_block_slice(const csm_block *b, size_t i, size_t *len);
/* Total bytes of text, for memory accounting. */
size_t csm_block_size(const csm_block *b);

typedef struct csm_store csm_store;

/* Returns NULL on allocation failure. Free with csm_store_free(). */
csm_store *csm_store_new(void);
void csm_store_free(csm_store *s);

/* Inserts or replaces the text of uid with blk's. The store takes over the
 * caller's reference to blk and drops it before returning (it keeps a copy
 * of the text, not the block), also on failure. CSM_ERR_TOO_LARGE if the
 * text does not fit 32-bit offsets. */
csm_err csm_store_upsert(csm_store *s, const char *uid, csm_block *blk);

/* Removes uid; CSM_ERR_NOT_FOUND if it is not there. */
csm_err csm_store_delete(csm_store *s, const char *uid);

/* The current text of family `family` of uid's object in *p, *len bytes
 * (borrowed: valid until the store changes or csm_store_segments() runs;
 * len 0 if family is out of range). CSM_ERR_NOT_FOUND if uid is not there. */
csm_err csm_store_text(const csm_store *s, const char *uid, size_t family, const char **p,
                       size_t *len);

size_t csm_store_count(const csm_store *s);
/* Bytes of rendered text held. */
size_t csm_store_bytes(const csm_store *s);

/* Starts a relist: marks every current entry as unconfirmed. */
void csm_store_relist_begin(csm_store *s);
/* Ends a relist: removes every entry not upserted since relist_begin and
 * returns how many it removed. */
size_t csm_store_relist_end(csm_store *s);

/* Removes every entry for whose UID keep() returns 0 (a reshard dropping
 * the objects another shard now owns) and returns how many it removed.
 * keep must not modify the store. One pass over the table. */
typedef int (*csm_store_keep_fn)(void *ctx, const char *uid);
size_t csm_store_remove_if(csm_store *s, csm_store_keep_fn keep, void *ctx);

/* Removes everything (e.g. the resource's CRD was deleted). */
void csm_store_clear(csm_store *s);

/* Calls fn with every object's UID (borrowed for the call), in a stable
 * but unspecified order; stops at and returns the first error. fn must not
 * modify the store. */
typedef csm_err (*csm_store_visit_fn)(void *ctx, const char *uid);
csm_err csm_store_foreach(const csm_store *s, csm_store_visit_fn fn, void *ctx);

/*
 * Segments: what a scrape writes.
 *
 * The store keeps its objects in groups of about CSM_STORE_GROUP_BYTES of
 * text, and 16 consecutive groups form a run. A csm_seg is the immutable,
 * reference-counted text of one run (about a megabyte): for each family,
 * the slices of all its objects back to back, so that a scrape writes a
 * family as one reference per run instead of one per object (a libevent
 * reference costs about 1 KB; a slow reader of 100,000 objects would hold
 * 100 MB of them). A change marks its group dirty; csm_store_segments()
 * rebuilds the runs with a dirty group (a copy of the run's text) and
 * returns the current segments, so a scrape sees every change made before
 * it. Scrapes in flight keep the segments they took a reference on;
 * concurrent scrapes share them.
 *
 * The gzip form is compressed per group and family, once, on first use
 * (csm_seg_gzip()); a rebuilt run copies the compressed pieces of its
 * unchanged groups from its previous segment, so a change recompresses one
 * group. The pieces of a run's family are joined into one piece that
 * responses reference and stitch (see gzcat.h).
 *
 * Memory: the segments hold every object's text and UID once, with one
 * 32-bit offset per object and family; a rebuilt run takes the unchanged
 * objects' text from its previous segment and the changed ones' from the
 * pending buffers, which it then frees. A scrape holding an old segment
 * keeps it (and only it) alive.
 */
#define CSM_STORE_GROUP_BYTES (64 * 1024)

typedef struct csm_seg csm_seg;
typedef struct csm_gzpiece csm_gzpiece;

/*
 * Rebuilds the segments of groups that changed since the last call and
 * returns the array of current segments (borrowed, valid until the store
 * changes; take a reference with csm_seg_ref() to keep one longer) in *out
 * and its length in *n. Segments of empty groups are left out. On
 * allocation failure the store is unchanged and the dirty groups stay
 * dirty.
 */
csm_err csm_store_segments(csm_store *s, csm_seg *const **out, size_t *n);

csm_seg *csm_seg_ref(csm_seg *g);
/* Drops a reference; frees on the last. Accepts NULL. */
void csm_seg_unref(csm_seg *g);
/* Same with the signature of a csm_sink release callback. */
void csm_seg_release(void *g);
/* The text of family i across the group (borrowed; len 0 if out of range). */
const char *csm_seg_slice(const csm_seg *g, size_t i, size_t *len);
/* The cached gzip piece of family i (raw deflate, sync-flushed), built now
 * if it is not cached yet (borrowed; lives as long as the segment). */
csm_err csm_seg_gzip(csm_seg *g, size_t i, const csm_gzpiece **out);
/* Objects whose text the segment holds. */
size_t csm_seg_objects(const csm_seg *g);

#endif
