/*
 * What operator authors watch to see a reconcile's state and lag:
 *
 *   <stem>_status_condition{namespace,<stem>,type,status} one series per
 *       condition in status.conditions and per status "true", "false",
 *       "unknown": 1 for the condition's current status, 0 for the other
 *       two (kube-state-metrics' *_status_condition convention, lower-case
 *       status values included)
 *   <stem>_metadata_generation          metadata.generation
 *   <stem>_status_observed_generation   status.observedGeneration
 *
 * The generation families are emitted only when the field is present.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "csm/generator.h"
#include "render/gen.h"

enum { FAM_CONDITION = 0, FAM_GENERATION, FAM_OBSERVED, NFAM };

typedef struct status_state {
    size_t family[NFAM];
    char stem[128];
} status_state;

static const char *const statuses[3] = {"true", "false", "unknown"};

static csm_err status_init(const csm_resource_desc *res, const char *arg, csm_families *fams,
                           void **state)
{
    static const char *const suffix[NFAM] = {"status_condition", "metadata_generation",
                                             "status_observed_generation"};
    /* Help texts around the kind's name. */
    static const char *const help[NFAM][2] = {
        {"The condition of a ", ": 1 for the status a condition type has, 0 for the others."},
        {"Sequence number of the desired state of a ", " (metadata.generation)."},
        {"The generation a ", "'s controller last acted on (status.observedGeneration)."}};
    status_state *st = calloc(1, sizeof(*st));
    char name[200];
    char text[300];
    csm_err err = CSM_OK;

    (void)arg;
    if (!st)
        return CSM_ERR_NOMEM;
    if (snprintf(st->stem, sizeof(st->stem), "%s", res->stem) >= (int)sizeof(st->stem))
        err = CSM_ERR_TOO_LARGE;
    for (size_t i = 0; !err && i < NFAM; i++) {
        if (snprintf(name, sizeof(name), "%s_%s", res->stem, suffix[i]) >= (int)sizeof(name))
            err = CSM_ERR_TOO_LARGE;
        snprintf(text, sizeof(text), "%s%s%s", help[i][0], res->kind, help[i][1]);
        if (!err)
            err = csm_families_add(fams, name, text, CSM_METRIC_GAUGE, &st->family[i]);
    }
    if (err) {
        free(st);
        return err;
    }
    *state = st;
    return CSM_OK;
}

/* Emits one family of an integer field, if present; 1 if it is there but
 * not a number. */
static int emit_number(csm_emitter *em, size_t family, const csm_value *v, size_t n,
                       const char *const *names, const char *const *values)
{
    double d;

    if (!v)
        return 0;
    if (csm_value_number(v, &d) != CSM_OK) {
        csm_emitter_note(em, "a generation that is not a number");
        return 1;
    }
    return csm_emit(em, family, n, names, values, d) != CSM_OK;
}

/* The conditions: returns how many could not be read. */
static int emit_conditions(const status_state *st, csm_emitter *em, const csm_value *conds,
                           size_t n, const char **names, const char **values)
{
    int bad = 0;

    for (const csm_value *c = csm_value_first(conds); c; c = csm_value_next(c)) {
        const char *type;
        const char *status;
        int dup = 0;

        if (csm_value_string(csm_value_key(c, "type"), &type) != CSM_OK ||
            csm_value_string(csm_value_key(c, "status"), &status) != CSM_OK) {
            csm_emitter_note(em, "a condition without a string type and status");
            bad++;
            continue;
        }
        /* Two entries of one type would give duplicate series. */
        for (const csm_value *p = csm_value_first(conds); p != c && !dup; p = csm_value_next(p)) {
            const char *t;
            dup = csm_value_string(csm_value_key(p, "type"), &t) == CSM_OK &&
                  strcmp(t, type) == 0 &&
                  csm_value_string(csm_value_key(p, "status"), &t) == CSM_OK;
        }
        if (dup) {
            csm_emitter_note(em, "condition type \"%s\" appears twice; the first counts", type);
            bad++;
            continue;
        }
        names[n] = "type";
        values[n] = type;
        names[n + 1] = "status";
        for (size_t i = 0; i < 3; i++) {
            values[n + 1] = statuses[i];
            bad += csm_emit(em, st->family[FAM_CONDITION], n + 2, names, values,
                            strcasecmp(status, statuses[i]) == 0) != CSM_OK;
        }
    }
    return bad;
}

static csm_err status_generate(void *state, const csm_object *obj, csm_emitter *em)
{
    const status_state *st = state;
    const csm_value *root = csm_object_root(obj);
    const csm_value *conds = csm_value_path(root, "status.conditions");
    const char *names[4];
    const char *values[4];
    size_t n = csm_gen_object_labels(obj, st->stem, names, values);
    int bad = 0;

    if (!n)
        return CSM_ERR_NOT_FOUND;
    if (conds && csm_value_kind_of(conds) != CSM_VALUE_ARRAY) {
        csm_emitter_note(em, "status.conditions is not a list");
        bad++;
    } else {
        bad += emit_conditions(st, em, conds, n, names, values);
    }
    bad += emit_number(em, st->family[FAM_GENERATION], csm_value_path(root, "metadata.generation"),
                       n, names, values);
    bad += emit_number(em, st->family[FAM_OBSERVED],
                       csm_value_path(root, "status.observedGeneration"), n, names, values);
    return bad ? CSM_ERR_TYPE : CSM_OK;
}

const csm_generator csm_generator_status = {
    .abi_version = CSM_GENERATOR_ABI_VERSION,
    .name = "status",
    .init = status_init,
    .generate = status_generate,
    .destroy = free,
};
