/*
 * The generator configuration: start-up checks with the exporter's exit
 * status in mind, which generators each resource gets, and --config
 * reloads (what stays, what relists, what goes, what comes).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "generators/builtin.h"
#include "check_main.h"
#include "flags.h"
#include "render/genconf.h"
#include "serve/telemetry.h"

/* The --config file, in a directory of its own that main() makes
 * (mkdtemp) and removes, so that concurrent runs do not share it. */
static char cfg_dir[256];
static char cfg_path[300];

/* cfg_path followed by rest (the start of an error message about it). */
static const char *at_cfg(const char *rest)
{
    static char msg[1024];

    ck_assert_int_lt(snprintf(msg, sizeof(msg), "%s%s", cfg_path, rest), (int)sizeof(msg));
    return msg;
}

static csm_config cfg;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Parses flags ("prog" first), NULL-terminated. */
static void flags(const char *first, ...)
{
    const char *argv[40] = {"prog", first};
    int argc = 2;
    char err[256];
    va_list ap;

    va_start(ap, first);
    for (;;) {
        const char *a = va_arg(ap, const char *);
        if (!a)
            break;
        argv[argc++] = a;
    }
    va_end(ap);
    ck_assert_msg(csm_flags_parse(argc, (char **)argv, &cfg, err, sizeof(err)) == CSM_OK, "%s",
                  err);
}

static void teardown(void)
{
    csm_config_free(&cfg);
    unlink(cfg_path);
}

static csm_genconf *make(void)
{
    csm_genconf *g = NULL;
    char err[1024] = "";
    ck_assert_msg(csm_genconf_new(&cfg, csm_gen_builtin_table(), NULL, &g, err, sizeof(err)) ==
                      CSM_OK,
                  "%s", err);
    return g;
}

static void make_fails(const char *want)
{
    csm_genconf *g = (csm_genconf *)0x1;
    char err[1024] = "";
    ck_assert_int_eq(csm_genconf_new(&cfg, csm_gen_builtin_table(), NULL, &g, err, sizeof(err)),
                     CSM_ERR_USAGE);
    ck_assert_ptr_eq(g, (csm_genconf *)0x1);
    ck_assert_msg(strstr(err, want) != NULL, "\"%s\" lacks \"%s\"", err, want);
}

/* The family names of the set made for a resource, comma-separated. */
static char *families(csm_genconf *g, const char *group, const char *version, const char *kind,
                      const char *plural)
{
    char stem[128];
    csm_resource_desc d = {group, version, kind, plural, 1, stem};
    csm_genset *gs = NULL;
    char err[512] = "";
    csm_buf b;
    char *s;

    ck_assert_int_eq(csm_gen_stem(kind, stem, sizeof(stem)), CSM_OK);
    ck_assert_msg(csm_genconf_make_genset(g, &d, &gs, err, sizeof(err)) == CSM_OK, "%s", err);
    csm_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < csm_genset_families(gs); i++)
        csm_buf_printf(&b, "%s%s", i ? "," : "", csm_genset_family(gs, i)->name);
    s = strdup(csm_buf_str(&b));
    csm_buf_free(&b);
    csm_genset_free(gs);
    return s;
}

static void expect_families(csm_genconf *g, const char *gvk, const char *plural, const char *want)
{
    char group[64] = "";
    char version[64];
    char kind[64];
    char *got;

    ck_assert_int_eq(sscanf(gvk, "%63[^/]/%63[^/]/%63s", group, version, kind), 3);
    got = families(g, group, version, kind, plural);
    ck_assert_str_eq(got, want);
    free(got);
}

static const char *const two_resources =
    "kind: CustomResourceStateMetrics\n"
    "spec:\n"
    "  resources:\n"
    "  - groupVersionKind: {group: cache.example.com, version: v1, kind: Memcached}\n"
    "    metrics:\n"
    "    - {name: size, each: {type: Gauge, gauge: {path: [spec, size]}}}\n"
    "  - groupVersionKind: {group: example.com, version: v1, kind: Thing}\n"
    "    metrics:\n"
    "    - {name: thing, each: {type: Info, info: {labelsFromPath: {n: [metadata, name]}}}}\n"
    "  - groupVersionKind: {group: cache.example.com, version: \"*\", kind: \"*\"}\n"
    "    metricNamePrefix: any\n"
    "    metrics:\n"
    "    - {name: seen, each: {type: Gauge, gauge: {path: [x], nilIsZero: true}}}\n";

