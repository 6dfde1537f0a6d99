/*
 * Series budgets: a cap on how many series the exporter (--max-series) and
 * each resource (--max-series-per-resource, or a Custom Resource State
 * entry's maxSeries) export, so that a config whose labelsFromPath or
 * list explodes, or a tenant who creates objects by the million, costs a
 * bounded amount of memory instead of an OOM.
 *
 * The unit is the object: an object whose rendered series do not fit in
 * its resource's budget and in every budget above it is skipped whole (not
 * stored, not served: half an object would be a lie), counted and logged.
 * Admission is first come, first kept: an object stays in while it fits,
 * and updates of an admitted object are charged against what it held, so
 * the same objects are exported on every scrape; an initial LIST arrives
 * in the API server's key order (namespace/name), so after a restart the
 * same objects are admitted again. A skipped object is reconsidered when it
 * next changes or on the next relist (its JSON is not kept, by design).
 *
 * A book records what one informer's objects hold (uid -> series, admitted
 * or skipped), with the store's relist semantics, so that deletions and
 * relist sweeps give the budget back.
 *
 * Single-threaded (the event loop). Memory: one small entry per object.
 */
#ifndef CSM_BUDGET_H
#define CSM_BUDGET_H

#include <stddef.h>

#include "csm/error.h"
#include "base/log.h"
#include "serve/telemetry.h"

typedef struct csm_budget csm_budget;
typedef struct csm_budget_book csm_budget_book;

/*
 * A budget of `limit` series (0: unlimited) drawing from parent (NULL for
 * the top). label names it in logs and telemetry ("cache.example.com/v1/
 * Memcached"; copied). log, dropped (gauge{resource}: series of skipped
 * objects) and skipped (gauge{resource}: objects) are borrowed and may be
 * NULL; the gauges are kept current and removed by csm_budget_free().
 * The parent must outlive it. Free with csm_budget_free() (accepts NULL)
 * after every book on it.
 */
csm_err csm_budget_new(csm_budget *parent, size_t limit, const char *label, csm_log *log,
                       csm_tel_family *dropped, csm_tel_family *skipped, csm_budget **out);
void csm_budget_free(csm_budget *b);

/* Series held by admitted objects; series and objects skipped. */
size_t csm_budget_used(const csm_budget *b);
size_t csm_budget_dropped(const csm_budget *b);
size_t csm_budget_skipped(const csm_budget *b);

/* A book on b. Free with csm_budget_book_free() (accepts NULL), which gives
 * back everything the book holds. */
csm_err csm_budget_book_new(csm_budget *b, csm_budget_book **out);
void csm_budget_book_free(csm_budget_book *k);

/*
 * The object uid now renders to `series` series. *admit is 1 if they fit
 * (store the new block), 0 if the object is skipped (store nothing, and
 * delete a block stored for it before). What the object held before is
 * given back first. CSM_ERR_NOMEM leaves the book as it was.
 */
csm_err csm_budget_book_put(csm_budget_book *k, const char *uid, size_t series, int *admit);
/* The object is gone. Unknown uids are ignored. */
void csm_budget_book_delete(csm_budget_book *k, const char *uid);
/* As the store's: objects not put between begin and end are forgotten. */
void csm_budget_book_relist_begin(csm_budget_book *k);
void csm_budget_book_relist_end(csm_budget_book *k);
/* Forgets every object. */
void csm_budget_book_clear(csm_budget_book *k);

/* Series in a rendered block: its sample lines. */
size_t csm_budget_count_lines(const char *p, size_t len);

#endif
