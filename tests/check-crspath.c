#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "render/crspath.h"

/* kube-state-metrics' test object (registry_factory_test.go) plus a few
 * fields for the cases it does not cover. */
static const char obj_json[] =
    "{\"spec\":{\"replicas\":1,\"version\":\"v0.0.0\",\"paused\":null,"
    "\"order\":[{\"id\":1,\"value\":true},{\"id\":3,\"value\":false}]},"
    "\"status\":{\"active\":{\"type-a\":1,\"type-b\":3},\"phase\":\"foo\","
    "\"uptime\":43.21,\"quantity_milli\":\"250m\",\"quantity_binarySI\":\"5Gi\","
    "\"percentage\":\"28%\","
    "\"condition_values\":[{\"name\":\"a\",\"value\":45},{\"name\":\"b\",\"value\":66}],"
    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},"
    "{\"type\":\"Provisioned\",\"status\":\"False\"}]},"
    "\"metadata\":{\"name\":\"foo\",\"labels\":{\"foo\":\"bar\"},"
    "\"annotations\":{\"qux\":\"quxx\",\"bar\":\"baz\",\"k=v\":\"literal\"},"
    "\"percentage\":\"39%\",\"creationTimestamp\":\"2022-06-28T00:00:00Z\"}}";

static cJSON *obj;

static void setup(void)
{
    obj = cJSON_Parse(obj_json);
    ck_assert_ptr_nonnull(obj);
}

static void teardown(void)
{
    cJSON_Delete(obj);
}

static const csm_value *get(const char *const *segs, size_t n)
{
    csm_crspath *p = NULL;
    char why[256];
    const csm_value *v;

    ck_assert_int_eq(csm_crspath_compile(segs, n, &p, why, sizeof(why)), CSM_OK);
    v = csm_crspath_get(p, (const csm_value *)obj);
    csm_crspath_free(p);
    return v;
}

