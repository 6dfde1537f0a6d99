/*
 * The "config" generator: the metrics a Custom Resource State config
 * (src/render/crs.h) describes for one resource, evaluated the way
 * kube-state-metrics evaluates them:
 *
 *   base labels   commonLabels, customresource_{group,version,kind}, then
 *                 labelsFromPath against the object (resource and metric)
 *   each.path     resolves to one value, an array (one sample per element)
 *                 or a map (one sample per entry)
 *   each labels   labelsFromPath against the element, labelFromKey,
 *                 labelName; they win over base labels of the same name
 *
 * Samples of one metric are sorted as kube-state-metrics sorts them.
 * Metrics that share a name form one family; a series that two of them
 * produce identically is emitted once.
 *
 * The generator is in-tree and takes its config through
 * csm_families_context(): init() receives the csm_crs and keeps a
 * reference for as long as the instance lives.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generators/builtin.h"
#include "render/crs.h"
#include "render/crspath.h"
#include "csm/generator.h"
#include "render/expo.h"
#include "render/gen.h"

typedef struct lbl {
    char *name;
    char *value;
    size_t seq; /* put order (0: only if absent); the highest wins */
} lbl;

/* Labels are appended as they are put, in O(1); sample_normalize() sorts
 * them and keeps the winner of each name, in O(n log n). Putting names one
 * by one into a set kept unique (a scan per put) was quadratic, and one
 * labelsFromPath over a tenant's map can put tens of thousands. */
typedef struct sample {
    lbl *l;
    size_t n;
    size_t cap;
    size_t puts;
    double value;
    const csm_crs_metric *origin; /* the metrics[] entry that produced it */
} sample;

typedef struct samples {
    sample *s;
    size_t n;
    size_t cap; /* grown by doubling: pushes are amortized O(1) */
} samples;

typedef struct metric_ref {
    const csm_crs_metric *m;
    size_t family; /* index into config_state's families */
} metric_ref;

typedef struct config_state {
    csm_crs *crs;
    metric_ref *metrics;
    size_t nmetrics;
    size_t *families; /* csm_families_add() index of each family */
    size_t nfamilies;
    char *gvk[3]; /* group, version, kind label values */
} config_state;

/* Evaluation of one metric on one object. */
typedef struct eval {
    const csm_crs_metric *m;
    csm_emitter *em;
    samples *out;
    int failed;
} eval;

static const char *const gvk_labels[3] = {"customresource_group", "customresource_version",
                                          "customresource_kind"};

/* ---- label sets ------------------------------------------------------- */

static void sample_clear(sample *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->l[i].name);
        free(s->l[i].value);
    }
    free(s->l);
    s->l = NULL;
    s->n = 0;
    s->cap = 0;
    s->puts = 0;
}

static void samples_clear(samples *ss)
{
    for (size_t i = 0; i < ss->n; i++)
        sample_clear(&ss->s[i]);
    free(ss->s);
    ss->s = NULL;
    ss->n = 0;
    ss->cap = 0;
}

/* Sets name=value: it replaces what an earlier put of that name set, unless
 * only_if_absent (then any other put of the name wins). Takes effect at
 * sample_normalize(). */
static csm_err sample_put(sample *s, const char *name, const char *value, int only_if_absent)
{
    lbl *nl;

    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        nl = realloc(s->l, cap * sizeof(*nl));
        if (!nl)
            return CSM_ERR_NOMEM;
        s->l = nl;
        s->cap = cap;
    }
    nl = &s->l[s->n];
    nl->name = strdup(name);
    nl->value = strdup(value);
    nl->seq = only_if_absent ? 0 : ++s->puts;
    if (!nl->name || !nl->value) {
        free(nl->name);
        free(nl->value);
        return CSM_ERR_NOMEM;
    }
    s->n++;
    return CSM_OK;
}

/* Drops the labels put after the first n. */
static void sample_truncate(sample *s, size_t n)
{
    while (s->n > n) {
        s->n--;
        free(s->l[s->n].name);
        free(s->l[s->n].value);
    }
}

/* By name; within a name the winning put first. */
static int cmp_put(const void *a, const void *b)
{
    const lbl *x = a;
    const lbl *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->seq < y->seq) - (x->seq > y->seq);
}

