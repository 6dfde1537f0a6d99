/*
 * <stem>_annotations{namespace,<stem>,annotation_<key>...} 1: the object's
 * annotations that --metric-annotations-allowlist admits, as
 * kube-state-metrics' *_annotations families. See src/render/metalabels.h.
 */
#include "csm/generator.h"
#include "render/metalabels.h"

static const csm_metalabels_kind annotations_kind = {
    "annotations",
    "annotations",
    "annotation_",
    "Kubernetes annotations converted to Prometheus labels.",
};

static csm_err annotations_init(const csm_resource_desc *res, const char *arg, csm_families *fams,
                                void **state)
{
    return csm_metalabels_init(&annotations_kind, res, arg, fams, state);
}

const csm_generator csm_generator_annotations = {
    .abi_version = CSM_GENERATOR_ABI_VERSION,
    .name = "annotations",
    .init = annotations_init,
    .generate = csm_metalabels_generate,
    .destroy = csm_metalabels_destroy,
};
