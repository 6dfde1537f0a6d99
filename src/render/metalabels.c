#include "render/metalabels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strlist.h"
#include "render/gen.h"
#include "base/reslist.h"

typedef struct ml_state {
    const csm_metalabels_kind *kind;
    size_t family;
    char stem[128];
    int all;     /* every key */
    char **keys; /* else these */
    size_t nkeys;
} ml_state;

void csm_metalabels_destroy(void *state)
{
    ml_state *st = state;
    if (!st)
        return;
    csm_strv_free(st->keys, st->nkeys);
    free(st);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the allow list's items for one resource name. */
static csm_err admit(ml_state *st, const csm_reslist *l, const char *resource)
{
    size_t n;
    const char *const *items = csm_reslist_get(l, resource, &n);

    for (size_t i = 0; items && i < n; i++) {
        char **nk;
        if (strcmp(items[i], "*") == 0) {
            st->all = 1;
            continue;
        }
        nk = realloc(st->keys, (st->nkeys + 1) * sizeof(*nk));
        if (!nk)
            return CSM_ERR_NOMEM;
        st->keys = nk;
        nk[st->nkeys] = strdup(items[i]);
        if (!nk[st->nkeys])
            return CSM_ERR_NOMEM;
        st->nkeys++;
    }
    return CSM_OK;
}

csm_err csm_metalabels_init(const csm_metalabels_kind *kind, const csm_resource_desc *res,
                            const char *arg, csm_families *fams, void **state)
{
    ml_state *st = calloc(1, sizeof(*st));
    csm_reslist *l = NULL;
    char name[300];
    char why[256];
    csm_err err;

    if (!st)
        return CSM_ERR_NOMEM;
    st->kind = kind;
    err = csm_reslist_parse(arg, 0, &l, why, sizeof(why));
    if (!err)
        err = admit(st, l, res->plural);
    if (!err)
        err = admit(st, l, "*");
    if (!err &&
        (snprintf(st->stem, sizeof(st->stem), "%s", res->stem) >= (int)sizeof(st->stem) ||
         snprintf(name, sizeof(name), "%s_%s", res->stem, kind->suffix) >= (int)sizeof(name)))
        err = CSM_ERR_TOO_LARGE;
    if (!err)
        err = csm_families_add(fams, name, kind->help, CSM_METRIC_GAUGE, &st->family);
    /* Sorted once, so that admitting a key is a binary search. */
    if (!err && st->nkeys)
        qsort(st->keys, st->nkeys, sizeof(*st->keys), cmp_str);
    csm_reslist_free(l);
    if (err) {
        csm_metalabels_destroy(st);
        return err;
    }
    *state = st;
    return CSM_OK;
}

typedef struct pair {
    const char *key;
    const char *value;
    char name[256];
    size_t order; /* position in key order */
    int drop;     /* its name is taken by an earlier label */
} pair;

/* Pointers to pairs, by key. (Pointers, not the 280-byte pairs: qsort
 * moves what it sorts.) */
static int cmp_by_key(const void *a, const void *b)
{
    return strcmp((*(const pair *const *)a)->key, (*(const pair *const *)b)->key);
}

/* Pointers to pairs, by label name, then key order. */
static int cmp_by_name(const void *a, const void *b)
{
    const pair *x = *(const pair *const *)a;
    const pair *y = *(const pair *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int admitted(const ml_state *st, const char *key)
{
    return st->all || (st->nkeys && bsearch(&key, st->keys, st->nkeys, sizeof(*st->keys), cmp_str));
}

/* The admitted entries of the map, named, in p[] in map order and in
 * bykey[] sorted by key (order set accordingly). Returns how many. */
static size_t collect(const ml_state *st, const csm_value *map, pair *p, pair **bykey, size_t max)
{
    char raw[300];
    size_t n = 0;

    for (const csm_value *e = csm_value_first(map); e && n < max; e = csm_value_next(e)) {
        const char *key = csm_value_name(e);
        if (!admitted(st, key) || csm_value_string(e, &p[n].value) != CSM_OK)
            continue;
        if (snprintf(raw, sizeof(raw), "%s%s", st->kind->prefix, key) >= (int)sizeof(raw) ||
            csm_label_sanitize(raw, p[n].name, sizeof(p[n].name)) != CSM_OK)
            continue;
        p[n++].key = key;
    }
    for (size_t i = 0; i < n; i++)
        bykey[i] = &p[i];
    if (n)
        qsort(bykey, n, sizeof(*bykey), cmp_by_key);
    for (size_t i = 0; i < n; i++)
        bykey[i]->order = i;
    return n;
}

/*
 * kube-state-metrics' conflict rule: when keys share a label name, every
 * one of them, in key order, gets "_conflict1", "_conflict2", ... by[] is
 * scratch for n pointers. Sorting by (name, key order) puts each group of
 * equal names side by side, so this is O(n log n), not a scan per key.
 */
static void resolve_conflicts(pair *p, size_t n, pair **by)
{
    char base[256];

    for (size_t i = 0; i < n; i++)
        by[i] = &p[i];
    if (n)
        qsort(by, n, sizeof(*by), cmp_by_name);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(by[j]->name, by[i]->name) == 0)
            j++;
        if (j - i > 1) {
            memcpy(base, by[i]->name, sizeof(base));
            for (size_t k = i; k < j; k++) {
                if (snprintf(by[k]->name, sizeof(by[k]->name), "%s_conflict%zu", base, k - i + 1) >=
                    (int)sizeof(by[k]->name))
                    by[k]->name[0] = '\0';
            }
        }
        i = j;
    }
}

/*
 * Marks the pairs whose (final) name is empty, one of the object's own
 * label names (k of them, a handful), or the name of a pair earlier in key
 * order: a "_conflictN" name can still meet a real key of that name. The
 * first in key order keeps the name. O(n log n) with the by[] scratch.
 */
static void mark_taken(pair *p, size_t n, pair **by, const char *const *own, size_t k)
{
    for (size_t i = 0; i < n; i++) {
        by[i] = &p[i];
        p[i].drop = !p[i].name[0];
        for (size_t j = 0; !p[i].drop && j < k; j++)
            p[i].drop = strcmp(own[j], p[i].name) == 0;
    }
    if (n)
        qsort(by, n, sizeof(*by), cmp_by_name);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(by[i]->name, by[i - 1]->name) == 0)
            by[i]->drop = 1;
    }
}

