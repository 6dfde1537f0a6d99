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
#include "generators/builtin.h"
#include "render/checkcfg.h"

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
    r.rc = csm_checkcfg_main(argc, (char **)args, csm_gen_builtin_table(), out, err);
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

/* Writes text to a fresh temporary file; returns its path (free() it,
 * remove() the file). */
static char *temp_file(const char *text)
{
    char *path = strdup("/tmp/csm-checkcfg-XXXXXX");
    int fd;
    FILE *f;

    ck_assert_ptr_nonnull(path);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void temp_free(char *path)
{
    remove(path);
    free(path);
}

/* check-config on a config and an object given as text. */
static result run_texts(const char *config, const char *object)
{
    char *cfg = temp_file(config);
    char *obj = temp_file(object);
    result r = run(cfg, "--object", obj, NULL, NULL);

    temp_free(obj);
    temp_free(cfg);
    return r;
}

/* Labels n, b, o and f of spec, as an info metric of Foo; a gauge of Bar. */
static const char kinds_config[] =
    "kind: CustomResourceStateMetrics\n"
    "spec:\n"
    "  resources:\n"
    "    - groupVersionKind: {group: example.com, version: v1, kind: Foo}\n"
    "      metrics:\n"
    "        - name: spec\n"
    "          help: spec fields\n"
    "          each:\n"
    "            type: Info\n"
    "            info:\n"
    "              labelsFromPath: {n: [spec, n], b: [spec, b], o: [spec, o], f: [spec, f]}\n"
    "        - name: cond\n"
    "          help: conditions\n"
    "          each:\n"
    "            type: Gauge\n"
    "            gauge: {path: [status, conditions], valueFrom: [v], nilIsZero: true}\n"
    "    - groupVersionKind: {group: example.com, version: v1, kind: Bar}\n"
    "      metrics:\n"
    "        - name: bar\n"
    "          help: bar x\n"
    "          each:\n"
    "            type: Gauge\n"
    "            gauge: {path: [spec, x]}\n";

#define FOO_GVK                                                                                    \
    "customresource_group=\"example.com\",customresource_kind=\"Foo\","                            \
    "customresource_version=\"v1\""

START_TEST(test_list_mixing_kinds)
{
    result r = run_texts(
        kinds_config,
        "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":["
        "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Bar\",\"metadata\":{\"name\":\"b\"},"
        "\"spec\":{\"x\":4}},"
        "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Foo\",\"metadata\":{\"name\":\"a\"},"
        "\"spec\":{\"n\":1}},"
        "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Bar\",\"metadata\":{\"name\":\"c\"},"
        "\"spec\":{\"x\":5}}]}");

    /* Each item is its own kind: Bar's metric for the Bars, Foo's for Foo. */
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.out, "# HELP kube_customresource_bar bar x\n"
                            "# TYPE kube_customresource_bar gauge\n"
                            "kube_customresource_bar{customresource_group=\"example.com\","
                            "customresource_kind=\"Bar\",customresource_version=\"v1\"} 4\n"
                            "kube_customresource_bar{customresource_group=\"example.com\","
                            "customresource_kind=\"Bar\",customresource_version=\"v1\"} 5\n"
                            "# HELP kube_customresource_spec spec fields\n"
                            "# TYPE kube_customresource_spec gauge\n"
                            "kube_customresource_spec{" FOO_GVK ",n=\"1\"} 1\n"
                            "# HELP kube_customresource_cond conditions\n"
                            "# TYPE kube_customresource_cond gauge\n"
                            "kube_customresource_cond{" FOO_GVK "} 0\n");
    ck_assert_str_eq(r.err, "");
    result_free(&r);
}
END_TEST

/* The Foo config on an object: its spec metric has exactly these labels. */
static void expect_labels(const char *object, const char *labels)
{
    char want[1024];
    result r = run_texts(kinds_config, object);

    snprintf(want, sizeof(want), "kube_customresource_spec{%s} 1\n", labels);
    ck_assert_msg(r.rc == 0, "%s: exit %d: %s", object, r.rc, r.err);
    ck_assert_msg(strstr(r.out, want) != NULL, "%s: want %s in\n%s", object, want, r.out);
    result_free(&r);
}

/* One YAML spec line through the Foo config: the labels it gives. */
static void expect_yaml_spec(const char *spec, const char *labels)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "apiVersion: example.com/v1\nkind: Foo\nmetadata: {name: a}\nspec: %s\n", spec);
    expect_labels(text, labels);
}

