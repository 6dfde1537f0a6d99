/*
 * The `type: Count` metrics of a Custom Resource State config (an
 * extension, kube-state-metrics #2238) for one resource: how many objects
 * there are per combination of the metric's labels (commonLabels,
 * customresource_group/version/kind and labelsFromPath), served as a gauge
 * with one series per combination:
 *
 *   kube_customresource_memcached_count{customresource_group="...",...,
 *       namespace="a",plan="gold"} 3
 *
 * Unlike the config's other metrics this is an aggregate over objects, not
 * text rendered per object, so it is kept here and written whole at scrape
 * time (csm_crscount_write()), in O(combinations log combinations).
 *
 * Semantics, kept exact by the informer hooks that feed it:
 *   - Objects are keyed by UID. An object seen again (MODIFIED, a relist)
 *     moves from its old combination to its new one; it is never counted
 *     twice.
 *   - An object leaves its combinations at its DELETED event, when a
 *     reshard hands it over to another shard (csm_crscount_forget()), at the
 *     end of a sync that did not list it again (csm_crscount_sync_end()),
 *     or at csm_crscount_clear() (the CRD was deleted).
 *   - A combination no object has any more disappears from the output
 *     (like a deleted object's series in kube-state-metrics); query with
 *     `or vector(0)` for an explicit zero.
 *   - A label whose path an object lacks is left out of that object's
 *     series, as for every config metric.
 *   - Bounds: counts are kept for every combination (at most one per live
 *     object, so memory follows the store's), but a metric writes at most
 *     its each.count.maxSeries combinations, the first in label order (and
 *     the resource charges what is written to its series budget); a
 *     combination key longer than CSM_CRSCOUNT_KEY_MAX bytes is not
 *     counted (csm_crscount_uncounted()).
 *
 * A resource has several informers (one per allowed namespace); each is a
 * `source` whose syncs sweep only the objects it listed.
 *
 * Not thread-safe: everything runs on the exporter's event loop.
 */
#ifndef CSM_CRSCOUNT_H
#define CSM_CRSCOUNT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "render/crs.h"
#include "csm/error.h"
#include "csm/generator.h"
#include "render/expo.h"

/* Longest label set of one object in one Count metric, in bytes. */
#define CSM_CRSCOUNT_KEY_MAX (64u * 1024u)

typedef struct csm_crscount csm_crscount;

/*
 * The Count metrics crs configures for res (its group, version and kind are
 * used). *out is NULL when there are none (CSM_OK). Holds a reference to
 * crs. Every metric is enabled. Free with csm_crscount_free() (accepts
 * NULL).
 */
csm_err csm_crscount_new(csm_crs *crs, const csm_resource_desc *res, csm_crscount **out);
void csm_crscount_free(csm_crscount *c);

/* The Count metrics: how many, metric i's family name (borrowed), and
 * whether it is written (the metric allow/deny lists, name collisions);
 * counting goes on either way. */
size_t csm_crscount_metrics(const csm_crscount *c);
const char *csm_crscount_name(const csm_crscount *c, size_t i);
void csm_crscount_enable(csm_crscount *c, size_t i, int on);

/*
 * An object arrived from source (upsert). An object without a
 * metadata.uid cannot be followed across updates and is not counted
 * (CSM_ERR_NOT_FOUND).
 */
csm_err csm_crscount_seen(csm_crscount *c, uint32_t source, const cJSON *obj);

/* The object left (DELETED event, or handed over to another shard);
 * CSM_ERR_NOT_FOUND for an unknown uid. */
csm_err csm_crscount_forget(csm_crscount *c, const char *uid);

/* A full sync of source starts: its objects become unconfirmed until seen.
 * csm_crscount_sync_end(): the sync completed; every object of source not
 * seen since csm_crscount_sync_begin() leaves. Returns how many left. */
csm_err csm_crscount_sync_begin(csm_crscount *c, uint32_t source);
size_t csm_crscount_sync_end(csm_crscount *c, uint32_t source);

/* The resource is gone (CRD deleted): every object leaves. */
void csm_crscount_clear(csm_crscount *c);

/* Objects followed; live combinations of metric i (all of them, including
 * those beyond maxSeries); objects metric i could not count (key too
 * long). */
size_t csm_crscount_objects(const csm_crscount *c);
size_t csm_crscount_combinations(const csm_crscount *c, size_t i);
size_t csm_crscount_uncounted(const csm_crscount *c, size_t i);

/* The series csm_crscount_write() writes now: over the enabled metrics,
 * their combinations up to maxSeries each. O(metrics). */
size_t csm_crscount_series(const csm_crscount *c);

/*
 * Appends every enabled metric that has a combination: HELP, TYPE gauge,
 * then one sample per combination in label order, at most maxSeries.
 * *omitted (may be NULL) receives how many combinations were left out for
 * the cap, summed over the metrics.
 */
csm_err csm_crscount_write(const csm_crscount *c, csm_expo_format fmt, csm_buf *out,
                           size_t *omitted);

#endif