csm_err csm_metalabels_generate(void *state, const csm_object *obj, csm_emitter *em)
{
    const ml_state *st = state;
    const csm_value *map;
    size_t max;
    pair *p = NULL;
    pair **by = NULL;
    pair **bykey = NULL;
    const char **names = NULL;
    const char **values = NULL;
    size_t n = 0;
    size_t k = 0;
    size_t own;
    csm_err err = CSM_OK;

    if (!csm_object_name(obj))
        return CSM_ERR_NOT_FOUND;
    map = csm_value_key(csm_value_key(csm_object_root(obj), "metadata"), st->kind->field);
    max = st->all || st->nkeys ? csm_value_size(map) : 0;
    p = calloc(max ? max : 1, sizeof(*p));
    by = calloc(max ? max : 1, sizeof(*by));
    bykey = calloc(max ? max : 1, sizeof(*bykey));
    names = calloc(max + 2, sizeof(*names));
    values = calloc(max + 2, sizeof(*values));
    if (!p || !by || !bykey || !names || !values) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    n = collect(st, map, p, bykey, max);
    resolve_conflicts(p, n, by);
    k = own = csm_gen_object_labels(obj, st->stem, names, values);
    mark_taken(p, n, by, names, own);
    for (size_t i = 0; i < n; i++) {
        const pair *q = bykey[i];
        if (q->drop) {
            csm_emitter_note(em, "key \"%s\" gives a label name already in use; left out", q->key);
            continue;
        }
        names[k] = q->name;
        values[k++] = q->value;
    }
    err = csm_emit(em, st->family, k, names, values, 1);
out:
    free(p);
    free(by);
    free(bykey);
    free(names);
    free(values);
    return err;
}
