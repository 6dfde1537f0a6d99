/*
 * The exporter side of the generator ABI (include/csm/generator.h): the
 * set of generator instances that serve one resource, the families they
 * declared, and rendering one object into an immutable csm_block.
 *
 * Objects are cJSON trees; csm_object and csm_value are views onto them, so
 * plugins never depend on cJSON's layout.
 */
#ifndef CSM_GEN_H
#define CSM_GEN_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/buf.h"
#include "csm/generator.h"
#include "store/store.h"

typedef struct csm_gen_family {
    char *name;
    char *help;
    csm_metric_type type;
} csm_gen_family;

/*
 * The generators selectable by name: the core never names them, the
 * wiring hands it the table (the built-ins are generators/builtin.h's
 * csm_gen_builtin_table()). gens[0..n), static storage.
 */
typedef struct csm_gen_table {
    const csm_generator *const *gens;
    size_t n;
    /* The generator of a Custom Resource State config (generators/config.c).
     * Not selectable by name: genconf adds it, with the config as
     * csm_genset_add_ctx()'s ctx, to resources the config names. */
    const csm_generator *config;
} csm_gen_table;

/* The generator of t called name, or NULL (also for a NULL t). */
const csm_generator *csm_gen_table_find(const csm_gen_table *t, const char *name);

/*
 * For a Count metric (crs.h) of the config: the labels the config gives obj
 * (commonLabels, customresource_group/version/kind from gvk, labelsFromPath),
 * sorted by name, appended to out as "name\0value\0" pairs; nothing for no
 * labels. Labels whose path is missing are left out, as for every config
 * metric. CSM_ERR_TOO_LARGE when out's limit is reached.
 */
struct csm_crs_metric;
csm_err csm_gen_config_count_key(const struct csm_crs_metric *m, const char *const gvk[3],
                                 const cJSON *obj, csm_buf *out);

/* Decides whether a family name is generated at all (the metric
 * allow/deny lists); NULL admits everything. */
typedef int (*csm_gen_family_filter)(void *ctx, const char *name);

typedef struct csm_genset csm_genset;

/*
 * A set for one resource; res and its strings are copied. filter (may be
 * NULL) is consulted once per declared family: rejected families are never
 * rendered and cost nothing per object. Free with csm_genset_free().
 */
csm_err csm_genset_new(const csm_resource_desc *res, csm_gen_family_filter filter, void *filter_ctx,
                       csm_genset **out);
void csm_genset_free(csm_genset *gs);

/* The resource description the set was made for (borrowed). */
const csm_resource_desc *csm_genset_resource(const csm_genset *gs);

/*
 * Instantiates g for the set's resource and appends its families. On
 * failure errbuf says which generator failed and why, and the set is
 * unchanged. g must outlive the set.
 */
csm_err csm_genset_add(csm_genset *gs, const csm_generator *g, const char *arg, char *errbuf,
                       size_t errlen);

/* Number of enabled families, and family i (borrowed). Families are in
 * generator order, then declaration order. */
size_t csm_genset_families(const csm_genset *gs);
const csm_gen_family *csm_genset_family(const csm_genset *gs, size_t i);

/*
 * Like csm_genset_add() for in-tree generators that need more than a
 * string argument: init() reads `ctx` with csm_families_context(). The
 * caller keeps ctx valid until init() returns.
 */
csm_err csm_genset_add_ctx(csm_genset *gs, const csm_generator *g, const char *arg, void *ctx,
                           char *errbuf, size_t errlen);

/* The ctx given to csm_genset_add_ctx() for the first instance of g, or
 * NULL. Valid while the caller keeps it valid (the config generator holds
 * a reference to its csm_crs for the life of the set). */
void *csm_genset_context(const csm_genset *gs, const csm_generator *g);

/* The ctx given to csm_genset_add_ctx(), or NULL; valid during init(). */
void *csm_families_context(const csm_families *fams);

/*
 * Runs every generator on obj and renders the samples into a new block
 * (one reference, for the caller). A generator that fails or emits an
 * invalid sample loses only that sample or the rest of its own output;
 * *failures (may be NULL) counts the generators that failed on this object
 * (a failed generate() or at least one rejected sample, counted once), so
 * callers can log and count them. Returns an error only when no block could
 * be built at all.
 */
csm_err csm_genset_render(csm_genset *gs, const cJSON *obj, csm_block **out, size_t *failures);

/*
 * csm_genset_render() that also appends one line per problem to diag
 * ("generator: what went wrong\n"), for check-config and tests. diag may be
 * NULL, which is csm_genset_render().
 */
csm_err csm_genset_render_diag(csm_genset *gs, const cJSON *obj, csm_block **out, size_t *failures,
                               csm_buf *diag);

/*
 * Records why a generator could not read part of the object being
 * rendered. Costs one branch when nobody collects diagnostics (the
 * exporter's hot path); in-tree generators call it before returning an
 * error so check-config can say which path or value was at fault.
 */
void csm_emitter_note(csm_emitter *em, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Called once per generator that failed on an object (see
 * csm_genset_render()), e.g. to count failures in the telemetry. */
typedef void (*csm_gen_failure_fn)(void *ctx, const csm_resource_desc *res, const char *generator);
void csm_genset_on_failure(csm_genset *gs, csm_gen_failure_fn fn, void *ctx);

/*
 * Caps the labels of one sample at max (0: no cap, the default). A sample
 * with more is dropped whole, deterministically (the same samples of the
 * same object every time), csm_emit() returns CSM_OK (the generator did
 * nothing wrong), and fn (may be NULL) hears of it: first is 1 for the
 * set's first drop ever, so that the caller logs once.
 */
typedef void (*csm_gen_drop_fn)(void *ctx, const csm_resource_desc *res, const char *generator,
                                size_t nlabels, size_t max, int first);
void csm_genset_limit_labels(csm_genset *gs, size_t max, csm_gen_drop_fn fn, void *ctx);

/* Samples dropped by the label cap since the set was made. */
size_t csm_genset_dropped(const csm_genset *gs);

/* The series budget the generator config gives the resource (a Custom
 * Resource State entry's maxSeries), kept for the resource to apply;
 * 0: none set. */
void csm_genset_set_series_limit(csm_genset *gs, size_t limit);
size_t csm_genset_series_limit(const csm_genset *gs);

/*
 * The labels every built-in series starts with: namespace="<ns>" (only for
 * objects that have one) and <stem>="<name>". Fills names[] and values[]
 * (room for 2, borrowed from obj and stem) and returns how many; 0 when
 * the object has no name, which the caller reports as CSM_ERR_NOT_FOUND.
 */
size_t csm_gen_object_labels(const csm_object *obj, const char *stem, const char **names,
                             const char **values);

/* Sanitized metric-name stem for a kind: "Memcached" -> "memcached".
 * Writes into out[0..outlen). */
csm_err csm_gen_stem(const char *kind, char *out, size_t outlen);

/* Parses RFC 3339 ("2024-01-02T03:04:05Z", "...05.25+02:00") into seconds
 * since the epoch. */
csm_err csm_gen_parse_rfc3339(const char *s, double *out);

/* 1 if g was added to the set (NULL set: 0). */
int csm_genset_uses(const csm_genset *gs, const csm_generator *g);

/* 1 if the set's family filter admits a family of that name (for families
 * served outside the set, like the lifecycle counters). */
int csm_genset_admits(const csm_genset *gs, const char *name);

#endif
