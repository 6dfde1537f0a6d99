#include "render/crs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/gvk.h"
#include "base/yamldoc.h"
#include "render/expo.h"

/* A config is a few KiB; anything near this is not one. */
#define CRS_FILE_MAX (16u << 20)

/* Longest "spec.resources[3].metrics[12].each.gauge.labelsFromPath.x" we
 * print; deeper names are cut, the line and column still point at it. */
#define WHERE_MAX 512

struct csm_crs {
    int refs;
    csm_crs_resource *res;
    size_t nres;
};

typedef struct loader {
    const char *file;
    yaml_document_t doc;
    char *errbuf;
    size_t errlen;
} loader;

/* ---- freeing ---------------------------------------------------------- */

static void from_free(csm_crs_from *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].key);
        free(f[i].name);
        free(f[i].prefix);
        csm_crspath_free(f[i].path);
    }
    free(f);
}

static void labels_free(csm_crs_label *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(l[i].name);
        free(l[i].value);
    }
    free(l);
}

static void metric_free(csm_crs_metric *m)
{
    free(m->name);
    free(m->help);
    labels_free(m->common, m->ncommon);
    from_free(m->base, m->nbase);
    csm_crspath_free(m->path);
    from_free(m->each, m->neach);
    csm_crspath_free(m->value_from);
    free(m->label_from_key);
    free(m->label_name);
    for (size_t i = 0; i < m->nlist; i++)
        free(m->list[i]);
    free(m->list);
    for (size_t i = 0; i < m->nwild; i++)
        free(m->wild_labels[i]);
    free(m->wild_labels);
}

static void resource_free(csm_crs_resource *r)
{
    free(r->group);
    free(r->version);
    free(r->kind);
    free(r->plural);
    for (size_t i = 0; i < r->nmetrics; i++)
        metric_free(&r->metrics[i]);
    free(r->metrics);
    free(r->fingerprint);
    free(r->label_selector);
    free(r->field_selector);
}

csm_crs *csm_crs_ref(csm_crs *c)
{
    if (c)
        c->refs++;
    return c;
}

void csm_crs_unref(csm_crs *c)
{
    if (!c || --c->refs > 0)
        return;
    for (size_t i = 0; i < c->nres; i++)
        resource_free(&c->res[i]);
    free(c->res);
    free(c);
}

size_t csm_crs_resources(const csm_crs *c)
{
    return c ? c->nres : 0;
}

const csm_crs_resource *csm_crs_resource_at(const csm_crs *c, size_t i)
{
    return c && i < c->nres ? &c->res[i] : NULL;
}

int csm_crs_matches(const csm_crs_resource *r, const char *group, const char *version,
                    const char *kind)
{
    return strcmp(r->group, group) == 0 &&
           (strcmp(r->version, "*") == 0 || strcmp(r->version, version) == 0) &&
           (strcmp(r->kind, "*") == 0 || strcmp(r->kind, kind) == 0);
}

const char *csm_crs_plural(const csm_crs *c, const char *group, const char *version,
                           const char *kind, const char *stem, char *guess, size_t len)
{
    const char *plural = NULL;

    for (size_t i = 0; i < csm_crs_resources(c); i++) {
        const csm_crs_resource *r = &c->res[i];
        if (r->plural && csm_crs_matches(r, group, version, kind))
            plural = r->plural;
    }
    if (plural)
        return plural;
    snprintf(guess, len, "%ss", stem);
    return guess;
}

/* ---- document access ---------------------------------------------------- */

static csm_err fail(loader *L, const yaml_node_t *n, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static csm_err fail(loader *L, const yaml_node_t *n, const char *where, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        snprintf(L->errbuf, L->errlen, "%s:%zu:%zu: %s: %s", L->file, n->start_mark.line + 1,
                 n->start_mark.column + 1, where, msg);
    else
        snprintf(L->errbuf, L->errlen, "%s: %s: %s", L->file, where, msg);
    return CSM_ERR_INVALID;
}

static yaml_node_t *node(loader *L, int i)
{
    return yaml_document_get_node(&L->doc, i);
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* Marks a name cut at WHERE_MAX as such. */
static void where_cut(char *out, int n)
{
    if (n >= WHERE_MAX)
        memcpy(out + WHERE_MAX - 4, "...", 4);
}

static void where_key(char *out, const char *where, const char *key)
{
    where_cut(out, snprintf(out, WHERE_MAX, "%s%s%s", where, where[0] ? "." : "", key));
}

static void where_index(char *out, const char *where, size_t i)
{
    where_cut(out, snprintf(out, WHERE_MAX, "%s[%zu]", where, i));
}

static const char *type_name(const yaml_node_t *n)
{
    if (csm_yamldoc_is_null(n))
        return "null";
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a map";
    default:
        return "nothing";
    }
}

/*
 * Checks that n is a map whose keys are scalars from allowed[], each at
 * most once. A field kube-state-metrics does not know, or that is
 * misspelt, is an error here rather than silently ignored: a typo in
 * "labelsFromPath" would otherwise just lose labels.
 */
static csm_err check_map(loader *L, const yaml_node_t *n, const char *where,
                         const char *const *allowed, size_t nallowed)
{
    char names[256];
    size_t used = 0;

    if (!n || n->type != YAML_MAPPING_NODE)
        return fail(L, n, where, "expected a map, found %s", n ? type_name(n) : "nothing");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(L, p->key);
        size_t i;
        if (!k || k->type != YAML_SCALAR_NODE)
            return fail(L, k, where, "map keys must be scalars");
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = node(L, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && strcmp(scalar(k2), scalar(k)) == 0)
                return fail(L, k, where, "key \"%s\" appears twice", scalar(k));
        }
        if (!allowed)
            continue;
        for (i = 0; i < nallowed; i++) {
            if (csm_yamldoc_scalar_is(k, allowed[i]))
                break;
        }
        if (i == nallowed) {
            names[0] = '\0';
            used = 0;
            for (size_t j = 0; j < nallowed && used < sizeof(names); j++)
                used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", j ? ", " : "",
                                         allowed[j]);
            return fail(L, k, where, "unknown field \"%s\" (expected one of: %s)", scalar(k),
                        names);
        }
    }
    return CSM_OK;
}