/* Sorts the labels by name and keeps one per name, the winning put. */
static void sample_normalize(sample *s)
{
    size_t k = 0;

    if (!s->n)
        return;
    qsort(s->l, s->n, sizeof(*s->l), cmp_put);
    for (size_t i = 0; i < s->n; i++) {
        if (k && strcmp(s->l[k - 1].name, s->l[i].name) == 0) {
            free(s->l[i].name);
            free(s->l[i].value);
            continue;
        }
        s->l[k++] = s->l[i];
    }
    s->n = k;
}

/* Moves *s to the end of ss (s is left empty). */
static csm_err samples_push(samples *ss, sample *s)
{
    sample *ns = ss->s;
    size_t cap = ss->cap;

    if (ss->n == cap) {
        cap = cap ? 2 * cap : 8;
        ns = realloc(ss->s, cap * sizeof(*ns));
        if (!ns) {
            sample_clear(s);
            return CSM_ERR_NOMEM;
        }
        ss->s = ns;
        ss->cap = cap;
    }
    ns[ss->n++] = *s;
    memset(s, 0, sizeof(*s));
    return CSM_OK;
}

/* kube-state-metrics' order of samples: label names, then values,
 * pairwise over the sorted labels; then fewer labels first. */
static int cmp_sample(const void *a, const void *b)
{
    const sample *x = a;
    const sample *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c;

    for (size_t i = 0; i < n; i++) {
        c = strcmp(x->l[i].name, y->l[i].name);
        if (c)
            return c;
        c = strcmp(x->l[i].value, y->l[i].value);
        if (c)
            return c;
    }
    return (x->n > y->n) - (x->n < y->n);
}

/* ---- evaluation ------------------------------------------------------- */