START_TEST(test_integers_above_2_53_exact)
{
    /* Go decodes JSON integers into int64 and prints them in full; past
     * int64 and for float syntax it has a float64. */
    expect_labels("{\"apiVersion\":\"example.com/v1\",\"kind\":\"Foo\",\"metadata\":"
                  "{\"name\":\"a\"},\"spec\":{\"n\":9007199254740993,"
                  "\"b\":-9223372036854775808,\"o\":1.5e10,\"f\":18446744073709551615}}",
                  "b=\"-9223372036854775808\"," FOO_GVK
                  ",f=\"1.8446744073709552e+19\",n=\"9007199254740993\",o=\"1.5e+10\"");
    /* The same through YAML, as kubectl sends it: 1.5e10 is written in
     * full by Go's JSON encoder and comes back an integer. */
    expect_yaml_spec("{\"n\": 9007199254740993, b: 0x7fffffffffffffff, o: 1.5e10, "
                     "f: 18446744073709551615}",
                     "b=\"9223372036854775807\"," FOO_GVK
                     ",f=\"1.8446744073709552e+19\",n=\"9007199254740993\",o=\"15000000000\"");
}
END_TEST

START_TEST(test_yaml_scalars_as_kubectl_reads_them)
{
    /* go-yaml v2 (sigs.k8s.io/yaml): YAML 1.1 integers in Go syntax. */
    expect_yaml_spec("{\"n\": 010, b: 0o10, o: 0x1F, f: 0b101}",
                     "b=\"8\"," FOO_GVK ",f=\"5\",n=\"8\",o=\"31\"");
    expect_yaml_spec("{\"n\": 1_000, b: +7, o: -010, f: 08}",
                     "b=\"7\"," FOO_GVK ",f=\"8\",n=\"1000\",o=\"-8\"");
    /* YAML 1.1 booleans; quoted scalars stay strings. */
    expect_yaml_spec("{\"n\": yes, b: Off, o: y, f: \"no\"}",
                     "b=\"false\"," FOO_GVK ",f=\"no\",n=\"true\",o=\"true\"");
    expect_yaml_spec("{\"n\": 'on', b: NO, o: ~, f: 0x}",
                     "b=\"false\"," FOO_GVK ",f=\"0x\",n=\"on\"");
    /* Floats; a timestamp is text; an integral float comes back an int. */
    expect_yaml_spec("{\"n\": .5, b: 1e3, o: 2001-12-14, f: 1.50}",
                     "b=\"1000\"," FOO_GVK ",f=\"1.5\",n=\"0.5\",o=\"2001-12-14\"");
    /* Keys too: a plain n key is the boolean false, not "n"; the last of
     * duplicate keys wins. */
    expect_yaml_spec("{\"n\": 1, n: 2, b: 3, b: 4}", "b=\"4\"," FOO_GVK ",n=\"1\"");
}
END_TEST

START_TEST(test_yaml_values_json_cannot_carry)
{
    result r =
        run_texts(kinds_config, "apiVersion: example.com/v1\nkind: Foo\nmetadata: {name: a}\n"
                                "spec: {n: .inf}\n");

    ck_assert_int_eq(r.rc, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "\".inf\" is infinite, which JSON cannot carry"));
    result_free(&r);
}
END_TEST

