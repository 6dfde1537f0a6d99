#include "serve/auth/jwt.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/b64.h"

/* A JWT payload bigger than this is not a Kubernetes token. */
#define JWT_PAYLOAD_MAX (16u * 1024u)

csm_err csm_jwt_exp(const char *token, size_t len, int64_t *exp)
{
    const char *dot1;
    const char *dot2;
    const char *end;
    unsigned char *payload = NULL;
    size_t cap;
    size_t plen = 0;
    cJSON *claims = NULL;
    const cJSON *e;
    csm_err err = CSM_ERR_NOT_FOUND;

    if (!token || !exp)
        return CSM_ERR_NOT_FOUND;
    end = token + len;
    dot1 = memchr(token, '.', len);
    if (!dot1)
        return CSM_ERR_NOT_FOUND;
    dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
    /* Exactly three parts: a JWE (five) is not read. */
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) || dot1 == token ||
        (size_t)(dot2 - dot1 - 1) > JWT_PAYLOAD_MAX)
        return CSM_ERR_NOT_FOUND;
    cap = csm_b64_decoded_max((size_t)(dot2 - dot1 - 1));
    payload = malloc(cap);
    if (!payload)
        return CSM_ERR_NOMEM;
    if (csm_b64_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), CSM_B64_URL, payload, &plen, NULL) !=
        CSM_OK)
        goto out;
    claims = cJSON_ParseWithLength((const char *)payload, plen);
    e = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    /* NumericDate: seconds, possibly fractional; beyond 2^53 a double is
     * not exact and no real token expires that late. */
    if (cJSON_IsNumber(e) && isfinite(e->valuedouble) && e->valuedouble > 0 &&
        e->valuedouble < 9007199254740992.0) {
        *exp = (int64_t)floor(e->valuedouble);
        err = CSM_OK;
    }
out:
    OPENSSL_cleanse(payload, cap);
    free(payload);
    cJSON_Delete(claims);
    return err;
}
