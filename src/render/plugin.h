/*
 * Out-of-tree generators: shared objects named by --generator-plugin,
 * loaded once at start-up (see include/csm/generator.h for the ABI).
 *
 * Everything that can be checked without running the plugin is checked
 * here, with a message that names the file: it loads (RTLD_NOW, so an
 * undefined symbol fails now rather than at first use), it exports
 * csm_generator_entry, the descriptor speaks this exporter's ABI version,
 * has a valid, unused name and an init and a generate function. Whether
 * init() succeeds is for the caller to try (the exporter does, for every
 * resource, before it connects).
 */
#ifndef CSM_PLUGIN_H
#define CSM_PLUGIN_H

#include <stddef.h>

#include "csm/generator.h"
#include "render/gen.h"

typedef struct csm_plugins csm_plugins;

/*
 * Loads paths[0..n). A path without '/' is taken relative to the current
 * directory (dlopen would search the library path instead). A plugin may
 * not take the name of a generator in `builtins` (borrowed; NULL: none) or
 * of the config generator. On failure errbuf holds one line naming the
 * file, nothing stays loaded and *out is untouched. Free with
 * csm_plugins_free() (accepts NULL), which unloads.
 */
csm_err csm_plugins_load(const char *const *paths, size_t n, const csm_gen_table *builtins,
                         csm_plugins **out, char *errbuf, size_t errlen);
void csm_plugins_free(csm_plugins *p);

size_t csm_plugins_count(const csm_plugins *p);
/* Plugin i's descriptor and file (borrowed, valid until csm_plugins_free). */
const csm_generator *csm_plugins_at(const csm_plugins *p, size_t i);
const char *csm_plugins_path(const csm_plugins *p, size_t i);
/* The plugin generator of that name, or NULL. */
const csm_generator *csm_plugins_find(const csm_plugins *p, const char *name);

#endif
