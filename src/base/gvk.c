#include "base/gvk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/quote.h"

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int csm_gvk_is_dns_label(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return 0;
    }
    return 1;
}

/* RFC 1123 subdomain: dot-separated labels, 253 bytes at most. */
static int is_dns_subdomain(const char *s, size_t n)
{
    size_t start = 0;

    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!csm_gvk_is_dns_label(s + start, i - start))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

/* A kind: [A-Za-z][A-Za-z0-9]*. */
static int is_kind(const char *kind, size_t klen)
{
    if (klen == 0 || !is_alpha(kind[0]))
        return 0;
    for (size_t i = 0; i < klen; i++) {
        if (!is_alpha(kind[i]) && !(kind[i] >= '0' && kind[i] <= '9'))
            return 0;
    }
    return 1;
}

csm_err csm_gvk_parse(const char *s, csm_gvk *out, char *why, size_t whylen)
{
    const char *part[3];
    size_t len[3];
    size_t nparts = 0;
    const char *p = s;
    const char *slash;
    const char *group = "";
    const char *version;
    const char *kind;
    size_t glen = 0;
    size_t vlen;
    size_t klen;
    csm_err err = CSM_OK;
    char q[CSM_QUOTE_SIZE];

    if (why && whylen)
        why[0] = '\0';
    if (!out)
        return CSM_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    if (!s)
        return CSM_ERR_INVALID;
    for (;;) {
        if (nparts == 3) {
            nparts++;
            break;
        }
        slash = strchr(p, '/');
        part[nparts] = p;
        len[nparts] = slash ? (size_t)(slash - p) : strlen(p);
        nparts++;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (nparts < 2 || nparts > 3) {
        if (why)
            snprintf(why, whylen, "expected GROUP/VERSION/KIND or VERSION/KIND");
        return CSM_ERR_INVALID;
    }
    if (nparts == 3) {
        group = part[0];
        glen = len[0];
    }
    version = part[nparts - 2];
    vlen = len[nparts - 2];
    kind = part[nparts - 1];
    klen = len[nparts - 1];

    if (nparts == 3 && !is_dns_subdomain(group, glen)) {
        if (why && glen == 0)
            snprintf(why, whylen, "empty group; use VERSION/KIND for the core group");
        else if (why)
            snprintf(why, whylen, "group \"%s\" is not a DNS subdomain",
                     csm_quote(group, glen, q, sizeof(q)));
        return CSM_ERR_INVALID;
    }
    if (vlen == 0 || vlen > 63) {
        if (why)
            snprintf(why, whylen, "version must be 1 to 63 characters of [a-z0-9]");
        return CSM_ERR_INVALID;
    }
    for (size_t i = 0; i < vlen; i++) {
        if (!is_lower_alnum(version[i])) {
            if (why)
                snprintf(why, whylen, "version \"%s\" must match [a-z0-9]+",
                         csm_quote(version, vlen, q, sizeof(q)));
            return CSM_ERR_INVALID;
        }
    }
    if (!is_kind(kind, klen)) {
        if (why)
            snprintf(why, whylen, "kind \"%s\" must match [A-Za-z][A-Za-z0-9]*",
                     csm_quote(kind, klen, q, sizeof(q)));
        return CSM_ERR_INVALID;
    }

    out->group = strndup(group, glen);
    out->version = strndup(version, vlen);
    out->kind = strndup(kind, klen);
    if (!out->group || !out->version || !out->kind) {
        err = CSM_ERR_NOMEM;
        csm_gvk_free(out);
    }
    return err;
}

void csm_gvk_free(csm_gvk *g)
{
    if (!g)
        return;
    free(g->group);
    free(g->version);
    free(g->kind);
    memset(g, 0, sizeof(*g));
}

size_t csm_gvk_format(char *out, size_t len, const char *group, const char *version,
                      const char *kind)
{
    int n = snprintf(out, len, "%s%s%s/%s", group, group[0] ? "/" : "", version, kind);

    /* Only an encoding error makes snprintf negative; "%s" has none. */
    return n < 0 ? 0 : (size_t)n;
}

char *csm_gvk_text(const char *group, const char *version, const char *kind)
{
    size_t len = csm_gvk_format(NULL, 0, group, version, kind) + 1;
    char *s = malloc(len);

    if (s)
        csm_gvk_format(s, len, group, version, kind);
    return s;
}

csm_err csm_gvk_list_add(csm_gvk **list, size_t *n, const char *group, const char *version,
                         const char *kind)
{
    csm_gvk g;
    csm_gvk *nl;

    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*list)[i].group, group) == 0 && strcmp((*list)[i].version, version) == 0 &&
            strcmp((*list)[i].kind, kind) == 0)
            return CSM_OK;
    }
    g.group = strdup(group);
    g.version = strdup(version);
    g.kind = strdup(kind);
    nl = g.group && g.version && g.kind ? realloc(*list, (*n + 1) * sizeof(*nl)) : NULL;
    if (!nl) {
        csm_gvk_free(&g);
        return CSM_ERR_NOMEM;
    }
    nl[(*n)++] = g;
    *list = nl;
    return CSM_OK;
}

void csm_gvk_list_free(csm_gvk *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        csm_gvk_free(&list[i]);
    free(list);
}
