/*
 * One configured GROUP/VERSION/KIND: discovery (Kind -> plural and scope),
 * its generator set, and the informers (one for all namespaces, or one per
 * allowed namespace) whose stores hold its rendered objects.
 *
 * A Kind the API server does not serve (its CRD is not installed yet, or was
 * deleted) is polled through discovery every few seconds; once served, the
 * informers start. When a LIST or WATCH answers 404 the informers and their
 * series are dropped and discovery starts over, so a CRD deleted and
 * re-created comes back without a restart.
 */
#ifndef CSM_RESOURCE_H
#define CSM_RESOURCE_H

#include "base/buf.h"
#include "base/strlist.h"
#include "csm/error.h"
#include "render/expo.h"
#include "base/gvk.h"
#include "render/gen.h"
#include "ingest/informer.h"

typedef struct csm_resource csm_resource;

/* Builds the generator set once discovery has described the resource. */
typedef csm_err (*csm_resource_genset_fn)(void *ctx, const csm_resource_desc *desc,
                                          csm_genset **out, char *errbuf, size_t errlen);

typedef struct csm_resource_opts {
    const csm_informer_env *env; /* borrowed; must outlive the resource */
    const csm_gvk *gvk;
    const csm_strlist *namespaces;      /* empty: all */
    const csm_strlist *namespaces_deny; /* applied as a field selector */
    const char *label_selector;         /* may be NULL */
    const char *field_selector;         /* may be NULL */
    /* The config's per-resource selectors (crs.h), ANDed with the above;
     * may be NULL. */
    const char *config_label_selector;
    const char *config_field_selector;
    csm_resource_genset_fn make_genset;
    void *genset_ctx;
} csm_resource_opts;

/* Copies what it needs from opts. Free with csm_resource_free(). */
csm_err csm_resource_new(const csm_resource_opts *opts, csm_resource **out);
void csm_resource_free(csm_resource *r);

/*
 * Rebuilds the LIST/WATCH selectors from o's selector and namespace fields;
 * informers started from now on use them (csm_resource_regenerate() starts
 * new ones). For a reloaded config whose selectors changed.
 */
csm_err csm_resource_set_query(csm_resource *r, const csm_resource_opts *o);

/* Starts discovery (and then the informers). */
csm_err csm_resource_start(csm_resource *r);
/* Stops every request and timer; series stay. */
void csm_resource_stop(csm_resource *r);

/* The resource's group/version/kind (borrowed). */
const csm_gvk *csm_resource_gvk(const csm_resource *r);

/* "cache.example.com/v1/Memcached" (borrowed). */
const char *csm_resource_label(const csm_resource *r);

/*
 * 1 when every informer completed a LIST, or discovery answered that the
 * Kind is not served (an absent CRD is a known, empty truth). Appends a
 * one-line state to why either way.
 */
int csm_resource_ready(const csm_resource *r, csm_buf *why);

/* 1 while discovery says the Kind is served. */
int csm_resource_served(const csm_resource *r);

/* Objects held across the resource's informers. */
size_t csm_resource_objects(const csm_resource *r);

/* Resharding (see csm_informer_drop_foreign() and csm_informer_resync()):
 * drops the objects another shard now owns from every informer and returns
 * how many; and relists every informer to take in the objects this shard
 * now owns. A resource whose informers have not started yet needs neither:
 * they apply the shard's current assignment when they do. */
size_t csm_resource_drop_foreign(csm_resource *r);
void csm_resource_resync(csm_resource *r);

/*
 * Builds the generator set again (make_genset is called anew) and relists
 * every object so that it is rendered with the new set: for a reloaded
 * --config. The resource's series are absent until the new LIST completes
 * (and /readyz says so). A resource that is not served yet picks the new set
 * up when discovery finds it.
 */
csm_err csm_resource_regenerate(csm_resource *r);

/*
 * What a scrape of /metrics writes for res[0..nres): every family once,
 * where it first appears, followed by the samples of every resource that
 * has it, in resource order (resources share family names when one config
 * metric applies to several kinds, which kube-state-metrics' default prefix
 * makes likely, and a family written twice is invalid exposition; the first
 * resource's HELP and TYPE stand for all); samples go by reference to the
 * stores' segments. Then each resource's lifecycle counters and Count
 * metrics. A resource whose Kind is not served contributes no families.
 * Cost: one array and one sort of the F families in all, O(F log F).
 */
csm_err csm_resource_write_all(csm_resource *const *res, size_t nres, csm_expo_format fmt,
                               csm_sink *sink);

#endif
