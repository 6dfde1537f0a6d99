/*
 * The built-in generators labels, annotations (src/render/metalabels.c), created
 * and status, each series checked, and objects they cannot fully read.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "generators/builtin.h"
#include "base/buf.h"
#include "check_main.h"
#include "render/crs.h"
#include "render/gen.h"
#include "gentest.h"

static const char obj_json[] =
    "{\"metadata\":{\"name\":\"mc\",\"namespace\":\"default\",\"generation\":4,"
    "\"creationTimestamp\":\"2024-01-02T03:04:05Z\","
    "\"labels\":{\"tier\":\"cache\",\"app.kubernetes.io/name\":\"memcached\","
    "\"app_kubernetes_io/name\":\"other\",\"app-kubernetes.io/name\":\"third\",\"9lives\":\"x\"},"
    "\"annotations\":{\"owner\":\"team-a\",\"note\":\"a \\\"quoted\\\"\\nline\"}},"
    "\"status\":{\"observedGeneration\":3,\"phase\":\"Running\",\"conditions\":["
    "{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"Degraded\",\"status\":\"false\"},"
    "{\"type\":\"Progressing\",\"status\":\"Unknown\"}]}}";

typedef struct result {
    char *text;
    size_t failures;
    char *diag;
    csm_genset *gs;
} result;

static result run(const char *gen, const char *arg, const char *json, int namespaced)
{
    csm_resource_desc d = {"cache.example.com", "v1",       "Memcached",
                           "memcacheds",        namespaced, "memcached"};
    char err[256] = "";
    result r;

    ck_assert_int_eq(csm_genset_new(&d, NULL, NULL, &r.gs), CSM_OK);
    ck_assert_ptr_nonnull(csm_gen_builtin(gen));
    ck_assert_msg(csm_genset_add(r.gs, csm_gen_builtin(gen), arg, err, sizeof(err)) == CSM_OK, "%s",
                  err);
    r.text = gentest_render(r.gs, json, &r.failures, &r.diag);
    return r;
}

static void result_free(result *r)
{
    free(r->text);
    free(r->diag);
    csm_genset_free(r->gs);
}

START_TEST(test_builtin_table)
{
    static const char *const names[] = {"info",    "labels", "annotations",
                                        "created", "status", "lifecycle"};
    ck_assert_uint_eq(csm_gen_builtins(), 6);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_str_eq(csm_gen_builtin_at(i)->name, names[i]);
        ck_assert_ptr_eq(csm_gen_builtin(names[i]), csm_gen_builtin_at(i));
    }
    ck_assert_ptr_null(csm_gen_builtin_at(6));
    ck_assert_ptr_null(csm_gen_builtin("config")); /* added by the exporter, not by name */
    ck_assert_ptr_null(csm_gen_builtin("nope"));
}
END_TEST

/* `lifecycle` renders nothing per object: its counters live in the
 * resource's accounting, which the set's users find through these. */
START_TEST(test_lifecycle_is_a_marker)
{
    result r = run("lifecycle", NULL, obj_json, 1);
    ck_assert_uint_eq(csm_genset_families(r.gs), 0);
    ck_assert_str_eq(r.text, "");
    ck_assert_uint_eq(r.failures, 0);
    ck_assert_int_eq(csm_genset_uses(r.gs, csm_gen_builtin("lifecycle")), 1);
    ck_assert_int_eq(csm_genset_uses(r.gs, csm_gen_builtin("info")), 0);
    ck_assert_int_eq(csm_genset_uses(NULL, csm_gen_builtin("info")), 0);
    ck_assert_int_eq(csm_genset_admits(r.gs, "memcached_created_total"), 1);
    result_free(&r);
}
END_TEST

START_TEST(test_labels_without_allowlist)
{
    /* kube-state-metrics' default: the series, without label_ labels. */
    result r = run("labels", NULL, obj_json, 1);
    ck_assert_str_eq(csm_genset_family(r.gs, 0)->name, "memcached_labels");
    ck_assert_str_eq(csm_genset_family(r.gs, 0)->help,
                     "Kubernetes labels converted to Prometheus labels.");
    ck_assert_str_eq(r.text, "memcached_labels{namespace=\"default\",memcached=\"mc\"} 1\n");
    ck_assert_uint_eq(r.failures, 0);
    result_free(&r);
    /* Another resource's entry admits nothing here. */
    r = run("labels", "pods=[*]", obj_json, 1);
    ck_assert_str_eq(r.text, "memcached_labels{namespace=\"default\",memcached=\"mc\"} 1\n");
    result_free(&r);
}
END_TEST