/* The value of key in map n, or NULL. check_map() has rejected repeated
 * keys wherever one could matter, so the first is the only one. */
static yaml_node_t *map_get(loader *L, const yaml_node_t *n, const char *key)
{
    return csm_yamldoc_map_get(&L->doc, n, key, CSM_YAMLDOC_FIRST);
}

/* A scalar field as a new string; *out stays NULL for an absent or null
 * field. */
static csm_err get_string(loader *L, const yaml_node_t *map, const char *key, const char *where,
                          char **out)
{
    yaml_node_t *v = map_get(L, map, key);
    char w[WHERE_MAX];

    *out = NULL;
    if (csm_yamldoc_is_null(v))
        return CSM_OK;
    where_key(w, where, key);
    if (v->type != YAML_SCALAR_NODE)
        return fail(L, v, w, "expected a string, found %s", type_name(v));
    *out = strdup(scalar(v));
    return *out ? CSM_OK : CSM_ERR_NOMEM;
}

static csm_err get_bool(loader *L, const yaml_node_t *map, const char *key, const char *where,
                        int *out)
{
    yaml_node_t *v = map_get(L, map, key);
    char w[WHERE_MAX];

    *out = 0;
    if (csm_yamldoc_is_null(v))
        return CSM_OK;
    where_key(w, where, key);
    if (v->type == YAML_SCALAR_NODE && strcasecmp(scalar(v), "true") == 0)
        *out = 1;
    else if (v->type != YAML_SCALAR_NODE || strcasecmp(scalar(v), "false") != 0)
        return fail(L, v, w, "expected true or false, found %s", type_name(v));
    return CSM_OK;
}

/* maxSeries: a positive integer (the series budget; crd-state-metrics'
 * extension, kube-state-metrics has none). */
static csm_err get_max_series(loader *L, const yaml_node_t *map, const char *where, size_t *out)
{
    yaml_node_t *v = map_get(L, map, "maxSeries");
    char w[WHERE_MAX];
    const char *s;
    size_t n = 0;

    *out = 0;
    if (csm_yamldoc_is_null(v))
        return CSM_OK;
    where_key(w, where, "maxSeries");
    s = v->type == YAML_SCALAR_NODE ? scalar(v) : "";
    for (size_t i = 0; s[i]; i++) {
        /* Nine digits at most: no overflow, and the flags' range. */
        if (s[i] < '0' || s[i] > '9' || i >= 9) {
            n = 0;
            break;
        }
        n = n * 10 + (size_t)(s[i] - '0');
    }
    if (n == 0)
        return fail(L, v, w, "expected an integer in 1..999999999, found %s",
                    v->type == YAML_SCALAR_NODE ? s : type_name(v));
    *out = n;
    return CSM_OK;
}

/* A path: a list of scalars ("[status, conditions]"); null is the empty
 * path. */
static csm_err get_path(loader *L, yaml_node_t *v, const char *where, csm_crspath **out)
{
    const char **segs = NULL;
    size_t n = 0;
    char why[256];
    csm_err err;

    if (!csm_yamldoc_is_null(v)) {
        if (v->type != YAML_SEQUENCE_NODE)
            return fail(L, v, where,
                        "expected a path (a list of strings such as "
                        "[status, conditions]), found %s",
                        type_name(v));
        n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    }
    segs = calloc(n ? n : 1, sizeof(*segs));
    if (!segs)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *s = node(L, v->data.sequence.items.start[i]);
        if (!s || s->type != YAML_SCALAR_NODE) {
            char w[WHERE_MAX];
            where_index(w, where, i);
            free(segs);
            return fail(L, s, w, "path segments must be strings, found %s",
                        s ? type_name(s) : "nothing");
        }
        segs[i] = scalar(s);
    }
    err = csm_crspath_compile(segs, n, out, why, sizeof(why));
    free(segs);
    if (err == CSM_ERR_INVALID)
        return fail(L, v, where, "%s", why);
    return err;
}

/* ---- labels ------------------------------------------------------------ */

/* commonLabels: adds or replaces name -> value pairs. */
static csm_err get_common(loader *L, const yaml_node_t *map, const char *where,
                          csm_crs_label **labels, size_t *n)
{
    yaml_node_t *m = map_get(L, map, "commonLabels");
    char w[WHERE_MAX];
    csm_err err;

    if (csm_yamldoc_is_null(m))
        return CSM_OK;
    where_key(w, where, "commonLabels");
    err = check_map(L, m, w, NULL, 0);
    if (err)
        return err;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(L, p->key);
        yaml_node_t *v = node(L, p->value);
        char wk[WHERE_MAX];
        size_t i;
        char *value;

        where_key(wk, w, scalar(k));
        if (!csm_expo_valid_label_name(scalar(k)))
            return fail(L, k, wk, "\"%s\" is not a valid label name", scalar(k));
        if (!v || v->type != YAML_SCALAR_NODE)
            return fail(L, v, wk, "expected a string, found %s", v ? type_name(v) : "nothing");
        value = strdup(csm_yamldoc_is_null(v) ? "" : scalar(v));
        if (!value)
            return CSM_ERR_NOMEM;
        for (i = 0; i < *n; i++) {
            if (strcmp((*labels)[i].name, scalar(k)) == 0)
                break;
        }
        if (i == *n) {
            csm_crs_label *nl = realloc(*labels, (*n + 1) * sizeof(*nl));
            if (!nl) {
                free(value);
                return CSM_ERR_NOMEM;
            }
            *labels = nl;
            nl[i].name = strdup(scalar(k));
            nl[i].value = NULL;
            (*n)++;
            if (!nl[i].name) {
                free(value);
                return CSM_ERR_NOMEM;
            }
        }
        free((*labels)[i].value);
        (*labels)[i].value = value;
    }
    return CSM_OK;
}

