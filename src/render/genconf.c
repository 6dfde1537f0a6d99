#include "render/genconf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/buf.h"
#include "base/strlist.h"
#include "flags.h"
#include "render/crs.h"
#include "render/mfilter.h"
#include "render/plugin.h"
#include "base/reslist.h"

/* What identifies a version of the config file. */
typedef struct file_sig {
    int ok; /* stat() succeeded */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_sig;

struct csm_genconf {
    const csm_config *cfg;
    const csm_gen_table *builtins; /* handed by the wiring */
    csm_log *log;
    csm_plugins *plugins;
    csm_mfilter *filter;
    csm_reslist *gens; /* --generators, or NULL for the default */
    csm_crs *crs;      /* --config, or NULL */
    csm_gvk *res;      /* the resources to watch */
    size_t nres;
    char **fps;    /* per resource: the config entries that apply to it */
    csm_gvk *wild; /* the config's wildcard groupVersionKinds */
    size_t nwild;
    csm_gvk *disc; /* what discovery last resolved them to */
    size_t ndisc;
    file_sig sig;
    csm_tel_family *reloads;
    csm_tel_family *last_ok;
    csm_tel_family *last_ok_time;
    csm_tel_family *failures;
    csm_tel_family *dropped; /* samples_dropped_total{resource,generator,reason} */
};

void csm_genconf_free(csm_genconf *g)
{
    if (!g)
        return;
    csm_plugins_free(g->plugins);
    csm_mfilter_free(g->filter);
    csm_reslist_free(g->gens);
    csm_crs_unref(g->crs);
    csm_gvk_list_free(g->res, g->nres);
    csm_strv_free(g->fps, g->nres);
    csm_gvk_list_free(g->wild, g->nwild);
    csm_gvk_list_free(g->disc, g->ndisc);
    free(g);
}

const csm_gvk *csm_genconf_wildcards(const csm_genconf *g, size_t *n)
{
    *n = g->nwild;
    return g->wild;
}

const csm_gvk *csm_genconf_resources(const csm_genconf *g, size_t *n)
{
    *n = g->nres;
    return g->res;
}

void csm_genconf_selectors(const csm_genconf *g, const csm_gvk *gvk, const char **label,
                           const char **field)
{
    csm_crs_selectors(g->crs, gvk->group, gvk->version, gvk->kind, label, field);
}

int csm_genconf_has_file(const csm_genconf *g)
{
    return g->cfg->config_file != NULL;
}

/* "group/version/kind", or "version/kind" for the core group, as resource
 * labels read. */
static void gvk_text(char *out, size_t len, const char *group, const char *version,
                     const char *kind)
{
    if (csm_gvk_format(out, len, group, version, kind) >= len && len > 4)
        memcpy(out + len - 4, "...", 4);
}

static int from_flags(const csm_genconf *g, const char *group, const char *kind)
{
    for (size_t i = 0; i < g->cfg->nresources; i++) {
        if (strcmp(g->cfg->resources[i].group, group) == 0 &&
            strcmp(g->cfg->resources[i].kind, kind) == 0)
            return 1;
    }
    return 0;
}

/* ---- generator selection ------------------------------------------------ */

/* Appends the names of every generator there is, for error messages. */
static void list_generators(const csm_genconf *g, csm_buf *b)
{
    for (size_t i = 0; g->builtins && i < g->builtins->n; i++)
        csm_buf_printf(b, "%s%s", i ? ", " : "built-in: ", g->builtins->gens[i]->name);
    for (size_t i = 0; i < csm_plugins_count(g->plugins); i++)
        csm_buf_printf(b, "%s%s", i ? ", " : "; plugins: ", csm_plugins_at(g->plugins, i)->name);
}

static const csm_generator *find_generator(const csm_genconf *g, const char *name)
{
    const csm_generator *gen = csm_gen_table_find(g->builtins, name);
    return gen ? gen : csm_plugins_find(g->plugins, name);
}

/* Every name --generators uses must exist. */
static csm_err check_generator_names(const csm_genconf *g, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < csm_reslist_entries(g->gens); i++) {
        size_t n;
        const char *const *items = csm_reslist_get(g->gens, csm_reslist_resource(g->gens, i), &n);
        for (size_t j = 0; j < n; j++) {
            csm_buf known;
            if (find_generator(g, items[j]))
                continue;
            csm_buf_init(&known, 4096);
            list_generators(g, &known);
            snprintf(errbuf, errlen, "--generators: unknown generator \"%s\" (%s)", items[j],
                     csm_buf_str(&known));
            csm_buf_free(&known);
            return CSM_ERR_USAGE;
        }
    }
    return CSM_OK;
}

