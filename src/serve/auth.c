#include "serve/auth.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/strlist.h"
#include "serve/auth/resattrs.h"
#include "serve/auth/review.h"

#define AUTH_GROUP_AUTHENTICATED "system:authenticated"

/* The front: what a request asks for and with which credentials; the
 * deciding is serve/auth/review.c's. */
struct csm_auth {
    csm_strlist allow_paths;
    csm_review *rv;
};

csm_err csm_auth_resource_attributes_check(const char *s, char *why, size_t whylen)
{
    csm_resattrs r;
    csm_err err;

    if (!s)
        return CSM_ERR_INVALID;
    err = csm_resattrs_parse(s, &r, why, whylen);
    csm_resattrs_free(&r);
    return err;
}

csm_err csm_auth_new(const csm_auth_config *cfg, const csm_auth_transport *tr, csm_log *log,
                     csm_telemetry *tel, csm_auth **out)
{
    csm_auth *a;
    csm_err err;

    if (!cfg || !tr || !tr->post || !tr->cancel || !out)
        return CSM_ERR_INVALID;
    *out = NULL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return CSM_ERR_NOMEM;
    err = csm_strlist_append(&a->allow_paths, cfg->allow_paths, cfg->nallow_paths);
    if (!err)
        err = csm_review_new(cfg, tr, log, tel, &a->rv);
    if (err) {
        csm_auth_free(a);
        return err;
    }
    *out = a;
    return CSM_OK;
}

void csm_auth_free(csm_auth *a)
{
    if (!a)
        return;
    csm_review_free(a->rv);
    csm_strlist_clear(&a->allow_paths);
    free(a);
}

void csm_auth_cancel(csm_auth_wait *w)
{
    csm_review_wait_cancel(w);
}

/* ---- Requests. ----------------------------------------------------------- */

/*
 * Finds the token in "Bearer <token>" (scheme in any case, as RFC 7235
 * says). Tokens are printable ASCII without spaces; anything else is not
 * a credential this server understands.
 */
static int bearer_token(const char *h, const char **tok, size_t *len)
{
    const char *p = h;
    size_t n = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return 0;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    while (p[n] > 0x20 && p[n] < 0x7f)
        n++;
    *tok = p;
    *len = n;
    for (p += n; *p; p++) {
        if (*p != ' ' && *p != '\t')
            return 0;
    }
    return n > 0;
}

static const char *verb_of(const char *method)
{
    static const struct {
        const char *method;
        const char *verb;
    } verbs[] = {
        {"GET", "get"},    {"HEAD", "get"},    {"POST", "create"},
        {"PUT", "update"}, {"PATCH", "patch"}, {"DELETE", "delete"},
    };
    for (size_t i = 0; method && i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(method, verbs[i].method) == 0)
            return verbs[i].verb;
    }
    return NULL;
}

int csm_auth_path_always_allowed(const csm_auth *a, const char *path)
{
    size_t n;

    if (!a || !path)
        return 0;
    for (size_t i = 0; i < a->allow_paths.n; i++) {
        const char *p = a->allow_paths.items[i];
        n = strlen(p);
        /* A trailing '*' allows every path under the prefix. */
        if (n && p[n - 1] == '*' ? strncmp(path, p, n - 1) == 0 : strcmp(path, p) == 0)
            return 1;
    }
    return 0;
}

/* The user a verified client certificate stands for, as kube-apiserver's
 * x509 authenticator sees it (plus system:authenticated, which the API
 * server adds to every authenticated user). */
static cJSON *cert_user(const csm_auth_input *in)
{
    cJSON *u = cJSON_CreateObject();
    cJSON *groups = cJSON_AddArrayToObject(u, "groups");
    int has_auth = 0;

    if (!u || !groups || !cJSON_AddStringToObject(u, "username", in->cert_user))
        goto fail;
    for (size_t i = 0; i < in->ncert_groups; i++) {
        cJSON *g = cJSON_CreateString(in->cert_groups[i]);
        if (!g || !cJSON_AddItemToArray(groups, g)) {
            cJSON_Delete(g);
            goto fail;
        }
        has_auth |= strcmp(in->cert_groups[i], AUTH_GROUP_AUTHENTICATED) == 0;
    }
    if (!has_auth && !cJSON_AddItemToArray(groups, cJSON_CreateString(AUTH_GROUP_AUTHENTICATED)))
        goto fail;
    return u;
fail:
    cJSON_Delete(u);
    return NULL;
}

csm_auth_verdict csm_auth_check(csm_auth *a, const csm_auth_input *in, csm_auth_done_fn done,
                                void *arg, csm_auth_wait **wait)
{
    csm_auth_wait *w = NULL;
    const char *verb;
    const char *tok;
    size_t len;
    cJSON *user;
    csm_auth_verdict v;

    if (wait)
        *wait = NULL;
    if (!a || !in || !in->path || !done || !wait)
        return CSM_AUTH_ERROR;
    if (csm_auth_path_always_allowed(a, in->path))
        return CSM_AUTH_ALLOW;
    verb = verb_of(in->method);
    if (!verb)
        return CSM_AUTH_FORBIDDEN;
    w = csm_review_wait_new(verb, in->path, done, arg);
    if (!w)
        return CSM_AUTH_ERROR;

    if (in->cert_user) {
        user = cert_user(in);
        if (!user) {
            v = CSM_AUTH_ERROR;
            goto out;
        }
        csm_review_count_authn(a->rv, "authenticated");
        v = csm_review_access(a->rv, w, user);
        cJSON_Delete(user);
    } else if (!in->authorization) {
        csm_review_count_authn(a->rv, "no_credentials");
        v = CSM_AUTH_UNAUTHENTICATED;
    } else if (!bearer_token(in->authorization, &tok, &len)) {
        csm_review_count_authn(a->rv, "unauthenticated");
        v = CSM_AUTH_UNAUTHENTICATED;
    } else {
        v = csm_review_token(a->rv, w, tok, len);
    }
out:
    if (v == CSM_AUTH_PENDING)
        *wait = w;
    else
        csm_review_wait_free(w);
    return v;
}

int csm_auth_http_status(csm_auth_verdict v)
{
    switch (v) {
    case CSM_AUTH_ALLOW:
        return 200;
    case CSM_AUTH_UNAUTHENTICATED:
        return 401;
    case CSM_AUTH_FORBIDDEN:
        return 403;
    case CSM_AUTH_UNAVAILABLE:
        return 503;
    case CSM_AUTH_ERROR:
    case CSM_AUTH_PENDING:
        break;
    }
    return 500;
}
