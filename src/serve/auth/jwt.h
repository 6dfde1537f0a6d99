/*
 * The one thing the exporter reads from a JWT: its "exp" claim, which caps
 * how long a TokenReview answer for the token may be cached. Nothing is
 * verified here; the API server did the verifying.
 */
#ifndef CSM_JWT_H
#define CSM_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"

/*
 * Reads the "exp" claim of token[0..len) (header.payload.signature,
 * unpadded base64url) into *exp, in Unix seconds (a fraction is dropped).
 * CSM_ERR_NOT_FOUND when the token is not a JWT, its payload is over
 * 16 KiB, or it has no positive numeric exp below 2^53; *exp is then
 * untouched. The decoded payload is wiped before it is freed.
 */
csm_err csm_jwt_exp(const char *token, size_t len, int64_t *exp);

#endif