static const char *generator_arg(const csm_genconf *g, const char *name)
{
    if (strcmp(name, "labels") == 0)
        return g->cfg->labels_allowlist;
    if (strcmp(name, "annotations") == 0)
        return g->cfg->annotations_allowlist;
    return NULL;
}

/* The --generators of a resource: its own entry, else "*", else info
 * and every plugin. */
static csm_err add_selected(const csm_genconf *g, csm_genset *gs, const char *plural, char *errbuf,
                            size_t errlen)
{
    size_t n = 0;
    const char *const *items = csm_reslist_get(g->gens, plural, &n);
    csm_err err = CSM_OK;

    if (!items)
        items = csm_reslist_get(g->gens, "*", &n);
    if (!items && !g->gens) {
        err = csm_genset_add(gs, csm_gen_table_find(g->builtins, "info"), NULL, errbuf, errlen);
        for (size_t i = 0; !err && i < csm_plugins_count(g->plugins); i++)
            err = csm_genset_add(gs, csm_plugins_at(g->plugins, i), NULL, errbuf, errlen);
        return err;
    }
    for (size_t i = 0; !err && i < n; i++) {
        const csm_generator *gen = find_generator(g, items[i]);
        if (!gen) {
            snprintf(errbuf, errlen, "unknown generator \"%s\"", items[i]);
            return CSM_ERR_USAGE;
        }
        err = csm_genset_add(gs, gen, generator_arg(g, items[i]), errbuf, errlen);
    }
    return err;
}

static int config_applies(const csm_crs *crs, const csm_resource_desc *desc)
{
    for (size_t i = 0; i < csm_crs_resources(crs); i++) {
        if (csm_crs_matches(csm_crs_resource_at(crs, i), desc->group, desc->version, desc->kind))
            return 1;
    }
    return 0;
}

/* The first maxSeries of the config entries that apply to desc; 0: none. */
static size_t config_max_series(const csm_crs *crs, const csm_resource_desc *desc)
{
    for (size_t i = 0; i < csm_crs_resources(crs); i++) {
        const csm_crs_resource *r = csm_crs_resource_at(crs, i);
        if (r->max_series && csm_crs_matches(r, desc->group, desc->version, desc->kind))
            return r->max_series;
    }
    return 0;
}

static void count_failure(void *ctx, const csm_resource_desc *res, const char *generator)
{
    csm_genconf *g = ctx;
    char label[512];
    const char *v[2] = {label, generator};

    if (!g->failures)
        return;
    gvk_text(label, sizeof(label), res->group, res->version, res->kind);
    csm_tel_inc(g->failures, v, 1);
}

/* A sample over --max-labels-per-sample: counted always, logged once per
 * generator set (so once per resource and config generation). */
static void count_drop(void *ctx, const csm_resource_desc *res, const char *generator,
                       size_t nlabels, size_t max, int first)
{
    csm_genconf *g = ctx;
    char label[512];
    const char *v[3] = {label, generator, "too_many_labels"};

    gvk_text(label, sizeof(label), res->group, res->version, res->kind);
    if (g->dropped)
        csm_tel_inc(g->dropped, v, 1);
    if (first)
        csm_logf(g->log, CSM_LOG_WARN,
                 "%s: generator %s made a sample with %zu labels, over "
                 "--max-labels-per-sample=%zu; such samples are dropped and counted in "
                 "crd_state_metrics_samples_dropped_total (logged once)",
                 label, generator, nlabels, max);
}

