/*
 * The table of built-in generators (the files of generators/), in the
 * order --help lists them. The wiring hands it to the core
 * (csm_genconf_new(), csm_plugins_load()), which never names a built-in;
 * tests and benchmarks pick built-ins by name from it.
 */
#ifndef CSM_GEN_BUILTIN_H
#define CSM_GEN_BUILTIN_H

#include <stddef.h>

#include "render/gen.h"

/* The generator of a Custom Resource State config (also the table's
 * `config`), and the `lifecycle` built-in, which declares no families: a
 * resource whose set uses it keeps a csm_lifecycle instead. */
extern const csm_generator csm_generator_config;
extern const csm_generator csm_generator_lifecycle;

/* The table (static storage). */
const csm_gen_table *csm_gen_builtin_table(void);

/* A built-in by name ("info"), or NULL. Static storage. */
const csm_generator *csm_gen_builtin(const char *name);

/* Number of built-ins, and built-in i (NULL past the end). */
size_t csm_gen_builtins(void);
const csm_generator *csm_gen_builtin_at(size_t i);

#endif
