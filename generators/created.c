/*
 * <stem>_created{namespace,<stem>} = metadata.creationTimestamp in seconds
 * since the epoch, as kube-state-metrics' *_created families.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "csm/generator.h"
#include "render/gen.h"

typedef struct created_state {
    size_t family;
    char stem[128];
} created_state;

static csm_err created_init(const csm_resource_desc *res, const char *arg, csm_families *fams,
                            void **state)
{
    char name[160];
    created_state *st;
    csm_err err;

    (void)arg;
    if (snprintf(name, sizeof(name), "%s_created", res->stem) >= (int)sizeof(name))
        return CSM_ERR_TOO_LARGE;
    st = calloc(1, sizeof(*st));
    if (!st)
        return CSM_ERR_NOMEM;
    err = snprintf(st->stem, sizeof(st->stem), "%s", res->stem) >= (int)sizeof(st->stem)
              ? CSM_ERR_TOO_LARGE
              : CSM_OK;
    if (!err)
        err =
            csm_families_add(fams, name, "Unix creation timestamp.", CSM_METRIC_GAUGE, &st->family);
    if (err) {
        free(st);
        return err;
    }
    *state = st;
    return CSM_OK;
}

static csm_err created_generate(void *state, const csm_object *obj, csm_emitter *em)
{
    const created_state *st = state;
    const char *ns = csm_object_namespace(obj);
    const char *name = csm_object_name(obj);
    const char *names[2];
    const char *values[2];
    size_t n = 0;
    double t;
    csm_err err;

    if (!name)
        return CSM_ERR_NOT_FOUND;
    err =
        csm_value_timestamp(csm_value_path(csm_object_root(obj), "metadata.creationTimestamp"), &t);
    if (err)
        return err;
    if (ns) {
        names[n] = "namespace";
        values[n++] = ns;
    }
    names[n] = st->stem;
    values[n++] = name;
    /* Whole seconds, as the API server stores them. */
    return csm_emit(em, st->family, n, names, values, floor(t));
}

const csm_generator csm_generator_created = {
    .abi_version = CSM_GENERATOR_ABI_VERSION,
    .name = "created",
    .init = created_init,
    .generate = created_generate,
    .destroy = free,
};
