/*
 * Auto-sharding from a StatefulSet: the shard is the ordinal of this pod's
 * name ("csm-2" is shard 2), the number of shards is spec.replicas of the
 * StatefulSet that owns the pod, followed by a watch.
 *
 *   GET the pod -> its controller ownerReference of kind StatefulSet
 *   list/watch that StatefulSet (fieldSelector metadata.name=NAME, an
 *   informer of its own, unsharded) -> spec.replicas
 *
 * The first replicas value sets the assignment (CSM_AUTOSHARD_FIRST). A
 * later change starts a handover (csm_shard_set_total() with handover):
 * CSM_AUTOSHARD_DROP at once, then after the reshard delay
 * csm_shard_end_handover() and CSM_AUTOSHARD_GAIN. The owner drops foreign
 * objects on DROP and relists on GAIN (csm_resource_drop_foreign(),
 * csm_resource_resync()). A change during a handover restarts the delay.
 *
 * Failures (RBAC not there yet, the pod not yet visible) are retried with
 * backoff; the state string says what is missing, for /readyz.
 */
#ifndef CSM_AUTOSHARD_H
#define CSM_AUTOSHARD_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"
#include "ingest/informer.h"
#include "ingest/shard.h"

typedef enum csm_autoshard_event {
    CSM_AUTOSHARD_FIRST = 0, /* the number of shards is known */
    CSM_AUTOSHARD_DROP,      /* it changed: a handover began */
    CSM_AUTOSHARD_GAIN,      /* the handover ended */
} csm_autoshard_event;

typedef struct csm_autoshard_hooks {
    void (*changed)(void *ctx, csm_autoshard_event ev);
    void *ctx;
} csm_autoshard_hooks;

typedef struct csm_autoshard csm_autoshard;

/*
 * env is copied (its shard and skipped are ignored: the StatefulSet is not
 * sharded); shard is borrowed and must outlive the object; the pod's
 * ordinal must already be shard's ordinal (csm_shard_pod_ordinal()).
 * delay_ms is the handover delay. Free with csm_autoshard_free().
 */
csm_err csm_autoshard_new(const csm_informer_env *env, const char *pod, const char *ns,
                          csm_shard *shard, long delay_ms, const csm_autoshard_hooks *hooks,
                          csm_autoshard **out);
void csm_autoshard_free(csm_autoshard *a);

csm_err csm_autoshard_start(csm_autoshard *a);
void csm_autoshard_stop(csm_autoshard *a);

/* The name of the StatefulSet that controls a Pod object: its
 * ownerReference with kind StatefulSet, an apps/ apiVersion and
 * controller: true. Copies it into out (len bytes); returns NULL, or a
 * static description of what is wrong. */
const char *csm_autoshard_owner(const cJSON *pod, char *out, size_t len);

/* spec.replicas of a StatefulSet object: absent or null means 1 (the API
 * default). CSM_ERR_TYPE for anything but an integer in 0..10^9. */
csm_err csm_autoshard_replicas(const cJSON *sts, int32_t *out);

/* "waiting for pod ns/name: HTTP 403", "StatefulSet ns/csm: 3 replicas". */
const char *csm_autoshard_state(const csm_autoshard *a);

#endif