START_TEST(test_labels_allowlist_by_plural_and_star)
{
    result r = run("labels", "memcacheds=[tier,missing]", obj_json, 1);
    ck_assert_str_eq(r.text, "memcached_labels{namespace=\"default\",memcached=\"mc\","
                             "label_tier=\"cache\"} 1\n");
    result_free(&r);
    /* The resource's entry and the "*" entry together. */
    r = run("labels", "memcacheds=[tier],*=[9lives]", obj_json, 1);
    ck_assert_str_eq(r.text, "memcached_labels{namespace=\"default\",memcached=\"mc\","
                             "label_9lives=\"x\",label_tier=\"cache\"} 1\n");
    result_free(&r);
}
END_TEST

START_TEST(test_labels_all_keys_and_conflicts)
{
    /* Three keys sanitize to label_app_kubernetes_io_name: in key order they
     * become _conflict1.._conflict3, as kube-state-metrics names them. */
    result r = run("labels", "*=[*]", obj_json, 0);
    ck_assert_str_eq(r.text,
                     "memcached_labels{namespace=\"default\",memcached=\"mc\","
                     "label_9lives=\"x\",label_app_kubernetes_io_name_conflict1=\"third\","
                     "label_app_kubernetes_io_name_conflict2=\"memcached\","
                     "label_app_kubernetes_io_name_conflict3=\"other\",label_tier=\"cache\"} 1\n");
    ck_assert_uint_eq(r.failures, 0);
    result_free(&r);
}
END_TEST

START_TEST(test_labels_conflict_with_real_key)
{
    result r = run("labels", "*=[*]",
                   "{\"metadata\":{\"name\":\"x\",\"labels\":{\"a.b\":\"1\",\"a_b\":\"2\","
                   "\"a_b_conflict1\":\"3\"}}}",
                   0);
    /* "a.b" and "a_b" become _conflict1 and _conflict2; the real key
     * "a_b_conflict1" then collides and is left out, reported. */
    ck_assert_str_eq(r.text, "memcached_labels{memcached=\"x\",label_a_b_conflict1=\"1\","
                             "label_a_b_conflict2=\"2\"} 1\n");
    ck_assert_uint_eq(r.failures, 0);
    ck_assert_str_eq(r.diag,
                     "labels: key \"a_b_conflict1\" gives a label name already in use; left out\n");
    result_free(&r);
}
END_TEST

START_TEST(test_annotations)
{
    result r = run("annotations", "memcacheds=[note,owner]", obj_json, 1);
    ck_assert_str_eq(csm_genset_family(r.gs, 0)->name, "memcached_annotations");
    ck_assert_str_eq(r.text, "memcached_annotations{namespace=\"default\",memcached=\"mc\","
                             "annotation_note=\"a \\\"quoted\\\"\\nline\","
                             "annotation_owner=\"team-a\"} 1\n");
    result_free(&r);
    /* No annotations at all, no name. */
    r = run("annotations", "*=[*]", "{\"metadata\":{\"name\":\"bare\"}}", 0);
    ck_assert_str_eq(r.text, "memcached_annotations{memcached=\"bare\"} 1\n");
    result_free(&r);
    r = run("annotations", NULL, "{\"metadata\":{}}", 0);
    ck_assert_str_eq(r.text, "");
    ck_assert_uint_eq(r.failures, 1);
    result_free(&r);
}
END_TEST

START_TEST(test_bad_allowlist_fails_init)
{
    csm_resource_desc d = {"g.io", "v1", "K", "ks", 1, "k"};
    csm_genset *gs = NULL;
    char err[256] = "";

    ck_assert_int_eq(csm_genset_new(&d, NULL, NULL, &gs), CSM_OK);
    ck_assert_int_eq(csm_genset_add(gs, csm_gen_builtin("labels"), "ks=[a", err, sizeof(err)),
                     CSM_ERR_INVALID);
    ck_assert_str_eq(err, "generator labels for K: invalid argument");
    ck_assert_uint_eq(csm_genset_families(gs), 0);
    csm_genset_free(gs);
}
END_TEST

