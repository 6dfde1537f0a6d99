/*
 * crd-state-metrics generator plugin ABI.
 *
 * A generator is a pure function from one Kubernetes object to samples of
 * metric families that the generator declared up front. The exporter calls
 * it once per object change (never per scrape), renders what it emits into an
 * immutable text block and keeps that block until the object changes again.
 *
 * Life cycle, per configured resource (GROUP/VERSION/KIND):
 *
 *   1. init(): called once with the resource's description. The generator
 *      declares every family it may emit with csm_families_add() and keeps
 *      the returned indexes in its private state.
 *   2. generate(): called for every added or modified object, from the
 *      exporter's single event-loop thread. It reads the object through the
 *      csm_object / csm_value accessors and emits samples with csm_emit().
 *      It must not keep pointers into the object after it returns.
 *   3. destroy(): called once at shutdown or when the resource goes away.
 *
 * Ownership: every pointer the exporter passes in is borrowed for the
 * duration of the call. Strings returned by accessors live as long as the
 * object they came from (i.e. until generate() returns).
 *
 * Out-of-tree generators are shared objects that export
 *
 *     const csm_generator *csm_generator_entry(void);
 *
 * returning a pointer to a static descriptor whose abi_version equals
 * CSM_GENERATOR_ABI_VERSION. The exporter refuses any other version.
 *
 * Versioning. CSM_GENERATOR_ABI_VERSION changes only when an existing
 * declaration changes meaning or layout; the exporter then refuses plugins
 * built for another version. Functions are only ever added, and each
 * addition bumps CSM_GENERATOR_ABI_REVISION. A plugin built against a newer
 * revision and using what it added fails to load on an older exporter with an
 * "undefined symbol" error at start-up (plugins are loaded with RTLD_NOW),
 * never later.
 *
 *   revision 1: the original ABI.
 *   revision 2: csm_value_first(), csm_value_next(), csm_value_name() for
 *               O(1)-per-step iteration over arrays and maps;
 *               csm_label_sanitize() for label names made from keys.
 */
#ifndef CSM_GENERATOR_H
#define CSM_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CSM_GENERATOR_ABI_VERSION  1u
#define CSM_GENERATOR_ABI_REVISION 2u

/* Name of the symbol an out-of-tree generator exports. */
#define CSM_GENERATOR_ENTRY_SYMBOL "csm_generator_entry"

typedef enum csm_metric_type {
    CSM_METRIC_GAUGE = 0,
    CSM_METRIC_COUNTER,
    CSM_METRIC_INFO,     /* "gauge" in text 0.0.4, "info" in OpenMetrics */
    CSM_METRIC_STATESET, /* "gauge" in text 0.0.4, "stateset" in OpenMetrics */
} csm_metric_type;

/* The resource a generator instance serves. All strings are borrowed. */
typedef struct csm_resource_desc {
    const char *group;   /* "" for the core group */
    const char *version; /* "v1" */
    const char *kind;    /* "Memcached" */
    const char *plural;  /* "memcacheds", from discovery */
    int namespaced;      /* 1 if objects carry a namespace */
    /* Metric-name stem derived from the kind: lower-cased and sanitized,
     * "memcached". Built-in families are "<stem>_info" and so on. */
    const char *stem;
} csm_resource_desc;

/* Opaque handles owned by the exporter. */
typedef struct csm_families csm_families;
typedef struct csm_emitter csm_emitter;
typedef struct csm_object csm_object;
typedef struct csm_value csm_value;

/*
 * Declares a family during init(). `name` must match
 * [a-zA-Z_:][a-zA-Z0-9_:]* (use csm_name_sanitize() on derived names);
 * `help` may hold any text and is escaped on output. On success *index
 * receives the handle to pass to csm_emit(). Declaring the same name twice in
 * one resource is CSM_ERR_INVALID.
 */
csm_err csm_families_add(csm_families *fams, const char *name, const char *help,
                         csm_metric_type type, size_t *index);

/*
 * Emits one sample of family `family` during generate(). Label names must be
 * valid Prometheus label names and must not start with "__"; values are any
 * UTF-8 and are escaped here. Duplicate label names within one sample are
 * CSM_ERR_INVALID. The exporter prints the value canonically (1, 0.5, NaN,
 * +Inf, -Inf). A sample with more labels than the exporter's
 * --max-labels-per-sample is dropped whole by the exporter, which counts and
 * logs it; csm_emit() then returns CSM_OK.
 */
csm_err csm_emit(csm_emitter *em, size_t family, size_t nlabels, const char *const *names,
                 const char *const *values, double value);

