#include "render/mfilter.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct csm_mfilter {
    regex_t *re;
    size_t n;
    int allow; /* 1: an allow list, 0: a deny list */
};

void csm_mfilter_free(csm_mfilter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        regfree(&f->re[i]);
    free(f->re);
    free(f);
}

csm_err csm_mfilter_new(const char *const *allow, size_t nallow, const char *const *deny,
                        size_t ndeny, csm_mfilter **out, char *why, size_t whylen)
{
    const char *const *list = nallow ? allow : deny;
    size_t n = nallow ? nallow : ndeny;
    csm_mfilter *f;
    csm_err err = CSM_OK;

    if (nallow && ndeny) {
        snprintf(why, whylen, "an allow list and a deny list are mutually exclusive");
        return CSM_ERR_INVALID;
    }
    f = calloc(1, sizeof(*f));
    if (!f)
        return CSM_ERR_NOMEM;
    f->allow = nallow > 0;
    f->re = calloc(n ? n : 1, sizeof(*f->re));
    if (!f->re) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(list[i]);
        char *anchored = malloc(len + 5);
        int rc;

        if (!anchored) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
        /* The whole name must match, whatever the expression says. */
        snprintf(anchored, len + 5, "^(%s)$", list[i]);
        rc = regcomp(&f->re[i], anchored, REG_EXTENDED | REG_NOSUB);
        free(anchored);
        if (rc) {
            char msg[128];
            regerror(rc, NULL, msg, sizeof(msg));
            snprintf(why, whylen, "\"%.80s\": %s", list[i], msg);
            err = CSM_ERR_INVALID;
            goto out;
        }
        f->n++;
    }
out:
    if (err) {
        csm_mfilter_free(f);
        return err;
    }
    *out = f;
    return CSM_OK;
}

int csm_mfilter_admits(void *ctx, const char *name)
{
    const csm_mfilter *f = ctx;
    int matched = 0;

    if (!f)
        return 1;
    for (size_t i = 0; i < f->n && !matched; i++)
        matched = regexec(&f->re[i], name, 0, NULL, 0) == 0;
    return f->allow ? matched : !matched;
}
