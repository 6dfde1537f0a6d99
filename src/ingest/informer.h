/*
 * One list/watch loop: keeps a csm_store equal to the objects of one
 * collection (a resource in one namespace, or in all).
 *
 *   LIST (paged, limit/continue) -> WATCH from the list's resourceVersion,
 *   or, with WatchList, one WATCH with sendInitialEvents=true whose
 *   "k8s.io/initial-events-end" bookmark marks the end of the initial state
 *     ADDED/MODIFIED: render and upsert     DELETED: remove
 *     BOOKMARK: advance the resourceVersion
 *     server ends the watch: re-watch from the last resourceVersion
 *     410 Expired (ERROR event or status): relist at the last
 *       resourceVersion, then with a fresh consistent LIST if that is
 *       expired too (client-go's order)
 *     connection failure, 429, 5xx, 401/403: back off (capped, jittered,
 *       Retry-After honoured) and try again; 404: the collection is gone
 *
 * A relist upserts first and sweeps afterwards, so the store never goes
 * through an empty or half-filled state. All work runs on the event loop.
 */
#ifndef CSM_INFORMER_H
#define CSM_INFORMER_H

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "store/budget.h"
#include "csm/error.h"
#include "ingest/kclient.h"
#include "base/log.h"
#include "ingest/shard.h"
#include "store/store.h"
#include "serve/telemetry.h"

/* Shared by every informer; all pointers borrowed. */
typedef struct csm_informer_env {
    struct event_base *base;
    /* Every API request goes through this seam (kclient.h); the exporter
     * fills it with csm_kclient_transport(), tests with a fake that they
     * answer by hand. Copied with the env. */
    csm_kreq_transport transport;
    csm_log *log;
    /* Telemetry families (may be NULL), labelled by resource (and result
     * or type): list_total{resource,result}, watch_total{resource,result},
     * events_total{resource,type}, relists_total{resource,reason}. */
    csm_tel_family *list_total;
    csm_tel_family *watch_total;
    csm_tel_family *events_total;
    csm_tel_family *relists_total;
    csm_tel_family *last_sync;  /* gauge{resource}: Unix time of the last LIST */
    csm_tel_family *api_errors; /* counter{resource,code}: failed requests */
    size_t page_size;           /* LIST limit; 500 */
    long watch_timeout_s;       /* server-side timeoutSeconds base; randomised up to 2x */
    size_t max_event_bytes;     /* largest watch event accepted */
    size_t max_page_bytes;      /* largest LIST page accepted */
    /* Initial sync by WatchList (sendInitialEvents): 0 off, 1 on, 2 auto
     * (on until the server rejects it, then paged LIST). */
    int watch_list;
    /* Series budgets (src/store/budget.h): the exporter's (NULL: none), that each
     * resource's budget draws from; the per-resource limit (0: none; a
     * config entry's maxSeries wins); gauges{resource} of what is skipped. */
    csm_budget *series_budget;
    size_t max_series_per_resource;
    csm_tel_family *series_dropped;
    csm_tel_family *objects_skipped;
    /* Sharding (borrowed, may be NULL: every object is owned). An object
     * this shard does not own is never rendered: a watch event is dropped
     * before it is parsed (csm_watch_skim()), a LIST item after the page is
     * parsed and before rendering. */
    const csm_shard *shard;
    csm_tel_family *skipped; /* counter{resource}: objects dropped as foreign */
} csm_informer_env;

typedef struct csm_informer_hooks {
    /* Renders an object into a block (one reference for the caller). */
    csm_err (*render)(void *ctx, const cJSON *obj, csm_block **out);
    /* The collection answered 404: the resource is no longer served. The
     * informer has stopped itself; the owner decides what comes next. */
    void (*gone)(void *ctx);
    /* Called after every completed LIST (initial and relists). */
    void (*synced)(void *ctx);
    void *ctx;
    /* Lifecycle observation (each may be NULL; obj is borrowed for the
     * call). seen: an object with a uid arrived, before it is rendered;
     * listed is 1 when it came from a LIST page or a WatchList's initial
     * events, 0 from a live watch event. deleted: a DELETED event.
     * sync_begin: a full sync (LIST or WatchList) starts; sync_end: it
     * delivered the whole state, right before the store's sweep.
     * handed_over: a reshard gave the object uid (borrowed) to another
     * shard; it left the store but was not deleted. taking_over: a reshard
     * relist starts that brings in objects other shards held until now. */
    void (*seen)(void *ctx, const cJSON *obj, int listed);
    void (*deleted)(void *ctx, const cJSON *obj);
    void (*sync_begin)(void *ctx);
    void (*sync_end)(void *ctx);
    void (*handed_over)(void *ctx, const char *uid);
    void (*taking_over)(void *ctx);
} csm_informer_hooks;

typedef struct csm_informer csm_informer;

/*
 * resource_label names the resource in logs and telemetry
 * ("cache.example.com/v1/Memcached"); path is the collection
 * ("/apis/cache.example.com/v1/namespaces/ns/memcacheds"); query holds
 * extra URL-encoded parameters ("labelSelector=...&fieldSelector=...") or
 * NULL. Strings are copied. The informer owns its store. *out is freed with
 * csm_informer_free(), which cancels its request and timer.
 */
csm_err csm_informer_new(const csm_informer_env *env, const char *resource_label, const char *path,
                         const char *query, const csm_informer_hooks *hooks, csm_informer **out);
void csm_informer_free(csm_informer *inf);

/* Starts listing. */
csm_err csm_informer_start(csm_informer *inf);
/* Cancels requests and timers; the store keeps its contents. */
void csm_informer_stop(csm_informer *inf);

/*
 * Resharding, in two steps. csm_informer_drop_foreign() removes from the
 * store every object the shard no longer owns (at once, so no other shard's
 * object lingers here). csm_informer_resync() starts a full sync now (a LIST
 * or WatchList at the last resourceVersion, which the API server's watch
 * cache serves), cancelling the request in flight: objects the shard now
 * owns and had skipped are listed and rendered; the store keeps its
 * contents until the sync completes, so owned objects never disappear.
 * Both are no-ops for an informer that is stopped or gone.
 */
size_t csm_informer_drop_foreign(csm_informer *inf);
void csm_informer_resync(csm_informer *inf);

csm_store *csm_informer_store(const csm_informer *inf);

/*
 * Charges the informer's objects to a series budget (src/store/budget.h;
 * borrowed, must outlive the informer): an object whose series do not fit
 * is not stored. Call once, before csm_informer_start().
 */
csm_err csm_informer_set_budget(csm_informer *inf, csm_budget *budget);
/* 1 once a LIST has completed. */
int csm_informer_synced(const csm_informer *inf);
/* Short human-readable state ("watching", "backing off: 403 Forbidden"). */
const char *csm_informer_state(const csm_informer *inf);

#endif
