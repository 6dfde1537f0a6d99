#include "serve/auth/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* status.audiences must share one with the audiences asked for, when both
 * are given (kube-apiserver's webhook authenticator does the same). */
static int audiences_ok(const csm_strlist *audiences, const cJSON *status)
{
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(status, "audiences");
    const cJSON *it;

    if (audiences->n == 0 || !cJSON_IsArray(got) || cJSON_GetArraySize(got) == 0)
        return 1;
    cJSON_ArrayForEach(it, got)
    {
        if (cJSON_IsString(it) && csm_strlist_has(audiences, it->valuestring))
            return 1;
    }
    return 0;
}

/* The token echoed in spec.token is wiped before the tree is freed. */
static void wipe_token(cJSON *root)
{
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(root, "spec");
    cJSON *tok = cJSON_GetObjectItemCaseSensitive(spec, "token");

    if (cJSON_IsString(tok) && tok->valuestring)
        OPENSSL_cleanse(tok->valuestring, strlen(tok->valuestring));
}

/* token: a TokenReview answer (user and audiences read), else a
 * SubjectAccessReview one. */
static csm_err parse_answer(int token, const csm_strlist *audiences, const char *body, size_t len,
                            int *ok, cJSON **user)
{
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    cJSON *u;
    const cJSON *name;
    csm_err err = CSM_OK;

    *ok = 0;
    *user = NULL;
    if (!cJSON_IsObject(status)) {
        err = CSM_ERR_PARSE;
        goto out;
    }
    if (!token) {
        *ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(status, "allowed"));
        goto out;
    }
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(status, "authenticated")) ||
        !audiences_ok(audiences, status))
        goto out;
    u = cJSON_GetObjectItemCaseSensitive(status, "user");
    name = cJSON_GetObjectItemCaseSensitive(u, "username");
    if (!cJSON_IsString(name) || !name->valuestring[0])
        goto out; /* authenticated as nobody: not authenticated */
    *user = cJSON_DetachItemViaPointer(status, u);
    *ok = 1;
out:
    if (root && token)
        wipe_token(root);
    cJSON_Delete(root);
    return err;
}

csm_err csm_authmsg_token_answer(const csm_strlist *audiences, const char *body, size_t len,
                                 int *ok, cJSON **user)
{
    return parse_answer(1, audiences, body, len, ok, user);
}

csm_err csm_authmsg_access_answer(const char *body, size_t len, int *ok)
{
    cJSON *user;

    return parse_answer(0, NULL, body, len, ok, &user);
}

static csm_err add_str(cJSON *obj, const char *key, const char *val)
{
    if (!val)
        return CSM_OK;
    return cJSON_AddStringToObject(obj, key, val) ? CSM_OK : CSM_ERR_NOMEM;
}

/* Copies user.<from> into spec.<to> when present. */
static csm_err copy_item(cJSON *spec, const char *to, const cJSON *user, const char *from)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(user, from);
    cJSON *dup;

    if (!it)
        return CSM_OK;
    dup = cJSON_Duplicate(it, 1);
    if (!dup || !cJSON_AddItemToObject(spec, to, dup)) {
        cJSON_Delete(dup);
        return CSM_ERR_NOMEM;
    }
    return CSM_OK;
}

char *csm_authmsg_sar(const cJSON *user, const char *verb, const char *path, const csm_resattrs *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *spec = cJSON_AddObjectToObject(root, "spec");
    cJSON *attrs;
    char *out = NULL;
    csm_err err = CSM_ERR_NOMEM;

    if (!root || !spec)
        goto out;
    err = add_str(root, "apiVersion", "authorization.k8s.io/v1");
    if (!err)
        err = add_str(root, "kind", "SubjectAccessReview");
    if (!err)
        err = copy_item(spec, "user", user, "username");
    if (!err)
        err = copy_item(spec, "uid", user, "uid");
    if (!err)
        err = copy_item(spec, "groups", user, "groups");
    if (!err)
        err = copy_item(spec, "extra", user, "extra");
    if (err)
        goto out;
    err = CSM_ERR_NOMEM;
    if (r) {
        attrs = cJSON_AddObjectToObject(spec, "resourceAttributes");
        if (!attrs)
            goto out;
        err = add_str(attrs, "namespace", r->namespace);
        if (!err)
            err = add_str(attrs, "verb", verb);
        if (!err)
            err = add_str(attrs, "group", r->group);
        if (!err)
            err = add_str(attrs, "version", r->version);
        if (!err)
            err = add_str(attrs, "resource", r->resource);
        if (!err)
            err = add_str(attrs, "subresource", r->subresource);
        if (!err)
            err = add_str(attrs, "name", r->name);
    } else {
        attrs = cJSON_AddObjectToObject(spec, "nonResourceAttributes");
        if (!attrs)
            goto out;
        err = add_str(attrs, "path", path);
        if (!err)
            err = add_str(attrs, "verb", verb);
    }
    if (!err)
        out = cJSON_PrintUnformatted(root);
out:
    cJSON_Delete(root);
    return out;
}

/* One allocation of exactly the right size, so that no realloc leaves a
 * copy of the token behind. */
char *csm_authmsg_tokenreview(const csm_strlist *audiences, const char *tok, size_t len,
                              size_t *outlen)
{
    static const char head[] =
        "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{";
    static const char tail[] = "\"}}";
    cJSON *auds = NULL;
    char *auds_text = NULL;
    size_t need = sizeof(head) - 1 + sizeof("\"token\":\"") - 1 + sizeof(tail) - 1;
    size_t o = 0;
    char *out = NULL;

    if (audiences->n) {
        auds = cJSON_CreateStringArray((const char *const *)audiences->items, (int)audiences->n);
        auds_text = auds ? cJSON_PrintUnformatted(auds) : NULL;
        if (!auds_text)
            goto out;
        need += sizeof("\"audiences\":,") - 1 + strlen(auds_text);
    }
    for (size_t i = 0; i < len; i++)
        need += (tok[i] == '"' || tok[i] == '\\') ? 2 : 1;
    out = malloc(need + 1);
    if (!out)
        goto out;
    memcpy(out, head, sizeof(head) - 1);
    o = sizeof(head) - 1;
    if (auds_text) {
        o += (size_t)sprintf(out + o, "\"audiences\":%s,", auds_text);
    }
    memcpy(out + o, "\"token\":\"", sizeof("\"token\":\"") - 1);
    o += sizeof("\"token\":\"") - 1;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] == '"' || tok[i] == '\\')
            out[o++] = '\\';
        out[o++] = tok[i];
    }
    memcpy(out + o, tail, sizeof(tail) - 1);
    o += sizeof(tail) - 1;
    out[o] = '\0';
    *outlen = o;
out:
    cJSON_free(auds_text);
    cJSON_Delete(auds);
    return out;
}
