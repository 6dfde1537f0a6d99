/*
 * The Custom Resource State config: loading (every error names the file,
 * line and field) and evaluation through the "config" generator, including
 * the cases of kube-state-metrics' own unit tests (registry_factory_test.go)
 * on the object they use.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "generators/builtin.h"
#include "render/crs.h"
#include "render/gen.h"
#include "gentest.h"

static const char ksm_obj[] =
    "{\"apiVersion\":\"myteam.io/v1\",\"kind\":\"Foo\","
    "\"spec\":{\"replicas\":1,\"version\":\"v0.0.0\","
    "\"order\":[{\"id\":1,\"value\":true},{\"id\":3,\"value\":false}]},"
    "\"status\":{\"active\":{\"type-a\":1,\"type-b\":3},\"phase\":\"foo\","
    "\"sub\":{\"type-a\":{\"active\":1,\"ready\":2},\"type-b\":{\"active\":3,\"ready\":4}},"
    "\"uptime\":43.21,\"quantity_milli\":\"250m\",\"quantity_binarySI\":\"5Gi\","
    "\"percentage\":\"28%\",\"nothing\":null,"
    "\"condition_values\":[{\"name\":\"a\",\"value\":45},{\"name\":\"b\",\"value\":66}],"
    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},"
    "{\"type\":\"Provisioned\",\"status\":\"False\"}]},"
    "\"metadata\":{\"name\":\"foo\",\"labels\":{\"foo\":\"bar\",\"__x\":\"y\"},"
    "\"annotations\":{\"qux\":\"quxx\",\"bar\":\"baz\"},"
    "\"percentage\":\"39%\",\"creationTimestamp\":\"2022-06-28T00:00:00Z\"}}";

/* The config header for one Foo resource; metrics follow. */
#define HEAD                                                                                       \
    "kind: CustomResourceStateMetrics\n"                                                           \
    "spec:\n"                                                                                      \
    "  resources:\n"                                                                               \
    "  - groupVersionKind: {group: myteam.io, version: v1, kind: Foo}\n"                           \
    "    metricNamePrefix: \"\"\n"                                                                 \
    "    metrics:\n"

#define GVK                                                                                        \
    "customresource_group=\"myteam.io\",customresource_kind=\"Foo\",customresource_version=\"v1\""

typedef struct out {
    char *text; /* every family's samples */
    size_t failures;
    char *diag;
} out;

static out gen_obj(const char *yaml, const char *json, const char *kind)
{
    csm_resource_desc d = {"myteam.io", "v1", kind, "foos", 1, "foo"};
    csm_crs *crs = NULL;
    csm_genset *gs = NULL;
    char err[1024] = "";
    out o;

    ck_assert_msg(csm_crs_load_text("t.yaml", yaml, strlen(yaml), &crs, err, sizeof(err)) == CSM_OK,
                  "load: %s", err);
    ck_assert_int_eq(csm_genset_new(&d, NULL, NULL, &gs), CSM_OK);
    ck_assert_msg(csm_genset_add_ctx(gs, &csm_generator_config, NULL, crs, err, sizeof(err)) ==
                      CSM_OK,
                  "add: %s", err);
    /* The generator keeps its own reference. */
    csm_crs_unref(crs);
    o.text = gentest_render(gs, json, &o.failures, &o.diag);
    csm_genset_free(gs);
    return o;
}

static out gen(const char *yaml)
{
    return gen_obj(yaml, ksm_obj, "Foo");
}

static void out_free(out *o)
{
    free(o->text);
    free(o->diag);
}

/* Asserts the samples and that nothing failed. */
static void expect(const char *yaml, const char *want)
{
    out o = gen(yaml);
    ck_assert_str_eq(o.text, want);
    ck_assert_msg(o.failures == 0, "failures: %s", o.diag);
    out_free(&o);
}

/* ---- kube-state-metrics' Test_values cases ---------------------------- */

START_TEST(test_gauge_single_and_map)
{
    expect(HEAD "    - name: single\n"
                "      each: {type: Gauge, gauge: {path: [spec, replicas]}}\n",
           "single{" GVK "} 1\n");
    expect(HEAD "    - name: obj\n"
                "      each: {type: Gauge, gauge: {path: [status, active], labelFromKey: type}}\n",
           "obj{" GVK ",type=\"type-a\"} 1\nobj{" GVK ",type=\"type-b\"} 3\n");
    expect(HEAD "    - name: deep\n"
                "      each:\n"
                "        type: Gauge\n"
                "        gauge:\n"
                "          path: [status, sub]\n"
                "          labelFromKey: type\n"
                "          labelsFromPath: {active: [active]}\n"
                "          valueFrom: [ready]\n",
           "deep{active=\"1\"," GVK ",type=\"type-a\"} 2\n"
           "deep{active=\"3\"," GVK ",type=\"type-b\"} 4\n");
}
END_TEST

START_TEST(test_gauge_relative_value_from)
{
    expect(HEAD "    - name: created\n"
                "      each:\n"
                "        type: gauge\n"
                "        gauge:\n"
                "          path: [metadata]\n"
                "          labelsFromPath: {name: [name]}\n"
                "          valueFrom: [creationTimestamp]\n"
                "    - name: pct\n"
                "      each:\n"
                "        type: GAUGE\n"
                "        gauge: {path: [metadata], labelsFromPath: {name: [name]},"
                " valueFrom: [percentage]}\n",
           "created{" GVK ",name=\"foo\"} 1656374400\npct{" GVK ",name=\"foo\"} 0.39\n");
}
END_TEST