START_TEST(test_created)
{
    result r = run("created", NULL, obj_json, 1);
    ck_assert_str_eq(csm_genset_family(r.gs, 0)->name, "memcached_created");
    ck_assert_str_eq(r.text, "memcached_created{namespace=\"default\",memcached=\"mc\"} "
                             "1704164645\n");
    result_free(&r);
    r = run("created", NULL,
            "{\"metadata\":{\"name\":\"x\",\"creationTimestamp\":\"2024-01-02T03:04:05.9Z\"}}", 0);
    ck_assert_str_eq(r.text, "memcached_created{memcached=\"x\"} 1704164645\n");
    result_free(&r);
    /* Missing or malformed: nothing, counted. */
    r = run("created", NULL, "{\"metadata\":{\"name\":\"x\"}}", 0);
    ck_assert_str_eq(r.text, "");
    ck_assert_uint_eq(r.failures, 1);
    result_free(&r);
    r = run("created", NULL, "{\"metadata\":{\"name\":\"x\",\"creationTimestamp\":\"yesterday\"}}",
            0);
    ck_assert_str_eq(r.text, "");
    ck_assert_uint_eq(r.failures, 1);
    result_free(&r);
}
END_TEST

START_TEST(test_status)
{
    result r = run("status", NULL, obj_json, 1);
    ck_assert_uint_eq(csm_genset_families(r.gs), 3);
    ck_assert_str_eq(csm_genset_family(r.gs, 0)->name, "memcached_status_condition");
    ck_assert_str_eq(csm_genset_family(r.gs, 1)->name, "memcached_metadata_generation");
    ck_assert_str_eq(csm_genset_family(r.gs, 2)->name, "memcached_status_observed_generation");
    ck_assert_str_eq(csm_genset_family(r.gs, 0)->help,
                     "The condition of a Memcached: 1 for the status a condition type has, 0 "
                     "for the others.");
#define B "namespace=\"default\",memcached=\"mc\""
    ck_assert_str_eq(r.text,
                     "memcached_status_condition{" B ",type=\"Ready\",status=\"true\"} 1\n"
                     "memcached_status_condition{" B ",type=\"Ready\",status=\"false\"} 0\n"
                     "memcached_status_condition{" B ",type=\"Ready\",status=\"unknown\"} 0\n"
                     "memcached_status_condition{" B ",type=\"Degraded\",status=\"true\"} 0\n"
                     "memcached_status_condition{" B ",type=\"Degraded\",status=\"false\"} 1\n"
                     "memcached_status_condition{" B ",type=\"Degraded\",status=\"unknown\"} 0\n"
                     "memcached_status_condition{" B ",type=\"Progressing\",status=\"true\"} 0\n"
                     "memcached_status_condition{" B ",type=\"Progressing\",status=\"false\"} 0\n"
                     "memcached_status_condition{" B ",type=\"Progressing\",status=\"unknown\"} 1\n"
                     "memcached_metadata_generation{" B "} 4\n"
                     "memcached_status_observed_generation{" B "} 3\n");
#undef B
    ck_assert_uint_eq(r.failures, 0);
    result_free(&r);
}
END_TEST

START_TEST(test_status_partial_objects)
{
    /* A new object: no status yet; only the generation. */
    result r = run("status", NULL, "{\"metadata\":{\"name\":\"n\",\"generation\":1}}", 0);
    ck_assert_str_eq(r.text, "memcached_metadata_generation{memcached=\"n\"} 1\n");
    ck_assert_uint_eq(r.failures, 0);
    result_free(&r);
    /* Broken entries are skipped and reported; the rest is exported. */
    r = run("status", NULL,
            "{\"metadata\":{\"name\":\"n\",\"generation\":\"one\"},\"status\":{\"conditions\":["
            "{\"type\":\"A\",\"status\":\"True\"},{\"type\":\"A\",\"status\":\"False\"},"
            "{\"status\":\"True\"},{\"type\":\"B\",\"status\":\"Weird\"}],"
            "\"observedGeneration\":2}}",
            0);
    ck_assert_str_eq(r.text,
                     "memcached_status_condition{memcached=\"n\",type=\"A\",status=\"true\"} 1\n"
                     "memcached_status_condition{memcached=\"n\",type=\"A\",status=\"false\"} 0\n"
                     "memcached_status_condition{memcached=\"n\",type=\"A\",status=\"unknown\"} 0\n"
                     "memcached_status_condition{memcached=\"n\",type=\"B\",status=\"true\"} 0\n"
                     "memcached_status_condition{memcached=\"n\",type=\"B\",status=\"false\"} 0\n"
                     "memcached_status_condition{memcached=\"n\",type=\"B\",status=\"unknown\"} 0\n"
                     "memcached_status_observed_generation{memcached=\"n\"} 2\n");
    ck_assert_uint_eq(r.failures, 1);
    ck_assert_str_eq(r.diag, "status: condition type \"A\" appears twice; the first counts\n"
                             "status: a condition without a string type and status\n"
                             "status: a generation that is not a number\n");
    result_free(&r);
    r = run("status", NULL, "{\"metadata\":{\"name\":\"n\"},\"status\":{\"conditions\":{}}}", 0);
    ck_assert_str_eq(r.text, "");
    ck_assert_uint_eq(r.failures, 1);
    ck_assert_str_eq(r.diag, "status: status.conditions is not a list\n");
    result_free(&r);
}
END_TEST

