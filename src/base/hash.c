#include "base/hash.h"

#include <string.h>

uint64_t csm_hash_fnv1a64(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 14695981039346656037ull;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t csm_hash_fnv1a64_str(const char *s)
{
    return csm_hash_fnv1a64(s, strlen(s));
}
