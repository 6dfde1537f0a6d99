#include "base/quote.h"

#include <stdio.h>
#include <string.h>

const char *csm_quote(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;

    /* o + 8 < outlen leaves room for one escape, "..." and the NUL. */
    for (size_t i = 0; i < n && o + 8 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == CSM_QUOTE_MAX) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}