static void fail_note(eval *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Marks the metric as not fully read and says why (for check-config). */
static void fail_note(eval *ev, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    ev->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    csm_emitter_note(ev->em, "%s: %s", ev->m->name, msg);
}

static csm_err put_value(sample *s, const char *name, const csm_value *v)
{
    csm_buf b;
    csm_err err;

    csm_buf_init(&b, 1u << 20);
    err = csm_crspath_format(v, &b);
    if (!err)
        err = sample_put(s, name, csm_buf_str(&b), 0);
    csm_buf_free(&b);
    return err;
}

/* Copies a map's entries into labels, prefixed and sanitized. */
static csm_err copy_map(eval *ev, const csm_crs_from *f, const csm_value *map, sample *s)
{
    char name[512];
    csm_buf key;
    csm_err err = CSM_OK;

    csm_buf_init(&key, sizeof(name));
    for (const csm_value *e = csm_value_first(map); !err && e; e = csm_value_next(e)) {
        csm_buf_reset(&key);
        err = csm_buf_printf(&key, "%s%s", f->prefix, csm_value_name(e));
        if (err == CSM_ERR_TOO_LARGE) {
            err = CSM_OK;
            continue;
        }
        if (err)
            break;
        if (csm_label_sanitize(csm_buf_str(&key), name, sizeof(name)) != CSM_OK ||
            !csm_expo_valid_label_name(name)) {
            /* e.g. a key "__x": no valid label can carry it. */
            fail_note(ev, "labelsFromPath %s: key \"%s\" makes no valid label name", f->key,
                      csm_value_name(e));
            continue;
        }
        err = put_value(s, name, e);
    }
    csm_buf_free(&key);
    return err;
}

/* kube-state-metrics' addPathLabels: map copies in key order, then the
 * named labels, each overriding what came before. */
static csm_err add_path_labels(eval *ev, const csm_value *obj, const csm_crs_from *from, size_t n,
                               sample *s)
{
    csm_err err = CSM_OK;

    for (size_t i = 0; !err && i < n; i++) {
        const csm_value *v = csm_crspath_get(from[i].path, obj);
        if (!from[i].name) {
            if (csm_value_kind_of(v) == CSM_VALUE_MAP)
                err = copy_map(ev, &from[i], v, s);
        } else if (v) {
            err = put_value(s, from[i].name, v);
        }
    }
    return err;
}

/* A gauge's value for one element: *have is 0 when there is none (a
 * missing valueFrom is skipped silently, as kube-state-metrics does). */
static csm_err gauge_value(eval *ev, const csm_value *it, int it_missing, double *out, int *have,
                           const char *where)
{
    const csm_crs_metric *m = ev->m;
    const csm_value *got = csm_crspath_get(m->value_from, it);
    char why[256];

    *have = 0;
    if (!got) {
        if (m->nil_is_zero) {
            *out = 0;
            *have = 1;
        } else if (it_missing) {
            fail_note(ev, "path %s: not found (nilIsZero would export 0)",
                      csm_crspath_text(m->path));
        }
        return CSM_OK;
    }
    if (csm_crspath_number(got, m->nil_is_zero, m->value_type, out, why, sizeof(why)) != CSM_OK) {
        fail_note(ev, "path %s%s valueFrom %s: %s", csm_crspath_text(m->path), where,
                  csm_crspath_text(m->value_from), why);
        return CSM_OK;
    }
    *have = 1;
    return CSM_OK;
}

static csm_err eval_gauge(eval *ev, const csm_value *v)
{
    const csm_crs_metric *m = ev->m;
    const char *single =
        csm_crspath_len(m->value_from) == 1 ? csm_crspath_segment(m->value_from, 0) : NULL;
    sample s;
    char where[64];
    size_t i = 0;
    int have;
    csm_err err = CSM_OK;

    memset(&s, 0, sizeof(s));
    switch (csm_value_kind_of(v)) {
    case CSM_VALUE_MAP:
        for (const csm_value *e = csm_value_first(v); !err && e; e = csm_value_next(e)) {
            const char *key = csm_value_name(e);
            char why[256];
            have = 0;
            if (single && strcmp(key, single) == 0) {
                /* valueFrom naming an entry of the map itself. */
                have = csm_crspath_number(e, m->nil_is_zero, m->value_type, &s.value, why,
                                          sizeof(why)) == CSM_OK;
            } else {
                /* kube-state-metrics drops conversion errors of map
                 * entries without a word; so do we. */
                const csm_value *got = csm_crspath_get(m->value_from, e);
                if (got)
                    have = csm_crspath_number(got, m->nil_is_zero, m->value_type, &s.value, why,
                                              sizeof(why)) == CSM_OK;
                else if (m->nil_is_zero) {
                    s.value = 0;
                    have = 1;
                }
            }
            if (!have)
                continue;
            if (m->label_from_key && key[0])
                err = sample_put(&s, m->label_from_key, key, 0);
            if (!err)
                err = add_path_labels(ev, e, m->each, m->neach, &s);
            /* ... and against the map itself, as kube-state-metrics does. */
            if (!err)
                err = add_path_labels(ev, v, m->each, m->neach, &s);
            if (!err)
                err = samples_push(ev->out, &s);
        }
        break;
    case CSM_VALUE_ARRAY:
        for (const csm_value *e = csm_value_first(v); !err && e; e = csm_value_next(e), i++) {
            snprintf(where, sizeof(where), "[%zu]", i);
            err = gauge_value(ev, e, 0, &s.value, &have, where);
            if (!err && have)
                err = add_path_labels(ev, e, m->each, m->neach, &s);
            if (!err && have)
                err = samples_push(ev->out, &s);
        }
        break;
    default:
        err = gauge_value(ev, v, v == NULL, &s.value, &have, "");
        if (!err && have)
            err = add_path_labels(ev, v, m->each, m->neach, &s);
        if (!err && have)
            err = samples_push(ev->out, &s);
        break;
    }
    sample_clear(&s);
    return err;
}

/* One info sample for x if its labels are not empty. */
static csm_err info_values(eval *ev, const csm_value *x)
{
    sample s;
    csm_err err;

    if (!x)
        return CSM_OK;
    memset(&s, 0, sizeof(s));
    s.value = 1;
    err = add_path_labels(ev, x, ev->m->each, ev->m->neach, &s);
    if (!err && s.n)
        err = samples_push(ev->out, &s);
    sample_clear(&s);
    return err;
}

static csm_err eval_info(eval *ev, const csm_value *v)
{
    const csm_crs_metric *m = ev->m;
    csm_err err = CSM_OK;
    sample s;

    switch (csm_value_kind_of(v)) {
    case CSM_VALUE_ARRAY:
        for (const csm_value *e = csm_value_first(v); !err && e; e = csm_value_next(e))
            err = info_values(ev, e);
        return err;
    case CSM_VALUE_MAP:
        /* One sample per entry that yields labels, then one for the map. */
        memset(&s, 0, sizeof(s));
        for (const csm_value *e = csm_value_first(v); !err && e; e = csm_value_next(e)) {
            s.value = 1;
            if (m->label_from_key && csm_value_name(e)[0])
                err = sample_put(&s, m->label_from_key, csm_value_name(e), 0);
            if (!err)
                err = add_path_labels(ev, e, m->each, m->neach, &s);
            if (!err && s.n)
                err = samples_push(ev->out, &s);
            sample_clear(&s);
        }
        return err ? err : info_values(ev, v);
    default:
        return info_values(ev, v);
    }
}

static csm_err stateset_values(eval *ev, const csm_value *x)
{
    const csm_crs_metric *m = ev->m;
    const csm_value *cmp = csm_crspath_get(m->value_from, x);
    const char *state;
    sample s;
    csm_err err = CSM_OK;

    if (csm_value_string(cmp, &state) != CSM_OK) {
        /* A status not written yet is normal for a new object. */
        if (csm_crspath_len(m->path) > 0 && strcmp(csm_crspath_segment(m->path, 0), "status") == 0)
            return CSM_OK;
        fail_note(ev, "path %s valueFrom %s: expected a string, found %s",
                  csm_crspath_text(m->path), csm_crspath_text(m->value_from),
                  cmp ? "another type" : "nothing");
        return CSM_OK;
    }
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; !err && i < m->nlist; i++) {
        s.value = strcmp(state, m->list[i]) == 0;
        err = sample_put(&s, m->label_name, m->list[i], 0);
        if (!err)
            err = add_path_labels(ev, x, m->each, m->neach, &s);
        if (!err)
            err = samples_push(ev->out, &s);
    }
    sample_clear(&s);
    return err;
}

