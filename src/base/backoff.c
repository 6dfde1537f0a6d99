#include "base/backoff.h"

void csm_backoff_init(csm_backoff *b, uint64_t seed)
{
    b->initial = 0.8;
    b->cap = 30.0;
    b->jitter = 0.5;
    b->reset_after = 60.0;
    b->current = 0;
    b->last_failure = 0;
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

void csm_backoff_reset(csm_backoff *b)
{
    b->current = 0;
}

/* xorshift64*: plenty for spreading retries apart. */
static double next_unit(csm_backoff *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return (double)((b->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

double csm_backoff_next(csm_backoff *b, double now)
{
    double d;

    if (b->current > 0 && now - b->last_failure >= b->reset_after)
        b->current = 0;
    b->last_failure = now;
    if (b->current <= 0)
        b->current = b->initial;
    else
        b->current = b->current * 2 > b->cap ? b->cap : b->current * 2;
    d = b->current * (1 + b->jitter * next_unit(b));
    /* Jitter spreads retries apart but never past the cap; at the cap it
     * spreads them below it instead (down to cap / (1 + jitter)), so that
     * replicas that failed together do not retry in lockstep every 30 s. */
    if (d > b->cap)
        d = b->cap / (1 + b->jitter * next_unit(b));
    return d;
}