START_TEST(test_default_is_info)
{
    csm_genconf *g;
    const csm_gvk *res;
    size_t n;

    flags("--resource", "cache.example.com/v1/Memcached", NULL);
    g = make();
    res = csm_genconf_resources(g, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(res[0].kind, "Memcached");
    ck_assert(!csm_genconf_has_file(g));
    ck_assert(!csm_genconf_file_changed(g));
    expect_families(g, "cache.example.com/v1/Memcached", "memcacheds", "memcached_info");
    csm_genconf_free(g);
    csm_genconf_free(NULL);
}
END_TEST

START_TEST(test_selection_per_resource_and_filter)
{
    csm_genconf *g;

    flags("--resource", "cache.example.com/v1/Memcached,example.com/v1/Thing", "--generators",
          "memcacheds=[info,labels,status],*=[created]", "--metric-denylist",
          "memcached_status_condition", "--metric-labels-allowlist", "memcacheds=[app]", NULL);
    g = make();
    expect_families(g, "cache.example.com/v1/Memcached", "memcacheds",
                    "memcached_info,memcached_labels,memcached_metadata_generation,"
                    "memcached_status_observed_generation");
    expect_families(g, "example.com/v1/Thing", "things", "thing_created");
    csm_genconf_free(g);
    csm_config_free(&cfg);

    /* An allow list admits only what matches. */
    flags("--resource", "example.com/v1/Thing", "--generators", "info,created,status",
          "--metric-allowlist", "thing_(info|created)", NULL);
    g = make();
    expect_families(g, "example.com/v1/Thing", "things", "thing_info,thing_created");
    csm_genconf_free(g);
}
END_TEST

START_TEST(test_config_resources)
{
    csm_genconf *g;
    const csm_gvk *res;
    size_t n;

    write_file(cfg_path, two_resources);
    flags("--resource", "cache.example.com/v1/Memcached", "--resource",
          "cache.example.com/v2/Other", "--config", cfg_path, "--generators", "info,status", NULL);
    g = make();
    ck_assert(csm_genconf_has_file(g));
    /* --resource first; the config adds Thing, not the wildcard entry. */
    res = csm_genconf_resources(g, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(res[1].kind, "Other");
    ck_assert_str_eq(res[2].kind, "Thing");
    /* A --resource gets --generators and the config entries that match. */
    expect_families(g, "cache.example.com/v1/Memcached", "memcacheds",
                    "memcached_info,memcached_status_condition,memcached_metadata_generation,"
                    "memcached_status_observed_generation,kube_customresource_size,any_seen");
    expect_families(g, "cache.example.com/v2/Other", "others",
                    "other_info,other_status_condition,other_metadata_generation,"
                    "other_status_observed_generation,any_seen");
    /* A resource only the config names gets only its config metrics. */
    expect_families(g, "example.com/v1/Thing", "things", "kube_customresource_thing");
    csm_genconf_free(g);
}
END_TEST

START_TEST(test_startup_errors)
{
    flags("--resource", "v1/A", "--generators", "info,nope", NULL);
    make_fails("--generators: unknown generator \"nope\" (built-in: info, labels, annotations, "
               "created, status, lifecycle)");
    csm_config_free(&cfg);

    flags("--resource", "v1/A", "--generator-plugin", "/nonexistent/x.so", NULL);
    make_fails("/nonexistent/x.so: cannot load: ");
    csm_config_free(&cfg);

    flags("--resource", "v1/A", "--config", "/nonexistent.yaml", NULL);
    make_fails("/nonexistent.yaml: No such file or directory");
    csm_config_free(&cfg);

    write_file(cfg_path, "spec:\n  resources:\n  - groupVersionKind: {group: g.io, version: v1}\n");
    flags("--config", cfg_path, NULL);
    make_fails(at_cfg(":3:23: spec.resources[0].groupVersionKind: needs a version and a kind"));
    csm_config_free(&cfg);

    /* One kind, two versions: the command line and the config disagree. */
    write_file(cfg_path, two_resources);
    flags("--resource", "cache.example.com/v2/Memcached", "--config", cfg_path, NULL);
    make_fails(at_cfg(":4: resource cache.example.com/v1/Memcached has version v2 on the command "
                      "line; configure one version per kind"));
    csm_config_free(&cfg);

    /* A config metric that clashes with a built-in family. */
    write_file(cfg_path,
               "spec:\n  resources:\n  - groupVersionKind: {group: g.io, version: v1, kind: A}\n"
               "    metricNamePrefix: a\n"
               "    metrics: [{name: info, each: {type: Info, info: {}}}]\n");
    flags("--resource", "g.io/v1/A", "--config", cfg_path, NULL);
    make_fails("resource g.io/v1/A: generator config for A: invalid argument");
    csm_config_free(&cfg);

    /* No resource at all. */
    write_file(cfg_path, "spec:\n  resources: []\n");
    flags("--config", cfg_path, NULL);
    make_fails(at_cfg(" names no resource, and there is no --resource"));
}
END_TEST

static csm_genconf_action *reload_ok(csm_genconf *g, size_t *nold)
{
    csm_genconf_action *act = NULL;
    char err[1024] = "";
    ck_assert_msg(csm_genconf_reload(g, &act, nold, err, sizeof(err)) == CSM_OK, "%s", err);
    return act;
}

START_TEST(test_wildcards_resolved_by_discovery)
{
    static const csm_gvk found[] = {{"gen.example.com", "v1", "Widget"},
                                    {"gen.example.com", "v1", "Gadget"},
                                    {"other.io", "v1", "Thing"}};
    csm_genconf_action *act;
    csm_genconf *g;
    const csm_gvk *res;
    const csm_gvk *wild;
    size_t first;
    size_t nold;
    size_t n;

    /* Wildcards (one of them twice) and a --resource. */
    write_file(cfg_path,
               "spec:\n  resources:\n"
               "  - groupVersionKind: {group: gen.example.com, version: \"*\", kind: \"*\"}\n"
               "    metrics: [{name: seen, each: {type: Gauge, gauge: {path: [x], "
               "nilIsZero: true}}}]\n"
               "  - groupVersionKind: {group: gen.example.com, version: \"*\", kind: Widget}\n"
               "  - groupVersionKind: {group: gen.example.com, version: \"*\", kind: \"*\"}\n");
    flags("--config", cfg_path, "--resource", "gen.example.com/v2/Gadget", NULL);
    g = make();
    wild = csm_genconf_wildcards(g, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(wild[0].kind, "*");
    ck_assert_str_eq(wild[1].kind, "Widget");
    csm_genconf_resources(g, &n);
    ck_assert_uint_eq(n, 1);

    /* Widget is new; Gadget is on the command line already (its v2 wins);
     * other.io matches no wildcard. */
    ck_assert_int_eq(csm_genconf_discovered(g, found, 3, &first), CSM_OK);
    res = csm_genconf_resources(g, &n);
    ck_assert_uint_eq(first, 1);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(res[1].kind, "Widget");
    expect_families(g, "gen.example.com/v1/Widget", "widgets", "kube_customresource_seen");
    expect_families(g, "gen.example.com/v2/Gadget", "gadgets",
                    "gadget_info,kube_customresource_seen");
    /* The same round again adds nothing. */
    ck_assert_int_eq(csm_genconf_discovered(g, found, 3, &first), CSM_OK);
    ck_assert_uint_eq(first, 2);
    csm_genconf_resources(g, &n);
    ck_assert_uint_eq(n, 2);

    /* A reload that keeps the wildcard keeps Widget; one without drops it. */
    act = reload_ok(g, &nold);
    ck_assert_uint_eq(nold, 2);
    ck_assert_int_eq(act[0], CSM_GENCONF_KEEP);
    ck_assert_int_eq(act[1], CSM_GENCONF_KEEP);
    free(act);
    write_file(cfg_path, "spec:\n  resources: []\n");
    act = reload_ok(g, &nold);
    ck_assert_int_eq(act[0], CSM_GENCONF_REGENERATE);
    ck_assert_int_eq(act[1], CSM_GENCONF_DROP);
    free(act);
    csm_genconf_wildcards(g, &n);
    ck_assert_uint_eq(n, 0);
    csm_genconf_free(g);
}
END_TEST

START_TEST(test_reload_actions_and_order)
{
    csm_telemetry *tel = csm_telemetry_new();
    csm_genconf_action *act;
    csm_genconf *g;
    const csm_gvk *res;
    size_t nold;
    size_t n;
    char err[1024] = "";

    write_file(cfg_path, two_resources);
    flags("--resource", "cache.example.com/v1/Memcached", "--resource", "example.com/v1/Plain",
          "--config", cfg_path, NULL);
    g = make();
    ck_assert_int_eq(csm_genconf_register_telemetry(g, tel), CSM_OK);
    res = csm_genconf_resources(g, &n);
    ck_assert_uint_eq(n, 3); /* Memcached, Plain, Thing */

    /* The same file again: nothing to do. */
    act = reload_ok(g, &nold);
    ck_assert_uint_eq(nold, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(act[i], CSM_GENCONF_KEEP);
    free(act);

    /* Memcached's metric changes, Thing goes, Extra comes; Plain is not in
     * the config and stays as it is. */
    write_file(cfg_path,
               "spec:\n  resources:\n"
               "  - groupVersionKind: {group: extra.io, version: v1, kind: Extra}\n"
               "    metrics: [{name: e, each: {type: Gauge, gauge: {path: [x]}}}]\n"
               "  - groupVersionKind: {group: cache.example.com, version: v1, kind: Memcached}\n"
               "    metrics: [{name: size2, each: {type: Gauge, gauge: {path: [spec, size]}}}]\n");
    act = reload_ok(g, &nold);
    ck_assert_uint_eq(nold, 3);
    ck_assert_int_eq(act[0], CSM_GENCONF_REGENERATE);
    ck_assert_int_eq(act[1], CSM_GENCONF_KEEP);
    ck_assert_int_eq(act[2], CSM_GENCONF_DROP);
    free(act);
    res = csm_genconf_resources(g, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(res[0].kind, "Memcached");
    ck_assert_str_eq(res[1].kind, "Plain");
    ck_assert_str_eq(res[2].kind, "Extra");
    expect_families(g, "cache.example.com/v1/Memcached", "memcacheds",
                    "memcached_info,kube_customresource_size2");

    /* A broken file: rejected, the old config stays, failure counted. */
    write_file(cfg_path,
               "spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, "
               "kind: X}\n    metrics: [{name: bad-name, each: {type: Gauge, gauge: {}}}]\n");
    ck_assert_int_eq(csm_genconf_reload(g, &act, &nold, err, sizeof(err)), CSM_ERR_USAGE);
    ck_assert_str_eq(err, at_cfg(":4:22: spec.resources[0].metrics[0].name: "
                                 "\"kube_customresource_bad-name\" is not a valid metric name "
                                 "([a-zA-Z_:][a-zA-Z0-9_:]*)"));
    res = csm_genconf_resources(g, &n);
    ck_assert_uint_eq(n, 3);
    expect_families(g, "cache.example.com/v1/Memcached", "memcacheds",
                    "memcached_info,kube_customresource_size2");
    {
        csm_tel_family *f = NULL;
        static const char *const result[] = {"result"};
        const char *ok[1] = {"success"};
        const char *bad[1] = {"failure"};
        /* Registering again returns the family already there. */
        ck_assert_int_eq(csm_tel_family_add(tel, "crd_state_metrics_config_reloads_total",
                                            "Reloads of --config by result; a failed one keeps "
                                            "the old config.",
                                            CSM_METRIC_COUNTER, 1, result, &f),
                         CSM_OK);
        ck_assert_double_eq(csm_tel_get(f, ok), 2);
        ck_assert_double_eq(csm_tel_get(f, bad), 1);
        ck_assert_int_eq(csm_tel_family_add(tel, "crd_state_metrics_config_last_reload_successful",
                                            "1 if the last load of --config succeeded, else 0.",
                                            CSM_METRIC_GAUGE, 0, NULL, &f),
                         CSM_OK);
        ck_assert_double_eq(csm_tel_get(f, NULL), 0);
    }
    csm_genconf_free(g);
    csm_telemetry_free(tel);
}
END_TEST

START_TEST(test_file_changes)
{
    csm_genconf *g;
    char fresh[320];

    write_file(cfg_path, two_resources);
    flags("--config", cfg_path, NULL);
    g = make();
    ck_assert(!csm_genconf_file_changed(g));
    /* Replaced by rename, as a ConfigMap update swaps a symlink: a new
     * inode even with the same size and time. */
    snprintf(fresh, sizeof(fresh), "%s.new", cfg_path);
    write_file(fresh, two_resources);
    ck_assert_int_eq(rename(fresh, cfg_path), 0);
    ck_assert(csm_genconf_file_changed(g));
    ck_assert(!csm_genconf_file_changed(g));
    /* Gone, then back. */
    unlink(cfg_path);
    ck_assert(csm_genconf_file_changed(g));
    ck_assert(!csm_genconf_file_changed(g));
    write_file(cfg_path, two_resources);
    ck_assert(csm_genconf_file_changed(g));
    csm_genconf_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("genconf");
    TCase *tc = tcase_create("core");

    int rc;

    if (csm_check_tmpdir(cfg_dir, sizeof(cfg_dir), "check-genconf-") != 0) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    snprintf(cfg_path, sizeof(cfg_path), "%s/config.yaml", cfg_dir);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_default_is_info);
    tcase_add_test(tc, test_selection_per_resource_and_filter);
    tcase_add_test(tc, test_config_resources);
    tcase_add_test(tc, test_startup_errors);
    tcase_add_test(tc, test_wildcards_resolved_by_discovery);
    tcase_add_test(tc, test_reload_actions_and_order);
    tcase_add_test(tc, test_file_changes);
    suite_add_tcase(s, tc);
    rc = csm_check_run(s);
    unlink(cfg_path);
    rmdir(cfg_dir);
    return rc;
}
