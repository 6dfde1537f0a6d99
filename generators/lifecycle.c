/*
 * `lifecycle`: exact lifecycle counters per namespace,
 *
 *   <stem>_object_seconds_total, <stem>_created_total, <stem>_deleted_total
 *
 * These are not functions of one object: they integrate over every object's
 * life and change at scrape time, so they cannot live in an object's
 * rendered block. This descriptor only selects them (through --generators,
 * like every built-in); the resource keeps the accounting (src/render/lifecycle.c)
 * when its generator set uses this generator, and the scrape writes the
 * families from there. generate() has nothing to emit per object.
 */
#include "csm/generator.h"
#include "generators/builtin.h"
#include "render/gen.h"

static csm_err lifecycle_init(const csm_resource_desc *res, const char *arg, csm_families *fams,
                              void **state)
{
    (void)res;
    (void)arg;
    (void)fams;
    *state = NULL;
    return CSM_OK;
}

static csm_err lifecycle_generate(void *state, const csm_object *obj, csm_emitter *em)
{
    (void)state;
    (void)obj;
    (void)em;
    return CSM_OK;
}

static void lifecycle_destroy(void *state)
{
    (void)state;
}

const csm_generator csm_generator_lifecycle = {
    .abi_version = CSM_GENERATOR_ABI_VERSION,
    .name = "lifecycle",
    .init = lifecycle_init,
    .generate = lifecycle_generate,
    .destroy = lifecycle_destroy,
};