START_TEST(test_gauge_missing_paths)
{
    /* A missing path is an error (kube-state-metrics: "got nil while
     * resolving path")... */
    out o = gen(HEAD "    - name: nope\n"
                     "      each: {type: Gauge, gauge: {path: [foo], valueFrom: [x],"
                     " labelsFromPath: {name: [name]}}}\n");
    ck_assert_str_eq(o.text, "");
    ck_assert_uint_eq(o.failures, 1);
    ck_assert_str_eq(o.diag, "config: nope: path [foo]: not found (nilIsZero would export 0)\n");
    out_free(&o);
    /* ... but a missing valueFrom under an existing path is not. */
    expect(HEAD "    - name: a\n"
                "      each: {type: Gauge, gauge: {path: [spec, replicas], valueFrom: [x]}}\n"
                "    - name: b\n"
                "      each: {type: Gauge, gauge: {path: [status, condition_values],"
                " valueFrom: [x], labelsFromPath: {name: [name]}}}\n",
           "");
    /* nilIsZero: missing paths and JSON nulls are 0. */
    expect(HEAD "    - name: paused\n"
                "      each: {type: Gauge, gauge: {path: [spec, paused], nilIsZero: true}}\n"
                "    - name: nothing\n"
                "      each: {type: Gauge, gauge: {path: [status, nothing], nilIsZero: true}}\n"
                "    - name: elems\n"
                "      each: {type: Gauge, gauge: {path: [status, condition_values],"
                " valueFrom: [x], labelsFromPath: {name: [name]}, nilIsZero: true}}\n",
           "paused{" GVK "} 0\nnothing{" GVK "} 0\n"
           "elems{" GVK ",name=\"a\"} 0\nelems{" GVK ",name=\"b\"} 0\n");
}
END_TEST

START_TEST(test_gauge_arrays_and_conversions)
{
    expect(HEAD "    - name: arr\n"
                "      each: {type: Gauge, gauge: {path: [status, condition_values],"
                " labelsFromPath: {name: [name]}, valueFrom: [value]}}\n"
                "    - name: ts\n"
                "      each: {type: Gauge, gauge: {path: [metadata, creationTimestamp]}}\n"
                "    - name: milli\n"
                "      each: {type: Gauge, gauge: {path: [status, quantity_milli]}}\n"
                "    - name: bin\n"
                "      each: {type: Gauge, gauge: {path: [status, quantity_binarySI]}}\n"
                "    - name: pct\n"
                "      each: {type: Gauge, gauge: {path: [status, percentage]}}\n"
                "    - name: cond\n"
                "      each: {type: Gauge, gauge: {path: [status, conditions, \"[type=Ready]\","
                " status]}}\n"
                "    - name: conds\n"
                "      each: {type: Gauge, gauge: {path: [status, conditions],"
                " labelsFromPath: {type: [type]}, valueFrom: [status]}}\n",
           "arr{" GVK ",name=\"a\"} 45\narr{" GVK ",name=\"b\"} 66\n"
           "ts{" GVK "} 1656374400\nmilli{" GVK "} 0.25\nbin{" GVK "} 5368709120\n"
           "pct{" GVK "} 0.28\ncond{" GVK "} 1\n"
           "conds{" GVK ",type=\"Provisioned\"} 0\nconds{" GVK ",type=\"Ready\"} 1\n");
}
END_TEST

START_TEST(test_gauge_wrong_type)
{
    /* A string that is no number, and a map: errors with the value. */
    out o = gen(HEAD "    - name: phase\n"
                     "      each: {type: Gauge, gauge: {path: [status, phase]}}\n"
                     "    - name: order\n"
                     "      each: {type: Gauge, gauge: {path: [spec, order],"
                     " valueFrom: [value], labelsFromPath: {id: [id]}}}\n"
                     "    - name: whole\n"
                     "      each: {type: Gauge, gauge: {path: [spec], valueFrom: [order]}}\n");
    /* spec.order's values are booleans: fine. spec as a map: each entry
     * is tried, and an entry that is no number is skipped silently, as in
     * kube-state-metrics. */
    ck_assert_str_eq(o.text, "order{" GVK ",id=\"1\"} 1\norder{" GVK ",id=\"3\"} 0\n");
    ck_assert_uint_eq(o.failures, 1);
    ck_assert_str_eq(o.diag, "config: phase: path [status,phase] valueFrom []: cannot read "
                             "\"foo\" as a number\n");
    out_free(&o);
}
END_TEST

START_TEST(test_gauge_value_from_names_map_entry)
{
    /* path at a map, valueFrom one of its keys: that entry's value. */
    expect(HEAD "    - name: up\n"
                "      each: {type: Gauge, gauge: {path: [status], valueFrom: [uptime],"
                " labelFromKey: field}}\n",
           "up{" GVK ",field=\"uptime\"} 43.21\n");
}
END_TEST

START_TEST(test_info)
{
    expect(HEAD "    - name: info\n"
                "      each: {type: Info, info: {labelsFromPath: {version: [spec, version]}}}\n"
                "    - name: nil_path\n"
                "      each: {type: Info, info: {path: [does, not, exist]}}\n"
                "    - name: from_key\n"
                "      each: {type: Info, info: {path: [status, active], labelFromKey: type}}\n"
                "    - name: from_path\n"
                "      each: {type: Info, info: {path: [status, sub],"
                " labelsFromPath: {active: [active]}}}\n"
                "    - name: eq\n"
                "      each: {type: Info, info: {labelsFromPath: {bar: [metadata, annotations,"
                " bar=baz]}}}\n",
           "info{" GVK ",version=\"v0.0.0\"} 1\n"
           "from_key{" GVK ",type=\"type-a\"} 1\nfrom_key{" GVK ",type=\"type-b\"} 1\n"
           "from_path{active=\"1\"," GVK "} 1\nfrom_path{active=\"3\"," GVK "} 1\n"
           "eq{bar=\"baz\"," GVK "} 1\n");
}
END_TEST

