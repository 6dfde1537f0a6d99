/*
 * Plugins: the example plugin (generators/examples) through the whole ABI,
 * and the plugins in tests/plugins built to fail: each gives a clear error
 * and none crashes the process. This executable is linked with
 * export_dynamic, as the exporter is, so plugins find csm_* in it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generators/builtin.h"
#include "check_main.h"
#include "render/gen.h"
#include "gentest.h"
#include "render/plugin.h"

static const char obj_json[] =
    "{\"apiVersion\":\"cache.example.com/v1\",\"kind\":\"Memcached\","
    "\"metadata\":{\"name\":\"mc\",\"namespace\":\"default\",\"uid\":\"u-1\","
    "\"labels\":{\"app.kubernetes.io/name\":\"memcached\",\"tier\":\"cache\"},"
    "\"annotations\":{\"note\":\"hello\",\"owner\":\"team-a\"}},"
    "\"spec\":{\"replicas\":3,\"paused\":false},"
    "\"status\":{\"phase\":\"Running\",\"restarts\":2,\"conditions\":["
    "{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"2024-01-02T03:04:05Z\"},"
    "{\"type\":\"Degraded\",\"status\":\"False\","
    "\"lastTransitionTime\":\"2024-01-02T03:04:06.5+01:00\"}]}}";

static csm_err load(const char *file, csm_plugins **ps, char *err, size_t errlen)
{
    char path[1024];
    const char *paths[1] = {path};
    snprintf(path, sizeof(path), "%s/%s", CSM_TEST_PLUGIN_DIR, file);
    return csm_plugins_load(paths, 1, csm_gen_builtin_table(), ps, err, errlen);
}

static csm_genset *genset_with(const csm_generator *g, char *err, size_t errlen, csm_err *rc)
{
    csm_resource_desc d = {"cache.example.com", "v1", "Memcached", "memcacheds", 1, "memcached"};
    csm_genset *gs = NULL;
    ck_assert_int_eq(csm_genset_new(&d, NULL, NULL, &gs), CSM_OK);
    *rc = csm_genset_add(gs, g, NULL, err, errlen);
    return gs;
}

START_TEST(test_example_plugin_whole_abi)
{
    const char *paths[1] = {CSM_EXAMPLE_PLUGIN};
    csm_plugins *ps = NULL;
    csm_genset *gs;
    char err[512] = "";
    size_t failures = 9;
    char *diag;
    char *text;
    csm_err rc;

    ck_assert_msg(csm_plugins_load(paths, 1, csm_gen_builtin_table(), &ps, err, sizeof(err)) ==
                      CSM_OK,
                  "%s", err);
    ck_assert_uint_eq(csm_plugins_count(ps), 1);
    ck_assert_str_eq(csm_plugins_at(ps, 0)->name, "example");
    ck_assert_str_eq(csm_plugins_path(ps, 0), CSM_EXAMPLE_PLUGIN);
    ck_assert_ptr_eq(csm_plugins_find(ps, "example"), csm_plugins_at(ps, 0));
    ck_assert_ptr_null(csm_plugins_find(ps, "info"));
    ck_assert_ptr_null(csm_plugins_at(ps, 1));

    gs = genset_with(csm_plugins_find(ps, "example"), err, sizeof(err), &rc);
    ck_assert_msg(rc == CSM_OK, "%s", err);
    ck_assert_uint_eq(csm_genset_families(gs), 8);
    ck_assert_int_eq(csm_genset_family(gs, 0)->type, CSM_METRIC_INFO);
    ck_assert_int_eq(csm_genset_family(gs, 3)->type, CSM_METRIC_COUNTER);
    ck_assert_int_eq(csm_genset_family(gs, 4)->type, CSM_METRIC_STATESET);
    text = gentest_render(gs, obj_json, &failures, &diag);
#define B "namespace=\"default\",memcached=\"mc\""
    ck_assert_str_eq(text, "memcached_example_info{" B
                           ",uid=\"u-1\",phase=\"Running\",app=\"memcached\"} 1\n"
                           "memcached_example_replicas{" B "} 3\n"
                           "memcached_example_paused{" B "} 0\n"
                           "memcached_example_restarts_total{" B "} 2\n"
                           "memcached_example_phase{" B ",memcached_example_phase=\"Pending\"} 0\n"
                           "memcached_example_phase{" B ",memcached_example_phase=\"Running\"} 1\n"
                           "memcached_example_phase{" B ",memcached_example_phase=\"Failed\"} 0\n"
                           "memcached_example_condition_transition_timestamp_seconds{" B
                           ",type=\"Ready\"} 1704164645\n"
                           "memcached_example_condition_transition_timestamp_seconds{" B
                           ",type=\"Degraded\"} 1704161046.5\n"
                           "memcached_example_label_keys{" B "} 2\n"
                           "memcached_example_annotation_bytes{" B ",annotation=\"note\"} 5\n"
                           "memcached_example_annotation_bytes{" B ",annotation=\"owner\"} 6\n");
#undef B
    ck_assert_uint_eq(failures, 0);
    ck_assert_str_eq(diag, "");
    free(text);
    free(diag);

    /* A sparse object: what is there is emitted; a wrong type is an error. */
    text = gentest_render(gs,
                          "{\"metadata\":{\"name\":\"bare\"},\"spec\":{\"replicas\":\"three\"},"
                          "\"status\":{\"conditions\":{}}}",
                          &failures, &diag);
    ck_assert_str_eq(text,
                     "memcached_example_info{memcached=\"bare\",uid=\"\",phase=\"\",app=\"\"} 1\n");
    ck_assert_uint_eq(failures, 1);
    ck_assert_str_eq(diag, "example: wrong type\n");
    free(text);
    free(diag);
    csm_genset_free(gs);
    csm_plugins_free(ps);
}
END_TEST

