/* A descriptor without a generate function. */
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

static const csm_generator g = {CSM_GENERATOR_ABI_VERSION, "nogenerate", init, NULL, NULL};

const csm_generator *csm_generator_entry(void);

const csm_generator *csm_generator_entry(void)
{
    return &g;
}
