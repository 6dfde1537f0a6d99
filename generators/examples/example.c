/*
 * An example generator plugin that uses the whole ABI of
 * include/csm/generator.h. Build it like generators/examples/meson.build
 * does (a shared object that is not linked against the exporter: the
 * exporter provides every csm_* function), then run
 *
 *     crd-state-metrics --generator-plugin ./example.so \
 *         --generators info,example --resource cache.example.com/v1/Memcached
 *
 * For each object of the resource it emits (stem "memcached"):
 *
 *   memcached_example_info{namespace,memcached,uid,phase,app} 1      info
 *   memcached_example_replicas{namespace,memcached} spec.replicas    gauge
 *   memcached_example_paused{namespace,memcached} 0|1                gauge
 *   memcached_example_restarts_total{namespace,memcached}            counter
 *   memcached_example_phase{namespace,memcached,memcached_example_phase=S}
 *                                                  1|0 per state    stateset
 *   memcached_example_condition_transition_timestamp_seconds{...,type} gauge
 *   memcached_example_label_keys{namespace,memcached} #labels       gauge
 *   memcached_example_annotation_bytes{...,annotation=<key>} length   gauge
 *
 * Missing fields leave their family out for that object; a field of the
 * wrong type does the same and makes generate() return the error, which
 * the exporter counts. Everything else is still emitted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csm/generator.h"

enum {
    F_INFO = 0,
    F_REPLICAS,
    F_PAUSED,
    F_RESTARTS,
    F_PHASE,
    F_TRANSITION,
    F_LABEL_KEYS,
    F_ANNOTATION_BYTES,
    NFAM
};

static const struct {
    const char *suffix;
    const char *help;
    csm_metric_type type;
} families[NFAM] = {
    {"info", "Identity, phase and app label of the object.", CSM_METRIC_INFO},
    {"replicas", "spec.replicas.", CSM_METRIC_GAUGE},
    {"paused", "spec.paused as 0 or 1.", CSM_METRIC_GAUGE},
    {"restarts_total", "status.restarts.", CSM_METRIC_COUNTER},
    {"phase", "status.phase: 1 for the current phase.", CSM_METRIC_STATESET},
    {"condition_transition_timestamp_seconds", "lastTransitionTime per condition type.",
     CSM_METRIC_GAUGE},
    {"label_keys", "Number of labels on the object.", CSM_METRIC_GAUGE},
    {"annotation_bytes", "Length of each annotation's value.", CSM_METRIC_GAUGE},
};

static const char *const phases[] = {"Pending", "Running", "Failed"};

typedef struct example_state {
    size_t fam[NFAM];
    char stem[128];
    char phase_label[200]; /* a stateset's state label is named after the family */
} example_state;

static csm_err example_init(const csm_resource_desc *res, const char *arg, csm_families *fams,
                            void **state)
{
    example_state *st = calloc(1, sizeof(*st));
    char raw[256];
    char name[256];
    csm_err err = CSM_OK;

    (void)arg; /* plugins get no argument */
    if (!st)
        return CSM_ERR_NOMEM;
    snprintf(st->stem, sizeof(st->stem), "%s", res->stem);
    for (size_t i = 0; !err && i < NFAM; i++) {
        /* Derived names go through the sanitizer, as the ABI asks. */
        snprintf(raw, sizeof(raw), "%s_example_%s", res->stem, families[i].suffix);
        err = csm_name_sanitize(raw, name, sizeof(name));
        if (!err)
            err = csm_families_add(fams, name, families[i].help, families[i].type, &st->fam[i]);
        if (!err && i == F_PHASE)
            err = csm_label_sanitize(name, st->phase_label, sizeof(st->phase_label));
    }
    if (err) {
        free(st);
        return err;
    }
    *state = st;
    return CSM_OK;
}

/* Labels every series starts with; returns how many (2 at most). */
static size_t base_labels(const example_state *st, const csm_object *obj, const char **names,
                          const char **values)
{
    size_t n = 0;
    if (csm_object_namespace(obj)) {
        names[n] = "namespace";
        values[n++] = csm_object_namespace(obj);
    }
    names[n] = st->stem;
    values[n++] = csm_object_name(obj);
    return n;
}

/* Remembers the first error, carries on. */
static void keep(csm_err *first, csm_err err)
{
    if (err && err != CSM_ERR_NOT_FOUND && !*first)
        *first = err;
}

static csm_err emit_info(const example_state *st, const csm_object *obj, csm_emitter *em, size_t n,
                         const char **names, const char **values)
{
    const csm_value *root = csm_object_root(obj);
    const char *phase = "";
    const char *app = "";

    /* Absent fields become empty labels here, which Prometheus drops. */
    csm_value_string(csm_value_path(root, "status.phase"), &phase);
    csm_value_string(csm_value_path(root, "metadata.labels[app.kubernetes.io/name]"), &app);
    names[n] = "uid";
    values[n++] = csm_object_uid(obj) ? csm_object_uid(obj) : "";
    names[n] = "phase";
    values[n++] = phase;
    names[n] = "app";
    values[n++] = app;
    return csm_emit(em, st->fam[F_INFO], n, names, values, 1);
}