/* A labelsFromPath key that copies a whole map: "*", "*anything" (keys as
 * they are) or "prefix_*" (keys prefixed). */
static int is_copy(const char *key)
{
    size_t n = strlen(key);
    return n && (key[0] == '*' || key[n - 1] == '*');
}

static void from_clear(csm_crs_from *f)
{
    free(f->key);
    free(f->name);
    free(f->prefix);
    csm_crspath_free(f->path);
    memset(f, 0, sizeof(*f));
}

/* Compiles one labelsFromPath entry. */
static csm_err from_entry(loader *L, yaml_node_t *k, yaml_node_t *v, const char *where,
                          csm_crs_from *f)
{
    const char *key = scalar(k);
    char name[256];
    csm_err err;

    memset(f, 0, sizeof(*f));
    err = get_path(L, v, where, &f->path);
    if (err)
        return err;
    f->key = strdup(key);
    if (!f->key)
        return CSM_ERR_NOMEM;
    if (is_copy(key)) {
        /* "*" and "*x" copy keys as they are; "x_*" prefixes them. For "**"
         * kube-state-metrics' code would prefix "*", which sanitizes to
         * "_", while its documentation shows the keys unprefixed; we
         * follow the documentation. */
        f->prefix = key[0] == '*' ? strdup("") : strndup(key, strlen(key) - 1);
        return f->prefix ? CSM_OK : CSM_ERR_NOMEM;
    }
    if (csm_label_sanitize(key, name, sizeof(name)) != CSM_OK || !csm_expo_valid_label_name(name))
        return fail(L, k, where, "\"%s\" does not make a valid label name", key);
    f->name = strdup(name);
    return f->name ? CSM_OK : CSM_ERR_NOMEM;
}

/*
 * labelsFromPath: adds entries, replacing any with the same key or the
 * same label name (a metric's entries replace its resource's). Two keys
 * of one map that give the same label are an error: which one won would
 * depend on Go's map order in kube-state-metrics.
 */
static csm_err get_from(loader *L, yaml_node_t *m, const char *where, csm_crs_from **from,
                        size_t *n)
{
    size_t first = *n;
    csm_err err;

    if (csm_yamldoc_is_null(m))
        return CSM_OK;
    err = check_map(L, m, where, NULL, 0);
    if (err)
        return err;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(L, p->key);
        char wk[WHERE_MAX];
        csm_crs_from f;
        size_t i;

        where_key(wk, where, scalar(k));
        err = from_entry(L, k, node(L, p->value), wk, &f);
        if (err) {
            from_clear(&f);
            return err;
        }
        for (i = 0; i < *n; i++) {
            const csm_crs_from *o = &(*from)[i];
            int same_name = f.name && o->name && strcmp(o->name, f.name) == 0;
            if (same_name && i >= first) {
                err = fail(L, k, wk, "keys \"%s\" and \"%s\" both give label \"%s\"", o->key, f.key,
                           f.name);
                from_clear(&f);
                return err;
            }
            if (same_name || strcmp(o->key, f.key) == 0)
                break;
        }
        if (i == *n) {
            csm_crs_from *nf = realloc(*from, (*n + 1) * sizeof(*nf));
            if (!nf) {
                from_clear(&f);
                return CSM_ERR_NOMEM;
            }
            *from = nf;
            (*n)++;
        } else {
            from_clear(&(*from)[i]);
        }
        (*from)[i] = f;
    }
    return CSM_OK;
}

static int cmp_from(const void *a, const void *b)
{
    const csm_crs_from *x = a;
    const csm_crs_from *y = b;
    /* Map copies first, in key order, so that later copies and then the
     * named labels override them, as kube-state-metrics applies them. */
    int cx = x->name == NULL;
    int cy = y->name == NULL;
    if (cx != cy)
        return cy - cx;
    return strcmp(x->key, y->key);
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const csm_crs_label *)a)->name, ((const csm_crs_label *)b)->name);
}

/* ---- metrics ------------------------------------------------------------ */

static csm_err valid_label_field(loader *L, const yaml_node_t *map, const char *key,
                                 const char *where, const char *value)
{
    char w[WHERE_MAX];
    if (!value || csm_expo_valid_label_name(value))
        return CSM_OK;
    where_key(w, where, key);
    return fail(L, map_get(L, map, key), w, "\"%s\" is not a valid label name", value);
}

/* A list of strings at map[key] (what: "states" for messages) into
 * *out[0..*n); an absent key when optional leaves them empty. */
static csm_err get_string_list(loader *L, yaml_node_t *map, const char *key, const char *wt,
                               const char *what, int optional, char ***out, size_t *n)
{
    yaml_node_t *list = map_get(L, map, key);
    char w[WHERE_MAX];

    where_key(w, wt, key);
    if (optional && (!list || csm_yamldoc_is_null(list)))
        return CSM_OK;
    if (!list || list->type != YAML_SEQUENCE_NODE)
        return fail(L, list ? list : map, w, "expected the list of %s, found %s", what,
                    list ? type_name(list) : "nothing");
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        yaml_node_t *s = node(L, *it);
        char **nl;
        if (!s || s->type != YAML_SCALAR_NODE)
            return fail(L, s, w, "%s must be strings", what);
        nl = realloc(*out, (*n + 1) * sizeof(*nl));
        if (!nl)
            return CSM_ERR_NOMEM;
        *out = nl;
        nl[*n] = strdup(scalar(s));
        if (!nl[*n])
            return CSM_ERR_NOMEM;
        (*n)++;
    }
    return CSM_OK;
}

