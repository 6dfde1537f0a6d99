/*
 * What the "labels" and "annotations" generators share: one series per
 * object, <stem>_labels{namespace,<stem>,label_<key>="value",...} 1, with
 * the keys an allow list in kube-state-metrics' syntax admits for the
 * resource (see reslist.h): the resource's own entry and the "*" entry
 * together; an item "*" admits every key. Keys become label names as in
 * kube-state-metrics: prefix + sanitized key, and keys that sanitize to the
 * same name get "_conflict1", "_conflict2", ... in key order.
 */
#ifndef CSM_METALABELS_H
#define CSM_METALABELS_H

#include "csm/generator.h"

typedef struct csm_metalabels_kind {
    const char *field;  /* "labels": the metadata field */
    const char *suffix; /* "labels": the family is <stem>_<suffix> */
    const char *prefix; /* "label_" */
    const char *help;   /* HELP text */
} csm_metalabels_kind;

/* init() for a generator of this kind; arg is the allow list (NULL: none,
 * so the series carries only namespace and name). */
csm_err csm_metalabels_init(const csm_metalabels_kind *kind, const csm_resource_desc *res,
                            const char *arg, csm_families *fams, void **state);
csm_err csm_metalabels_generate(void *state, const csm_object *obj, csm_emitter *em);
void csm_metalabels_destroy(void *state);

#endif
