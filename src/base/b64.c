#include "base/b64.h"

/* The value of c in the alphabet the flags select, or -1. */
static int b64_value(char c, unsigned flags)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == ((flags & CSM_B64_URL) ? '-' : '+'))
        return 62;
    if (c == ((flags & CSM_B64_URL) ? '_' : '/'))
        return 63;
    return -1;
}

size_t csm_b64_decoded_max(size_t len)
{
    return len / 4 * 3 + 3;
}

csm_err csm_b64_decode(const char *in, size_t len, unsigned flags, unsigned char *out,
                       size_t *outlen, size_t *bad)
{
    unsigned int acc = 0;
    unsigned int bits = 0;
    size_t n = 0;
    size_t nchars = 0;
    size_t pad = 0;
    size_t at = 0;
    csm_err err = CSM_ERR_PARSE;
    int v;

    *outlen = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if ((flags & CSM_B64_SKIP_CRLF) && (c == '\r' || c == '\n'))
            continue;
        if ((flags & CSM_B64_PAD) && c == '=' && nchars % 4 >= 2 && pad < 2) {
            pad++;
            continue;
        }
        v = b64_value(c, flags);
        /* Nothing but padding may follow padding. */
        if (v < 0 || pad) {
            at = i;
            goto out;
        }
        acc = (acc << 6) | (unsigned int)v;
        bits += 6;
        nchars++;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* One leftover character carries only 6 bits: not a whole byte.
     * Padding must complete the last quantum. */
    if (nchars % 4 == 1 || (pad && (nchars + pad) % 4 != 0)) {
        at = len;
        goto out;
    }
    *outlen = n;
    err = CSM_OK;
out:
    if (err && bad)
        *bad = at;
    return err;
}
