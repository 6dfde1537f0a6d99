/* init() fails: it declares a family whose name is not a metric name, and
 * passes on the error csm_families_add() returns. */
#include <stddef.h>

#include "csm/generator.h"

static csm_err init(const csm_resource_desc *res, const char *arg, csm_families *fams, void **state)
{
    size_t index;
    (void)res;
    (void)arg;
    *state = NULL;
    return csm_families_add(fams, "not a metric name", "", CSM_METRIC_GAUGE, &index);
}

static csm_err generate(void *state, const csm_object *obj, csm_emitter *em)
{
    (void)state;
    (void)obj;
    (void)em;
    return CSM_OK;
}

static const csm_generator g = {CSM_GENERATOR_ABI_VERSION, "initfail", init, generate, NULL};

const csm_generator *csm_generator_entry(void);

const csm_generator *csm_generator_entry(void)
{
    return &g;
}