static csm_err make_genset_with(csm_genconf *g, const csm_crs *crs, const csm_resource_desc *desc,
                                csm_genset **out, char *errbuf, size_t errlen)
{
    csm_genset *gs = NULL;
    csm_err err;

    err = csm_genset_new(desc, g->filter ? csm_mfilter_admits : NULL, g->filter, &gs);
    if (err)
        return err;
    csm_genset_on_failure(gs, count_failure, g);
    csm_genset_limit_labels(gs, (size_t)g->cfg->max_labels_per_sample, count_drop, g);
    if (from_flags(g, desc->group, desc->kind))
        err = add_selected(g, gs, desc->plural, errbuf, errlen);
    if (!err && crs && config_applies(crs, desc))
        err = csm_genset_add_ctx(gs, g->builtins ? g->builtins->config : NULL, NULL, (void *)crs,
                                 errbuf, errlen);
    if (!err && crs)
        csm_genset_set_series_limit(gs, config_max_series(crs, desc));
    if (err) {
        csm_genset_free(gs);
        return err;
    }
    *out = gs;
    return CSM_OK;
}

csm_err csm_genconf_make_genset(void *ctx, const csm_resource_desc *desc, csm_genset **out,
                                char *errbuf, size_t errlen)
{
    csm_genconf *g = ctx;
    return make_genset_with(g, g->crs, desc, out, errbuf, errlen);
}

/* ---- the resource list -------------------------------------------------- */

/* --resource, then the config's concrete resources. */
static csm_err build_resources(const csm_genconf *g, const csm_crs *crs, csm_gvk **out,
                               size_t *nout, char *errbuf, size_t errlen)
{
    csm_gvk *list = NULL;
    size_t n = 0;
    csm_err err = CSM_OK;

    for (size_t i = 0; !err && i < g->cfg->nresources; i++) {
        const csm_gvk *r = &g->cfg->resources[i];
        err = csm_gvk_list_add(&list, &n, r->group, r->version, r->kind);
    }
    for (size_t i = 0; !err && i < csm_crs_resources(crs); i++) {
        const csm_crs_resource *r = csm_crs_resource_at(crs, i);
        size_t j;
        if (strcmp(r->version, "*") == 0 || strcmp(r->kind, "*") == 0)
            continue;
        for (j = 0; j < n; j++) {
            if (strcmp(list[j].group, r->group) == 0 && strcmp(list[j].kind, r->kind) == 0)
                break;
        }
        if (j == n) {
            err = csm_gvk_list_add(&list, &n, r->group, r->version, r->kind);
        } else if (strcmp(list[j].version, r->version) != 0) {
            /* One Kind under two versions would export each object twice. */
            char *text = csm_gvk_text(r->group, r->version, r->kind);
            err = text ? CSM_ERR_USAGE : CSM_ERR_NOMEM;
            if (text)
                snprintf(errbuf, errlen,
                         "%s:%d: resource %s has version %s on the command line; "
                         "configure one version per kind",
                         g->cfg->config_file, r->line, text, list[j].version);
            free(text);
        }
    }
    /* Then what discovery found for the config's wildcards, where no kind
     * of that group is listed already (the explicit entries win). */
    for (size_t i = 0; !err && i < g->ndisc; i++) {
        const csm_gvk *d = &g->disc[i];
        int wanted = 0;
        int listed = 0;
        for (size_t j = 0; j < csm_crs_resources(crs); j++)
            wanted |= csm_crs_matches(csm_crs_resource_at(crs, j), d->group, d->version, d->kind);
        for (size_t j = 0; j < n; j++)
            listed |= strcmp(list[j].group, d->group) == 0 && strcmp(list[j].kind, d->kind) == 0;
        if (wanted && !listed)
            err = csm_gvk_list_add(&list, &n, d->group, d->version, d->kind);
    }
    if (err) {
        csm_gvk_list_free(list, n);
        return err;
    }
    *out = list;
    *nout = n;
    return CSM_OK;
}

