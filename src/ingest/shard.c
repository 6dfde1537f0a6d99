#include "ingest/shard.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

struct csm_shard {
    int32_t ordinal;
    int32_t total;      /* 0: unknown */
    int32_t prev_total; /* during a handover: the count before it */
    int handover;
};

/*
 * go-jump's Hash: b is the last bucket the key jumped to, j the next one.
 * The next jump is (b + 1) * 2^31 / ((key >> 33) + 1) in float64, truncated
 * toward zero. Doubles here are IEEE binary64 with round-to-nearest, like
 * Go's float64; (key >> 33) + 1 < 2^31 and b + 1 <= 2^31 convert exactly,
 * the quotient and the product round once each, and the product is below
 * 2^62, so the conversion to int64 is defined.
 */
int32_t csm_shard_jump(uint64_t key, int32_t buckets)
{
    int64_t b = -1;
    int64_t j = 0;

    while (j < (int64_t)buckets) {
        b = j;
        key = key * 2862933555777941757ull + 1;
        j = (int64_t)((double)(b + 1) * ((double)(1ll << 31) / (double)((key >> 33) + 1)));
    }
    return (int32_t)b;
}

int32_t csm_shard_of(const char *uid, size_t n, int32_t total)
{
    return csm_shard_jump(csm_hash_fnv1a64(uid, n), total);
}

csm_shard *csm_shard_new(int32_t ordinal, int32_t total)
{
    csm_shard *s;

    if (ordinal < 0 || total < 0)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->ordinal = ordinal;
    s->total = total;
    return s;
}

void csm_shard_free(csm_shard *s)
{
    free(s);
}

int32_t csm_shard_ordinal(const csm_shard *s)
{
    return s->ordinal;
}

int32_t csm_shard_total(const csm_shard *s)
{
    return s->total;
}

int csm_shard_in_handover(const csm_shard *s)
{
    return s->handover;
}

int csm_shard_known(const csm_shard *s)
{
    return s->total > 0;
}

static int owns_under(int32_t ordinal, int32_t total, uint64_t h)
{
    return total > 0 && ordinal < total && csm_shard_jump(h, total) == ordinal;
}

int csm_shard_owns(const csm_shard *s, const char *uid, size_t n)
{
    uint64_t h;

    if (s->total == 1 && !s->handover)
        return s->ordinal == 0;
    h = csm_hash_fnv1a64(uid, n);
    if (!owns_under(s->ordinal, s->total, h))
        return 0;
    return !s->handover || owns_under(s->ordinal, s->prev_total, h);
}

int csm_shard_set_total(csm_shard *s, int32_t total, int handover)
{
    if (total < 1 || total == s->total)
        return 0;
    if (handover && s->total > 0) {
        /* A second change inside a handover keeps the count from before
         * the first as the reference: the shards that are slowest to
         * learn are still serving by it. (Changes closer together than
         * the handover delay can still overlap with a shard serving by
         * the intermediate count; the README says so.) */
        if (!s->handover)
            s->prev_total = s->total;
        s->handover = 1;
    } else {
        s->handover = 0;
        s->prev_total = 0;
    }
    s->total = total;
    return 1;
}

int csm_shard_end_handover(csm_shard *s)
{
    int gains = !s->handover || s->total < s->prev_total || s->ordinal >= s->prev_total;

    s->handover = 0;
    s->prev_total = 0;
    return gains;
}

csm_err csm_shard_pod_ordinal(const char *pod, int32_t *out)
{
    const char *dash = pod ? strrchr(pod, '-') : NULL;
    const char *p;
    int64_t v = 0;

    if (!dash || !dash[1] || (dash[1] == '0' && dash[2]))
        return CSM_ERR_PARSE;
    for (p = dash + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return CSM_ERR_PARSE;
        v = v * 10 + (*p - '0');
        if (v > INT32_MAX)
            return CSM_ERR_PARSE;
    }
    *out = (int32_t)v;
    return CSM_OK;
}
