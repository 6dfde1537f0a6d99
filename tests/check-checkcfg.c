/*
 * check-config end to end, in-process: the examples of kube-state-metrics'
 * Custom Resource State documentation (tests/data/crs, see its README) give
 * the series the documentation shows, and bad input gives clear errors.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "checkcfg.h"

typedef struct result {
    int rc;
    char *out;
    char *err;
} result;

static result run(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5)
{
    const char *args[] = {"check-config", a1, a2, a3, a4, a5, NULL};
    int argc = 1;
    result r;
    size_t olen;
    size_t elen;
    FILE *out = open_memstream(&r.out, &olen);
    FILE *err = open_memstream(&r.err, &elen);

    while (args[argc])
        argc++;
    r.rc = csm_checkcfg_main(argc, (char **)args, out, err);
    fclose(out);
    fclose(err);
    return r;
}

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

/* check-config CONFIG --object OBJECT prints exactly EXPECTED. */
static void expect_doc(const char *config, const char *object, const char *expected)
{
    char c[256];
    char o[256];
    char e[256];
    char *want;
    result r;

    snprintf(c, sizeof(c), "data/crs/%s", config);
    snprintf(o, sizeof(o), "data/crs/%s", object);
    snprintf(e, sizeof(e), "data/crs/%s", expected);
    want = slurp(e);
    r = run(c, "--object", o, NULL, NULL);
    ck_assert_msg(r.rc == 0, "%s: exit %d: %s", config, r.rc, r.err);
    ck_assert_str_eq(r.out, want);
    ck_assert_str_eq(r.err, "");
    free(want);
    result_free(&r);
}

START_TEST(test_doc_single_value)
{
    expect_doc("single.yaml", "foo.yaml", "single.prom");
}
END_TEST

START_TEST(test_doc_kitchen_sink)
{
    expect_doc("kitchensink.yaml", "foo.yaml", "kitchensink.prom");
}
END_TEST

START_TEST(test_doc_non_map_arrays)
{
    expect_doc("arrays.yaml", "foo.yaml", "arrays.prom");
}
END_TEST

START_TEST(test_doc_same_metric_different_labels)
{
    expect_doc("vpa-same-name.yaml", "vpa.yaml", "vpa-same-name.prom");
}
END_TEST

START_TEST(test_doc_vpa_target)
{
    expect_doc("vpa-target.yaml", "hamster.yaml", "vpa-target.prom");
}
END_TEST

START_TEST(test_doc_status_conditions)
{
    expect_doc("conditions.yaml", "conditions-object.yaml", "conditions.prom");
}
END_TEST

START_TEST(test_doc_stateset_info_naming)
{
    expect_doc("stateset.yaml", "foo.yaml", "stateset.prom");
    expect_doc("info.yaml", "foo.yaml", "info.prom");
    expect_doc("prefix.yaml", "foo.yaml", "prefix.prom");
    expect_doc("noprefix.yaml", "foo.yaml", "noprefix.prom");
}
END_TEST

START_TEST(test_doc_wildcards)
{
    expect_doc("wildcard.yaml", "wildcard-foo.yaml", "wildcard-foo.prom");
    expect_doc("wildcard.yaml", "wildcard-bar.yaml", "wildcard-bar.prom");
}
END_TEST