/* The config's wildcard entries, each group/version/kind once. */
static csm_err wildcards(const csm_crs *crs, csm_gvk **out, size_t *nout)
{
    csm_gvk *list = NULL;
    size_t n = 0;
    csm_err err = CSM_OK;

    for (size_t i = 0; !err && i < csm_crs_resources(crs); i++) {
        const csm_crs_resource *r = csm_crs_resource_at(crs, i);
        if (strcmp(r->version, "*") == 0 || strcmp(r->kind, "*") == 0)
            err = csm_gvk_list_add(&list, &n, r->group, r->version, r->kind);
    }
    if (err) {
        csm_gvk_list_free(list, n);
        return err;
    }
    *out = list;
    *nout = n;
    return CSM_OK;
}

/* What the config contributes to one resource, as text to compare. */
static char *fingerprint(const csm_crs *crs, const csm_gvk *r)
{
    csm_buf b;
    char *s;

    csm_buf_init(&b, 64u << 20);
    for (size_t i = 0; i < csm_crs_resources(crs); i++) {
        const csm_crs_resource *e = csm_crs_resource_at(crs, i);
        if (csm_crs_matches(e, r->group, r->version, r->kind))
            csm_buf_printf(&b, "%s\n", e->fingerprint);
    }
    s = csm_buf_steal(&b, NULL);
    return s ? s : strdup("");
}

static csm_err fingerprints(const csm_crs *crs, const csm_gvk *res, size_t n, char ***out)
{
    char **fps = calloc(n ? n : 1, sizeof(*fps));

    if (!fps)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        fps[i] = fingerprint(crs, &res[i]);
        if (!fps[i]) {
            csm_strv_free(fps, n);
            return CSM_ERR_NOMEM;
        }
    }
    *out = fps;
    return CSM_OK;
}

/*
 * Instantiates every generator for every resource, with the plural
 * guessed ("Memcached" -> "memcacheds", or the config's resourcePlural):
 * plugin init() failures, family names that clash, bad allow lists all
 * show up before anything runs.
 */
static csm_err preflight(csm_genconf *g, const csm_crs *crs, const csm_gvk *res, size_t n,
                         char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        char stem[256];
        char guess[300];
        char why[1024] = "";
        csm_resource_desc d;
        csm_genset *gs = NULL;
        csm_err err = csm_gen_stem(res[i].kind, stem, sizeof(stem));

        d.group = res[i].group;
        d.version = res[i].version;
        d.kind = res[i].kind;
        /* stem is unset when csm_gen_stem failed. */
        d.plural =
            err ? NULL
                : csm_crs_plural(crs, d.group, d.version, d.kind, stem, guess, sizeof(guess));
        d.namespaced = 1;
        d.stem = stem;
        if (!err)
            err = make_genset_with(g, crs, &d, &gs, why, sizeof(why));
        csm_genset_free(gs);
        if (err == CSM_ERR_NOMEM)
            return err;
        if (err) {
            char label[512];
            gvk_text(label, sizeof(label), d.group, d.version, d.kind);
            snprintf(errbuf, errlen, "resource %s: %s", label, why[0] ? why : csm_strerror(err));
            return CSM_ERR_USAGE;
        }
    }
    return CSM_OK;
}

/* ---- the config file ---------------------------------------------------- */

static file_sig stat_sig(const char *path)
{
    file_sig s;
    struct stat st;

    memset(&s, 0, sizeof(s));
    if (stat(path, &st) != 0)
        return s;
    s.ok = 1;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
    return s;
}

int csm_genconf_file_changed(csm_genconf *g)
{
    file_sig now;
    int changed;

    if (!g->cfg->config_file)
        return 0;
    now = stat_sig(g->cfg->config_file);
    changed = now.ok != g->sig.ok || now.dev != g->sig.dev || now.ino != g->sig.ino ||
              now.size != g->sig.size || now.mtime.tv_sec != g->sig.mtime.tv_sec ||
              now.mtime.tv_nsec != g->sig.mtime.tv_nsec;
    g->sig = now;
    return changed;
}