START_TEST(test_stateset)
{
    expect(HEAD "    - name: phase\n"
                "      each: {type: StateSet, stateSet: {path: [status, phase], labelName: phase,"
                " list: [foo, bar]}}\n"
                "    - name: per_condition\n"
                "      each: {type: StateSet, stateSet: {path: [status, conditions],"
                " labelName: status, valueFrom: [status], list: [\"True\", \"False\"],"
                " labelsFromPath: {type: [type]}}}\n"
                "    - name: unwritten_status\n"
                "      each: {type: StateSet, stateSet: {path: [status, nothing], labelName: s,"
                " list: [a]}}\n",
           "phase{" GVK ",phase=\"bar\"} 0\nphase{" GVK ",phase=\"foo\"} 1\n"
           "per_condition{" GVK ",status=\"False\",type=\"Provisioned\"} 1\n"
           "per_condition{" GVK ",status=\"False\",type=\"Ready\"} 0\n"
           "per_condition{" GVK ",status=\"True\",type=\"Provisioned\"} 0\n"
           "per_condition{" GVK ",status=\"True\",type=\"Ready\"} 1\n");
    /* Outside status, a value that is not a string is an error. */
    out o = gen(HEAD "    - name: s\n"
                     "      each: {type: StateSet, stateSet: {path: [spec, replicas],"
                     " labelName: s, list: [a]}}\n");
    ck_assert_str_eq(o.text, "");
    ck_assert_uint_eq(o.failures, 1);
    ck_assert_ptr_nonnull(strstr(o.diag, "expected a string"));
    out_free(&o);
}
END_TEST

START_TEST(test_base_labels_and_precedence)
{
    /* commonLabels (metric over resource), paths over common labels, the
     * group/version/kind over commonLabels, each-labels over base labels. */
    expect("kind: CustomResourceStateMetrics\n"
           "spec:\n"
           "  resources:\n"
           "  - groupVersionKind: {group: myteam.io, version: v1, kind: Foo}\n"
           "    commonLabels: {a: res, b: res, customresource_kind: nope}\n"
           "    labelsFromPath: {c: [metadata, name], d: [metadata, name]}\n"
           "    metrics:\n"
           "    - name: m\n"
           "      commonLabels: {b: metric, c: common}\n"
           "      labelsFromPath: {d: [spec, version]}\n"
           "      each: {type: Gauge, gauge: {path: [spec, replicas],"
           " labelsFromPath: {a: [], e: [x]}}}\n",
           "kube_customresource_m{a=\"1\",b=\"metric\",c=\"foo\"," GVK ",d=\"v0.0.0\"} 1\n");
}
END_TEST

START_TEST(test_map_copies)
{
    /* "*" copies keys as they are, "x_*" prefixes them, named labels win;
     * a key that cannot be a label ("__x") is dropped and reported. */
    out o = gen(HEAD "    - name: m\n"
                     "      labelsFromPath:\n"
                     "        \"*\": [metadata, labels]\n"
                     "        l_*: [metadata, annotations]\n"
                     "        foo: [spec, version]\n"
                     "      each: {type: Gauge, gauge: {path: [spec, replicas]}}\n");
    ck_assert_str_eq(o.text, "m{" GVK ",foo=\"v0.0.0\",l_bar=\"baz\",l_qux=\"quxx\"} 1\n");
    ck_assert_uint_eq(o.failures, 1);
    ck_assert_str_eq(o.diag, "config: m: labelsFromPath *: key \"__x\" makes no valid label "
                             "name\n");
    out_free(&o);
}
END_TEST

START_TEST(test_label_value_forms)
{
    expect(HEAD "    - name: m\n"
                "      each:\n"
                "        type: Info\n"
                "        info:\n"
                "          labelsFromPath:\n"
                "            n: [status, uptime]\n"
                "            b: [spec, order, \"0\", value]\n"
                "            m: [status, active]\n"
                "            a: [spec, order, \"-1\"]\n",
           "m{a=\"map[id:3 value:false]\",b=\"true\"," GVK
           ",m=\"map[type-a:1 type-b:3]\",n=\"43.21\"} 1\n");
}
END_TEST

START_TEST(test_same_name_is_one_family)
{
    /* Two metrics of one name (the documentation's VPA example) make one
     * family, headed by the first help; an identical series is exported
     * once and reported. */
    const char *yaml = HEAD "    - name: m\n"
                            "      help: first\n"
                            "      commonLabels: {r: a}\n"
                            "      each: {type: Gauge, gauge: {path: [spec, replicas]}}\n"
                            "    - name: m\n"
                            "      help: second\n"
                            "      commonLabels: {r: b}\n"
                            "      each: {type: Gauge, gauge: {path: [spec, replicas]}}\n"
                            "    - name: m\n"
                            "      commonLabels: {r: a}\n"
                            "      each: {type: Gauge, gauge: {path: [status, uptime]}}\n";
    csm_resource_desc d = {"myteam.io", "v1", "Foo", "foos", 1, "foo"};
    csm_crs *crs = NULL;
    csm_genset *gs = NULL;
    char err[256];
    out o;

    ck_assert_int_eq(csm_crs_load_text("t.yaml", yaml, strlen(yaml), &crs, err, sizeof(err)),
                     CSM_OK);
    ck_assert_int_eq(csm_genset_new(&d, NULL, NULL, &gs), CSM_OK);
    ck_assert_int_eq(csm_genset_add_ctx(gs, &csm_generator_config, NULL, crs, err, sizeof(err)),
                     CSM_OK);
    ck_assert_uint_eq(csm_genset_families(gs), 1);
    ck_assert_str_eq(csm_genset_family(gs, 0)->help, "first");
    csm_genset_free(gs);
    csm_crs_unref(crs);

    o = gen(yaml);
    ck_assert_str_eq(o.text, "m{" GVK ",r=\"a\"} 1\nm{" GVK ",r=\"b\"} 1\n");
    ck_assert_uint_eq(o.failures, 1);
    /* Two metrics of one name (lines 7 and 15), one series: the message
     * names both and the series. */
    ck_assert_str_eq(o.diag, "config: m: 2 samples of metrics of this name (lines 7 and 15) gave "
                             "the same series {" GVK ",r=\"a\"}; exported once\n");
    out_free(&o);
}
END_TEST