/* Extension: each "*" segment of the path needs a label name, in order. */
static csm_err get_wildcards(loader *L, csm_crs_metric *m, yaml_node_t *t, const char *wt)
{
    size_t stars = 0;
    char w[WHERE_MAX];
    csm_err err;

    for (size_t i = 0; i < csm_crspath_len(m->path); i++)
        stars += strcmp(csm_crspath_segment(m->path, i), "*") == 0;
    err = get_string_list(L, t, "wildcardLabels", wt, "label names", 1, &m->wild_labels, &m->nwild);
    where_key(w, wt, "wildcardLabels");
    if (!err && m->nwild != stars)
        return fail(L, map_get(L, t, "wildcardLabels") ? map_get(L, t, "wildcardLabels") : t, w,
                    "the path has %zu \"*\" segments and wildcardLabels names %zu labels "
                    "(one per \"*\", in order)",
                    stars, m->nwild);
    for (size_t i = 0; !err && i < m->nwild; i++) {
        if (!csm_expo_valid_label_name(m->wild_labels[i]))
            return fail(L, map_get(L, t, "wildcardLabels"), w, "\"%s\" is not a valid label name",
                        m->wild_labels[i]);
    }
    return err;
}

/*
 * Extension: each.count (optional) of a `type: Count` metric. It counts
 * whole objects by the metric's own labels, so the fields that pick values
 * inside an object are refused by name rather than as unknown fields.
 */
static csm_err get_count(loader *L, csm_crs_metric *m, yaml_node_t *each, const char *where)
{
    static const char *const other_types[] = {"gauge", "stateSet", "info"};
    static const char *const senseless[] = {"path",      "labelsFromPath", "valueFrom",
                                            "valueType", "nilIsZero",      "labelFromKey",
                                            "labelName", "list",           "wildcardLabels"};
    static const char *const count_keys[] = {"maxSeries"};
    yaml_node_t *t = map_get(L, each, "count");
    yaml_node_t *v;
    char w[WHERE_MAX];
    char wt[WHERE_MAX];
    char *end = NULL;
    unsigned long long n;
    csm_err err;

    for (size_t i = 0; i < sizeof(other_types) / sizeof(other_types[0]); i++) {
        if (!map_get(L, each, other_types[i]))
            continue;
        where_key(w, where, other_types[i]);
        return fail(L, map_get(L, each, other_types[i]), w,
                    "a Count takes no each.%s (its settings go in each.count)", other_types[i]);
    }
    m->max_series = CSM_CRS_COUNT_SERIES_DEFAULT;
    where_key(wt, where, "count");
    /* Every metric keeps a path and a valueFrom (the empty path). */
    err = get_path(L, NULL, wt, &m->path);
    if (!err)
        err = get_path(L, NULL, wt, &m->value_from);
    if (err || csm_yamldoc_is_null(t))
        return err;
    for (size_t i = 0; t->type == YAML_MAPPING_NODE && i < sizeof(senseless) / sizeof(senseless[0]);
         i++) {
        if (!map_get(L, t, senseless[i]))
            continue;
        where_key(w, wt, senseless[i]);
        return fail(L, map_get(L, t, senseless[i]), w,
                    "a Count counts whole objects, so %s makes no sense here; put the labels "
                    "to count by in the metric's labelsFromPath",
                    senseless[i]);
    }
    err = check_map(L, t, wt, count_keys, 1);
    if (err)
        return err;
    v = map_get(L, t, "maxSeries");
    if (csm_yamldoc_is_null(v))
        return CSM_OK;
    where_key(w, wt, "maxSeries");
    if (v->type == YAML_SCALAR_NODE && scalar(v)[0] >= '0' && scalar(v)[0] <= '9') {
        errno = 0;
        n = strtoull(scalar(v), &end, 10);
        if (!errno && !*end && n >= 1 && n <= CSM_CRS_COUNT_SERIES_MAX) {
            m->max_series = (size_t)n;
            return CSM_OK;
        }
    }
    return fail(L, v, w, "expected a whole number from 1 to %u, found %s%s%s",
                CSM_CRS_COUNT_SERIES_MAX, v->type == YAML_SCALAR_NODE ? "\"" : "",
                v->type == YAML_SCALAR_NODE ? scalar(v) : type_name(v),
                v->type == YAML_SCALAR_NODE ? "\"" : "");
}

/*
 * The keys each.<type> may hold (`keys`), then the fields Gauge, StateSet
 * and Info share, in the order their errors are reported: path,
 * wildcardLabels, labelsFromPath.
 */
static csm_err get_each_shared(loader *L, csm_crs_metric *m, yaml_node_t *t, const char *wt,
                               const char *const *keys, size_t nkeys)
{
    char w[WHERE_MAX];
    csm_err err;

    err = check_map(L, t, wt, keys, nkeys);
    if (err)
        return err;
    where_key(w, wt, "path");
    err = get_path(L, map_get(L, t, "path"), w, &m->path);
    if (!err)
        err = get_wildcards(L, m, t, wt);
    if (!err) {
        where_key(w, wt, "labelsFromPath");
        err = get_from(L, map_get(L, t, "labelsFromPath"), w, &m->each, &m->neach);
    }
    return err;
}

static csm_err get_value_from(loader *L, csm_crs_metric *m, yaml_node_t *t, const char *wt)
{
    char w[WHERE_MAX];

    where_key(w, wt, "valueFrom");
    return get_path(L, map_get(L, t, "valueFrom"), w, &m->value_from);
}

/* Gauge and Info: an empty labelFromKey is the same as none. */
static csm_err get_label_from_key(loader *L, csm_crs_metric *m, yaml_node_t *t, const char *wt)
{
    csm_err err = get_string(L, t, "labelFromKey", wt, &m->label_from_key);

    if (!err && m->label_from_key && !m->label_from_key[0]) {
        free(m->label_from_key);
        m->label_from_key = NULL;
    }
    return err ? err : valid_label_field(L, t, "labelFromKey", wt, m->label_from_key);
}