static csm_err emit_spec(const example_state *st, const csm_object *obj, csm_emitter *em, size_t n,
                         const char **names, const char **values)
{
    const csm_value *spec = csm_value_key(csm_object_root(obj), "spec");
    const csm_value *restarts = csm_value_path(csm_object_root(obj), "status.restarts");
    csm_err first = CSM_OK;
    csm_err err;
    double d;
    int b;

    err = csm_value_number(csm_value_key(spec, "replicas"), &d);
    keep(&first, err ? err : csm_emit(em, st->fam[F_REPLICAS], n, names, values, d));
    err = csm_value_bool(csm_value_key(spec, "paused"), &b);
    keep(&first, err ? err : csm_emit(em, st->fam[F_PAUSED], n, names, values, b));
    err = csm_value_number(restarts, &d);
    keep(&first, err ? err : csm_emit(em, st->fam[F_RESTARTS], n, names, values, d));
    return first;
}

static csm_err emit_phase(const example_state *st, const csm_object *obj, csm_emitter *em, size_t n,
                          const char **names, const char **values)
{
    const char *phase;
    csm_err err = csm_value_string(csm_value_path(csm_object_root(obj), "status.phase"), &phase);

    names[n] = st->phase_label;
    for (size_t i = 0; !err && i < sizeof(phases) / sizeof(phases[0]); i++) {
        values[n] = phases[i];
        err = csm_emit(em, st->fam[F_PHASE], n + 1, names, values, strcmp(phase, phases[i]) == 0);
    }
    return err;
}

/* Arrays by index: one series per condition. */
static csm_err emit_conditions(const example_state *st, const csm_object *obj, csm_emitter *em,
                               size_t n, const char **names, const char **values)
{
    const csm_value *conds = csm_value_path(csm_object_root(obj), "status.conditions");
    csm_err first = CSM_OK;

    if (conds && csm_value_kind_of(conds) != CSM_VALUE_ARRAY)
        return CSM_ERR_TYPE;
    for (size_t i = 0; i < csm_value_size(conds); i++) {
        const csm_value *c = csm_value_index(conds, i);
        const char *type;
        double t;
        csm_err err = csm_value_string(csm_value_key(c, "type"), &type);
        if (!err)
            err = csm_value_timestamp(csm_value_key(c, "lastTransitionTime"), &t);
        if (!err) {
            names[n] = "type";
            values[n] = type;
            err = csm_emit(em, st->fam[F_TRANSITION], n + 1, names, values, t);
        }
        keep(&first, err);
    }
    return first;
}

/* Maps, once by index and once by iteration. */
static csm_err emit_maps(const example_state *st, const csm_object *obj, csm_emitter *em, size_t n,
                         const char **names, const char **values)
{
    const csm_value *meta = csm_value_key(csm_object_root(obj), "metadata");
    const csm_value *labels = csm_value_key(meta, "labels");
    const csm_value *ann = csm_value_key(meta, "annotations");
    csm_err first = CSM_OK;
    size_t count = 0;
    const char *key;

    /* csm_value_entry() is O(i); fine for a handful of labels. */
    for (size_t i = 0; csm_value_entry(labels, i, &key); i++)
        count += key != NULL;
    if (csm_value_kind_of(labels) == CSM_VALUE_MAP)
        keep(&first, csm_emit(em, st->fam[F_LABEL_KEYS], n, names, values, (double)count));
    for (const csm_value *e = csm_value_first(ann); e; e = csm_value_next(e)) {
        const char *v;
        if (csm_value_kind_of(e) != CSM_VALUE_STRING || csm_value_string(e, &v) != CSM_OK)
            continue;
        names[n] = "annotation";
        values[n] = csm_value_name(e);
        keep(&first,
             csm_emit(em, st->fam[F_ANNOTATION_BYTES], n + 1, names, values, (double)strlen(v)));
    }
    return first;
}

static csm_err example_generate(void *state, const csm_object *obj, csm_emitter *em)
{
    const example_state *st = state;
    const char *names[8];
    const char *values[8];
    size_t n;
    csm_err first = CSM_OK;

    if (!csm_object_name(obj))
        return CSM_ERR_NOT_FOUND;
    n = base_labels(st, obj, names, values);
    keep(&first, emit_info(st, obj, em, n, names, values));
    keep(&first, emit_spec(st, obj, em, n, names, values));
    keep(&first, emit_phase(st, obj, em, n, names, values));
    keep(&first, emit_conditions(st, obj, em, n, names, values));
    keep(&first, emit_maps(st, obj, em, n, names, values));
    return first;
}

static void example_destroy(void *state)
{
    free(state);
}

static const csm_generator example = {
    .abi_version = CSM_GENERATOR_ABI_VERSION,
    .name = "example",
    .init = example_init,
    .generate = example_generate,
    .destroy = example_destroy,
};

const csm_generator *csm_generator_entry(void);

const csm_generator *csm_generator_entry(void)
{
    return &example;
}
