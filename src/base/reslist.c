#include "base/reslist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *resource;
    char **items;
    size_t n;
} entry;

struct csm_reslist {
    entry *e;
    size_t n;
};

void csm_reslist_free(csm_reslist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].resource);
        for (size_t j = 0; j < l->e[i].n; j++)
            free(l->e[i].items[j]);
        free(l->e[i].items);
    }
    free(l->e);
    free(l);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A trimmed copy of [s, s+n). */
static char *trimmed(const char *s, size_t n)
{
    while (n && is_blank(*s)) {
        s++;
        n--;
    }
    while (n && is_blank(s[n - 1]))
        n--;
    return strndup(s, n);
}

static csm_err add_entry(csm_reslist *l, char *resource, char *why, size_t whylen)
{
    entry *ne;

    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->e[i].resource, resource) == 0) {
            snprintf(why, whylen, "resource \"%s\" is listed twice", resource);
            free(resource);
            return CSM_ERR_INVALID;
        }
    }
    ne = realloc(l->e, (l->n + 1) * sizeof(*ne));
    if (!ne) {
        free(resource);
        return CSM_ERR_NOMEM;
    }
    l->e = ne;
    memset(&ne[l->n], 0, sizeof(ne[0]));
    ne[l->n++].resource = resource;
    return CSM_OK;
}

/* Splits the items of [s, s+n) at commas into the last entry. */
static csm_err add_items(csm_reslist *l, const char *s, size_t n, char *why, size_t whylen)
{
    entry *e = &l->e[l->n - 1];
    const char *end = s + n;

    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        size_t len = comma ? (size_t)(comma - s) : (size_t)(end - s);
        char *item = trimmed(s, len);
        char **ni;

        if (!item)
            return CSM_ERR_NOMEM;
        if (!item[0] || strpbrk(item, "[]=")) {
            snprintf(why, whylen, "%s in the list of \"%s\"",
                     item[0] ? "'[', ']' or '='" : "an empty item", e->resource);
            free(item);
            return CSM_ERR_INVALID;
        }
        ni = realloc(e->items, (e->n + 1) * sizeof(*ni));
        if (!ni) {
            free(item);
            return CSM_ERR_NOMEM;
        }
        e->items = ni;
        ni[e->n++] = item;
        s += len + (comma ? 1 : 0);
        if (comma && s == end) {
            snprintf(why, whylen, "an empty item in the list of \"%s\"", e->resource);
            return CSM_ERR_INVALID;
        }
    }
    return CSM_OK;
}

static csm_err parse(csm_reslist *l, const char *text, int plain_ok, char *why, size_t whylen)
{
    const char *p = text;
    csm_err err;

    if (plain_ok && !strchr(text, '=')) {
        char *star = strdup("*");
        if (!star)
            return CSM_ERR_NOMEM;
        err = add_entry(l, star, why, whylen);
        return err ? err : add_items(l, text, strlen(text), why, whylen);
    }
    while (*p) {
        const char *eq = strchr(p, '=');
        const char *open;
        const char *close;
        char *resource;

        if (!eq) {
            snprintf(why, whylen, "\"%s\": expected RESOURCE=[ITEM,...]", p);
            return CSM_ERR_INVALID;
        }
        resource = trimmed(p, (size_t)(eq - p));
        if (!resource)
            return CSM_ERR_NOMEM;
        if (!resource[0] || strpbrk(resource, "[],")) {
            snprintf(why, whylen, "\"%.*s\": expected a resource name before '='", (int)(eq - p),
                     p);
            free(resource);
            return CSM_ERR_INVALID;
        }
        open = eq + 1;
        while (is_blank(*open))
            open++;
        close = *open == '[' ? strchr(open, ']') : NULL;
        if (!close) {
            snprintf(why, whylen, "\"%s\": expected [ITEM,...] after '='", resource);
            free(resource);
            return CSM_ERR_INVALID;
        }
        err = add_entry(l, resource, why, whylen);
        if (!err)
            err = add_items(l, open + 1, (size_t)(close - open - 1), why, whylen);
        if (err)
            return err;
        p = close + 1;
        while (is_blank(*p))
            p++;
        if (*p == ',' && p[1] == '\0') {
            snprintf(why, whylen, "a trailing ','");
            return CSM_ERR_INVALID;
        } else if (*p == ',') {
            p++;
        } else if (*p) {
            snprintf(why, whylen, "\"%s\": expected ',' between entries", p);
            return CSM_ERR_INVALID;
        }
    }
    return CSM_OK;
}

csm_err csm_reslist_parse(const char *text, int plain_ok, csm_reslist **out, char *why,
                          size_t whylen)
{
    csm_reslist *l = calloc(1, sizeof(*l));
    csm_err err;

    if (!l)
        return CSM_ERR_NOMEM;
    err = parse(l, text ? text : "", plain_ok, why, whylen);
    if (err) {
        csm_reslist_free(l);
        return err;
    }
    *out = l;
    return CSM_OK;
}

const char *const *csm_reslist_get(const csm_reslist *l, const char *resource, size_t *n)
{
    for (size_t i = 0; l && i < l->n; i++) {
        if (strcmp(l->e[i].resource, resource) == 0) {
            *n = l->e[i].n;
            /* A non-NULL pointer even for "[]", which is an entry. */
            return l->e[i].items ? (const char *const *)l->e[i].items
                                 : (const char *const *)&l->e[i].items;
        }
    }
    *n = 0;
    return NULL;
}

size_t csm_reslist_entries(const csm_reslist *l)
{
    return l ? l->n : 0;
}

const char *csm_reslist_resource(const csm_reslist *l, size_t i)
{
    return l && i < l->n ? l->e[i].resource : NULL;
}
