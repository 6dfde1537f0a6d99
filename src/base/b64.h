/*
 * The one base64 decoder. Its callers differ only in what they accept,
 * which the flags say:
 *   kubeconfig "-data" fields: the standard alphabet as Go's encoding/json
 *     reads a []byte: CSM_B64_PAD | CSM_B64_SKIP_CRLF;
 *   a JWT's payload: unpadded base64url (RFC 7515): CSM_B64_URL.
 */
#ifndef CSM_B64_H
#define CSM_B64_H

#include <stddef.h>

#include "csm/error.h"

enum {
    CSM_B64_URL = 1 << 0,       /* '-' and '_' instead of '+' and '/' */
    CSM_B64_PAD = 1 << 1,       /* '=' may complete the last quantum (it may also be left out) */
    CSM_B64_SKIP_CRLF = 1 << 2, /* CR and LF anywhere are ignored */
};

/* The room csm_b64_decode needs for len input characters. */
size_t csm_b64_decoded_max(size_t len);

/*
 * Decodes in[0..len) into out, which has room for csm_b64_decoded_max(len)
 * bytes; *outlen gets the byte count. CSM_ERR_PARSE on a character the
 * flags do not allow, a lone trailing character (6 bits are not a byte) or
 * padding that does not complete the quantum; *bad (may be NULL) is then
 * the offset of the offending input byte (len for the end). On failure out
 * may hold part of the bytes: a caller decoding secrets wipes it. Cost:
 * one pass, no allocation.
 */
csm_err csm_b64_decode(const char *in, size_t len, unsigned flags, unsigned char *out,
                       size_t *outlen, size_t *bad);

#endif
