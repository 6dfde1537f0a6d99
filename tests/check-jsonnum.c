/*
 * jsonnum: number tokens a double cannot stand for keep their text, found
 * by walking the text beside cJSON's tree, and print as Go prints what a
 * Kubernetes client decoded.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <string.h>

#include "check_main.h"
#include "base/jsonnum.h"
#include "ingest/watch.h"

static void assert_fmt(const cJSON *n, const char *want)
{
    csm_buf b;

    csm_buf_init(&b, 256);
    ck_assert_int_eq(csm_jsonnum_format(n, &b), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), want);
    csm_buf_free(&b);
}

START_TEST(test_annotate_walks_beside_the_tree)
{
    /* Strings with brackets, quotes and digits, duplicate keys, nesting:
     * the walk must stay in step with the tree. */
    static const char text[] =
        " {\"s\":\"[{\\\"9007199254740993\\\":1}]\", \"a\":[1, 9007199254740993 ,{\"x\":true}],"
        "\"d\":9007199254740995,\"d\":-9223372036854775808,\"n\":null,"
        "\"f\":1.5e10,\"g\":0.25,\"h\":12345678901234567890123,\"e\":{}} trailing";
    cJSON *o = cJSON_ParseWithOpts(text, NULL, 0);
    const cJSON *a;

    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(csm_jsonnum_annotate(o, text, sizeof(text) - 1), CSM_OK);
    a = cJSON_GetObjectItem(o, "a");
    ck_assert_ptr_null(csm_jsonnum_text(cJSON_GetArrayItem(a, 0)));
    ck_assert_str_eq(csm_jsonnum_text(cJSON_GetArrayItem(a, 1)), "9007199254740993");
    assert_fmt(cJSON_GetArrayItem(a, 1), "9007199254740993");
    assert_fmt(cJSON_GetArrayItem(a, 0), "1");
    /* Both duplicates keep their own text. */
    ck_assert_str_eq(csm_jsonnum_text(cJSON_GetObjectItem(o, "d")), "9007199254740995");
    assert_fmt(cJSON_GetObjectItem(o, "d")->next, "-9223372036854775808");
    /* Float syntax is a float64 in Go: 1.5e+10, not 15000000000. */
    assert_fmt(cJSON_GetObjectItem(o, "f"), "1.5e+10");
    ck_assert_ptr_null(csm_jsonnum_text(cJSON_GetObjectItem(o, "g")));
    assert_fmt(cJSON_GetObjectItem(o, "g"), "0.25");
    /* Past int64 Go has a float64 too. */
    assert_fmt(cJSON_GetObjectItem(o, "h"), "1.2345678901234568e+22");
    cJSON_Delete(o);
}
END_TEST

START_TEST(test_no_walk_without_long_numbers)
{
    static const char text[] = "{\"a\":123456789012345,\"b\":\"x\"}";
    cJSON *o = cJSON_Parse(text);

    ck_assert_int_eq(csm_jsonnum_annotate(o, text, strlen(text)), CSM_OK);
    ck_assert_ptr_null(csm_jsonnum_text(cJSON_GetObjectItem(o, "a")));
    assert_fmt(cJSON_GetObjectItem(o, "a"), "123456789012345");
    /* A text that does not match the tree stops the walk, harmlessly. */
    ck_assert_int_eq(csm_jsonnum_annotate(o, "[9007199254740993]", 18), CSM_OK);
    ck_assert_ptr_null(csm_jsonnum_text(cJSON_GetObjectItem(o, "a")));
    cJSON_Delete(o);
}
END_TEST

START_TEST(test_watch_events_keep_exact_integers)
{
    static const char line[] = "{\"type\":\"ADDED\",\"object\":{\"spec\":{\"id\":"
                               "18014398509481985}}}";
    csm_watch_type t;
    cJSON *doc = NULL;
    const cJSON *obj = NULL;
    const char *why = NULL;

    ck_assert_int_eq(csm_watch_decode(line, strlen(line), &t, &doc, &obj, &why), CSM_OK);
    assert_fmt(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "spec"), "id"), "18014398509481985");
    cJSON_Delete(doc);
}
END_TEST

START_TEST(test_go_float_forms)
{
    csm_buf b;

    csm_buf_init(&b, 256);
    ck_assert_int_eq(csm_jsonnum_format_float(1e6, 64, &b), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), "1e+06");
    csm_buf_reset(&b);
    ck_assert_int_eq(csm_jsonnum_format_float(0.1, 32, &b), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), "0.1");
    csm_buf_reset(&b);
    ck_assert_int_eq(csm_jsonnum_format_integral(123456789012345678.0, &b), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), "123456789012345680");
    csm_buf_reset(&b);
    ck_assert_int_eq(csm_jsonnum_format_integral(0.5, &b), CSM_ERR_INVALID);
    csm_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonnum");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_annotate_walks_beside_the_tree);
    tcase_add_test(tc, test_no_walk_without_long_numbers);
    tcase_add_test(tc, test_watch_events_keep_exact_integers);
    tcase_add_test(tc, test_go_float_forms);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