/* Loads the file into a new config and the resource list it gives. */
static csm_err load_config(csm_genconf *g, csm_crs **crs, csm_gvk **res, size_t *nres, char *errbuf,
                           size_t errlen)
{
    csm_err err;

    *crs = NULL;
    *res = NULL;
    *nres = 0;
    /* Taken before reading, so a change during the read is seen next time. */
    g->sig = stat_sig(g->cfg->config_file);
    err = csm_crs_load(g->cfg->config_file, crs, errbuf, errlen);
    if (err == CSM_ERR_NOMEM)
        return err;
    if (err)
        return CSM_ERR_USAGE;
    err = build_resources(g, *crs, res, nres, errbuf, errlen);
    if (!err)
        err = preflight(g, *crs, *res, *nres, errbuf, errlen);
    if (err) {
        csm_crs_unref(*crs);
        csm_gvk_list_free(*res, *nres);
        *crs = NULL;
        *res = NULL;
        *nres = 0;
    }
    return err;
}

static void log_summary(const csm_genconf *g)
{
    size_t metrics = 0;

    for (size_t i = 0; i < csm_crs_resources(g->crs); i++)
        metrics += csm_crs_resource_at(g->crs, i)->nmetrics;
    csm_logf(g->log, CSM_LOG_INFO,
             "generators: %s; %zu plugin(s); metric filter: %zu allowed, %zu denied "
             "expression(s); config: %s (%zu resource entries, %zu metrics)",
             g->cfg->generators ? g->cfg->generators : "info and every plugin",
             csm_plugins_count(g->plugins), g->cfg->metric_allowlist.n, g->cfg->metric_denylist.n,
             g->cfg->config_file ? g->cfg->config_file : "none", csm_crs_resources(g->crs),
             metrics);
}

csm_err csm_genconf_new(const csm_config *cfg, const csm_gen_table *builtins, csm_log *log,
                        csm_genconf **out, char *errbuf, size_t errlen)
{
    csm_genconf *g = calloc(1, sizeof(*g));
    const csm_config *c = cfg;
    char why[512] = "";
    csm_err err;

    if (!g)
        return CSM_ERR_NOMEM;
    g->cfg = cfg;
    g->builtins = builtins;
    g->log = log;
    err = csm_plugins_load((const char *const *)c->plugins.items, c->plugins.n, builtins,
                           &g->plugins, errbuf, errlen);
    if (err == CSM_ERR_ABI)
        err = CSM_ERR_USAGE;
    if (!err && (c->metric_allowlist.n || c->metric_denylist.n)) {
        err = csm_mfilter_new((const char *const *)c->metric_allowlist.items, c->metric_allowlist.n,
                              (const char *const *)c->metric_denylist.items, c->metric_denylist.n,
                              &g->filter, why, sizeof(why));
        if (err == CSM_ERR_INVALID) {
            snprintf(errbuf, errlen, "metric filter: %s", why);
            err = CSM_ERR_USAGE;
        }
    }
    if (!err && c->generators) {
        err = csm_reslist_parse(c->generators, 1, &g->gens, why, sizeof(why));
        if (err == CSM_ERR_INVALID) {
            snprintf(errbuf, errlen, "--generators: %s", why);
            err = CSM_ERR_USAGE;
        }
    }
    if (!err)
        err = check_generator_names(g, errbuf, errlen);
    if (!err && c->config_file)
        err = load_config(g, &g->crs, &g->res, &g->nres, errbuf, errlen);
    else if (!err)
        err = build_resources(g, NULL, &g->res, &g->nres, errbuf, errlen);
    if (!err && !c->config_file)
        err = preflight(g, NULL, g->res, g->nres, errbuf, errlen);
    if (!err)
        err = fingerprints(g->crs, g->res, g->nres, &g->fps);
    if (!err)
        err = wildcards(g->crs, &g->wild, &g->nwild);
    if (!err && g->nres == 0 && g->nwild == 0) {
        snprintf(errbuf, errlen, "%s names no resource, and there is no --resource",
                 c->config_file ? c->config_file : "the command line");
        err = CSM_ERR_USAGE;
    }
    if (err) {
        csm_genconf_free(g);
        return err;
    }
    log_summary(g);
    *out = g;
    return CSM_OK;
}

