/*
 * The one string hash: 64-bit FNV-1a (offset basis 14695981039346656037,
 * prime 1099511628211), byte by byte. Sharding depends on it being exactly
 * this function, bit for bit: kube-state-metrics assigns an object to
 * jump(fnv1a64(uid)) (ingest/shard.h, tests/data/shardvec.txt). The hash
 * tables of the store, the series budgets, the lifecycle accounting and
 * the Count metrics use it too; for them it only has to spread keys (UIDs
 * are random already). Not a defence against keys chosen to collide.
 */
#ifndef CSM_HASH_H
#define CSM_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 of the n bytes at p (NULs included). Cost O(n). */
uint64_t csm_hash_fnv1a64(const void *p, size_t n);

/* FNV-1a 64 of the NUL-terminated s, without its NUL: the same value as
 * csm_hash_fnv1a64(s, strlen(s)). */
uint64_t csm_hash_fnv1a64_str(const char *s);

#endif