/* each.gauge: the shared fields, valueFrom, labelFromKey, nilIsZero, valueType. */
static csm_err get_gauge(loader *L, csm_crs_metric *m, yaml_node_t *t, const char *wt)
{
    static const char *const keys[] = {"path",          "labelsFromPath", "valueFrom",
                                       "valueType",     "labelFromKey",   "nilIsZero",
                                       "wildcardLabels"};
    char w[WHERE_MAX];
    char *vt = NULL;
    csm_err err;

    err = get_each_shared(L, m, t, wt, keys, 7);
    if (!err)
        err = get_value_from(L, m, t, wt);
    if (!err)
        err = get_label_from_key(L, m, t, wt);
    if (!err)
        err = get_bool(L, t, "nilIsZero", wt, &m->nil_is_zero);
    if (!err)
        err = get_string(L, t, "valueType", wt, &vt);
    if (err || !vt || !vt[0])
        goto out;
    if (strcmp(vt, "quantity") == 0) {
        m->value_type = CSM_CRSPATH_QUANTITY;
    } else if (strcmp(vt, "duration") == 0) {
        m->value_type = CSM_CRSPATH_DURATION;
    } else {
        where_key(w, wt, "valueType");
        err = fail(L, map_get(L, t, "valueType"), w,
                   "unknown value type \"%s\" (expected quantity or duration)", vt);
    }
out:
    free(vt);
    return err;
}

/* each.stateSet: the shared fields, valueFrom, labelName (required), list. */
static csm_err get_stateset(loader *L, csm_crs_metric *m, yaml_node_t *t, const char *wt)
{
    static const char *const keys[] = {"path",      "labelsFromPath", "list",
                                       "labelName", "valueFrom",      "wildcardLabels"};
    char w[WHERE_MAX];
    csm_err err;

    err = get_each_shared(L, m, t, wt, keys, 6);
    if (!err)
        err = get_value_from(L, m, t, wt);
    if (!err)
        err = get_string(L, t, "labelName", wt, &m->label_name);
    if (!err && !m->label_name) {
        where_key(w, wt, "labelName");
        err = fail(L, t, w, "missing: a StateSet needs the label that names its states");
    }
    if (!err)
        err = valid_label_field(L, t, "labelName", wt, m->label_name);
    if (!err)
        err = get_string_list(L, t, "list", wt, "states", 0, &m->list, &m->nlist);
    return err;
}

/* each.info: the shared fields and labelFromKey (no value). */
static csm_err get_info(loader *L, csm_crs_metric *m, yaml_node_t *t, const char *wt)
{
    static const char *const keys[] = {"path", "labelsFromPath", "labelFromKey", "wildcardLabels"};
    csm_err err;

    err = get_each_shared(L, m, t, wt, keys, 4);
    if (!err)
        err = get_label_from_key(L, m, t, wt);
    return err;
}

/*
 * The metric types: the name kube-state-metrics accepts (in any case: it
 * lower-cases the type), the field of each that holds the settings and the
 * loader of that field. Count reads each itself (get_count), so it has no
 * field here.
 */
static const struct each_type {
    const char *name;
    csm_crs_type type;
    const char *field;
    csm_err (*load)(loader *L, csm_crs_metric *m, yaml_node_t *t, const char *wt);
} each_types[] = {
    {"gauge", CSM_CRS_GAUGE, "gauge", get_gauge},
    {"stateset", CSM_CRS_STATESET, "stateSet", get_stateset},
    {"info", CSM_CRS_INFO, "info", get_info},
    {"count", CSM_CRS_COUNT, NULL, NULL},
};

static csm_err get_each(loader *L, csm_crs_metric *m, yaml_node_t *each, const char *where)
{
    static const char *const each_keys[] = {"type", "gauge", "stateSet", "info", "count"};
    const struct each_type *et = NULL;
    char w[WHERE_MAX];
    char wt[WHERE_MAX];
    char *type = NULL;
    yaml_node_t *t;
    csm_err err;

    err = check_map(L, each, where, each_keys, 5);
    if (!err)
        err = get_string(L, each, "type", where, &type);
    if (err)
        goto out;
    where_key(w, where, "type");
    if (!type) {
        err = fail(L, each, w, "missing (Gauge, StateSet, Info or Count)");
        goto out;
    }
    for (size_t i = 0; !et && i < sizeof(each_types) / sizeof(each_types[0]); i++) {
        if (strcasecmp(type, each_types[i].name) == 0)
            et = &each_types[i];
    }
    if (!et) {
        err = fail(L, map_get(L, each, "type"), w,
                   "unknown metric type \"%s\" (expected Gauge, StateSet, Info or Count)", type);
        goto out;
    }
    m->type = et->type;
    if (!et->load) {
        err = get_count(L, m, each, where);
        goto out;
    }
    t = map_get(L, each, et->field);
    where_key(wt, where, et->field);
    if (!t || csm_yamldoc_is_null(t)) {
        err = fail(L, each, wt, "missing: type %s needs each.%s", type, et->field);
        goto out;
    }
    err = et->load(L, m, t, wt);
out:
    free(type);
    return err;
}

static csm_err get_metric(loader *L, const char *prefix, yaml_node_t *res_node, const char *rwhere,
                          yaml_node_t *mn, const char *where, csm_crs_metric *m)
{
    static const char *const keys[] = {"name",         "help",           "each",
                                       "commonLabels", "labelsFromPath", "errorLogV"};
    char *name = NULL;
    char w[WHERE_MAX];
    csm_buf full;
    csm_err err;

    csm_buf_init(&full, 4096);
    m->line = (int)mn->start_mark.line + 1;
    err = check_map(L, mn, where, keys, 6);
    if (!err)
        err = get_string(L, mn, "name", where, &name);
    if (!err && (!name || !name[0])) {
        where_key(w, where, "name");
        err = fail(L, mn, w, "missing: every metric needs a name");
    }
    if (!err)
        err = get_string(L, mn, "help", where, &m->help);
    if (!err && !m->help) {
        m->help = strdup("");
        if (!m->help)
            err = CSM_ERR_NOMEM;
    }
    if (!err)
        err = csm_buf_printf(&full, "%s%s%s", prefix, prefix[0] ? "_" : "", name);
    if (!err && !csm_expo_valid_metric_name(csm_buf_str(&full))) {
        where_key(w, where, "name");
        err = fail(L, map_get(L, mn, "name"), w,
                   "\"%s\" is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
                   csm_buf_str(&full));
    }
    if (!err) {
        m->name = csm_buf_steal(&full, NULL);
        if (!m->name)
            err = CSM_ERR_NOMEM;
    }
    /* The resource's labels first, then the metric's, which win. */
    if (!err)
        err = get_common(L, res_node, rwhere, &m->common, &m->ncommon);
    if (!err)
        err = get_common(L, mn, where, &m->common, &m->ncommon);
    if (!err) {
        where_key(w, rwhere, "labelsFromPath");
        err = get_from(L, map_get(L, res_node, "labelsFromPath"), w, &m->base, &m->nbase);
    }
    if (!err) {
        where_key(w, where, "labelsFromPath");
        err = get_from(L, map_get(L, mn, "labelsFromPath"), w, &m->base, &m->nbase);
    }
    if (!err) {
        yaml_node_t *each = map_get(L, mn, "each");
        where_key(w, where, "each");
        err = each ? get_each(L, m, each, w) : fail(L, mn, w, "missing");
    }
    /* qsort() wants a non-NULL array even for no elements. */
    if (!err && m->ncommon)
        qsort(m->common, m->ncommon, sizeof(*m->common), cmp_label);
    if (!err && m->nbase)
        qsort(m->base, m->nbase, sizeof(*m->base), cmp_from);
    if (!err && m->neach)
        qsort(m->each, m->neach, sizeof(*m->each), cmp_from);
    free(name);
    csm_buf_free(&full);
    return err;
}

