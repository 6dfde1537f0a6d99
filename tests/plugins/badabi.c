/* Built for an ABI version this exporter does not speak. */
#include <stddef.h>

#include "csm/generator.h"

static csm_err init(const csm_resource_desc *res, const char *arg, csm_families *fams, void **state)
{
    (void)res;
    (void)arg;
    (void)fams;
    *state = NULL;
    return CSM_OK;
}

static csm_err generate(void *state, const csm_object *obj, csm_emitter *em)
{
    (void)state;
    (void)obj;
    (void)em;
    return CSM_OK;
}

static const csm_generator g = {99, "badabi", init, generate, NULL};

const csm_generator *csm_generator_entry(void);

const csm_generator *csm_generator_entry(void)
{
    return &g;
}
