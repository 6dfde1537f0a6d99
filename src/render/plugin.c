#include "render/plugin.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/gen.h"

typedef struct plugin {
    void *handle;
    char *path;
    const csm_generator *gen;
} plugin;

struct csm_plugins {
    plugin *p;
    size_t n;
    const csm_gen_table *builtins; /* names a plugin may not take */
};

void csm_plugins_free(csm_plugins *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->p[i].handle)
            dlclose(ps->p[i].handle);
        free(ps->p[i].path);
    }
    free(ps->p);
    free(ps);
}

static int valid_name(const char *name)
{
    if (!name || !*name)
        return 0;
    for (const char *c = name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
            return 0;
    }
    return 1;
}

/* Checks the descriptor of the plugin being loaded (ps->p[ps->n]). */
static csm_err check_descriptor(const csm_plugins *ps, const plugin *pl, char *errbuf,
                                size_t errlen)
{
    const csm_generator *g = pl->gen;

    if (!g) {
        snprintf(errbuf, errlen, "%s: %s() returned no descriptor", pl->path,
                 CSM_GENERATOR_ENTRY_SYMBOL);
        return CSM_ERR_ABI;
    }
    if (g->abi_version != CSM_GENERATOR_ABI_VERSION) {
        snprintf(errbuf, errlen,
                 "%s: generator speaks ABI version %u, this exporter speaks %u; rebuild it "
                 "against this version's include/csm/generator.h",
                 pl->path, g->abi_version, CSM_GENERATOR_ABI_VERSION);
        return CSM_ERR_ABI;
    }
    if (!valid_name(g->name)) {
        snprintf(errbuf, errlen, "%s: the generator's name must match [a-z0-9_-]+", pl->path);
        return CSM_ERR_ABI;
    }
    if (!g->init || !g->generate) {
        snprintf(errbuf, errlen, "%s: generator \"%s\" has no %s function", pl->path, g->name,
                 g->init ? "generate" : "init");
        return CSM_ERR_ABI;
    }
    if (csm_gen_table_find(ps->builtins, g->name) ||
        (ps->builtins && ps->builtins->config &&
         strcmp(g->name, ps->builtins->config->name) == 0)) {
        snprintf(errbuf, errlen, "%s: generator name \"%s\" is taken by a built-in", pl->path,
                 g->name);
        return CSM_ERR_ABI;
    }
    for (size_t i = 0; i < ps->n; i++) {
        if (strcmp(ps->p[i].gen->name, g->name) == 0) {
            snprintf(errbuf, errlen, "%s: generator name \"%s\" is taken by %s", pl->path, g->name,
                     ps->p[i].path);
            return CSM_ERR_ABI;
        }
    }
    return CSM_OK;
}

static csm_err load_one(csm_plugins *ps, const char *path, char *errbuf, size_t errlen)
{
    plugin *pl = &ps->p[ps->n];
    csm_generator_entry_fn entry;
    const char *dlerr;
    size_t len = strlen(path);
    void *sym;

    memset(pl, 0, sizeof(*pl));
    pl->path = malloc(len + 3);
    if (!pl->path)
        return CSM_ERR_NOMEM;
    snprintf(pl->path, len + 3, "%s%s", strchr(path, '/') ? "" : "./", path);
    /* RTLD_NOW: an undefined symbol (a plugin built for a newer ABI
     * revision) fails here, not in the middle of serving. */
    pl->handle = dlopen(pl->path, RTLD_NOW | RTLD_LOCAL);
    if (!pl->handle) {
        dlerr = dlerror();
        snprintf(errbuf, errlen, "%s: cannot load: %s", pl->path, dlerr ? dlerr : "dlopen failed");
        goto fail;
    }
    dlerror();
    sym = dlsym(pl->handle, CSM_GENERATOR_ENTRY_SYMBOL);
    if (!sym) {
        snprintf(errbuf, errlen, "%s: no %s symbol: not a crd-state-metrics generator plugin",
                 pl->path, CSM_GENERATOR_ENTRY_SYMBOL);
        goto fail;
    }
    /* POSIX guarantees a data pointer from dlsym() converts to a function. */
    memcpy(&entry, &sym, sizeof(entry));
    pl->gen = entry();
    if (check_descriptor(ps, pl, errbuf, errlen) != CSM_OK)
        goto fail;
    ps->n++;
    return CSM_OK;
fail:
    if (pl->handle)
        dlclose(pl->handle);
    free(pl->path);
    memset(pl, 0, sizeof(*pl));
    return CSM_ERR_ABI;
}

csm_err csm_plugins_load(const char *const *paths, size_t n, const csm_gen_table *builtins,
                         csm_plugins **out, char *errbuf, size_t errlen)
{
    csm_plugins *ps = calloc(1, sizeof(*ps));
    csm_err err = CSM_OK;

    if (!ps)
        return CSM_ERR_NOMEM;
    ps->builtins = builtins;
    ps->p = calloc(n ? n : 1, sizeof(*ps->p));
    if (!ps->p)
        err = CSM_ERR_NOMEM;
    for (size_t i = 0; !err && i < n; i++)
        err = load_one(ps, paths[i], errbuf, errlen);
    if (err) {
        csm_plugins_free(ps);
        return err;
    }
    *out = ps;
    return CSM_OK;
}

size_t csm_plugins_count(const csm_plugins *ps)
{
    return ps ? ps->n : 0;
}

const csm_generator *csm_plugins_at(const csm_plugins *ps, size_t i)
{
    return ps && i < ps->n ? ps->p[i].gen : NULL;
}

const char *csm_plugins_path(const csm_plugins *ps, size_t i)
{
    return ps && i < ps->n ? ps->p[i].path : NULL;
}

const csm_generator *csm_plugins_find(const csm_plugins *ps, const char *name)
{
    for (size_t i = 0; ps && i < ps->n; i++) {
        if (strcmp(ps->p[i].gen->name, name) == 0)
            return ps->p[i].gen;
    }
    return NULL;
}
