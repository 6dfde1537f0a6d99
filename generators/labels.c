/*
 * <stem>_labels{namespace,<stem>,label_<key>...} 1: the object's labels
 * that --metric-labels-allowlist admits, as kube-state-metrics' *_labels
 * families. See src/render/metalabels.h for the rules.
 */
#include "csm/generator.h"
#include "render/metalabels.h"

static const csm_metalabels_kind labels_kind = {
    "labels",
    "labels",
    "label_",
    "Kubernetes labels converted to Prometheus labels.",
};

static csm_err labels_init(const csm_resource_desc *res, const char *arg, csm_families *fams,
                           void **state)
{
    return csm_metalabels_init(&labels_kind, res, arg, fams, state);
}

const csm_generator csm_generator_labels = {
    .abi_version = CSM_GENERATOR_ABI_VERSION,
    .name = "labels",
    .init = labels_init,
    .generate = csm_metalabels_generate,
    .destroy = csm_metalabels_destroy,
};