/* ---- a tenant's object with 50,000 labels ------------------------------ */

#define BIG_N     50000
#define BIG_PAIRS 500 /* "c.NNNNN" and "c_NNNNN": both sanitize to label_c_NNNNN */

static const char big_crs[] =
    "kind: CustomResourceStateMetrics\n"
    "spec:\n"
    "  resources:\n"
    "  - groupVersionKind: {group: cache.example.com, version: v1, kind: Memcached}\n"
    "    metricNamePrefix: big\n"
    "    metrics:\n"
    "    - name: tags\n"
    "      each:\n"
    "        type: Info\n"
    "        info: {path: [spec], labelsFromPath: {\"tag_*\": [tags]}}\n";

/* A map of n entries: BIG_PAIRS conflicting pairs, the rest plain. */
static void big_map(csm_buf *b, const char *vprefix, size_t total)
{
    size_t n = 0;
    csm_buf_putc(b, '{');
    for (size_t i = 0; i < BIG_PAIRS; i++, n += 2)
        csm_buf_printf(b, "%s\"c.%05zu\":\"%s.%zu\",\"c_%05zu\":\"%s_%zu\"", i ? "," : "", i,
                       vprefix, i, i, vprefix, i);
    for (size_t i = 0; n < total; i++, n++)
        csm_buf_printf(b, ",\"k%05zu\":\"%s%zu\"", i, vprefix, i);
    csm_buf_putc(b, '}');
}

/* What kube-state-metrics' rules give for big_map(): keys in byte order
 * ('.' < '_' < 'k'), each pair renamed _conflict1 ("c.") and _conflict2. */
static void big_expected_meta(csm_buf *b, const char *family, const char *lprefix,
                              const char *vprefix)
{
    csm_buf_printf(b, "%s{namespace=\"ns\",memcached=\"big\"", family);
    for (size_t i = 0; i < BIG_PAIRS; i++)
        csm_buf_printf(b, ",%sc_%05zu_conflict1=\"%s.%zu\"", lprefix, i, vprefix, i);
    for (size_t i = 0; i < BIG_PAIRS; i++)
        csm_buf_printf(b, ",%sc_%05zu_conflict2=\"%s_%zu\"", lprefix, i, vprefix, i);
    for (size_t i = 0; i < BIG_N - 2 * BIG_PAIRS; i++)
        csm_buf_printf(b, ",%sk%05zu=\"%s%zu\"", lprefix, i, vprefix, i);
    csm_buf_puts(b, "} 1\n");
}

/* labelsFromPath over the map: labels sorted by name; the config
 * generator does not resolve conflicts (kube-state-metrics neither): "c."
 * and "c_" give the same name and the later entry in map order wins. */
static void big_expected_tags(csm_buf *b)
{
    csm_buf_puts(b, "big_tags{customresource_group=\"cache.example.com\","
                    "customresource_kind=\"Memcached\",customresource_version=\"v1\"");
    for (size_t i = 0; i < BIG_PAIRS; i++)
        csm_buf_printf(b, ",tag_c_%05zu=\"t_%zu\"", i, i);
    for (size_t i = 0; i < BIG_N - 2 * BIG_PAIRS; i++)
        csm_buf_printf(b, ",tag_k%05zu=\"t%zu\"", i, i);
    csm_buf_puts(b, "} 1\n");
}