/* ---- resources ---------------------------------------------------------- */

/* Deeper than any config; also where an alias inside the node it names
 * ("&a [*a]", which libyaml accepts) stops. */
#define FINGERPRINT_DEPTH_MAX 64

/* Canonical text of a node: JSON-like, document order. */
static csm_err fingerprint(loader *L, const yaml_node_t *n, csm_buf *b, const char *where,
                           int depth)
{
    csm_err err = CSM_OK;

    if (!n)
        return csm_buf_puts(b, "null");
    if (depth > FINGERPRINT_DEPTH_MAX)
        return fail(L, n, where,
                    "nested more than %d deep, or an alias refers to a node that contains it",
                    FINGERPRINT_DEPTH_MAX);
    switch (n->type) {
    case YAML_SCALAR_NODE:
        if (csm_yamldoc_is_null(n))
            return csm_buf_puts(b, "null");
        err = csm_buf_putc(b, '"');
        if (!err)
            err = csm_expo_escape_label_value(b, scalar(n));
        return err ? err : csm_buf_putc(b, '"');
    case YAML_SEQUENCE_NODE:
        err = csm_buf_putc(b, '[');
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             !err && i < n->data.sequence.items.top; i++) {
            if (i != n->data.sequence.items.start)
                err = csm_buf_putc(b, ',');
            if (!err)
                err = fingerprint(L, node(L, *i), b, where, depth + 1);
        }
        return err ? err : csm_buf_putc(b, ']');
    case YAML_MAPPING_NODE:
        err = csm_buf_putc(b, '{');
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             !err && p < n->data.mapping.pairs.top; p++) {
            if (p != n->data.mapping.pairs.start)
                err = csm_buf_putc(b, ',');
            if (!err)
                err = fingerprint(L, node(L, p->key), b, where, depth + 1);
            if (!err)
                err = csm_buf_putc(b, ':');
            if (!err)
                err = fingerprint(L, node(L, p->value), b, where, depth + 1);
        }
        return err ? err : csm_buf_putc(b, '}');
    default:
        return csm_buf_puts(b, "null");
    }
}

static csm_err check_gvk(loader *L, csm_crs_resource *r, yaml_node_t *gvk, const char *where)
{
    char text[1024];
    csm_gvk parsed;
    int wild_v = strcmp(r->version, "*") == 0;
    int wild_k = strcmp(r->kind, "*") == 0;

    /* Reuse --resource's checks, with stand-ins for the wildcards. */
    csm_gvk_format(text, sizeof(text), r->group, wild_v ? "v1" : r->version,
                   wild_k ? "Kind" : r->kind);
    if (csm_gvk_parse(text, &parsed, NULL, 0) != CSM_OK)
        return fail(L, gvk, where,
                    "\"%s/%s/%s\" is not a valid group/version/kind (group a DNS "
                    "subdomain or \"\", version [a-z0-9]+ or \"*\", kind "
                    "[A-Za-z][A-Za-z0-9]* or \"*\")",
                    r->group, r->version, r->kind);
    csm_gvk_free(&parsed);
    return CSM_OK;
}

/* The resource's own labels, checked once even if it has no metrics. */
static csm_err check_resource_labels(loader *L, yaml_node_t *rn, const char *where)
{
    csm_crs_label *common = NULL;
    csm_crs_from *from = NULL;
    size_t ncommon = 0;
    size_t nfrom = 0;
    char w[WHERE_MAX];
    csm_err err;

    err = get_common(L, rn, where, &common, &ncommon);
    where_key(w, where, "labelsFromPath");
    if (!err)
        err = get_from(L, map_get(L, rn, "labelsFromPath"), w, &from, &nfrom);
    labels_free(common, ncommon);
    from_free(from, nfrom);
    return err;
}

/* groupVersionKind: group (may be absent: the core group), version, kind. */
static csm_err get_gvk(loader *L, yaml_node_t *rn, const char *where, csm_crs_resource *r)
{
    static const char *const gvk_keys[] = {"group", "version", "kind"};
    yaml_node_t *gvk = map_get(L, rn, "groupVersionKind");
    char w[WHERE_MAX];
    csm_err err;

    where_key(w, where, "groupVersionKind");
    if (!gvk)
        return fail(L, rn, w, "missing");
    err = check_map(L, gvk, w, gvk_keys, 3);
    if (!err)
        err = get_string(L, gvk, "group", w, &r->group);
    if (!err)
        err = get_string(L, gvk, "version", w, &r->version);
    if (!err)
        err = get_string(L, gvk, "kind", w, &r->kind);
    if (err)
        return err;
    if (!r->group) {
        r->group = strdup("");
        if (!r->group)
            return CSM_ERR_NOMEM;
    }
    if (!r->version || !r->kind)
        return fail(L, gvk, w, "needs a version and a kind (\"*\" for any)");
    return check_gvk(L, r, gvk, w);
}

