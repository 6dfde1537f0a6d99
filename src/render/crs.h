/*
 * kube-state-metrics' Custom Resource State config ("kind:
 * CustomResourceStateMetrics"), loaded from YAML or JSON and compiled into
 * the metric descriptions the "config" generator evaluates.
 *
 * A loaded config is immutable and reference-counted: every generator
 * instance made from it holds a reference, so a reload can swap configs
 * while the old gensets still render.
 *
 * Differences from kube-state-metrics are listed in README.md
 * ("Differences from kube-state-metrics"); the ones visible here: unknown
 * fields are errors rather than ignored, label and metric names are checked
 * when the file is loaded, and metrics that share a name in one resource
 * form one family.
 */
#ifndef CSM_CRS_H
#define CSM_CRS_H

#include <stddef.h>

#include "render/crspath.h"
#include "csm/error.h"
#include "csm/generator.h"

typedef struct csm_crs csm_crs;

/* Where the labels of a labelsFromPath entry come from. */
typedef struct csm_crs_from {
    char *key;    /* as written: "name", "*", "lorem_*" */
    char *name;   /* sanitized label name; NULL for a map copy */
    char *prefix; /* map copy: prefix for each copied key ("" or "lorem_") */
    csm_crspath *path;
} csm_crs_from;

typedef struct csm_crs_label {
    char *name;
    char *value;
} csm_crs_label;

typedef enum csm_crs_type {
    CSM_CRS_GAUGE = 0,
    CSM_CRS_STATESET,
    CSM_CRS_INFO,
    /* Extension: objects per combination of the metric's labels (base
     * labels only; no path, no value); served by src/render/crscount.c, not by
     * the config generator. */
    CSM_CRS_COUNT,
} csm_crs_type;

/* Default and largest each.count.maxSeries: combinations a Count metric
 * exports at most (the ones after the first maxSeries, in label order, are
 * left out and logged). */
#define CSM_CRS_COUNT_SERIES_DEFAULT 10000u
#define CSM_CRS_COUNT_SERIES_MAX     1000000u

/* One entry of a resource's metrics[], with the resource's labels merged
 * in (the metric's win). Read-only. */
typedef struct csm_crs_metric {
    char *name; /* the full family name: prefix + "_" + name */
    char *help;
    csm_crs_type type;
    int line;              /* 1-based line of the entry in the file */
    csm_crs_label *common; /* commonLabels, sorted by name */
    size_t ncommon;
    csm_crs_from *base; /* labelsFromPath, against the object; map copies first */
    size_t nbase;
    csm_crspath *path;  /* each.<type>.path */
    csm_crs_from *each; /* each.<type>.labelsFromPath, against each value */
    size_t neach;
    csm_crspath *value_from; /* gauge and stateset; the empty path if unset */
    char *label_from_key;    /* gauge and info; NULL if unset */
    int nil_is_zero;
    csm_crspath_vtype value_type;
    /* Extension: one label name per "*" segment of path, in order; the
     * "*" expands every element (index) or entry (key) of that level. */
    char **wild_labels;
    size_t nwild;
    char *label_name; /* stateset */
    char **list;      /* stateset */
    size_t nlist;
    size_t max_series; /* Count: each.count.maxSeries */
} csm_crs_metric;

typedef struct csm_crs_resource {
    char *group;       /* "" for the core group */
    char *version;     /* "*" matches every version */
    char *kind;        /* "*" matches every kind */
    char *plural;      /* resourcePlural, or NULL */
    size_t max_series; /* maxSeries (series budget of each matching resource); 0: unset */
    /* Extension: labelSelector / fieldSelector sent with the resource's
     * LIST and WATCH (server-side filtering), or NULL. */
    char *label_selector;
    char *field_selector;
    int line;
    csm_crs_metric *metrics;
    size_t nmetrics;
    /* Canonical text of the entry: equal texts compile to equal metrics,
     * which lets a reload leave unchanged resources alone. */
    char *fingerprint;
} csm_crs_resource;

/*
 * Loads a config file. On failure errbuf holds one line
 * "FILE:LINE:COLUMN: PATH.IN.DOCUMENT: what is wrong" (LINE:COLUMN when
 * the parser knows them). *out has one reference; csm_crs_unref() it.
 */
csm_err csm_crs_load(const char *file, csm_crs **out, char *errbuf, size_t errlen);

/* Same from memory; `name` stands for the file in messages. */
csm_err csm_crs_load_text(const char *name, const char *text, size_t len, csm_crs **out,
                          char *errbuf, size_t errlen);

csm_crs *csm_crs_ref(csm_crs *c);
/* Drops a reference; frees on the last. Accepts NULL. */
void csm_crs_unref(csm_crs *c);

size_t csm_crs_resources(const csm_crs *c);
const csm_crs_resource *csm_crs_resource_at(const csm_crs *c, size_t i);

/*
 * The selectors of the first entry applying to group/version/kind that has
 * any (borrowed, NULL when none; valid as long as c).
 */
void csm_crs_selectors(const csm_crs *c, const char *group, const char *version, const char *kind,
                       const char **label, const char **field);

/* 1 if entry r applies to group/version/kind ("*" in r matches anything). */
int csm_crs_matches(const csm_crs_resource *r, const char *group, const char *version,
                    const char *kind);

/*
 * The plural the built-in generators are told for group/version/kind
 * before discovery names it: the resourcePlural of the last entry of c
 * that matches and has one, else the guess stem + "s" ("memcached" ->
 * "memcacheds"), written into guess[0..len) (cut if short). Returns a
 * string borrowed from c or guess. c may be NULL. Cost O(entries).
 */
const char *csm_crs_plural(const csm_crs *c, const char *group, const char *version,
                           const char *kind, const char *stem, char *guess, size_t len);

#endif
