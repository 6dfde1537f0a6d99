#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generators/builtin.h"
#include "check_main.h"
#include "render/gen.h"

static const char obj_json[] =
    "{\"apiVersion\":\"cache.example.com/v1\",\"kind\":\"Memcached\","
    "\"metadata\":{\"name\":\"example-memcached\",\"namespace\":\"default\","
    "\"uid\":\"u-1\",\"creationTimestamp\":\"2024-01-02T03:04:05Z\","
    "\"labels\":{\"app.kubernetes.io/name\":\"mc\",\"tier\":\"cache\"}},"
    "\"spec\":{\"size\":3,\"paused\":false},"
    "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},"
    "{\"type\":\"Degraded\",\"status\":\"False\"}]}}";

static csm_resource_desc desc(int namespaced)
{
    csm_resource_desc d = {"cache.example.com", "v1",       "Memcached",
                           "memcacheds",        namespaced, "memcached"};
    return d;
}

static char *render_text(csm_genset *gs, const char *json, size_t family, size_t *failures)
{
    cJSON *obj = cJSON_Parse(json);
    csm_block *blk = NULL;
    size_t len;
    const char *p;
    char *out;

    ck_assert_ptr_nonnull(obj);
    ck_assert_int_eq(csm_genset_render(gs, obj, &blk, failures), CSM_OK);
    p = csm_block_slice(blk, family, &len);
    out = strndup(p, len);
    csm_block_unref(blk);
    cJSON_Delete(obj);
    return out;
}

START_TEST(test_info_namespaced)
{
    csm_resource_desc d = desc(1);
    csm_genset *gs = NULL;
    char err[256];
    size_t failures = 9;
    char *text;

    ck_assert_int_eq(csm_genset_new(&d, NULL, NULL, &gs), CSM_OK);
    ck_assert_int_eq(csm_genset_add(gs, csm_gen_builtin("info"), NULL, err, sizeof(err)), CSM_OK);
    ck_assert_uint_eq(csm_genset_families(gs), 1);
    ck_assert_str_eq(csm_genset_family(gs, 0)->name, "memcached_info");
    ck_assert_int_eq(csm_genset_family(gs, 0)->type, CSM_METRIC_INFO);
    text = render_text(gs, obj_json, 0, &failures);
    ck_assert_str_eq(text,
                     "memcached_info{namespace=\"default\",memcached=\"example-memcached\"} 1\n");
    ck_assert_uint_eq(failures, 0);
    free(text);
    csm_genset_free(gs);
}
END_TEST

START_TEST(test_info_cluster_scoped_and_missing_name)
{
    csm_resource_desc d = desc(0);
    csm_genset *gs = NULL;
    char err[256];
    size_t failures = 0;
    char *text;

    ck_assert_int_eq(csm_genset_new(&d, NULL, NULL, &gs), CSM_OK);
    ck_assert_int_eq(csm_genset_add(gs, csm_gen_builtin("info"), NULL, err, sizeof(err)), CSM_OK);
    text = render_text(gs, "{\"metadata\":{\"name\":\"alpha\",\"uid\":\"x\"}}", 0, &failures);
    ck_assert_str_eq(text, "memcached_info{memcached=\"alpha\"} 1\n");
    free(text);
    /* No name: nothing emitted, the failure is counted, no crash. */
    text = render_text(gs, "{\"metadata\":{\"uid\":\"x\"}}", 0, &failures);
    ck_assert_str_eq(text, "");
    ck_assert_uint_eq(failures, 1);
    free(text);
    /* metadata of the wrong type. */
    text = render_text(gs, "{\"metadata\":[1,2]}", 0, &failures);
    ck_assert_str_eq(text, "");
    free(text);
    csm_genset_free(gs);
}
END_TEST

