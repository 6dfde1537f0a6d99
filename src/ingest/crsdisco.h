/*
 * Resolving the "*" of a Custom Resource State config through discovery:
 * a groupVersionKind with version "*" stands for the group's preferred
 * version, one with kind "*" for every kind of the group version that can
 * be listed and watched. Rounds run at start and then every interval, so
 * CRDs installed later are found; each round reports everything it found.
 *
 * "*" for the version resolves to the preferred version only, not to every
 * served version as kube-state-metrics does: the API server serves the same
 * objects under each version, so every object would be exported once per
 * version.
 */
#ifndef CSM_CRSDISCO_H
#define CSM_CRSDISCO_H

#include <event2/event.h>
#include <stddef.h>

#include "base/gvk.h"
#include "csm/error.h"
#include "ingest/kclient.h"
#include "base/log.h"

typedef struct csm_crsdisco csm_crsdisco;

/* Called at the end of every round with all it found (borrowed). */
typedef void (*csm_crsdisco_found_fn)(void *ctx, const csm_gvk *found, size_t n);

/*
 * Patterns are set with csm_crsdisco_set_patterns(); nothing runs before.
 * base, kc and log are borrowed. Free with csm_crsdisco_free() (accepts
 * NULL), which cancels a round in flight.
 */
csm_err csm_crsdisco_new(struct event_base *base, csm_kclient *kc, csm_log *log, int interval_s,
                         csm_crsdisco_found_fn fn, void *ctx, csm_crsdisco **out);
void csm_crsdisco_free(csm_crsdisco *d);

/* Replaces the patterns (copied; "*" in version and/or kind) and starts a
 * round now. No patterns stops the rounds. */
csm_err csm_crsdisco_set_patterns(csm_crsdisco *d, const csm_gvk *patterns, size_t n);

/* Stops rounds and requests for good (shutdown). */
void csm_crsdisco_stop(csm_crsdisco *d);

/*
 * The parsing, for tests. csm_crsdisco_preferred() reads an APIGroup
 * (/apis/GROUP: preferredVersion.version) or APIVersions (/api: the first
 * of versions) into out. csm_crsdisco_kinds() appends to *found the kinds
 * of an APIResourceList matching `kind` ("*" for all) that are not
 * subresources and support list and watch, as group/version/kind.
 */
csm_err csm_crsdisco_preferred(const char *json, size_t len, char *out, size_t outlen);
csm_err csm_crsdisco_kinds(const char *json, size_t len, const char *group, const char *version,
                           const char *kind, csm_gvk **found, size_t *n);

#endif