START_TEST(test_collapsed_elements_message)
{
    result r =
        run_texts(kinds_config, "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Foo\",\"metadata\":"
                                "{\"name\":\"a\"},\"status\":{\"conditions\":[{\"v\":1},{\"v\":2},"
                                "{\"v\":3}]}}");

    /* One metric, three elements, one series: say so, not "two metrics". */
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.err, "check-config: a: config: kube_customresource_cond: 3 elements of "
                            "path [status,conditions] (metric at line 12) gave the same labels "
                            "{" FOO_GVK "}; exported once (add a labelsFromPath that tells "
                            "them apart)\n");
    result_free(&r);
}
END_TEST

START_TEST(test_nested_wildcards)
{
    static const char cfg[] =
        "kind: CustomResourceStateMetrics\n"
        "spec:\n"
        "  resources:\n"
        "    - groupVersionKind: {group: gateway.networking.k8s.io, version: v1, kind: HTTPRoute}\n"
        "      metrics:\n"
        "        - name: parent_condition\n"
        "          help: h\n"
        "          each:\n"
        "            type: Gauge\n"
        "            gauge:\n"
        "              path: [status, parents, \"*\", conditions, \"*\"]\n"
        "              wildcardLabels: [parent, condition]\n"
        "              valueFrom: [status]\n"
        "              labelsFromPath: {type: [type]}\n"
        "        - name: listener\n"
        "          help: h\n"
        "          each:\n"
        "            type: Info\n"
        "            info: {path: [spec, listeners, \"*\"], wildcardLabels: [listener], "
        "labelsFromPath: {port: [port]}}\n";
    static const char obj[] =
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"
        "spec:\n  listeners: {http: {port: 80}, https: {port: 443}}\n"
        "status:\n  parents:\n"
        "    - conditions: [{type: Accepted, status: \"True\"}, {type: Resolved, status: "
        "\"False\"}]\n"
        "    - conditions: [{type: Accepted, status: \"False\"}]\n"
        "    - {}\n";
#define ROUTE                                                                                      \
    "customresource_group=\"gateway.networking.k8s.io\",customresource_kind=\"HTTPRoute\","        \
    "customresource_version=\"v1\""
    result r = run_texts(cfg, obj);
    char *bad;

    /* Every level expands, each carrying its index or key. */
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.out,
                     "# HELP kube_customresource_parent_condition h\n"
                     "# TYPE kube_customresource_parent_condition gauge\n"
                     "kube_customresource_parent_condition{condition=\"0\"," ROUTE
                     ",parent=\"0\",type=\"Accepted\"} 1\n"
                     "kube_customresource_parent_condition{condition=\"0\"," ROUTE
                     ",parent=\"1\",type=\"Accepted\"} 0\n"
                     "kube_customresource_parent_condition{condition=\"1\"," ROUTE
                     ",parent=\"0\",type=\"Resolved\"} 0\n"
                     "# HELP kube_customresource_listener h\n"
                     "# TYPE kube_customresource_listener gauge\n"
                     "kube_customresource_listener{" ROUTE ",listener=\"http\",port=\"80\"} 1\n"
                     "kube_customresource_listener{" ROUTE ",listener=\"https\",port=\"443\"} 1\n");
    ck_assert_str_eq(r.err, "");
    result_free(&r);
    /* One label name per "*". */
    bad = strdup(cfg);
    ck_assert_ptr_nonnull(bad);
    memcpy(strstr(bad, "[parent, condition]"), "[parent]           ", 19);
    r = run_texts(bad, obj);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "each.gauge.wildcardLabels: the path has 2 \"*\" segments "
                                        "and wildcardLabels names 1 labels"));
    result_free(&r);
    free(bad);
#undef ROUTE
}
END_TEST

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

/* Extension: a Count metric counts a List's items per combination of its
 * labels, next to the per-object metrics; a uid seen twice counts once. */