csm_err csm_genconf_register_telemetry(csm_genconf *g, csm_telemetry *tel)
{
    static const char *const res_gen[] = {"resource", "generator"};
    static const char *const res_gen_reason[] = {"resource", "generator", "reason"};
    static const char *const result[] = {"result"};
    const char *ok[1] = {"success"};
    const char *bad[1] = {"failure"};
    csm_err err;

    err = csm_tel_family_add(tel, "crd_state_metrics_generator_failures_total",
                             "Objects a generator could not fully read (a missing or mistyped "
                             "field, a rejected sample), by resource and generator.",
                             CSM_METRIC_COUNTER, 2, res_gen, &g->failures);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_samples_dropped_total",
                                 "Samples dropped by policy, by resource, generator and reason "
                                 "(too_many_labels: over --max-labels-per-sample).",
                                 CSM_METRIC_COUNTER, 3, res_gen_reason, &g->dropped);
    if (err || !g->cfg->config_file)
        return err;
    err = csm_tel_family_add(tel, "crd_state_metrics_config_reloads_total",
                             "Reloads of --config by result; a failed one keeps the old config.",
                             CSM_METRIC_COUNTER, 1, result, &g->reloads);
    if (!err)
        err = csm_tel_family_add(tel, "crd_state_metrics_config_last_reload_successful",
                                 "1 if the last load of --config succeeded, else 0.",
                                 CSM_METRIC_GAUGE, 0, NULL, &g->last_ok);
    if (!err)
        err = csm_tel_family_add(tel,
                                 "crd_state_metrics_config_last_reload_success_timestamp_seconds",
                                 "Unix time of the last successful load of --config.",
                                 CSM_METRIC_GAUGE, 0, NULL, &g->last_ok_time);
    /* Both results from the start, so that rate() sees the first one. */
    if (!err)
        err = csm_tel_inc(g->reloads, ok, 0);
    if (!err)
        err = csm_tel_inc(g->reloads, bad, 0);
    if (!err)
        err = csm_tel_set(g->last_ok, NULL, 1);
    if (!err)
        err = csm_tel_set(g->last_ok_time, NULL, (double)time(NULL));
    return err;
}

/* Where old resource i goes: KEEP or REGENERATE if the new list has it. */
static csm_genconf_action action_for(const csm_genconf *g, size_t i, const csm_gvk *res, size_t n,
                                     char *const *fps)
{
    for (size_t j = 0; j < n; j++) {
        if (strcmp(res[j].group, g->res[i].group) != 0 ||
            strcmp(res[j].version, g->res[i].version) != 0 ||
            strcmp(res[j].kind, g->res[i].kind) != 0)
            continue;
        return strcmp(fps[j], g->fps[i]) == 0 ? CSM_GENCONF_KEEP : CSM_GENCONF_REGENERATE;
    }
    return CSM_GENCONF_DROP;
}

/* Reorders the new list: the old resources that stay, in their order,
 * then the new ones. */
static csm_err reorder(const csm_genconf *g, const csm_genconf_action *act, csm_gvk *res,
                       char **fps, size_t n, csm_gvk *ores, char **ofps)
{
    char *used = calloc(n ? n : 1, 1);
    size_t k = 0;

    if (!used)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < g->nres; i++) {
        if (act[i] == CSM_GENCONF_DROP)
            continue;
        for (size_t j = 0; j < n; j++) {
            if (!used[j] && strcmp(res[j].group, g->res[i].group) == 0 &&
                strcmp(res[j].version, g->res[i].version) == 0 &&
                strcmp(res[j].kind, g->res[i].kind) == 0) {
                used[j] = 1;
                ores[k] = res[j];
                ofps[k++] = fps[j];
                break;
            }
        }
    }
    for (size_t j = 0; j < n; j++) {
        if (!used[j]) {
            ores[k] = res[j];
            ofps[k++] = fps[j];
        }
    }
    free(used);
    return CSM_OK;
}

static void count_reload(csm_genconf *g, int ok)
{
    const char *v[1] = {ok ? "success" : "failure"};
    if (!g->reloads)
        return;
    csm_tel_inc(g->reloads, v, 1);
    csm_tel_set(g->last_ok, NULL, ok);
    if (ok)
        csm_tel_set(g->last_ok_time, NULL, (double)time(NULL));
}