START_TEST(test_selectors)
{
    /* Extension: per-resource selectors, for the resource's LIST/WATCH. */
    const char *yaml = "spec:\n"
                       "  resources:\n"
                       "  - groupVersionKind: {group: myteam.io, version: v1, kind: Foo}\n"
                       "    metrics: [{name: a, each: {type: Gauge, gauge: {path: [x]}}}]\n"
                       "  - groupVersionKind: {group: myteam.io, version: \"*\", kind: \"*\"}\n"
                       "    labelSelector: \"tier in (gold)\"\n"
                       "    fieldSelector: metadata.name!=x\n"
                       "    metrics: [{name: b, each: {type: Gauge, gauge: {path: [x]}}}]\n";
    const char *bad = "spec:\n"
                      "  resources:\n"
                      "  - groupVersionKind: {group: myteam.io, version: v1, kind: Foo}\n"
                      "    labelSelector: [tier]\n"
                      "    metrics: [{name: a, each: {type: Gauge, gauge: {path: [x]}}}]\n";
    csm_crs *crs = NULL;
    const char *ls;
    const char *fs;
    char err[256];

    ck_assert_int_eq(csm_crs_load_text("t.yaml", yaml, strlen(yaml), &crs, err, sizeof(err)),
                     CSM_OK);
    /* The first entry that applies and has selectors. */
    csm_crs_selectors(crs, "myteam.io", "v1", "Foo", &ls, &fs);
    ck_assert_str_eq(ls, "tier in (gold)");
    ck_assert_str_eq(fs, "metadata.name!=x");
    csm_crs_selectors(crs, "other.io", "v1", "Foo", &ls, &fs);
    ck_assert_ptr_null(ls);
    ck_assert_ptr_null(fs);
    csm_crs_unref(crs);
    crs = NULL;
    ck_assert_int_eq(csm_crs_load_text("t.yaml", bad, strlen(bad), &crs, err, sizeof(err)),
                     CSM_ERR_INVALID);
    ck_assert_str_eq(err, "t.yaml:4:20: spec.resources[0].labelSelector: expected a string, "
                          "found a list");
}
END_TEST

START_TEST(test_plural)
{
    const char *yaml = "spec:\n"
                       "  resources:\n"
                       "  - groupVersionKind: {group: myteam.io, version: \"*\", kind: Foo}\n"
                       "    resourcePlural: fooz\n"
                       "    metrics: [{name: a, each: {type: Gauge, gauge: {path: [x]}}}]\n"
                       "  - groupVersionKind: {group: myteam.io, version: v1, kind: \"*\"}\n"
                       "    resourcePlural: foozies\n"
                       "    metrics: [{name: b, each: {type: Gauge, gauge: {path: [x]}}}]\n"
                       "  - groupVersionKind: {group: myteam.io, version: v2, kind: Bar}\n"
                       "    metrics: [{name: c, each: {type: Gauge, gauge: {path: [x]}}}]\n";
    csm_crs *crs = NULL;
    char guess[8];
    char big[32];
    char err[256];

    ck_assert_msg(csm_crs_load_text("t.yaml", yaml, strlen(yaml), &crs, err, sizeof(err)) == CSM_OK,
                  "%s", err);
    /* The last entry that matches and names a plural wins. */
    ck_assert_str_eq(csm_crs_plural(crs, "myteam.io", "v1", "Foo", "foo", guess, sizeof(guess)),
                     "foozies");
    ck_assert_str_eq(csm_crs_plural(crs, "myteam.io", "v3", "Foo", "foo", guess, sizeof(guess)),
                     "fooz");
    ck_assert_str_eq(csm_crs_plural(crs, "myteam.io", "v1", "Baz", "baz", guess, sizeof(guess)),
                     "foozies");
    /* An entry without resourcePlural, or none at all: the guess. */
    ck_assert_str_eq(csm_crs_plural(crs, "myteam.io", "v2", "Bar", "bar", guess, sizeof(guess)),
                     "bars");
    ck_assert_str_eq(csm_crs_plural(NULL, "a.io", "v1", "Memcached", "memcached", big, sizeof(big)),
                     "memcacheds");
    /* A short buffer cuts the guess. */
    ck_assert_str_eq(
        csm_crs_plural(NULL, "a.io", "v1", "Memcached", "memcached", guess, sizeof(guess)),
        "memcach");
    csm_crs_unref(crs);
}
END_TEST