/*
 * metricNamePrefix into *prefix (the caller frees it). kube-state-metrics
 * distinguishes an absent prefix (the default) from an empty one (no
 * prefix at all).
 */
static csm_err get_prefix(loader *L, yaml_node_t *rn, const char *where, char **prefix)
{
    yaml_node_t *pn = map_get(L, rn, "metricNamePrefix");

    if (pn && !csm_yamldoc_is_null(pn))
        return get_string(L, rn, "metricNamePrefix", where, prefix);
    *prefix = strdup("kube_customresource");
    return *prefix ? CSM_OK : CSM_ERR_NOMEM;
}

/* metrics[]: each entry, and no name twice with two types. */
static csm_err get_metrics(loader *L, yaml_node_t *rn, const char *where, const char *prefix,
                           csm_crs_resource *r)
{
    yaml_node_t *metrics = map_get(L, rn, "metrics");
    char w[WHERE_MAX];
    char wm[WHERE_MAX];
    size_t n;
    csm_err err;

    where_key(w, where, "metrics");
    if (metrics && !csm_yamldoc_is_null(metrics) && metrics->type != YAML_SEQUENCE_NODE)
        return fail(L, metrics, w, "expected a list of metrics, found %s", type_name(metrics));
    if (!metrics || metrics->type != YAML_SEQUENCE_NODE)
        return CSM_OK;
    n = (size_t)(metrics->data.sequence.items.top - metrics->data.sequence.items.start);
    r->metrics = calloc(n ? n : 1, sizeof(*r->metrics));
    if (!r->metrics)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *mn = node(L, metrics->data.sequence.items.start[i]);
        where_index(wm, w, i);
        r->nmetrics = i + 1;
        err = get_metric(L, prefix, rn, where, mn, wm, &r->metrics[i]);
        if (err)
            return err;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(r->metrics[j].name, r->metrics[i].name) == 0 &&
                r->metrics[j].type != r->metrics[i].type)
                return fail(L, mn, wm,
                            "metric %s is also defined at line %d with another type; "
                            "metrics sharing a name form one family and need one type",
                            r->metrics[i].name, r->metrics[j].line);
        }
    }
    return CSM_OK;
}

static csm_err get_resource(loader *L, yaml_node_t *rn, const char *where, csm_crs_resource *r)
{
    static const char *const keys[] = {
        "groupVersionKind", "resourcePlural", "metricNamePrefix", "commonLabels",  "labelsFromPath",
        "metrics",          "errorLogV",      "labelSelector",    "fieldSelector", "maxSeries"};
    char *prefix = NULL;
    csm_buf fp;
    csm_err err;

    csm_buf_init(&fp, CRS_FILE_MAX);
    r->line = (int)rn->start_mark.line + 1;
    err = check_map(L, rn, where, keys, 10);
    if (!err)
        err = get_gvk(L, rn, where, r);
    if (!err)
        err = get_string(L, rn, "resourcePlural", where, &r->plural);
    if (!err)
        err = get_string(L, rn, "labelSelector", where, &r->label_selector);
    if (!err)
        err = get_string(L, rn, "fieldSelector", where, &r->field_selector);
    if (!err)
        err = get_max_series(L, rn, where, &r->max_series);
    if (!err)
        err = get_prefix(L, rn, where, &prefix);
    if (!err)
        err = check_resource_labels(L, rn, where);
    if (!err)
        err = get_metrics(L, rn, where, prefix, r);
    if (err)
        goto out;
    err = fingerprint(L, rn, &fp, where, 0);
    if (err == CSM_ERR_TOO_LARGE)
        err =
            fail(L, rn, where, "larger than %u MiB with its aliases expanded", CRS_FILE_MAX >> 20);
    if (!err) {
        r->fingerprint = csm_buf_steal(&fp, NULL);
        if (!r->fingerprint)
            err = CSM_ERR_NOMEM;
    }
out:
    free(prefix);
    csm_buf_free(&fp);
    return err;
}

/*
 * Extension: a Count family is written whole at scrape time, once, by the
 * one resource it belongs to (src/render/crscount.h). So its name may not be any
 * other metric's in the config, and its entry needs a concrete version and
 * kind (a "*" would give several resources the same family).
 */
static csm_err check_counts(loader *L, const csm_crs *c, size_t i, yaml_node_t *rn,
                            const char *where)
{
    const csm_crs_resource *r = &c->res[i];
    yaml_node_t *metrics = map_get(L, rn, "metrics");
    char w[WHERE_MAX];
    char wm[WHERE_MAX];

    where_key(w, where, "metrics");
    for (size_t j = 0; j < r->nmetrics; j++) {
        const csm_crs_metric *m = &r->metrics[j];
        yaml_node_t *mn = node(L, metrics->data.sequence.items.start[j]);
        where_index(wm, w, j);
        if (m->type == CSM_CRS_COUNT && (strcmp(r->version, "*") == 0 || strcmp(r->kind, "*") == 0))
            return fail(L, mn, wm,
                        "a Count metric needs a concrete version and kind (its family "
                        "belongs to one resource); this entry has \"*\"");
        for (size_t k = 0; k <= i; k++) {
            for (size_t l = 0; l < (k == i ? j : c->res[k].nmetrics); l++) {
                const csm_crs_metric *o = &c->res[k].metrics[l];
                if (strcmp(o->name, m->name) != 0 ||
                    (o->type != CSM_CRS_COUNT && m->type != CSM_CRS_COUNT))
                    continue;
                return fail(L, mn, wm,
                            "metric %s is also defined at line %d; a Count family is its own "
                            "and shares its name with no other metric",
                            m->name, o->line);
            }
        }
    }
    return CSM_OK;
}