static void load_fails(const char *file, const char *want)
{
    csm_plugins *ps = (csm_plugins *)0x1;
    char err[1024] = "";

    ck_assert_int_eq(load(file, &ps, err, sizeof(err)), CSM_ERR_ABI);
    ck_assert_ptr_eq(ps, (csm_plugins *)0x1);
    ck_assert_msg(strstr(err, want) != NULL, "\"%s\" lacks \"%s\"", err, want);
    ck_assert_msg(strncmp(err, CSM_TEST_PLUGIN_DIR, strlen(CSM_TEST_PLUGIN_DIR)) == 0,
                  "\"%s\" does not start with the file", err);
}

START_TEST(test_load_failures)
{
    load_fails("nosym.so", "nosym.so: no csm_generator_entry symbol: not a crd-state-metrics "
                           "generator plugin");
    load_fails("badabi.so", "badabi.so: generator speaks ABI version 99, this exporter speaks 1; "
                            "rebuild it against this version's include/csm/generator.h");
    load_fails("nogenerate.so", "nogenerate.so: generator \"nogenerate\" has no generate function");
    load_fails("missing.so", "missing.so: cannot load: ");
    /* Not a shared object at all. */
    load_fails("meson.build", "meson.build: cannot load: ");
}
END_TEST

START_TEST(test_names_must_be_unique)
{
    char path[1024];
    const char *paths[3] = {CSM_EXAMPLE_PLUGIN, path, CSM_EXAMPLE_PLUGIN};
    csm_plugins *ps = NULL;
    char err[1024] = "";

    snprintf(path, sizeof(path), "%s/badname.so", CSM_TEST_PLUGIN_DIR);
    ck_assert_int_eq(csm_plugins_load(paths, 3, csm_gen_builtin_table(), &ps, err, sizeof(err)),
                     CSM_ERR_ABI);
    ck_assert_ptr_null(ps);
    ck_assert_ptr_nonnull(strstr(err, "example.so: generator name \"example\" is taken by "));
    ck_assert_int_eq(csm_plugins_load(paths, 2, csm_gen_builtin_table(), &ps, err, sizeof(err)),
                     CSM_OK);
    ck_assert_uint_eq(csm_plugins_count(ps), 2);
    csm_plugins_free(ps);
    csm_plugins_free(NULL);
    ck_assert_int_eq(csm_plugins_load(NULL, 0, csm_gen_builtin_table(), &ps, err, sizeof(err)),
                     CSM_OK);
    ck_assert_uint_eq(csm_plugins_count(ps), 0);
    csm_plugins_free(ps);
}
END_TEST

START_TEST(test_init_failure)
{
    csm_plugins *ps = NULL;
    csm_genset *gs;
    char err[512] = "";
    csm_err rc;

    ck_assert_int_eq(load("initfail.so", &ps, err, sizeof(err)), CSM_OK);
    gs = genset_with(csm_plugins_at(ps, 0), err, sizeof(err), &rc);
    ck_assert_int_eq(rc, CSM_ERR_INVALID);
    ck_assert_str_eq(err, "generator initfail for Memcached: invalid argument");
    ck_assert_uint_eq(csm_genset_families(gs), 0);
    csm_genset_free(gs);
    csm_plugins_free(ps);
}
END_TEST

START_TEST(test_invalid_samples_dropped_and_counted)
{
    csm_plugins *ps = NULL;
    csm_genset *gs;
    char err[512] = "";
    size_t failures = 0;
    char *diag;
    char *text;
    csm_err rc;

    ck_assert_int_eq(load("badname.so", &ps, err, sizeof(err)), CSM_OK);
    gs = genset_with(csm_plugins_at(ps, 0), err, sizeof(err), &rc);
    ck_assert_int_eq(rc, CSM_OK);
    text = gentest_render(gs, obj_json, &failures, &diag);
    /* The valid samples stay; the invalid ones are gone without a trace. */
    ck_assert_str_eq(text, "badname_samples{kind=\"x\"} 1\nbadname_samples 6\n");
    /* One generator failed on the object: counted once. */
    ck_assert_uint_eq(failures, 1);
    ck_assert_str_eq(diag, "badname: sample of badname_samples rejected: invalid label name or "
                           "duplicate label\n"
                           "badname: sample of badname_samples rejected: invalid label name or "
                           "duplicate label\n"
                           "badname: sample of badname_samples rejected: invalid label name or "
                           "duplicate label\n"
                           "badname: sample rejected: no such family\n");
    free(text);
    free(diag);
    csm_genset_free(gs);
    csm_plugins_free(ps);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plugin");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_example_plugin_whole_abi);
    tcase_add_test(tc, test_load_failures);
    tcase_add_test(tc, test_names_must_be_unique);
    tcase_add_test(tc, test_init_failure);
    tcase_add_test(tc, test_invalid_samples_dropped_and_counted);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