static csm_genset *big_genset(size_t max_labels)
{
    csm_resource_desc d = {"cache.example.com", "v1", "Memcached", "memcacheds", 1, "memcached"};
    csm_genset *gs = NULL;
    csm_crs *crs = NULL;
    char err[512] = "";

    ck_assert_int_eq(csm_genset_new(&d, NULL, NULL, &gs), CSM_OK);
    ck_assert_int_eq(csm_genset_add(gs, csm_gen_builtin("labels"), "*=[*]", err, sizeof(err)),
                     CSM_OK);
    ck_assert_int_eq(csm_genset_add(gs, csm_gen_builtin("annotations"), "*=[*]", err, sizeof(err)),
                     CSM_OK);
    ck_assert_msg(csm_crs_load_text("big.yaml", big_crs, strlen(big_crs), &crs, err, sizeof(err)) ==
                      CSM_OK,
                  "%s", err);
    ck_assert_msg(csm_genset_add_ctx(gs, &csm_generator_config, NULL, crs, err, sizeof(err)) ==
                      CSM_OK,
                  "%s", err);
    csm_crs_unref(crs);
    csm_genset_limit_labels(gs, max_labels, NULL, NULL);
    return gs;
}

static cJSON *big_object(size_t n)
{
    csm_buf b;
    cJSON *obj;

    csm_buf_init(&b, (size_t)64 << 20);
    csm_buf_puts(&b, "{\"metadata\":{\"name\":\"big\",\"namespace\":\"ns\",\"labels\":");
    big_map(&b, "v", n);
    csm_buf_puts(&b, ",\"annotations\":");
    big_map(&b, "a", n);
    csm_buf_puts(&b, "},\"spec\":{\"tags\":");
    big_map(&b, "t", n);
    csm_buf_puts(&b, "}}");
    obj = cJSON_ParseWithLength(csm_buf_str(&b), b.len);
    ck_assert_ptr_nonnull(obj);
    csm_buf_free(&b);
    return obj;
}

static void big_check_family(const csm_block *blk, size_t f, const csm_buf *want)
{
    size_t len;
    const char *p = csm_block_slice(blk, f, &len);
    size_t at = 0;
    while (at < len && at < want->len && p[at] == csm_buf_str(want)[at])
        at++;
    ck_assert_msg(len == want->len && at == len,
                  "family %zu: %zu bytes, want %zu; from byte %zu: got \"%.60s\" want \"%.60s\"", f,
                  len, want->len, at, p + at, csm_buf_str(want) + at);
    ck_assert_msg(memcmp(p, csm_buf_str(want), len) == 0, "family %zu differs", f);
}

START_TEST(test_50000_labels)
{
    /* labels=*, annotations=* and labelsFromPath over a 50,000-entry map;
     * the time it takes is bench/labels' business, not this test's. */
    csm_genset *gs = big_genset(0);
    cJSON *obj = big_object(BIG_N);
    csm_block *blk = NULL;
    size_t failures = 99;
    csm_buf want;

    ck_assert_uint_eq(csm_genset_families(gs), 3);
    ck_assert_int_eq(csm_genset_render(gs, obj, &blk, &failures), CSM_OK);
    ck_assert_uint_eq(failures, 0);
    csm_buf_init(&want, (size_t)64 << 20);
    big_expected_meta(&want, "memcached_labels", "label_", "v");
    big_check_family(blk, 0, &want);
    csm_buf_reset(&want);
    big_expected_meta(&want, "memcached_annotations", "annotation_", "a");
    big_check_family(blk, 1, &want);
    csm_buf_reset(&want);
    big_expected_tags(&want);
    big_check_family(blk, 2, &want);
    ck_assert_uint_eq(csm_genset_dropped(gs), 0);
    csm_block_unref(blk);
    csm_buf_free(&want);
    csm_genset_free(gs);
    cJSON_Delete(obj);
}
END_TEST

typedef struct drops {
    size_t calls;
    size_t firsts;
    size_t nlabels;
} drops;

static void on_drop(void *ctx, const csm_resource_desc *res, const char *generator, size_t nlabels,
                    size_t max, int first)
{
    drops *d = ctx;
    (void)res;
    (void)generator;
    ck_assert_uint_eq(max, 256);
    d->calls++;
    d->firsts += first != 0;
    d->nlabels = nlabels;
}