START_TEST(test_matching_and_wildcards)
{
    const char *yaml = "spec:\n"
                       "  resources:\n"
                       "  - groupVersionKind: {group: myteam.io, version: \"*\", kind: Foo}\n"
                       "    metrics: [{name: a, each: {type: Gauge, gauge: {path: [x],"
                       " nilIsZero: true}}}]\n"
                       "  - groupVersionKind: {group: myteam.io, version: v1, kind: \"*\"}\n"
                       "    metrics: [{name: b, each: {type: Gauge, gauge: {path: [x],"
                       " nilIsZero: true}}}]\n";
    csm_crs *crs = NULL;
    char err[256];
    const csm_crs_resource *r0;
    const csm_crs_resource *r1;

    ck_assert_int_eq(csm_crs_load_text("t.yaml", yaml, strlen(yaml), &crs, err, sizeof(err)),
                     CSM_OK);
    ck_assert_uint_eq(csm_crs_resources(crs), 2);
    r0 = csm_crs_resource_at(crs, 0);
    r1 = csm_crs_resource_at(crs, 1);
    ck_assert_ptr_null(csm_crs_resource_at(crs, 2));
    ck_assert(csm_crs_matches(r0, "myteam.io", "v2", "Foo"));
    ck_assert(!csm_crs_matches(r0, "myteam.io", "v1", "Bar"));
    ck_assert(!csm_crs_matches(r0, "other.io", "v1", "Foo"));
    ck_assert(csm_crs_matches(r1, "myteam.io", "v1", "Bar"));
    ck_assert(!csm_crs_matches(r1, "myteam.io", "v2", "Bar"));
    ck_assert_str_eq(r0->metrics[0].name, "kube_customresource_a");
    ck_assert_int_eq(r0->line, 3);
    ck_assert_int_eq(r1->metrics[0].line, 6);
    csm_crs_unref(crs);

    /* Foo/v1 gets both entries' metrics. */
    out o = gen_obj(yaml, "{}", "Foo");
    ck_assert_str_eq(o.text,
                     "kube_customresource_a{" GVK "} 0\nkube_customresource_b{" GVK "} 0\n");
    out_free(&o);
}
END_TEST

START_TEST(test_fingerprints)
{
    const char *a = HEAD "    - {name: m, each: {type: Gauge, gauge: {path: [x]}}}\n";
    const char *b = HEAD "    - name: m   # same, other layout\n"
                         "      each:\n"
                         "        type: Gauge\n"
                         "        gauge: {path: [\"x\"]}\n";
    const char *c = HEAD "    - {name: m, each: {type: Gauge, gauge: {path: [y]}}}\n";
    csm_crs *ca = NULL;
    csm_crs *cb = NULL;
    csm_crs *cc = NULL;
    char err[256];

    ck_assert_int_eq(csm_crs_load_text("a", a, strlen(a), &ca, err, sizeof(err)), CSM_OK);
    ck_assert_int_eq(csm_crs_load_text("b", b, strlen(b), &cb, err, sizeof(err)), CSM_OK);
    ck_assert_int_eq(csm_crs_load_text("c", c, strlen(c), &cc, err, sizeof(err)), CSM_OK);
    ck_assert_str_eq(csm_crs_resource_at(ca, 0)->fingerprint,
                     csm_crs_resource_at(cb, 0)->fingerprint);
    ck_assert_str_ne(csm_crs_resource_at(ca, 0)->fingerprint,
                     csm_crs_resource_at(cc, 0)->fingerprint);
    /* References: the last unref frees (ASan checks). */
    ck_assert_ptr_eq(csm_crs_ref(ca), ca);
    csm_crs_unref(ca);
    csm_crs_unref(ca);
    csm_crs_unref(cb);
    csm_crs_unref(cc);
    csm_crs_unref(NULL);
}
END_TEST

START_TEST(test_json_and_empty_configs)
{
    const char *json = "{\n\t\"kind\": \"CustomResourceStateMetrics\",\n\t\"spec\": {\n"
                       "\t\t\"resources\": [{\"groupVersionKind\": {\"group\": \"myteam.io\","
                       " \"version\": \"v1\", \"kind\": \"Foo\"}, \"errorLogV\": 5,\n"
                       "\t\t\"metrics\": [{\"name\": \"up\", \"errorLogV\": 2, \"each\": "
                       "{\"type\": \"Gauge\", \"gauge\": {\"path\": [\"status\", \"uptime\"]}}}]}]"
                       "\n\t}\n}\n";
    const char *empty = "kind: CustomResourceStateMetrics\nspec:\n  resources: []\n";
    const char *noresources = "spec: {}\n";
    csm_crs *c = NULL;
    char err[256];

    expect(json, "kube_customresource_up{" GVK "} 43.21\n");
    ck_assert_int_eq(csm_crs_load_text("e", empty, strlen(empty), &c, err, sizeof(err)), CSM_OK);
    ck_assert_uint_eq(csm_crs_resources(c), 0);
    csm_crs_unref(c);
    ck_assert_int_eq(csm_crs_load_text("e", noresources, strlen(noresources), &c, err, sizeof(err)),
                     CSM_OK);
    ck_assert_uint_eq(csm_crs_resources(c), 0);
    csm_crs_unref(c);
}
END_TEST

/* ---- load errors --------------------------------------------------------- */