START_TEST(test_doc_all_vpa_metrics)
{
    /* The big example loads; its series are those of the parts above. The
     * object has no spec.updatePolicy, which kube-state-metrics reports as
     * an error too (the path is not under status). */
    result r = run("data/crs/vpa-all.yaml", "--object", "data/crs/hamster.yaml", NULL, NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(
        strstr(r.out, "kube_verticalpodautoscaler_spec_resourcepolicy_container_policies_"
                      "maxallowed_memory{container=\"*\",customresource_group=\"autoscaling.k8s."
                      "io\",customresource_kind=\"VerticalPodAutoscaler\",customresource_version="
                      "\"v1\",namespace=\"default\",resource=\"memory\",target_api_version="
                      "\"apps/v1\",target_kind=\"Deployment\",target_name=\"hamster\",unit="
                      "\"byte\",verticalpodautoscaler=\"hamster-vpa\"} 524288000\n"));
    ck_assert_ptr_nonnull(strstr(r.err, "hamster-vpa: config: "
                                        "kube_verticalpodautoscaler_spec_updatepolicy_updatemode: "
                                        "path [spec,updatePolicy,updateMode]"));
    result_free(&r);
}
END_TEST

START_TEST(test_readme_example)
{
    /* README.md's worked example; the values checked by hand: 64Mi is
     * 67108864, 2024-05-01T10:00:00Z is 1714557600. */
    char *want = slurp("data/crs/readme-example.prom");
    result r = run("../generators/examples/memcached-config.yaml", "--object",
                   "../generators/examples/memcached.yaml", NULL, NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.out, want);
    ck_assert_ptr_nonnull(strstr(r.out, "} 67108864\n"));
    ck_assert_ptr_nonnull(strstr(r.out, ",type=\"Ready\"} 1714557600\n"));
    free(want);
    result_free(&r);
}
END_TEST

START_TEST(test_json_object_list_and_resource_flag)
{
    char path[256];
    FILE *f = csm_check_tmpfile(path, sizeof(path), "csm-checkcfg-list-", ".json");
    result r;

    ck_assert_ptr_nonnull(f);
    /* kubectl get -o json: a List; a JSON object needs no YAML. */
    fputs("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":["
          "{\"apiVersion\":\"myteam.io/v1\",\"kind\":\"Foo\",\"metadata\":{\"name\":\"a\"},"
          "\"status\":{\"uptime\":1}},"
          "{\"apiVersion\":\"myteam.io/v1\",\"kind\":\"Foo\",\"metadata\":{\"name\":\"b\"},"
          "\"status\":{\"uptime\":\"2Ki\"}}]}",
          f);
    fclose(f);
    r = run("data/crs/single.yaml", "--object", path, NULL, NULL);
    ck_assert_int_eq(r.rc, 0);
    /* One header for both objects. */
    ck_assert_str_eq(r.out, "# HELP kube_customresource_uptime Foo uptime\n"
                            "# TYPE kube_customresource_uptime gauge\n"
                            "kube_customresource_uptime{customresource_group=\"myteam.io\","
                            "customresource_kind=\"Foo\",customresource_version=\"v1\"} 1\n"
                            "kube_customresource_uptime{customresource_group=\"myteam.io\","
                            "customresource_kind=\"Foo\",customresource_version=\"v1\"} 2048\n");
    result_free(&r);

    /* --resource overrides the object's apiVersion and kind. */
    r = run("data/crs/single.yaml", "--object", "data/crs/conditions-object.yaml", "--resource",
            "other.io/v1/Foo");
    ck_assert_int_eq(r.rc, 2);
    ck_assert_str_eq(r.err, "check-config: data/crs/single.yaml configures no metrics for "
                            "other.io/v1/Foo\n");
    result_free(&r);
    remove(path);
}
END_TEST

START_TEST(test_missing_path_exit_1)
{
    result r =
        run("data/crs/single.yaml", "--object", "data/crs/conditions-object.yaml", NULL, NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.out, "# HELP kube_customresource_uptime Foo uptime\n"
                            "# TYPE kube_customresource_uptime gauge\n");
    ck_assert_str_eq(r.err, "check-config: (unnamed object): config: kube_customresource_uptime: "
                            "path [status,uptime]: not found (nilIsZero would export 0)\n");
    result_free(&r);
}
END_TEST

START_TEST(test_object_alias_bomb)
{
    char path[256];
    char want[512];
    FILE *f = csm_check_tmpfile(path, sizeof(path), "csm-checkcfg-bomb-", ".yaml");
    result r;

    ck_assert_ptr_nonnull(f);
    /* Ten levels of ten aliases: 10^10 nodes if expanded. */
    fputs("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n", f);
    for (int i = 1; i < 10; i++)
        fprintf(f, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
                i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    fclose(f);
    r = run("data/crs/single.yaml", "--object", path, NULL, NULL);
    ck_assert_int_eq(r.rc, 2);
    snprintf(want, sizeof(want),
             "check-config: %s: empty, nested more than 64 deep or larger than 1000000 nodes\n",
             path);
    ck_assert_str_eq(r.err, want);
    result_free(&r);
    remove(path);
}
END_TEST

START_TEST(test_usage_and_input_errors)
{
    result r = run(NULL, NULL, NULL, NULL, NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "missing CONFIG"));
    ck_assert_ptr_nonnull(strstr(r.err, "Usage: crd-state-metrics check-config"));
    result_free(&r);

    r = run("--help", NULL, NULL, NULL, NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "Usage:"));
    result_free(&r);

    r = run("data/crs/single.yaml", NULL, NULL, NULL, NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "missing --object"));
    result_free(&r);

    r = run("data/crs/single.yaml", "--object", NULL, NULL, NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--object needs a value"));
    result_free(&r);

    r = run("data/crs/single.yaml", "--bogus", NULL, NULL, NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "unknown flag --bogus"));
    result_free(&r);

    r = run("data/crs/nope.yaml", "--object=data/crs/foo.yaml", NULL, NULL, NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_str_eq(r.err, "check-config: data/crs/nope.yaml: No such file or directory\n");
    result_free(&r);

    r = run("data/crs/single.yaml", "--object=data/crs/nope.json", NULL, NULL, NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_str_eq(r.err, "check-config: data/crs/nope.json: cannot read it\n");
    result_free(&r);

    /* A config passed as the object: it has no metadata but is a valid
     * object of kind CustomResourceStateMetrics with no apiVersion. */
    r = run("data/crs/single.yaml", "--object", "data/crs/single.yaml", NULL, NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "has no apiVersion and kind"));
    result_free(&r);

    /* An invalid config: the file and line. */
    r = run("data/crs/README.md", "--object", "data/crs/foo.yaml", NULL, NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "check-config: data/crs/README.md:"));
    result_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkcfg");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_doc_single_value);
    tcase_add_test(tc, test_doc_kitchen_sink);
    tcase_add_test(tc, test_doc_non_map_arrays);
    tcase_add_test(tc, test_doc_same_metric_different_labels);
    tcase_add_test(tc, test_doc_vpa_target);
    tcase_add_test(tc, test_doc_status_conditions);
    tcase_add_test(tc, test_doc_stateset_info_naming);
    tcase_add_test(tc, test_doc_wildcards);
    tcase_add_test(tc, test_doc_all_vpa_metrics);
    tcase_add_test(tc, test_readme_example);
    tcase_add_test(tc, test_json_object_list_and_resource_flag);
    tcase_add_test(tc, test_missing_path_exit_1);
    tcase_add_test(tc, test_object_alias_bomb);
    tcase_add_test(tc, test_usage_and_input_errors);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