static csm_err eval_stateset(eval *ev, const csm_value *v)
{
    csm_err err = CSM_OK;

    if (csm_value_kind_of(v) != CSM_VALUE_ARRAY)
        return stateset_values(ev, v);
    for (const csm_value *e = csm_value_first(v); !err && e; e = csm_value_next(e))
        err = stateset_values(ev, e);
    return err;
}

static csm_err eval_type(eval *ev, const csm_value *v)
{
    if (ev->m->type == CSM_CRS_GAUGE)
        return eval_gauge(ev, v);
    if (ev->m->type == CSM_CRS_INFO)
        return eval_info(ev, v);
    return eval_stateset(ev, v);
}

/*
 * Extension (nested wildcards): resolves the path from segment `from`; a
 * "*" segment expands every element (its index) or entry (its key) of that
 * level, kept in *cap as label wild_labels[w]. At the end of the path the
 * metric's type is evaluated and the captured labels set on its samples.
 * Cost: one evaluation per combination the object holds.
 */
static csm_err eval_wild(eval *ev, const csm_value *v, size_t from, size_t w, sample *cap)
{
    const csm_crs_metric *m = ev->m;
    size_t n = csm_crspath_len(m->path);
    size_t star = from;
    size_t first = ev->out->n;
    size_t idx = 0;
    char key[32];
    csm_err err = CSM_OK;

    while (star < n && strcmp(csm_crspath_segment(m->path, star), "*") != 0)
        star++;
    v = csm_crspath_get_part(m->path, from, star, v);
    if (star == n) {
        err = eval_type(ev, v);
        for (size_t i = first; !err && i < ev->out->n; i++) {
            for (size_t j = 0; !err && j < cap->n; j++)
                err = sample_put(&ev->out->s[i], cap->l[j].name, cap->l[j].value, 0);
        }
        return err;
    }
    if (csm_value_kind_of(v) != CSM_VALUE_ARRAY && csm_value_kind_of(v) != CSM_VALUE_MAP)
        return CSM_OK; /* nothing to expand: no samples */
    for (const csm_value *e = csm_value_first(v); !err && e; e = csm_value_next(e), idx++) {
        size_t mark = cap->n;
        snprintf(key, sizeof(key), "%zu", idx);
        err = sample_put(cap, m->wild_labels[w],
                         csm_value_kind_of(v) == CSM_VALUE_MAP ? csm_value_name(e) : key, 0);
        if (!err)
            err = eval_wild(ev, e, star + 1, w + 1, cap);
        /* cap holds one label per level: sample_put() appends, so the
         * element's label is taken off again (else cap, and every sample
         * it is copied into, would grow with every element seen). */
        sample_truncate(cap, mark);
    }
    return err;
}