static void load_fails(const char *yaml, const char *want)
{
    csm_crs *c = (csm_crs *)0x1;
    char err[1024] = "";
    csm_err e = csm_crs_load_text("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err));
    ck_assert_msg(e == CSM_ERR_INVALID || e == CSM_ERR_PARSE, "loaded: %s", yaml);
    ck_assert_ptr_eq(c, (csm_crs *)0x1);
    ck_assert_str_eq(err, want);
}

#define METRIC_HEAD HEAD "    - name: m\n"

START_TEST(test_errors_document)
{
    load_fails("spec: [unclosed\n", "t.yaml:2:1: YAML: did not find expected ',' or ']' while "
                                    "parsing a flow sequence");
    load_fails("", "t.yaml: (document): empty; expected a CustomResourceStateMetrics");
    load_fails("kind: Deployment\nspec: {}\n",
               "t.yaml:1:7: kind: expected CustomResourceStateMetrics, found \"Deployment\"");
    load_fails("kind: CustomResourceStateMetrics\n", "t.yaml:1:1: spec: missing");
    load_fails("specs: {}\n", "t.yaml:1:1: (document): unknown field \"specs\" (expected one "
                              "of: apiVersion, kind, metadata, spec)");
    load_fails("spec: {resources: {}}\n",
               "t.yaml:1:19: spec.resources: expected a list of resources, found a map");
    load_fails("spec: {}\n---\nspec: {}\n", "t.yaml:2:1: a second YAML document; the config is one "
                                            "CustomResourceStateMetrics document");
    load_fails("spec: {resources: [], resources: []}\n",
               "t.yaml:1:23: spec: key \"resources\" appears twice");
}
END_TEST

START_TEST(test_errors_resource)
{
    load_fails("spec:\n  resources:\n  - metrics: []\n",
               "t.yaml:3:5: spec.resources[0].groupVersionKind: missing");
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: x.io, kind: Foo}\n",
               "t.yaml:3:23: spec.resources[0].groupVersionKind: needs a version and a kind "
               "(\"*\" for any)");
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: X_, version: v1, kind: Foo}\n",
               "t.yaml:3:23: spec.resources[0].groupVersionKind: \"X_/v1/Foo\" is not a valid "
               "group/version/kind (group a DNS subdomain or \"\", version [a-z0-9]+ or \"*\", "
               "kind [A-Za-z][A-Za-z0-9]* or \"*\")");
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
               "    lablesFromPath: {}\n",
               "t.yaml:4:5: spec.resources[0]: unknown field \"lablesFromPath\" (expected one of: "
               "groupVersionKind, resourcePlural, metricNamePrefix, commonLabels, labelsFromPath, "
               "metrics, errorLogV, "
               "labelSelector, fieldSelector, maxSeries)");
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
               "  - groupVersionKind: {group: x.io, version: v2, kind: Foo}\n",
               "t.yaml:4:5: spec.resources[1]: x.io/Foo is also configured with version v1 at "
               "line 3; configure one version per kind");
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
               "    commonLabels: {bad-name: x}\n",
               "t.yaml:4:20: spec.resources[0].commonLabels.bad-name: \"bad-name\" is not a valid "
               "label name");
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
               "    labelsFromPath: {a-b: [x], a_b: [y]}\n",
               "t.yaml:4:32: spec.resources[0].labelsFromPath.a_b: keys \"a-b\" and \"a_b\" both "
               "give label \"a_b\"");
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
               "    metrics: {}\n",
               "t.yaml:4:14: spec.resources[0].metrics: expected a list of metrics, found a map");
}
END_TEST

