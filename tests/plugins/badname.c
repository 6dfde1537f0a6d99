/* Emits samples with invalid label names and ignores the errors: the
 * exporter must drop exactly those samples, count the failure and go on. */
#include <stdlib.h>

#include "csm/generator.h"

typedef struct st {
    size_t family;
} st;

static csm_err init(const csm_resource_desc *res, const char *arg, csm_families *fams, void **state)
{
    st *s = calloc(1, sizeof(*s));
    csm_err err;
    (void)res;
    (void)arg;
    if (!s)
        return CSM_ERR_NOMEM;
    err = csm_families_add(fams, "badname_samples", "Samples, some invalid.", CSM_METRIC_GAUGE,
                           &s->family);
    if (err) {
        free(s);
        return err;
    }
    *state = s;
    return CSM_OK;
}

static csm_err generate(void *state, const csm_object *obj, csm_emitter *em)
{
    const st *s = state;
    const char *good[] = {"kind"};
    const char *bad[] = {"bad-label"};
    const char *reserved[] = {"__name__"};
    const char *twice[] = {"a", "a"};
    const char *v[] = {"x", "y"};
    (void)obj;
    csm_emit(em, s->family, 1, good, v, 1);
    csm_emit(em, s->family, 1, bad, v, 2);
    csm_emit(em, s->family, 1, reserved, v, 3);
    csm_emit(em, s->family, 2, twice, v, 4);
    csm_emit(em, s->family + 7, 0, NULL, NULL, 5); /* not a family of ours */
    csm_emit(em, s->family, 0, NULL, NULL, 6);
    return CSM_OK;
}

static const csm_generator g = {CSM_GENERATOR_ABI_VERSION, "badname", init, generate, free};

const csm_generator *csm_generator_entry(void);

const csm_generator *csm_generator_entry(void)
{
    return &g;
}
