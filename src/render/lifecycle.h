/*
 * Exact lifecycle accounting for one resource: per namespace, the seconds
 * objects existed while this process watched them, and how many were
 * created and deleted meanwhile. Served as the counters
 *
 *   <stem>_object_seconds_total{namespace}
 *   <stem>_created_total{namespace}
 *   <stem>_deleted_total{namespace}
 *
 * (no namespace label for cluster-scoped kinds), which Prometheus'
 * increase() turns into exact figures over any window.
 *
 * Unlike every other family these are aggregates whose value changes at
 * scrape time (live objects keep accruing seconds), so they are not part of
 * any object's rendered block: csm_lifecycle_write() renders them per scrape,
 * in O(namespaces).
 *
 * Semantics (times are seconds on one clock that the caller keeps monotonic
 * and anchored to the wall clock, so it compares to creationTimestamp):
 *
 *   - An object first seen in a live watch (ADDED, or MODIFIED of an object
 *     the accounting did not know) starts at the event's arrival, `now`.
 *   - An object first seen in a LIST or a WatchList's initial events
 *     (`listed`) starts at max(creationTimestamp, watch start), never
 *     later than now: it existed before we looked.
 *   - created_total counts objects whose creationTimestamp is after the
 *     watch started (within its one-second resolution for live events).
 *   - An object ends at its DELETED event, at the end of the sync that did
 *     not list it again (csm_lifecycle_sync_end), or at csm_lifecycle_clear()
 *     (the CRD was deleted): each counts once in deleted_total.
 *   - Objects are keyed by UID: an object seen again after a relist is the
 *     same object and is not counted twice; a new UID under an old name is
 *     a new object.
 *   - Counters never decrease for the life of the accounting (a served value
 *     is never lower than one served before, whatever the rounding).
 *
 * A resource has several informers (one per allowed namespace); each is a
 * `source` whose syncs sweep only the objects it listed.
 *
 * Not thread-safe: everything runs on the exporter's event loop.
 */
#ifndef CSM_LIFECYCLE_H
#define CSM_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "csm/error.h"
#include "render/expo.h"

typedef enum csm_lc_family {
    CSM_LC_OBJECT_SECONDS = 0,
    CSM_LC_CREATED,
    CSM_LC_DELETED,
    CSM_LC_NFAMILIES,
} csm_lc_family;

typedef struct csm_lifecycle csm_lifecycle;

/*
 * stem names the families ("memcached"); namespaced says whether samples
 * carry a namespace label; watch_start is when this process started to
 * watch the resource. All families are enabled. Free with
 * csm_lifecycle_free() (accepts NULL).
 */
csm_err csm_lifecycle_new(const char *stem, int namespaced, double watch_start,
                          csm_lifecycle **out);
void csm_lifecycle_free(csm_lifecycle *lc);

/* Enables or disables one family in the output (the metric allow/deny
 * lists); accounting goes on either way. */
void csm_lifecycle_enable(csm_lifecycle *lc, csm_lc_family f, int on);

/* The family's name ("memcached_object_seconds_total", borrowed). */
const char *csm_lifecycle_family_name(const csm_lifecycle *lc, csm_lc_family f);

/*
 * An object was seen (upserted). ns is NULL or "" for cluster-scoped kinds;
 * created is its creationTimestamp in seconds (NAN when absent or
 * unparsable: it then starts at now and counts as created only in a live
 * watch). uid and ns are copied.
 */
csm_err csm_lifecycle_seen(csm_lifecycle *lc, uint32_t source, const char *uid, const char *ns,
                           double created, int listed, double now);

/* A DELETED event; an unknown uid is ignored (returns CSM_ERR_NOT_FOUND). */
csm_err csm_lifecycle_deleted(csm_lifecycle *lc, const char *uid, double now);

/*
 * Sharding. handed_over: a reshard gave uid to another shard; it stops
 * accruing here at now and is not counted as deleted (CSM_ERR_NOT_FOUND
 * for an unknown uid). take_over: a reshard relist brings in objects other
 * shards metered until now; objects first seen from here on start no
 * earlier than now and count as created only if created after it, so the
 * shards' sums never count the same second twice. The watch start never
 * moves backwards.
 */
csm_err csm_lifecycle_handed_over(csm_lifecycle *lc, const char *uid, double now);
void csm_lifecycle_take_over(csm_lifecycle *lc, double now);

/* A full sync of source starts: its objects become unconfirmed until seen. */
csm_err csm_lifecycle_sync_begin(csm_lifecycle *lc, uint32_t source);
/* The sync completed: every object of source not seen since
 * csm_lifecycle_sync_begin() ends now. Returns how many ended. */
size_t csm_lifecycle_sync_end(csm_lifecycle *lc, uint32_t source, double now);

/* The resource is gone (CRD deleted): every object ends now. */
size_t csm_lifecycle_clear(csm_lifecycle *lc, double now);

/* Objects currently live. */
size_t csm_lifecycle_live(const csm_lifecycle *lc);

/*
 * The current values for namespace ns (NULL or "" when cluster-scoped);
 * CSM_ERR_NOT_FOUND if no object of ns was ever seen. Does not update the
 * monotonic floor that csm_lifecycle_write() keeps.
 */
csm_err csm_lifecycle_values(const csm_lifecycle *lc, const char *ns, double now, double *seconds,
                             uint64_t *created, uint64_t *deleted);

/*
 * Appends every enabled family, HELP and TYPE included, with one sample per
 * namespace ever seen, evaluated at now. Nothing when no object was ever
 * seen (an empty family would say nothing). Raises the monotonic floor of
 * the values it writes, hence not const.
 */
csm_err csm_lifecycle_write(csm_lifecycle *lc, csm_expo_format fmt, double now, csm_buf *out);

#endif