START_TEST(test_errors_metric)
{
    load_fails(HEAD "    - help: x\n      each: {type: Gauge, gauge: {}}\n",
               "t.yaml:7:7: spec.resources[0].metrics[0].name: missing: every metric needs a name");
    load_fails(HEAD "    - name: bad-name\n      each: {type: Gauge, gauge: {}}\n",
               "t.yaml:7:13: spec.resources[0].metrics[0].name: \"bad-name\" is not a valid "
               "metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
    load_fails(METRIC_HEAD, "t.yaml:7:7: spec.resources[0].metrics[0].each: missing");
    load_fails(METRIC_HEAD "      each: {gauge: {}}\n",
               "t.yaml:8:13: spec.resources[0].metrics[0].each.type: missing (Gauge, StateSet, "
               "Info or Count)");
    load_fails(METRIC_HEAD "      each: {type: Counter}\n",
               "t.yaml:8:20: spec.resources[0].metrics[0].each.type: unknown metric type "
               "\"Counter\" (expected Gauge, StateSet, Info or Count)");
    load_fails(METRIC_HEAD "      each: {type: Gauge, info: {}}\n",
               "t.yaml:8:13: spec.resources[0].metrics[0].each.gauge: missing: type Gauge needs "
               "each.gauge");
    load_fails(METRIC_HEAD "      each: {type: Gauge, gauge: {path: status.uptime}}\n",
               "t.yaml:8:41: spec.resources[0].metrics[0].each.gauge.path: expected a path (a "
               "list of strings such as [status, conditions]), found a scalar");
    load_fails(METRIC_HEAD "      each: {type: Gauge, gauge: {path: [status, [x]]}}\n",
               "t.yaml:8:50: spec.resources[0].metrics[0].each.gauge.path[1]: path segments must "
               "be strings, found a list");
    load_fails(METRIC_HEAD "      each: {type: Gauge, gauge: {path: [status, \"[type]\"]}}\n",
               "t.yaml:8:41: spec.resources[0].metrics[0].each.gauge.path: invalid list lookup "
               "\"[type]\": expected \"[key=value]\"");
    load_fails(METRIC_HEAD "      each: {type: Gauge, gauge: {nilIsZero: maybe}}\n",
               "t.yaml:8:46: spec.resources[0].metrics[0].each.gauge.nilIsZero: expected true or "
               "false, found a scalar");
    load_fails(METRIC_HEAD "      each: {type: Gauge, gauge: {valueType: bytes}}\n",
               "t.yaml:8:46: spec.resources[0].metrics[0].each.gauge.valueType: unknown value "
               "type \"bytes\" (expected quantity or duration)");
    load_fails(METRIC_HEAD "      each: {type: Gauge, gauge: {labelFromKey: 9x}}\n",
               "t.yaml:8:49: spec.resources[0].metrics[0].each.gauge.labelFromKey: \"9x\" is not "
               "a valid label name");
    load_fails(METRIC_HEAD "      each: {type: Gauge, gauge: {celExpr: x}}\n",
               "t.yaml:8:35: spec.resources[0].metrics[0].each.gauge: unknown field \"celExpr\" "
               "(expected one of: path, labelsFromPath, valueFrom, valueType, labelFromKey, "
               "nilIsZero, wildcardLabels)");
    load_fails(METRIC_HEAD "      each: {type: StateSet, stateSet: {list: [a]}}\n",
               "t.yaml:8:40: spec.resources[0].metrics[0].each.stateSet.labelName: missing: a "
               "StateSet needs the label that names its states");
    load_fails(METRIC_HEAD "      each: {type: StateSet, stateSet: {labelName: s}}\n",
               "t.yaml:8:40: spec.resources[0].metrics[0].each.stateSet.list: expected the list "
               "of states, found nothing");
    load_fails(METRIC_HEAD "      each: {type: Gauge, gauge: {}}\n"
                           "    - name: m\n      each: {type: Info, info: {}}\n",
               "t.yaml:9:7: spec.resources[0].metrics[1]: metric m is also defined at line 7 "
               "with another type; metrics sharing a name form one family and need one type");
}
END_TEST

/* Found by tests/fuzz/fuzz-crs: libyaml lets an alias name a node that
 * contains it, and nests without limit; the resource's fingerprint walked
 * either until the stack overflowed. */
START_TEST(test_errors_aliases_and_depth)
{
    char deep[512];
    char laughs[1024];
    int n;

    load_fails("spec:\n  resources:\n  - &r\n    groupVersionKind: {group: x.io, version: v1, "
               "kind: Foo}\n    errorLogV: *r\n",
               "t.yaml:4:24: spec.resources[0]: nested more than 64 deep, or an alias refers to "
               "a node that contains it");
    n = snprintf(deep, sizeof(deep), "%s    errorLogV: ",
                 "spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: "
                 "Foo}\n");
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    strcpy(deep + n, "\n");
    load_fails(deep, "t.yaml:4:80: spec.resources[0]: nested more than 64 deep, or an alias "
                     "refers to a node that contains it");
    /* Aliases that expand past the file size cap: 10^8 copies of "lol". */
    n = snprintf(laughs, sizeof(laughs), "metadata:\n  a0: &a0 [lol]\n");
    for (int i = 1; i <= 8; i++)
        n += snprintf(laughs + n, sizeof(laughs) - (size_t)n,
                      "  a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i,
                      i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    snprintf(laughs + n, sizeof(laughs) - (size_t)n,
             "spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
             "    errorLogV: *a8\n");
    load_fails(laughs, "t.yaml:13:5: spec.resources[0]: larger than 16 MiB with its aliases "
                       "expanded");
}
END_TEST

START_TEST(test_load_file)
{
    csm_crs *c = NULL;
    char err[512] = "";

    ck_assert_int_eq(csm_crs_load("data/crs/kitchensink.yaml", &c, err, sizeof(err)), CSM_OK);
    ck_assert_uint_eq(csm_crs_resources(c), 1);
    ck_assert_str_eq(csm_crs_resource_at(c, 0)->metrics[0].name, "kube_customresource_ready_count");
    csm_crs_unref(c);
    ck_assert_int_eq(csm_crs_load("data/crs/nope.yaml", &c, err, sizeof(err)), CSM_ERR_NOT_FOUND);
    ck_assert_str_eq(err, "data/crs/nope.yaml: No such file or directory");
}
END_TEST

/* Extension: type Count takes the metric's labels and nothing that picks
 * values inside an object. */
START_TEST(test_count_config)
{
    const char *ok = HEAD "    - name: by_plan\n      help: h\n"
                          "      labelsFromPath: {plan: [spec, plan]}\n"
                          "      each: {type: count, count: {maxSeries: 5}}\n"
                          "    - name: all\n      each: {type: Count}\n";
    csm_crs *c = NULL;
    char err[1024] = "";
    const csm_crs_resource *r;

    ck_assert_msg(csm_crs_load_text("t.yaml", ok, strlen(ok), &c, err, sizeof(err)) == CSM_OK, "%s",
                  err);
    r = csm_crs_resource_at(c, 0);
    ck_assert_int_eq(r->metrics[0].type, CSM_CRS_COUNT);
    ck_assert_uint_eq(r->metrics[0].max_series, 5);
    ck_assert_uint_eq(r->metrics[0].nbase, 1);
    ck_assert_uint_eq(r->metrics[1].max_series, CSM_CRS_COUNT_SERIES_DEFAULT);
    ck_assert_uint_eq(csm_crspath_len(r->metrics[1].path), 0);
    csm_crs_unref(c);

    load_fails(METRIC_HEAD "      each: {type: Count, count: {path: [spec]}}\n",
               "t.yaml:8:41: spec.resources[0].metrics[0].each.count.path: a Count counts whole "
               "objects, so path makes no sense here; put the labels to count by in the metric's "
               "labelsFromPath");
    load_fails(METRIC_HEAD "      each:\n        type: Count\n        count:\n"
                           "          valueFrom: [spec, replicas]\n",
               "t.yaml:11:22: spec.resources[0].metrics[0].each.count.valueFrom: a Count counts "
               "whole objects, so valueFrom makes no sense here; put the labels to count by in "
               "the metric's labelsFromPath");
    load_fails(METRIC_HEAD "      each: {type: Count, count: {labelsFromPath: {a: [x]}}}\n",
               "t.yaml:8:51: spec.resources[0].metrics[0].each.count.labelsFromPath: a Count "
               "counts whole objects, so labelsFromPath makes no sense here; put the labels to "
               "count by in the metric's labelsFromPath");
    load_fails(METRIC_HEAD "      each: {type: Count, gauge: {path: [spec]}}\n",
               "t.yaml:8:34: spec.resources[0].metrics[0].each.gauge: a Count takes no "
               "each.gauge (its settings go in each.count)");
    load_fails(METRIC_HEAD "      each: {type: Count, count: {maxSeries: 0}}\n",
               "t.yaml:8:46: spec.resources[0].metrics[0].each.count.maxSeries: expected a whole "
               "number from 1 to 1000000, found \"0\"");
    load_fails(METRIC_HEAD "      each: {type: Count, count: {maxSeries: -3}}\n",
               "t.yaml:8:46: spec.resources[0].metrics[0].each.count.maxSeries: expected a whole "
               "number from 1 to 1000000, found \"-3\"");
    load_fails(METRIC_HEAD "      each: {type: Count, count: {maxSeries: [1]}}\n",
               "t.yaml:8:46: spec.resources[0].metrics[0].each.count.maxSeries: expected a whole "
               "number from 1 to 1000000, found a list");
    load_fails(METRIC_HEAD "      each: {type: Count, count: {maxSeris: 3}}\n",
               "t.yaml:8:35: spec.resources[0].metrics[0].each.count: unknown field \"maxSeris\" "
               "(expected one of: maxSeries)");
    /* A Count family is its own: no other metric, in any resource, may
     * share its name, and it belongs to one concrete resource. */
    load_fails(HEAD "    - {name: m, each: {type: Count}}\n"
                    "  - groupVersionKind: {group: myteam.io, version: v1, kind: Bar}\n"
                    "    metricNamePrefix: \"\"\n    metrics:\n"
                    "    - {name: m, each: {type: Gauge, gauge: {path: [spec, x]}}}\n",
               "t.yaml:11:7: spec.resources[1].metrics[0]: metric m is also defined at line 7; a "
               "Count family is its own and shares its name with no other metric");
    load_fails(HEAD "    - {name: m, each: {type: Count}}\n    - {name: m, each: {type: Count}}\n",
               "t.yaml:8:7: spec.resources[0].metrics[1]: metric m is also defined at line 7; a "
               "Count family is its own and shares its name with no other metric");
    load_fails("kind: CustomResourceStateMetrics\nspec:\n  resources:\n"
               "  - groupVersionKind: {group: myteam.io, version: \"*\", kind: Foo}\n"
               "    metrics:\n    - {name: m, each: {type: Count}}\n",
               "t.yaml:6:7: spec.resources[0].metrics[0]: a Count metric needs a concrete version "
               "and kind (its family belongs to one resource); this entry has \"*\"");
}
END_TEST

START_TEST(test_max_series)
{
    const char *yaml = "spec:\n  resources:\n"
                       "  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
                       "    maxSeries: 5000\n"
                       "  - groupVersionKind: {group: x.io, version: v1, kind: Bar}\n";
    csm_crs *c = NULL;
    char err[512] = "";

    ck_assert_msg(csm_crs_load_text("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)) == CSM_OK,
                  "%s", err);
    ck_assert_uint_eq(csm_crs_resource_at(c, 0)->max_series, 5000);
    ck_assert_uint_eq(csm_crs_resource_at(c, 1)->max_series, 0);
    csm_crs_unref(c);
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
               "    maxSeries: 0\n",
               "t.yaml:4:16: spec.resources[0].maxSeries: expected an integer in 1..999999999, "
               "found 0");
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
               "    maxSeries: 1e12\n",
               "t.yaml:4:16: spec.resources[0].maxSeries: expected an integer in 1..999999999, "
               "found 1e12");
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
               "    maxSeries: 1000000000\n",
               "t.yaml:4:16: spec.resources[0].maxSeries: expected an integer in 1..999999999, "
               "found 1000000000");
    load_fails("spec:\n  resources:\n  - groupVersionKind: {group: x.io, version: v1, kind: Foo}\n"
               "    maxSeries: [1]\n",
               "t.yaml:4:16: spec.resources[0].maxSeries: expected an integer in 1..999999999, "
               "found a list");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crs");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_gauge_single_and_map);
    tcase_add_test(tc, test_gauge_relative_value_from);
    tcase_add_test(tc, test_gauge_missing_paths);
    tcase_add_test(tc, test_gauge_arrays_and_conversions);
    tcase_add_test(tc, test_gauge_wrong_type);
    tcase_add_test(tc, test_gauge_value_from_names_map_entry);
    tcase_add_test(tc, test_info);
    tcase_add_test(tc, test_stateset);
    tcase_add_test(tc, test_base_labels_and_precedence);
    tcase_add_test(tc, test_map_copies);
    tcase_add_test(tc, test_label_value_forms);
    tcase_add_test(tc, test_same_name_is_one_family);
    tcase_add_test(tc, test_matching_and_wildcards);
    tcase_add_test(tc, test_fingerprints);
    tcase_add_test(tc, test_json_and_empty_configs);
    tcase_add_test(tc, test_errors_document);
    tcase_add_test(tc, test_errors_resource);
    tcase_add_test(tc, test_max_series);
    tcase_add_test(tc, test_errors_metric);
    tcase_add_test(tc, test_errors_aliases_and_depth);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_selectors);
    tcase_add_test(tc, test_plural);
    tcase_add_test(tc, test_count_config);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