START_TEST(test_count_over_list)
{
    static const char cfg[] =
        "kind: CustomResourceStateMetrics\n"
        "spec:\n"
        "  resources:\n"
        "    - groupVersionKind: {group: cache.example.com, version: v1, kind: Memcached}\n"
        "      metricNamePrefix: memcached\n"
        "      metrics:\n"
        "        - name: replicas\n"
        "          help: replicas\n"
        "          each: {type: Gauge, gauge: {path: [spec, replicas]}}\n"
        "        - name: by_plan\n"
        "          help: Memcacheds per namespace and plan.\n"
        "          labelsFromPath: {namespace: [metadata, namespace], plan: [spec, plan]}\n"
        "          each: {type: Count}\n"
        "        - name: capped\n"
        "          help: at most one\n"
        "          labelsFromPath: {plan: [spec, plan]}\n"
        "          each: {type: Count, count: {maxSeries: 1}}\n";
    static const char list[] =
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: cache.example.com/v1, kind: Memcached, metadata: {name: a, namespace: x},"
        " spec: {plan: gold, replicas: 1}}\n"
        "- {apiVersion: cache.example.com/v1, kind: Memcached, metadata: {name: b, namespace: x},"
        " spec: {plan: gold, replicas: 2}}\n"
        "- {apiVersion: cache.example.com/v1, kind: Memcached, metadata: {name: c, namespace: z},"
        " spec: {plan: free, replicas: 3}}\n"
        "- {apiVersion: cache.example.com/v1, kind: Memcached, metadata: {name: d, namespace: x,"
        " uid: u1}, spec: {replicas: 4}}\n"
        "- {apiVersion: cache.example.com/v1, kind: Memcached, metadata: {name: d, namespace: x,"
        " uid: u1}, spec: {replicas: 4}}\n";
#define MC                                                                                         \
    "customresource_group=\"cache.example.com\",customresource_kind=\"Memcached\","                \
    "customresource_version=\"v1\""
    result r = run_texts(cfg, list);

    /* The cap leaves a combination out: exit 1, and stderr says so. */
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.out, "# HELP memcached_replicas replicas\n"
                            "# TYPE memcached_replicas gauge\n"
                            "memcached_replicas{" MC "} 1\n"
                            "memcached_replicas{" MC "} 2\n"
                            "memcached_replicas{" MC "} 3\n"
                            "memcached_replicas{" MC "} 4\n"
                            "memcached_replicas{" MC "} 4\n"
                            "# HELP memcached_by_plan Memcacheds per namespace and plan.\n"
                            "# TYPE memcached_by_plan gauge\n"
                            "memcached_by_plan{" MC ",namespace=\"x\"} 1\n"
                            "memcached_by_plan{" MC ",namespace=\"x\",plan=\"gold\"} 2\n"
                            "memcached_by_plan{" MC ",namespace=\"z\",plan=\"free\"} 1\n"
                            "# HELP memcached_capped at most one\n"
                            "# TYPE memcached_capped gauge\n"
                            "memcached_capped{" MC "} 1\n");
    ck_assert_str_eq(r.err, "check-config: Count metrics: 2 combinations beyond maxSeries are not "
                            "exported\n");
    result_free(&r);
#undef MC
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkcfg");
    TCase *tc = tcase_create("core");

    /* The alias bomb walks the 1,000,000-node cap before it fails: 3-5 s
     * under ASan on a loaded 2-core machine, around check's 4 s default.
     * What it asserts is the cap, not a speed. */
    tcase_set_timeout(tc, 60);
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
    tcase_add_test(tc, test_list_mixing_kinds);
    tcase_add_test(tc, test_integers_above_2_53_exact);
    tcase_add_test(tc, test_yaml_scalars_as_kubectl_reads_them);
    tcase_add_test(tc, test_yaml_values_json_cannot_carry);
    tcase_add_test(tc, test_collapsed_elements_message);
    tcase_add_test(tc, test_nested_wildcards);
    tcase_add_test(tc, test_count_over_list);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
