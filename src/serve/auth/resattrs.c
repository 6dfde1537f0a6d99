#include "serve/auth/resattrs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csm_resattrs_free(csm_resattrs *r)
{
    if (!r)
        return;
    free(r->namespace);
    free(r->group);
    free(r->version);
    free(r->resource);
    free(r->subresource);
    free(r->name);
    memset(r, 0, sizeof(*r));
}

static char **res_field(csm_resattrs *r, const char *key, size_t n)
{
    static const struct {
        const char *key;
        size_t off;
    } fields[] = {
        {"namespace", offsetof(csm_resattrs, namespace)},
        {"apiGroup", offsetof(csm_resattrs, group)},
        {"apiVersion", offsetof(csm_resattrs, version)},
        {"resource", offsetof(csm_resattrs, resource)},
        {"subresource", offsetof(csm_resattrs, subresource)},
        {"name", offsetof(csm_resattrs, name)},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strlen(fields[i].key) == n && memcmp(fields[i].key, key, n) == 0)
            return (char **)((char *)r + fields[i].off);
    }
    return NULL;
}

csm_err csm_resattrs_parse(const char *s, csm_resattrs *out, char *why, size_t whylen)
{
    const char *p = s;
    const char *comma;
    const char *eq;
    size_t len;
    char **field;
    csm_err err = CSM_OK;

    memset(out, 0, sizeof(*out));
    if (why && whylen)
        why[0] = '\0';
    for (;;) {
        comma = strchr(p, ',');
        len = comma ? (size_t)(comma - p) : strlen(p);
        eq = memchr(p, '=', len);
        field = eq ? res_field(out, p, (size_t)(eq - p)) : NULL;
        if (!field) {
            if (why)
                snprintf(why, whylen,
                         "\"%.*s\" is not KEY=VALUE with KEY one of namespace, apiGroup, "
                         "apiVersion, resource, subresource, name",
                         (int)(len > 80 ? 80 : len), p);
            err = CSM_ERR_INVALID;
            goto out;
        }
        if (*field) {
            if (why)
                snprintf(why, whylen, "\"%.*s\" given twice", (int)(eq - p), p);
            err = CSM_ERR_INVALID;
            goto out;
        }
        *field = strndup(eq + 1, len - (size_t)(eq + 1 - p));
        if (!*field) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (!out->resource || !out->resource[0]) {
        if (why)
            snprintf(why, whylen, "resource=... is required");
        err = CSM_ERR_INVALID;
    }
out:
    if (err)
        csm_resattrs_free(out);
    return err;
}