/* Base labels of a metric for obj: common, group/version/kind, paths. */
static csm_err base_labels(eval *ev, const char *const gvk[3], const csm_value *root, sample *base)
{
    const csm_crs_metric *m = ev->m;
    csm_err err = CSM_OK;

    for (size_t i = 0; !err && i < m->ncommon; i++)
        err = sample_put(base, m->common[i].name, m->common[i].value, 0);
    /* Reserved: the resource's own group/version/kind always wins. */
    for (size_t i = 0; !err && i < 3; i++)
        err = sample_put(base, gvk_labels[i], gvk[i], 0);
    if (!err)
        err = add_path_labels(ev, root, m->base, m->nbase, base);
    return err;
}

/* Appends the samples of metric ref to fam. */
static csm_err eval_metric(const config_state *st, const metric_ref *ref, const csm_value *root,
                           csm_emitter *em, samples *fam, int *failed)
{
    samples out = {NULL, 0, 0};
    sample base;
    eval ev;
    const csm_value *v;
    csm_err err;

    memset(&base, 0, sizeof(base));
    ev.m = ref->m;
    ev.em = em;
    ev.out = &out;
    ev.failed = 0;
    err = base_labels(&ev, (const char *const *)st->gvk, root, &base);
    sample_normalize(&base);
    if (!err && ref->m->nwild) {
        sample cap;
        memset(&cap, 0, sizeof(cap));
        err = eval_wild(&ev, root, 0, 0, &cap);
        sample_clear(&cap);
    } else if (!err) {
        v = csm_crspath_get(ref->m->path, root);
        err = eval_type(&ev, v);
    }
    /* qsort() wants a non-NULL array even for no elements. */
    for (size_t i = 0; !err && i < out.n; i++)
        sample_normalize(&out.s[i]);
    if (!err && out.n)
        qsort(out.s, out.n, sizeof(sample), cmp_sample);
    for (size_t i = 0; !err && i < out.n; i++) {
        for (size_t j = 0; !err && j < base.n; j++)
            err = sample_put(&out.s[i], base.l[j].name, base.l[j].value, 1);
        if (!err)
            sample_normalize(&out.s[i]);
        out.s[i].origin = ref->m;
        if (!err)
            err = samples_push(fam, &out.s[i]);
    }
    *failed |= ev.failed;
    samples_clear(&out);
    sample_clear(&base);
    return err;
}

csm_err csm_gen_config_count_key(const csm_crs_metric *m, const char *const gvk[3],
                                 const cJSON *obj, csm_buf *out)
{
    sample base;
    eval ev;
    csm_err err;

    memset(&base, 0, sizeof(base));
    memset(&ev, 0, sizeof(ev));
    ev.m = m;
    err = base_labels(&ev, gvk, csm_object_root((const csm_object *)obj), &base);
    sample_normalize(&base);
    for (size_t i = 0; !err && i < base.n; i++) {
        err = csm_buf_append(out, base.l[i].name, strlen(base.l[i].name) + 1);
        if (!err)
            err = csm_buf_append(out, base.l[i].value, strlen(base.l[i].value) + 1);
    }
    sample_clear(&base);
    return err;
}

typedef struct keyed {
    size_t index;
    const sample *s;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a;
    const keyed *y = b;
    size_t n = x->s->n;
    int c;

    if (x->s->n != y->s->n)
        return x->s->n < y->s->n ? -1 : 1;
    for (size_t i = 0; i < n; i++) {
        c = strcmp(x->s->l[i].name, y->s->l[i].name);
        if (!c)
            c = strcmp(x->s->l[i].value, y->s->l[i].value);
        if (c)
            return c;
    }
    return (x->index > y->index) - (x->index < y->index);
}

