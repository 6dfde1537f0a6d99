/*
 * The exporter's generator configuration: which generators each resource
 * gets (--generators, built-ins and --generator-plugin plugins, with
 * --metric-labels-allowlist and --metric-annotations-allowlist as their
 * arguments), the --metric-allowlist/--metric-denylist filter, and the
 * --config Custom Resource State config with its reloads.
 *
 * Everything a start-up can check is checked by csm_genconf_new() before
 * the exporter connects anywhere: plugins load, generator names exist, and
 * every generator's init() succeeds for every resource (with the plural
 * guessed from the kind until discovery knows it). A reload is checked the
 * same way before it replaces anything.
 *
 * Resources: those of --resource first, in command-line order, then those
 * the config names with a concrete version and kind that --resource does
 * not. --generators applies to the --resource ones; a resource only the
 * config names gets only its config metrics, as in kube-state-metrics.
 * Config entries with "*" for the version or kind apply to every listed
 * resource they match, and to the resources discovery resolves them to
 * (csm_genconf_wildcards(), csm_genconf_discovered(); see crsdisco.h),
 * which are listed after the others.
 */
#ifndef CSM_GENCONF_H
#define CSM_GENCONF_H

#include <stddef.h>

#include "base/gvk.h"
#include "csm/error.h"
#include "render/gen.h"
#include "base/log.h"
#include "serve/telemetry.h"

typedef struct csm_genconf csm_genconf;
/* The command line (flags.h); only read. */
typedef struct csm_config csm_config;

/*
 * Loads plugins and the config and checks everything (see above). cfg and
 * builtins (the generators --generators may name besides plugins; the
 * exporter hands generators/builtin.h's table) must outlive the result. On failure errbuf holds one
 * line and the error is CSM_ERR_USAGE for anything the user can fix (the exporter exits 2). Free
 * with csm_genconf_free() (accepts NULL) after every genset made from it: it unloads the plugins.
 */
csm_err csm_genconf_new(const csm_config *cfg, const csm_gen_table *builtins, csm_log *log,
                        csm_genconf **out, char *errbuf, size_t errlen);
void csm_genconf_free(csm_genconf *g);

/* The resources to watch (borrowed; valid until the next successful
 * csm_genconf_reload()). */
const csm_gvk *csm_genconf_resources(const csm_genconf *g, size_t *n);

/* The config's groupVersionKinds with "*" in the version or kind
 * (borrowed; valid until the next successful reload). */
const csm_gvk *csm_genconf_wildcards(const csm_genconf *g, size_t *n);

/*
 * What discovery resolved the wildcards to (a whole round's result). Adds
 * the resources this makes new to the end of the list and sets *first_new
 * to the index of the first one (the list's length if none). Resources are
 * not removed here: a kind that stops being served is the resource's to
 * notice, and a reload drops what the config no longer matches.
 */
csm_err csm_genconf_discovered(csm_genconf *g, const csm_gvk *found, size_t n, size_t *first_new);

/* A csm_resource_genset_fn; ctx is the csm_genconf. */
csm_err csm_genconf_make_genset(void *ctx, const csm_resource_desc *desc, csm_genset **out,
                                char *errbuf, size_t errlen);

/*
 * Registers crd_state_metrics_generator_failures_total{resource,generator}
 * and, with --config, crd_state_metrics_config_reloads_total{result},
 * crd_state_metrics_config_last_reload_successful and
 * crd_state_metrics_config_last_reload_success_timestamp_seconds.
 */
csm_err csm_genconf_register_telemetry(csm_genconf *g, csm_telemetry *tel);

/* 1 if there is a --config file. */
int csm_genconf_has_file(const csm_genconf *g);

/* The config's labelSelector/fieldSelector for gvk (crs.h), borrowed until
 * the next reload; NULL when it sets none. */
void csm_genconf_selectors(const csm_genconf *g, const csm_gvk *gvk, const char **label,
                           const char **field);

/*
 * 1 if the config file is not the one last loaded or tried: another inode
 * or device (a ConfigMap's symlink swap, a rename over it), size or
 * modification time. Remembers what it saw, so a bad file is tried once.
 */
int csm_genconf_file_changed(csm_genconf *g);

typedef enum csm_genconf_action {
    CSM_GENCONF_KEEP = 0,   /* nothing changed for the resource */
    CSM_GENCONF_REGENERATE, /* its config metrics changed: csm_resource_regenerate() */
    CSM_GENCONF_DROP,       /* the config no longer names it: free it */
} csm_genconf_action;

/*
 * Reloads --config. On success *actions (free() it) has one entry per
 * resource of the old list, and csm_genconf_resources() is then the old
 * resources that stay, in their order, followed by the ones to add: the
 * order the caller's resources must take. On failure the old config stays
 * in force and errbuf says why (file, line and field). Counts the outcome
 * in the telemetry and logs it.
 */
csm_err csm_genconf_reload(csm_genconf *g, csm_genconf_action **actions, size_t *nold, char *errbuf,
                           size_t errlen);

#endif