#define GET(...)                                                                                   \
    get((const char *const[]){__VA_ARGS__},                                                        \
        sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static char *fmt(const csm_value *v)
{
    csm_buf b;
    char *s;
    csm_buf_init(&b, 1 << 20);
    ck_assert_int_eq(csm_crspath_format(v, &b), CSM_OK);
    s = strdup(csm_buf_str(&b));
    csm_buf_free(&b);
    return s;
}

static void assert_fmt(const csm_value *v, const char *want)
{
    char *got = fmt(v);
    ck_assert_str_eq(got, want);
    free(got);
}

static double num(const csm_value *v)
{
    double d = -1;
    char why[256];
    ck_assert_int_eq(csm_crspath_number(v, 0, CSM_CRSPATH_AUTO, &d, why, sizeof(why)), CSM_OK);
    return d;
}

START_TEST(test_plain_keys_and_indices)
{
    ck_assert_double_eq(num(GET("spec", "replicas")), 1);
    assert_fmt(GET("metadata", "labels", "foo"), "bar");
    /* Array indices, negative from the end. */
    assert_fmt(GET("spec", "order", "0", "value"), "true");
    assert_fmt(GET("spec", "order", "-1", "value"), "false");
    assert_fmt(GET("spec", "order", "+1", "id"), "3");
    /* Out of range, or not an index on an array: missing. */
    ck_assert_ptr_null(GET("spec", "order", "2", "value"));
    ck_assert_ptr_null(GET("spec", "order", "-3"));
    ck_assert_ptr_null(GET("spec", "order", "x"));
    /* A key on a scalar, a missing key, a JSON null: missing. */
    ck_assert_ptr_null(GET("spec", "replicas", "x"));
    ck_assert_ptr_null(GET("spec", "nope"));
    ck_assert_ptr_null(GET("spec", "paused"));
}
END_TEST

START_TEST(test_empty_path_is_identity)
{
    csm_crspath *p = NULL;
    char why[64];
    ck_assert_int_eq(csm_crspath_compile(NULL, 0, &p, why, sizeof(why)), CSM_OK);
    ck_assert_ptr_eq(csm_crspath_get(p, (const csm_value *)obj), (const csm_value *)obj);
    ck_assert_str_eq(csm_crspath_text(p), "[]");
    ck_assert_uint_eq(csm_crspath_len(p), 0);
    csm_crspath_free(p);
    csm_crspath_free(NULL);
}
END_TEST

START_TEST(test_list_lookups)
{
    /* The documentation's examples. */
    ck_assert_double_eq(num(GET("status", "condition_values", "[name=a]", "value")), 45);
    assert_fmt(GET("status", "condition_values", "[value=66]", "name"), "b");
    /* kube-state-metrics' own: a number and a boolean match. */
    assert_fmt(GET("spec", "order", "[id=3]", "value"), "false");
    assert_fmt(GET("spec", "order", "[value=false]", "id"), "3");
    assert_fmt(GET("status", "conditions", "[type=Ready]", "status"), "True");
    ck_assert_double_eq(num(GET("status", "conditions", "[type=Ready]", "status")), 1);
    /* No match, or not an array: missing. */
    ck_assert_ptr_null(GET("status", "conditions", "[type=Nope]"));
    ck_assert_ptr_null(GET("status", "active", "[type=Ready]"));
}
END_TEST

START_TEST(test_key_equals_value_segment)
{
    /* [metadata, "name=foo"]: the value if metadata.name is "foo". */
    assert_fmt(GET("metadata", "name=foo"), "foo");
    ck_assert_ptr_null(GET("metadata", "name=bar"));
    /* Otherwise the segment is an ordinary key. */
    assert_fmt(GET("metadata", "annotations", "k=v"), "literal");
    assert_fmt(GET("metadata", "annotations", "bar=baz"), "baz");
}
END_TEST

START_TEST(test_compile_errors_and_text)
{
    static const char *const bad1[] = {"status", "[type]"};
    static const char *const bad2[] = {"[]"};
    static const char *const ok[] = {"status", "conditions", "[type=Ready]", "status"};
    csm_crspath *p = NULL;
    char why[256] = "";

    ck_assert_int_eq(csm_crspath_compile(bad1, 2, &p, why, sizeof(why)), CSM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(why, "[type]"));
    ck_assert_int_eq(csm_crspath_compile(bad2, 1, &p, why, sizeof(why)), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_crspath_compile(ok, 4, &p, why, sizeof(why)), CSM_OK);
    ck_assert_str_eq(csm_crspath_text(p), "[status,conditions,[type=Ready],status]");
    ck_assert_str_eq(csm_crspath_segment(p, 2), "[type=Ready]");
    ck_assert_ptr_null(csm_crspath_segment(p, 4));
    csm_crspath_free(p);
}
END_TEST

static double conv(const char *s)
{
    double d = -1;
    ck_assert_msg(csm_crspath_string_number(s, &d) == CSM_OK, "\"%s\" rejected", s);
    return d;
}

START_TEST(test_string_conversions)
{
    ck_assert_double_eq(conv("true"), 1);
    ck_assert_double_eq(conv("TRUE"), 1);
    ck_assert_double_eq(conv("Yes"), 1);
    ck_assert_double_eq(conv("false"), 0);
    ck_assert_double_eq(conv("No"), 0);
    ck_assert_double_eq(conv("Unknown"), 0);
    /* RFC 3339 in whole seconds, as time.Time.Unix(). */
    ck_assert_double_eq(conv("2022-06-28T00:00:00Z"), 1656374400);
    ck_assert_double_eq(conv("2022-06-28T00:00:00.75Z"), 1656374400);
    ck_assert_double_eq(conv("2022-06-28T02:00:00+02:00"), 1656374400);
    ck_assert_double_eq(conv("250m"), 0.25);
    ck_assert_double_eq(conv("5Gi"), 5368709120.0);
    ck_assert_double_eq(conv("1e3"), 1000);
    ck_assert_double_eq(conv("28%"), 0.28);
    ck_assert_double_eq(conv("50%"), 0.5);
    ck_assert_double_eq(conv("12.5%"), 0.125);
    ck_assert_double_eq(conv("43.21"), 43.21);
    ck_assert_double_eq(conv("-7"), -7);
    ck_assert_double_eq(conv("+Inf"), INFINITY);
    ck_assert_double_eq(conv("-inf"), -INFINITY);
    ck_assert(isnan(conv("NaN")));
    ck_assert_double_eq(conv("0x1p-2"), 0.25);
    static const char *const bad[] = {"",      "abc",  " 1",     "1 ",    "50 %",  "%",
                                      "1.2.3", "0x10", "nan(1)", "1_000", "True!", "2022-06-28"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double d = 9;
        ck_assert_msg(csm_crspath_string_number(bad[i], &d) == CSM_ERR_PARSE, "\"%s\" accepted",
                      bad[i]);
    }
}
END_TEST

START_TEST(test_value_conversions)
{
    double d = 5;
    char why[256] = "";

    ck_assert_double_eq(num(GET("status", "uptime")), 43.21);
    ck_assert_double_eq(num(GET("status", "quantity_milli")), 0.25);
    ck_assert_double_eq(num(GET("status", "quantity_binarySI")), 5.36870912e+09);
    ck_assert_double_eq(num(GET("status", "percentage")), 0.28);
    ck_assert_double_eq(num(GET("metadata", "creationTimestamp")), 1656374400);
    ck_assert_double_eq(num(GET("spec", "order", "0", "value")), 1);
    ck_assert_double_eq(num(GET("spec", "order", "1", "value")), 0);
    /* nil: an error unless nilIsZero. */
    ck_assert_int_eq(csm_crspath_number(NULL, 0, CSM_CRSPATH_AUTO, &d, why, sizeof(why)),
                     CSM_ERR_NOT_FOUND);
    ck_assert_double_eq(d, 5);
    ck_assert_ptr_nonnull(strstr(why, "nil"));
    ck_assert_int_eq(csm_crspath_number(GET("spec", "paused"), 1, CSM_CRSPATH_AUTO, &d, NULL, 0),
                     CSM_OK);
    ck_assert_double_eq(d, 0);
    /* A map or an array: the wrong type, shown in the message. */
    ck_assert_int_eq(
        csm_crspath_number(GET("status", "active"), 0, CSM_CRSPATH_AUTO, &d, why, sizeof(why)),
        CSM_ERR_TYPE);
    ck_assert_ptr_nonnull(strstr(why, "map[type-a:1 type-b:3]"));
    ck_assert_int_eq(
        csm_crspath_number(GET("spec", "order"), 1, CSM_CRSPATH_AUTO, &d, why, sizeof(why)),
        CSM_ERR_TYPE);
    /* An unreadable string. */
    ck_assert_int_eq(
        csm_crspath_number(GET("status", "phase"), 0, CSM_CRSPATH_AUTO, &d, why, sizeof(why)),
        CSM_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(why, "\"foo\""));
}
END_TEST

START_TEST(test_value_types)
{
    cJSON *o = cJSON_Parse("{\"q\":\"1.5Gi\",\"d\":\"1h30m\",\"t\":\"true\",\"n\":3}");
    const csm_value *q = (const csm_value *)cJSON_GetObjectItem(o, "q");
    const csm_value *dur = (const csm_value *)cJSON_GetObjectItem(o, "d");
    const csm_value *t = (const csm_value *)cJSON_GetObjectItem(o, "t");
    const csm_value *n = (const csm_value *)cJSON_GetObjectItem(o, "n");
    double d = 0;

    ck_assert_int_eq(csm_crspath_number(q, 0, CSM_CRSPATH_QUANTITY, &d, NULL, 0), CSM_OK);
    ck_assert_double_eq(d, 1610612736.0);
    ck_assert_int_eq(csm_crspath_number(dur, 0, CSM_CRSPATH_DURATION, &d, NULL, 0), CSM_OK);
    ck_assert_double_eq(d, 5400);
    /* "1h30m" is no quantity and "true" no duration: the type is strict. */
    ck_assert_int_eq(csm_crspath_number(dur, 0, CSM_CRSPATH_QUANTITY, &d, NULL, 0), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_crspath_number(t, 0, CSM_CRSPATH_DURATION, &d, NULL, 0), CSM_ERR_PARSE);
    /* Numbers stay numbers. */
    ck_assert_int_eq(csm_crspath_number(n, 0, CSM_CRSPATH_DURATION, &d, NULL, 0), CSM_OK);
    ck_assert_double_eq(d, 3);
    cJSON_Delete(o);
}
END_TEST

START_TEST(test_label_formatting)
{
    cJSON *o = cJSON_Parse("{\"f\":[0.5,1e6,1234567.5,0.0001,0.00001,-2.5e-7,123456.5,"
                           "100000000000000000000000,1e21,-0.0,3,-12],"
                           "\"m\":{\"b\":1,\"a\":[true,null,\"x\"]},\"s\":\"text\"}");
    const csm_value *f = (const csm_value *)cJSON_GetObjectItem(o, "f");
    static const char *const want[] = {"0.5",      "1000000",  "1.2345675e+06", "0.0001", "1e-05",
                                       "-2.5e-07", "123456.5", "1e+23",         "1e+21",  "0",
                                       "3",        "-12"};
    size_t i = 0;

    /* Go's %v: integers in full, other numbers shortest with exponent
     * from 1e6 up and below 1e-4. */
    for (const csm_value *e = csm_value_first(f); e; e = csm_value_next(e), i++)
        assert_fmt(e, want[i]);
    ck_assert_uint_eq(i, 12);
    assert_fmt((const csm_value *)cJSON_GetObjectItem(o, "m"), "map[a:[true <nil> x] b:1]");
    assert_fmt((const csm_value *)cJSON_GetObjectItem(o, "s"), "text");
    assert_fmt(NULL, "<nil>");
    cJSON_Delete(o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crspath");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_plain_keys_and_indices);
    tcase_add_test(tc, test_empty_path_is_identity);
    tcase_add_test(tc, test_list_lookups);
    tcase_add_test(tc, test_key_equals_value_segment);
    tcase_add_test(tc, test_compile_errors_and_text);
    tcase_add_test(tc, test_string_conversions);
    tcase_add_test(tc, test_value_conversions);
    tcase_add_test(tc, test_value_types);
    tcase_add_test(tc, test_label_formatting);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