/* Says why run[0..n) (equal label sets, sorted by index) is exported once:
 * elements of one metric's path that gave the same labels, or metrics of
 * one name that gave the same series. */
static void note_collapse(csm_emitter *em, const char *fname, const keyed *run, size_t n)
{
    const csm_crs_metric *first = run[0].s->origin;
    const csm_crs_metric *second = NULL;
    size_t others = 0;
    csm_buf labels;

    for (size_t i = 1; i < n; i++) {
        if (run[i].s->origin != first && !second)
            second = run[i].s->origin;
        others += run[i].s->origin != first;
    }
    csm_buf_init(&labels, 512);
    for (size_t i = 0; i < run[0].s->n; i++)
        csm_buf_printf(&labels, "%s%s=\"%s\"", i ? "," : "", run[0].s->l[i].name,
                       run[0].s->l[i].value);
    if (!others)
        csm_emitter_note(em,
                         "%s: %zu elements of path %s (metric at line %d) gave the same labels "
                         "{%s}; exported once (add a labelsFromPath that tells them apart)",
                         fname, n, csm_crspath_text(first->path), first->line,
                         labels.len ? csm_buf_str(&labels) : "...");
    else
        csm_emitter_note(em,
                         "%s: %zu samples of metrics of this name (lines %d and %d) gave the same "
                         "series "
                         "{%s}; exported once",
                         fname, n, first->line, second->line,
                         labels.len ? csm_buf_str(&labels) : "...");
    csm_buf_free(&labels);
}

/* Emits a family's samples in order, each distinct label set once. */
static csm_err emit_family(csm_emitter *em, size_t family, const char *fname, const samples *fam,
                           int *failed)
{
    keyed *k = calloc(fam->n ? fam->n : 1, sizeof(*k));
    char *dup = calloc(fam->n ? fam->n : 1, 1);
    const char **names = NULL;
    const char **values = NULL;
    size_t most = 0;
    csm_err err = CSM_OK;

    if (!k || !dup) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < fam->n; i++) {
        k[i].index = i;
        k[i].s = &fam->s[i];
        most = fam->s[i].n > most ? fam->s[i].n : most;
    }
    if (fam->n)
        qsort(k, fam->n, sizeof(*k), cmp_keyed);
    for (size_t i = 1; i < fam->n; i++) {
        keyed a = k[i - 1];
        keyed b = k[i];
        a.index = b.index = 0;
        if (cmp_keyed(&a, &b) == 0)
            dup[k[i].index] = 1;
    }
    for (size_t i = 0, j; i < fam->n; i = j) {
        for (j = i + 1; j < fam->n && dup[k[j].index]; j++)
            ;
        if (j - i > 1)
            note_collapse(em, fname, k + i, j - i);
    }
    names = calloc(most ? most : 1, sizeof(*names));
    values = calloc(most ? most : 1, sizeof(*values));
    if (!names || !values) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < fam->n; i++) {
        const sample *s = &fam->s[i];
        if (dup[i]) {
            *failed = 1;
            continue;
        }
        for (size_t j = 0; j < s->n; j++) {
            names[j] = s->l[j].name;
            values[j] = s->l[j].value;
        }
        /* A rejected sample is counted by the emitter; carry on. */
        csm_emit(em, family, s->n, names, values, s->value);
    }
out:
    free(k);
    free(dup);
    free(names);
    free(values);
    return err;
}

/* ---- the generator ------------------------------------------------------ */

static void config_destroy(void *state)
{
    config_state *st = state;
    if (!st)
        return;
    csm_crs_unref(st->crs);
    free(st->metrics);
    free(st->families);
    for (size_t i = 0; i < 3; i++)
        free(st->gvk[i]);
    free(st);
}

