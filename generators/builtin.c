#include "generators/builtin.h"

/* Defined in the generators' own files; the config generator is not in the
 * table: the exporter adds it to resources the config names, never by
 * name (gen.h). */
extern const csm_generator csm_generator_info;
extern const csm_generator csm_generator_labels;
extern const csm_generator csm_generator_annotations;
extern const csm_generator csm_generator_created;
extern const csm_generator csm_generator_status;

static const csm_generator *const builtins[] = {
    &csm_generator_info,    &csm_generator_labels, &csm_generator_annotations,
    &csm_generator_created, &csm_generator_status, &csm_generator_lifecycle,
};

static const csm_gen_table table = {builtins, sizeof(builtins) / sizeof(builtins[0]),
                                    &csm_generator_config};

const csm_gen_table *csm_gen_builtin_table(void)
{
    return &table;
}

const csm_generator *csm_gen_builtin(const char *name)
{
    return csm_gen_table_find(&table, name);
}

size_t csm_gen_builtins(void)
{
    return table.n;
}

const csm_generator *csm_gen_builtin_at(size_t i)
{
    return i < table.n ? table.gens[i] : NULL;
}