static csm_err load_doc(loader *L, csm_crs *c)
{
    static const char *const top_keys[] = {"apiVersion", "kind", "metadata", "spec"};
    static const char *const spec_keys[] = {"resources"};
    yaml_node_t *root = yaml_document_get_root_node(&L->doc);
    yaml_node_t *spec;
    yaml_node_t *res;
    yaml_node_t *kind;
    size_t n;
    csm_err err;

    if (!root)
        return fail(L, NULL, "(document)", "empty; expected a CustomResourceStateMetrics");
    err = check_map(L, root, "(document)", top_keys, 4);
    if (err)
        return err;
    kind = map_get(L, root, "kind");
    if (kind &&
        (kind->type != YAML_SCALAR_NODE || strcmp(scalar(kind), "CustomResourceStateMetrics") != 0))
        return fail(L, kind, "kind", "expected CustomResourceStateMetrics, found %s%s%s",
                    kind->type == YAML_SCALAR_NODE ? "\"" : "",
                    kind->type == YAML_SCALAR_NODE ? scalar(kind) : type_name(kind),
                    kind->type == YAML_SCALAR_NODE ? "\"" : "");
    spec = map_get(L, root, "spec");
    if (!spec)
        return fail(L, root, "spec", "missing");
    err = check_map(L, spec, "spec", spec_keys, 1);
    if (err)
        return err;
    res = map_get(L, spec, "resources");
    if (csm_yamldoc_is_null(res))
        return CSM_OK; /* a config that exports nothing is valid */
    if (res->type != YAML_SEQUENCE_NODE)
        return fail(L, res, "spec.resources", "expected a list of resources, found %s",
                    type_name(res));
    n = (size_t)(res->data.sequence.items.top - res->data.sequence.items.start);
    c->res = calloc(n ? n : 1, sizeof(*c->res));
    if (!c->res)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        char w[WHERE_MAX];
        where_index(w, "spec.resources", i);
        c->nres = i + 1;
        err = get_resource(L, node(L, res->data.sequence.items.start[i]), w, &c->res[i]);
        if (!err)
            err = check_counts(L, c, i, node(L, res->data.sequence.items.start[i]), w);
        if (err)
            return err;
        /* One Kind under two versions would export every object twice,
         * which kube-state-metrics refuses too. */
        for (size_t j = 0; j < i; j++) {
            const csm_crs_resource *a = &c->res[j];
            const csm_crs_resource *b = &c->res[i];
            if (strcmp(a->group, b->group) == 0 && strcmp(a->kind, b->kind) == 0 &&
                strcmp(a->version, b->version) != 0)
                return fail(L, node(L, res->data.sequence.items.start[i]), w,
                            "%s/%s is also configured with version %s at line %d; "
                            "configure one version per kind",
                            b->group[0] ? b->group : "(core)", b->kind, a->version, a->line);
        }
    }
    return CSM_OK;
}

csm_err csm_crs_load_text(const char *name, const char *text, size_t len, csm_crs **out,
                          char *errbuf, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    loader L;
    csm_crs *c = NULL;
    int have_doc = 0;
    csm_err err = CSM_OK;

    memset(&L, 0, sizeof(L));
    L.file = name;
    L.errbuf = errbuf;
    L.errlen = errlen;
    if (errlen)
        errbuf[0] = '\0';
    if (!yaml_parser_initialize(&parser))
        return CSM_ERR_NOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &L.doc)) {
        snprintf(errbuf, errlen, "%s:%zu:%zu: YAML: %s%s%s", name, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "error",
                 parser.context ? " " : "", parser.context ? parser.context : "");
        err = CSM_ERR_PARSE;
        goto out;
    }
    have_doc = 1;
    if (yaml_document_get_root_node(&L.doc)) {
        /* A second document would be silently ignored by
         * kube-state-metrics; say so instead. */
        if (!yaml_parser_load(&parser, &extra)) {
            snprintf(errbuf, errlen, "%s:%zu:%zu: YAML: %s", name, parser.problem_mark.line + 1,
                     parser.problem_mark.column + 1, parser.problem ? parser.problem : "error");
            err = CSM_ERR_PARSE;
            goto out;
        }
        if (yaml_document_get_root_node(&extra)) {
            snprintf(errbuf, errlen,
                     "%s:%zu:%zu: a second YAML document; the config is one "
                     "CustomResourceStateMetrics document",
                     name, extra.start_mark.line + 1, extra.start_mark.column + 1);
            err = CSM_ERR_INVALID;
        }
        yaml_document_delete(&extra);
        if (err)
            goto out;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    c->refs = 1;
    err = load_doc(&L, c);
out:
    if (have_doc)
        yaml_document_delete(&L.doc);
    yaml_parser_delete(&parser);
    if (err) {
        if (errlen && !errbuf[0])
            snprintf(errbuf, errlen, "%s: %s", name, csm_strerror(err));
        csm_crs_unref(c);
        return err;
    }
    *out = c;
    return CSM_OK;
}

csm_err csm_crs_load(const char *file, csm_crs **out, char *errbuf, size_t errlen)
{
    csm_buf text;
    csm_err err;

    csm_buf_init(&text, CRS_FILE_MAX);
    err = csm_buf_read_file(&text, file);
    if (err == CSM_ERR_TOO_LARGE)
        snprintf(errbuf, errlen, "%s: larger than %u MiB", file, CRS_FILE_MAX >> 20);
    else if (err)
        snprintf(errbuf, errlen, "%s: %s", file, strerror(errno));
    if (!err)
        err = csm_crs_load_text(file, text.ptr ? text.ptr : "", text.len, out, errbuf, errlen);
    csm_buf_free(&text);
    return err;
}

void csm_crs_selectors(const csm_crs *c, const char *group, const char *version, const char *kind,
                       const char **label, const char **field)
{
    *label = NULL;
    *field = NULL;
    for (size_t i = 0; c && i < csm_crs_resources(c); i++) {
        const csm_crs_resource *r = csm_crs_resource_at(c, i);
        if (!csm_crs_matches(r, group, version, kind) || (!r->label_selector && !r->field_selector))
            continue;
        *label = r->label_selector;
        *field = r->field_selector;
        return;
    }
}