START_TEST(test_label_value_escaping_through_emit)
{
    csm_resource_desc d = desc(1);
    csm_genset *gs = NULL;
    char err[256];
    char *text;

    ck_assert_int_eq(csm_genset_new(&d, NULL, NULL, &gs), CSM_OK);
    ck_assert_int_eq(csm_genset_add(gs, csm_gen_builtin("info"), NULL, err, sizeof(err)), CSM_OK);
    text = render_text(
        gs, "{\"metadata\":{\"name\":\"a\\\"b\\\\c\\nd\\u00e9\",\"namespace\":\"ns\"}}", 0, NULL);
    ck_assert_str_eq(text,
                     "memcached_info{namespace=\"ns\",memcached=\"a\\\"b\\\\c\\nd\xc3\xa9\"} 1\n");
    free(text);
    csm_genset_free(gs);
}
END_TEST

/* A hand-written generator exercising the ABI's failure paths. */
static size_t fam_ok, fam_other;

static csm_err bad_init(const csm_resource_desc *res, const char *arg, csm_families *fams,
                        void **state)
{
    (void)res;
    (void)state;
    ck_assert_int_eq(csm_families_add(fams, "9bad", "x", CSM_METRIC_GAUGE, &fam_ok),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(csm_families_add(fams, "t_ok", "help", CSM_METRIC_GAUGE, &fam_ok), CSM_OK);
    ck_assert_int_eq(csm_families_add(fams, "t_ok", "dup", CSM_METRIC_GAUGE, &fam_other),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(csm_families_add(fams, "t_denied", "help", CSM_METRIC_GAUGE, &fam_other),
                     CSM_OK);
    return arg && strcmp(arg, "fail") == 0 ? CSM_ERR_INVALID : CSM_OK;
}

static csm_err bad_generate(void *state, const csm_object *obj, csm_emitter *em)
{
    const char *n1[] = {"a", "a"};
    const char *v1[] = {"1", "2"};
    const char *n2[] = {"__reserved"};
    const char *n3[] = {"bad-name"};
    const char *n4[] = {"k"};
    (void)state;
    (void)obj;
    ck_assert_int_eq(csm_emit(em, fam_ok, 2, n1, v1, 1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_emit(em, fam_ok, 1, n2, v1, 1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_emit(em, fam_ok, 1, n3, v1, 1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_emit(em, 99, 1, n4, v1, 1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_emit(em, fam_ok, 1, n4, v1, 0.5), CSM_OK);
    ck_assert_int_eq(csm_emit(em, fam_other, 1, n4, v1, 2), CSM_OK); /* filtered: no-op */
    ck_assert_int_eq(csm_emit(em, fam_ok, 0, NULL, NULL, NAN), CSM_OK);
    return CSM_OK;
}

static const csm_generator bad_gen = {CSM_GENERATOR_ABI_VERSION, "bad", bad_init, bad_generate,
                                      NULL};

static int deny_denied(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "t_denied") != 0;
}

START_TEST(test_abi_failures_and_filter)
{
    csm_resource_desc d = desc(1);
    csm_genset *gs = NULL;
    char err[256];
    char *text;
    csm_generator old = bad_gen;

    ck_assert_int_eq(csm_genset_new(&d, deny_denied, NULL, &gs), CSM_OK);
    old.abi_version = 99;
    ck_assert_int_eq(csm_genset_add(gs, &old, NULL, err, sizeof(err)), CSM_ERR_ABI);
    ck_assert_ptr_nonnull(strstr(err, "ABI version 99"));
    /* A failed init leaves no families behind. */
    ck_assert_int_eq(csm_genset_add(gs, &bad_gen, "fail", err, sizeof(err)), CSM_ERR_INVALID);
    ck_assert_uint_eq(csm_genset_families(gs), 0);
    ck_assert_int_eq(csm_genset_add(gs, &bad_gen, NULL, err, sizeof(err)), CSM_OK);
    ck_assert_uint_eq(csm_genset_families(gs), 1);
    text = render_text(gs, obj_json, 0, NULL);
    ck_assert_str_eq(text, "t_ok{k=\"1\"} 0.5\nt_ok NaN\n");
    free(text);
    csm_genset_free(gs);
}
END_TEST

START_TEST(test_value_paths)
{
    cJSON *obj = cJSON_Parse(obj_json);
    const csm_value *root = csm_object_root((const csm_object *)obj);
    const char *s = NULL;
    double n = 0;
    int b = 1;
    const char *key = NULL;

    ck_assert_int_eq(csm_value_string(csm_value_path(root, "metadata.name"), &s), CSM_OK);
    ck_assert_str_eq(s, "example-memcached");
    ck_assert_int_eq(
        csm_value_string(csm_value_path(root, "metadata.labels[app.kubernetes.io/name]"), &s),
        CSM_OK);
    ck_assert_str_eq(s, "mc");
    ck_assert_int_eq(csm_value_string(csm_value_path(root, "status.conditions[1].type"), &s),
                     CSM_OK);
    ck_assert_str_eq(s, "Degraded");
    ck_assert_int_eq(csm_value_number(csm_value_path(root, "spec.size"), &n), CSM_OK);
    ck_assert_double_eq(n, 3);
    ck_assert_int_eq(csm_value_bool(csm_value_path(root, "spec.paused"), &b), CSM_OK);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(csm_value_number(csm_value_path(root, "spec.nope"), &n), CSM_ERR_NOT_FOUND);
    ck_assert_int_eq(csm_value_number(csm_value_path(root, "metadata.name"), &n), CSM_ERR_TYPE);
    ck_assert_ptr_null(csm_value_path(root, "status.conditions[7]"));
    ck_assert_ptr_null(csm_value_path(root, "status.conditions[1"));
    ck_assert_uint_eq(csm_value_size(csm_value_path(root, "status.conditions")), 2);
    ck_assert_ptr_nonnull(csm_value_entry(csm_value_path(root, "metadata.labels"), 1, &key));
    ck_assert_str_eq(key, "tier");
    ck_assert_int_eq(csm_value_kind_of(csm_value_path(root, "spec")), CSM_VALUE_MAP);
    ck_assert_int_eq(csm_value_kind_of(NULL), CSM_VALUE_NULL);
    ck_assert_int_eq(csm_value_timestamp(csm_value_path(root, "metadata.creationTimestamp"), &n),
                     CSM_OK);
    ck_assert_double_eq(n, 1704164645);
    ck_assert_str_eq(csm_object_uid((const csm_object *)obj), "u-1");
    cJSON_Delete(obj);
}
END_TEST

START_TEST(test_rfc3339)
{
    double t = 0;
    ck_assert_int_eq(csm_gen_parse_rfc3339("1970-01-01T00:00:00Z", &t), CSM_OK);
    ck_assert_double_eq(t, 0);
    ck_assert_int_eq(csm_gen_parse_rfc3339("2024-01-02T05:04:05.25+02:00", &t), CSM_OK);
    ck_assert_double_eq_tol(t, 1704164645.25, 1e-6);
    ck_assert_int_eq(csm_gen_parse_rfc3339("2024-01-02T03:04:05-01:30", &t), CSM_OK);
    ck_assert_double_eq(t, 1704164645 + 5400);
    ck_assert_int_eq(csm_gen_parse_rfc3339("2024-01-02 03:04:05", &t), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_gen_parse_rfc3339("2024-13-02T03:04:05Z", &t), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_gen_parse_rfc3339("2024-01-02T03:04:05Zjunk", &t), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_gen_parse_rfc3339("yesterday", &t), CSM_ERR_PARSE);
}
END_TEST

START_TEST(test_stem)
{
    char out[64];
    ck_assert_int_eq(csm_gen_stem("Memcached", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "memcached");
    ck_assert_int_eq(csm_gen_stem("ClusterThing", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "clusterthing");
    ck_assert_int_eq(csm_gen_stem("X509Cert", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "x509cert");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gen");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_info_namespaced);
    tcase_add_test(tc, test_info_cluster_scoped_and_missing_name);
    tcase_add_test(tc, test_label_value_escaping_through_emit);
    tcase_add_test(tc, test_abi_failures_and_filter);
    tcase_add_test(tc, test_value_paths);
    tcase_add_test(tc, test_rfc3339);
    tcase_add_test(tc, test_stem);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