static csm_metric_type family_type(const csm_crs_metric *m)
{
    size_t n = strlen(m->name);
    /* An OpenMetrics info family's samples end in "_info", and a
     * stateset's state label is named after the family; a config does not
     * promise either, so those are plain gauges, as in text format. */
    if (m->type == CSM_CRS_INFO && n > 5 && strcmp(m->name + n - 5, "_info") == 0)
        return CSM_METRIC_INFO;
    return CSM_METRIC_GAUGE;
}

/* Declares m's family or finds the one an earlier metric of that name
 * declared. */
static csm_err add_metric(config_state *st, const csm_crs_metric *m, csm_families *fams)
{
    metric_ref *nm = realloc(st->metrics, (st->nmetrics + 1) * sizeof(*nm));
    size_t *nf;
    size_t f;
    csm_err err;

    if (!nm)
        return CSM_ERR_NOMEM;
    st->metrics = nm;
    for (size_t i = 0; i < st->nmetrics; i++) {
        if (strcmp(nm[i].m->name, m->name) != 0)
            continue;
        if (family_type(nm[i].m) != family_type(m))
            return CSM_ERR_INVALID;
        nm[st->nmetrics].m = m;
        nm[st->nmetrics++].family = nm[i].family;
        return CSM_OK;
    }
    nf = realloc(st->families, (st->nfamilies + 1) * sizeof(*nf));
    if (!nf)
        return CSM_ERR_NOMEM;
    st->families = nf;
    err = csm_families_add(fams, m->name, m->help, family_type(m), &f);
    if (err)
        return err;
    nf[st->nfamilies] = f;
    nm[st->nmetrics].m = m;
    nm[st->nmetrics++].family = st->nfamilies++;
    return CSM_OK;
}

static csm_err config_init(const csm_resource_desc *res, const char *arg, csm_families *fams,
                           void **state)
{
    csm_crs *crs = csm_families_context(fams);
    config_state *st;
    csm_err err = CSM_OK;

    (void)arg;
    if (!crs)
        return CSM_ERR_INVALID;
    st = calloc(1, sizeof(*st));
    if (!st)
        return CSM_ERR_NOMEM;
    st->crs = csm_crs_ref(crs);
    st->gvk[0] = strdup(res->group);
    st->gvk[1] = strdup(res->version);
    st->gvk[2] = strdup(res->kind);
    if (!st->gvk[0] || !st->gvk[1] || !st->gvk[2])
        err = CSM_ERR_NOMEM;
    for (size_t i = 0; !err && i < csm_crs_resources(crs); i++) {
        const csm_crs_resource *r = csm_crs_resource_at(crs, i);
        if (!csm_crs_matches(r, res->group, res->version, res->kind))
            continue;
        /* Count metrics are aggregates kept by src/render/crscount.c. */
        for (size_t j = 0; !err && j < r->nmetrics; j++)
            err =
                r->metrics[j].type == CSM_CRS_COUNT ? CSM_OK : add_metric(st, &r->metrics[j], fams);
    }
    if (err) {
        config_destroy(st);
        return err;
    }
    *state = st;
    return CSM_OK;
}

static csm_err config_generate(void *state, const csm_object *obj, csm_emitter *em)
{
    const config_state *st = state;
    const csm_value *root = csm_object_root(obj);
    samples *fams = calloc(st->nfamilies ? st->nfamilies : 1, sizeof(*fams));
    int failed = 0;
    csm_err err = CSM_OK;

    if (!fams)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; !err && i < st->nmetrics; i++)
        err = eval_metric(st, &st->metrics[i], root, em, &fams[st->metrics[i].family], &failed);
    for (size_t f = 0; !err && f < st->nfamilies; f++) {
        const char *name = NULL;
        for (size_t i = 0; !name && i < st->nmetrics; i++)
            name = st->metrics[i].family == f ? st->metrics[i].m->name : NULL;
        err = emit_family(em, st->families[f], name, &fams[f], &failed);
    }
    for (size_t f = 0; f < st->nfamilies; f++)
        samples_clear(&fams[f]);
    free(fams);
    if (err)
        return err;
    return failed ? CSM_ERR_NOT_FOUND : CSM_OK;
}

const csm_generator csm_generator_config = {
    .abi_version = CSM_GENERATOR_ABI_VERSION,
    .name = "config",
    .init = config_init,
    .generate = config_generate,
    .destroy = config_destroy,
};