START_TEST(test_label_cap_drops_whole_sample)
{
    /* Over the cap: each of the three samples is dropped whole (no
     * truncated series), without counting as a generator failure, the
     * same way on every render; the first drop only is "first". */
    csm_genset *gs = big_genset(256);
    cJSON *obj = big_object(2 * BIG_PAIRS + 1000);
    drops d = {0, 0, 0};
    size_t failures = 99;
    csm_block *blk = NULL;
    size_t len = 1;

    csm_genset_limit_labels(gs, 256, on_drop, &d);
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(csm_genset_render(gs, obj, &blk, &failures), CSM_OK);
        ck_assert_uint_eq(failures, 0);
        for (size_t f = 0; f < 3; f++) {
            csm_block_slice(blk, f, &len);
            ck_assert_uint_eq(len, 0);
        }
        csm_block_unref(blk);
    }
    ck_assert_uint_eq(d.calls, 6);
    ck_assert_uint_eq(d.firsts, 1);
    ck_assert_uint_eq(csm_genset_dropped(gs), 6);
    csm_genset_free(gs);
    cJSON_Delete(obj);

    /* At the cap exactly, nothing is dropped: namespace, name and 254. */
    {
        result r = run("labels", "*=[*]", "{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\"}}", 1);
        csm_buf o;
        cJSON *small;
        csm_buf_init(&o, 1 << 20);
        csm_buf_puts(&o, "{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\",\"labels\":{");
        for (int i = 0; i < 255; i++)
            csm_buf_printf(&o, "%s\"l%03d\":\"v\"", i ? "," : "", i);
        csm_buf_puts(&o, "}}}");
        small = cJSON_Parse(csm_buf_str(&o));
        d.calls = 0;
        csm_genset_limit_labels(r.gs, 256, on_drop, &d);
        /* 2 + 255 = 257 labels: dropped. */
        ck_assert_int_eq(csm_genset_render(r.gs, small, &blk, &failures), CSM_OK);
        csm_block_slice(blk, 0, &len);
        ck_assert_uint_eq(len, 0);
        ck_assert_uint_eq(d.calls, 1);
        ck_assert_uint_eq(d.nlabels, 257);
        csm_block_unref(blk);
        cJSON_Delete(small);
        /* 2 + 254 = 256: kept. */
        csm_buf_reset(&o);
        csm_buf_puts(&o, "{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\",\"labels\":{");
        for (int i = 0; i < 254; i++)
            csm_buf_printf(&o, "%s\"l%03d\":\"v\"", i ? "," : "", i);
        csm_buf_puts(&o, "}}}");
        small = cJSON_Parse(csm_buf_str(&o));
        ck_assert_int_eq(csm_genset_render(r.gs, small, &blk, &failures), CSM_OK);
        csm_block_slice(blk, 0, &len);
        ck_assert_uint_gt(len, 254 * 10);
        ck_assert_uint_eq(d.calls, 1);
        csm_block_unref(blk);
        cJSON_Delete(small);
        csm_buf_free(&o);
        result_free(&r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("generators");
    TCase *tc = tcase_create("core");
    TCase *big = tcase_create("big");

    tcase_add_test(tc, test_builtin_table);
    tcase_add_test(tc, test_lifecycle_is_a_marker);
    tcase_add_test(tc, test_labels_without_allowlist);
    tcase_add_test(tc, test_labels_allowlist_by_plural_and_star);
    tcase_add_test(tc, test_labels_all_keys_and_conflicts);
    tcase_add_test(tc, test_labels_conflict_with_real_key);
    tcase_add_test(tc, test_annotations);
    tcase_add_test(tc, test_bad_allowlist_fails_init);
    tcase_add_test(tc, test_created);
    tcase_add_test(tc, test_status);
    tcase_add_test(tc, test_status_partial_objects);
    tcase_add_test(tc, test_label_cap_drops_whole_sample);
    suite_add_tcase(s, tc);
    /* Not a timing assertion (bench/labels measures speed): check's 4 s
     * default kills a correct run under ASan on a loaded machine. */
    tcase_set_timeout(big, 120);
    tcase_add_test(big, test_50000_labels);
    suite_add_tcase(s, big);
    return csm_check_run(s);
}
