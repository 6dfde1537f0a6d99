/*
 * Horizontal sharding with kube-state-metrics' assignment.
 *
 * An object belongs to shard jump(fnv1a64(metadata.uid), total): the jump
 * consistent hash of Lamping and Veach over the 64-bit FNV-1a hash of the
 * UID string (base/hash.h), exactly as k8s.io/kube-state-metrics/v2/pkg/sharding
 * (through github.com/dgryski/go-jump) computes it, so a fleet mixing both exporters
 * with the same --total-shards agrees on every object. The jump step
 * divides in IEEE double precision; C's double arithmetic on the same
 * operands gives the same bits (one division, one multiplication, one
 * truncation: nothing for a compiler to contract), which the vectors in
 * tests/data/shardvec.txt check.
 *
 * A csm_shard is the assignment one exporter applies: its ordinal and the
 * number of shards. During a handover (the number of shards changed and the
 * new owners have not yet been given their objects) an object is owned only
 * if this shard owns it under both the old and the new count, so that a
 * shard that loses objects drops them at once and a shard that gains
 * objects takes them only when the handover ends: across processes that
 * learn the new count within the handover delay of each other, the union of
 * the shards' bodies never holds an object twice.
 *
 * Not thread-safe; everything runs on the event loop.
 */
#ifndef CSM_SHARD_H
#define CSM_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"

/* Jump consistent hash of key into [0, buckets); buckets >= 1 (0 or less
 * gives -1, as go-jump's loop does). */
int32_t csm_shard_jump(uint64_t key, int32_t buckets);

/* The shard of the UID (n bytes) among total shards. */
int32_t csm_shard_of(const char *uid, size_t n, int32_t total);

typedef struct csm_shard csm_shard;

/* ordinal < total for a static assignment; total 0 means "not known yet"
 * (auto-sharding before the StatefulSet was read): nothing is owned.
 * Returns NULL on allocation failure. Free with csm_shard_free(). */
csm_shard *csm_shard_new(int32_t ordinal, int32_t total);
void csm_shard_free(csm_shard *s);

int32_t csm_shard_ordinal(const csm_shard *s);
/* The current number of shards (the new one during a handover). */
int32_t csm_shard_total(const csm_shard *s);
/* 1 while a handover is in progress. */
int csm_shard_in_handover(const csm_shard *s);
/* 1 once the number of shards is known. */
int csm_shard_known(const csm_shard *s);

/* 1 if this shard owns the object with that UID (n bytes) now. Cost: one
 * FNV pass over the UID and O(log total) jump steps (twice in a handover). */
int csm_shard_owns(const csm_shard *s, const char *uid, size_t n);

/*
 * The number of shards changed to total (>= 1). With handover set and a
 * previous count known, ownership becomes the intersection of the old and
 * the new assignment until csm_shard_end_handover(); otherwise the new
 * assignment applies at once. Returns 1 if anything changed.
 */
int csm_shard_set_total(csm_shard *s, int32_t total, int handover);
/* Ends a handover; returns 1 if the shard may own objects now that it did
 * not own before it (so they must be listed). Jump hash only moves objects
 * to new buckets when the count grows, so a shard that existed before a
 * growth gains nothing; it gains after a shrink, or when it was beyond the
 * old count. */
int csm_shard_end_handover(csm_shard *s);

/* Parses the ordinal of a StatefulSet pod name ("csm-2" -> 2): the decimal
 * digits after the last '-', no sign, no leading zeros (the StatefulSet
 * controller writes none), below 2^31. CSM_ERR_PARSE otherwise. */
csm_err csm_shard_pod_ordinal(const char *pod, int32_t *out);

#endif