csm_err csm_genconf_reload(csm_genconf *g, csm_genconf_action **actions, size_t *nold, char *errbuf,
                           size_t errlen)
{
    csm_crs *crs = NULL;
    csm_gvk *res = NULL;
    size_t n = 0;
    char **fps = NULL;
    csm_genconf_action *act = NULL;
    csm_gvk *ores = NULL;
    char **ofps = NULL;
    csm_gvk *wild = NULL;
    size_t nwild = 0;
    csm_err err;

    if (!g->cfg->config_file)
        return CSM_ERR_INVALID;
    err = load_config(g, &crs, &res, &n, errbuf, errlen);
    if (!err)
        err = fingerprints(crs, res, n, &fps);
    if (!err)
        err = wildcards(crs, &wild, &nwild);
    if (!err) {
        act = calloc(g->nres ? g->nres : 1, sizeof(*act));
        ores = calloc(n ? n : 1, sizeof(*ores));
        ofps = calloc(n ? n : 1, sizeof(*ofps));
        if (!act || !ores || !ofps)
            err = CSM_ERR_NOMEM;
    }
    for (size_t i = 0; !err && i < g->nres; i++)
        act[i] = action_for(g, i, res, n, fps);
    if (!err)
        err = reorder(g, act, res, fps, n, ores, ofps);
    count_reload(g, !err);
    if (err) {
        if (err == CSM_ERR_NOMEM)
            snprintf(errbuf, errlen, "out of memory");
        csm_crs_unref(crs);
        csm_gvk_list_free(res, n);
        csm_strv_free(fps, n);
        csm_gvk_list_free(wild, nwild);
        free(act);
        free(ores);
        free(ofps);
        return err;
    }
    /* The entries moved into ores/ofps; only the arrays go. */
    free(res);
    free(fps);
    csm_crs_unref(g->crs);
    csm_gvk_list_free(g->res, g->nres);
    csm_strv_free(g->fps, g->nres);
    g->crs = crs;
    csm_gvk_list_free(g->wild, g->nwild);
    g->wild = wild;
    g->nwild = nwild;
    *nold = g->nres;
    g->res = ores;
    g->fps = ofps;
    g->nres = n;
    *actions = act;
    log_summary(g);
    return CSM_OK;
}

csm_err csm_genconf_discovered(csm_genconf *g, const csm_gvk *found, size_t n, size_t *first_new)
{
    csm_gvk *disc = NULL;
    size_t ndisc = 0;
    csm_gvk *res = NULL;
    size_t nres = 0;
    char errbuf[512];
    csm_err err = CSM_OK;

    *first_new = g->nres;
    for (size_t i = 0; !err && i < n; i++)
        err = csm_gvk_list_add(&disc, &ndisc, found[i].group, found[i].version, found[i].kind);
    if (err) {
        csm_gvk_list_free(disc, ndisc);
        return err;
    }
    csm_gvk_list_free(g->disc, g->ndisc);
    g->disc = disc;
    g->ndisc = ndisc;
    /* The list as a reload would build it; append what is new. */
    err = build_resources(g, g->crs, &res, &nres, errbuf, sizeof(errbuf));
    for (size_t i = 0; !err && i < nres; i++) {
        size_t j;
        csm_gvk *nl;
        char **nf;
        for (j = 0; j < g->nres; j++) {
            if (strcmp(g->res[j].group, res[i].group) == 0 &&
                strcmp(g->res[j].kind, res[i].kind) == 0)
                break;
        }
        if (j < g->nres)
            continue;
        nl = realloc(g->res, (g->nres + 1) * sizeof(*nl));
        if (!nl) {
            err = CSM_ERR_NOMEM;
            break;
        }
        g->res = nl;
        nf = realloc(g->fps, (g->nres + 1) * sizeof(*nf));
        if (!nf) {
            err = CSM_ERR_NOMEM;
            break;
        }
        g->fps = nf;
        nf[g->nres] = fingerprint(g->crs, &res[i]);
        if (!nf[g->nres]) {
            err = CSM_ERR_NOMEM;
            break;
        }
        /* Moved: res[i] is not freed below. */
        nl[g->nres++] = res[i];
        memset(&res[i], 0, sizeof(res[i]));
    }
    csm_gvk_list_free(res, nres);
    return err;
}
