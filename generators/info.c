/*
 * The seed contract: <stem>_info{namespace="<ns>",<stem>="<name>"} 1 for
 * every object; cluster-scoped objects have no namespace label.
 */
#include <stdio.h>
#include <stdlib.h>

#include "csm/generator.h"
#include "render/gen.h"

typedef struct info_state {
    size_t family;
    char label[128]; /* the kind's label name, i.e. the stem */
} info_state;

static csm_err info_init(const csm_resource_desc *res, const char *arg, csm_families *fams,
                         void **state)
{
    char name[160];
    char help[256];
    info_state *st;
    csm_err err;

    (void)arg;
    if (snprintf(name, sizeof(name), "%s_info", res->stem) >= (int)sizeof(name) ||
        snprintf(help, sizeof(help), "Information about a %s object.", res->kind) >=
            (int)sizeof(help))
        return CSM_ERR_TOO_LARGE;
    st = calloc(1, sizeof(*st));
    if (!st)
        return CSM_ERR_NOMEM;
    if (snprintf(st->label, sizeof(st->label), "%s", res->stem) >= (int)sizeof(st->label)) {
        err = CSM_ERR_TOO_LARGE;
        goto fail;
    }
    err = csm_families_add(fams, name, help, CSM_METRIC_INFO, &st->family);
    if (err)
        goto fail;
    *state = st;
    return CSM_OK;
fail:
    free(st);
    return err;
}

static csm_err info_generate(void *state, const csm_object *obj, csm_emitter *em)
{
    const info_state *st = state;
    const char *names[2];
    const char *values[2];
    size_t n = csm_gen_object_labels(obj, st->label, names, values);

    if (!n)
        return CSM_ERR_NOT_FOUND;
    return csm_emit(em, st->family, n, names, values, 1);
}

static void info_destroy(void *state)
{
    free(state);
}

const csm_generator csm_generator_info = {
    .abi_version = CSM_GENERATOR_ABI_VERSION,
    .name = "info",
    .init = info_init,
    .generate = info_generate,
    .destroy = info_destroy,
};
