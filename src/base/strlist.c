#include "base/strlist.h"

#include <stdlib.h>
#include <string.h>

void csm_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void csm_strlist_clear(csm_strlist *l)
{
    if (!l)
        return;
    csm_strv_free(l->items, l->n);
    l->items = NULL;
    l->n = 0;
}

csm_err csm_strlist_push(csm_strlist *l, const char *s, size_t n)
{
    char **items;
    char *copy = strndup(s, n);

    if (!copy)
        return CSM_ERR_NOMEM;
    items = realloc(l->items, (l->n + 1) * sizeof(*items));
    if (!items) {
        free(copy);
        return CSM_ERR_NOMEM;
    }
    items[l->n++] = copy;
    l->items = items;
    return CSM_OK;
}

csm_err csm_strlist_append(csm_strlist *l, const char *const *src, size_t n)
{
    const char *s;
    csm_err err = CSM_OK;

    for (size_t i = 0; !err && i < n; i++) {
        s = src[i] ? src[i] : "";
        err = csm_strlist_push(l, s, strlen(s));
    }
    return err;
}

int csm_strlist_has(const csm_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->items[i], s) == 0)
            return 1;
    }
    return 0;
}