/*
 * Writes a sanitized copy of `in` into out[0..outlen): every character
 * outside [a-zA-Z0-9_:] becomes '_', a leading digit gets a '_' prefix.
 * Returns CSM_ERR_TOO_LARGE if it does not fit (out is then "" if outlen>0).
 */
csm_err csm_name_sanitize(const char *in, char *out, size_t outlen);

/*
 * The same for label names (revision 2): every character outside
 * [a-zA-Z0-9_] becomes '_' (one per UTF-8 character, so
 * "app.kubernetes.io/name" gives "app_kubernetes_io_name"), and a leading
 * digit gets a '_' prefix. CSM_ERR_INVALID for an empty `in`,
 * CSM_ERR_TOO_LARGE if it does not fit. Note that the result may still
 * start with the reserved "__"; csm_emit() rejects such names.
 */
csm_err csm_label_sanitize(const char *in, char *out, size_t outlen);

/* ---- Read-only object access. ---------------------------------------- */

typedef enum csm_value_kind {
    CSM_VALUE_NULL = 0,
    CSM_VALUE_BOOL,
    CSM_VALUE_NUMBER,
    CSM_VALUE_STRING,
    CSM_VALUE_ARRAY,
    CSM_VALUE_MAP,
} csm_value_kind;

/* The whole object as a map. Never NULL for an object passed to generate(). */
const csm_value *csm_object_root(const csm_object *obj);

/* Convenience metadata readers; NULL when absent. */
const char *csm_object_name(const csm_object *obj);
const char *csm_object_namespace(const csm_object *obj);
const char *csm_object_uid(const csm_object *obj);

/* Kind of a value; CSM_VALUE_NULL for a NULL pointer (a missing path). */
csm_value_kind csm_value_kind_of(const csm_value *v);

/* Map lookup by exact key; NULL if v is not a map or has no such key. */
const csm_value *csm_value_key(const csm_value *v, const char *key);

/* Array element; NULL if v is not an array or i is out of range. */
const csm_value *csm_value_index(const csm_value *v, size_t i);

/* Number of elements of an array or entries of a map; 0 otherwise. */
size_t csm_value_size(const csm_value *v);

/* i-th entry of a map in document order; *key receives its key.
 * NULL if v is not a map or i is out of range. O(i): iterate with
 * csm_value_first()/csm_value_next() instead. */
const csm_value *csm_value_entry(const csm_value *v, size_t i, const char **key);

/*
 * Iteration in document order, O(1) per step (revision 2):
 *
 *     for (const csm_value *e = csm_value_first(v); e; e = csm_value_next(e))
 *         use(csm_value_name(e), e);   // name is NULL for array elements
 *
 * csm_value_first() is NULL unless v is a non-empty array or map.
 * csm_value_next() is the following element of the array or map that
 * contains v, or NULL after the last one (and for the root).
 * csm_value_name() is the key under which v sits in its map, or NULL.
 */
const csm_value *csm_value_first(const csm_value *v);
const csm_value *csm_value_next(const csm_value *v);
const char *csm_value_name(const csm_value *v);

/*
 * Follows a path of map keys and array indices written as
 * "status.conditions[0].type" or with bracketed keys for names holding dots:
 * "metadata.labels[app.kubernetes.io/name]". NULL if any step is missing.
 */
const csm_value *csm_value_path(const csm_value *v, const char *path);

/* Typed readers. Each returns CSM_ERR_NOT_FOUND for a NULL value and
 * CSM_ERR_TYPE for a value of another kind; *out is untouched on error. */
csm_err csm_value_string(const csm_value *v, const char **out);
csm_err csm_value_number(const csm_value *v, double *out);
csm_err csm_value_bool(const csm_value *v, int *out);
/* An RFC 3339 string ("2024-01-02T03:04:05Z", fractions and offsets
 * allowed) as seconds since the Unix epoch. */
csm_err csm_value_timestamp(const csm_value *v, double *out);

/* ---- The descriptor a generator provides. ----------------------------- */

typedef struct csm_generator {
    uint32_t abi_version; /* CSM_GENERATOR_ABI_VERSION */
    const char *name;     /* unique, [a-z0-9_-]+ */
    /* Instantiates the generator for one resource. `arg` is the text after
     * "name=" in the generator's configuration, or NULL. On success *state
     * receives private data (may be NULL) passed to generate()/destroy(). */
    csm_err (*init)(const csm_resource_desc *res, const char *arg, csm_families *fams,
                    void **state);
    /* Emits the samples for one object. An error drops only the samples the
     * call emitted after the error; families that were fully emitted stay. */
    csm_err (*generate)(void *state, const csm_object *obj, csm_emitter *em);
    /* Frees state; must accept NULL. */
    void (*destroy)(void *state);
} csm_generator;

typedef const csm_generator *(*csm_generator_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
