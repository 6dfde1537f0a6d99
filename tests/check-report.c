#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "report.h"

#define NOW 1800000000.0

START_TEST(test_parse_time)
{
    double t = 0;
    ck_assert_int_eq(csm_report_parse_time("now", NOW, &t), CSM_OK);
    ck_assert_double_eq(t, NOW);
    ck_assert_int_eq(csm_report_parse_time("30d", NOW, &t), CSM_OK);
    ck_assert_double_eq(t, NOW - 30 * 86400);
    ck_assert_int_eq(csm_report_parse_time("1.5h", NOW, &t), CSM_OK);
    ck_assert_double_eq(t, NOW - 5400);
    ck_assert_int_eq(csm_report_parse_time("90m", NOW, &t), CSM_OK);
    ck_assert_double_eq(t, NOW - 5400);
    ck_assert_int_eq(csm_report_parse_time("2w", NOW, &t), CSM_OK);
    ck_assert_double_eq(t, NOW - 14 * 86400);
    ck_assert_int_eq(csm_report_parse_time("45s", NOW, &t), CSM_OK);
    ck_assert_double_eq(t, NOW - 45);
    ck_assert_int_eq(csm_report_parse_time("1700000000.5", NOW, &t), CSM_OK);
    ck_assert_double_eq(t, 1700000000.5);
    ck_assert_int_eq(csm_report_parse_time("2026-11-01T00:00:00Z", NOW, &t), CSM_OK);
    ck_assert_double_eq(t, 1793491200.0);
    ck_assert_int_eq(csm_report_parse_time("2026-11-01T02:00:00.25+02:00", NOW, &t), CSM_OK);
    ck_assert_double_eq(t, 1793491200.25);
    const char *bad[] = {
        "",    "yesterday", "30x", "30dd", "-5d", "2026-13-01T00:00:00Z", "2026-11-01T00:00Z",
        "nan", "inf",       "d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(csm_report_parse_time(bad[i], NOW, &t) == CSM_ERR_INVALID, "%s", bad[i]);
    ck_assert_int_eq(csm_report_parse_time(NULL, NOW, &t), CSM_ERR_INVALID);
}
END_TEST

static csm_err api(long status, const char *body, char *msg, size_t len, const cJSON **data)
{
    cJSON *doc = NULL;
    const cJSON *d = NULL;
    csm_err err = csm_report_api_data(status, body, strlen(body), &doc, &d, msg, len);
    if (data)
        *data = d ? cJSON_Duplicate(d, 1) : NULL;
    cJSON_Delete(doc);
    return err;
}

START_TEST(test_api_answers)
{
    char msg[256];
    const cJSON *data = NULL;

    ck_assert_int_eq(
        api(200, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", msg,
            sizeof(msg), &data),
        CSM_OK);
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(data, "result"));
    cJSON_Delete((cJSON *)data);
    ck_assert_int_eq(api(400,
                         "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"1:5: parse "
                         "error: unexpected\"}",
                         msg, sizeof(msg), NULL),
                     CSM_ERR_HTTP);
    ck_assert_str_eq(msg, "HTTP 400: bad_data: 1:5: parse error: unexpected");
    ck_assert_int_eq(api(503, "Service Unavailable\n", msg, sizeof(msg), NULL), CSM_ERR_HTTP);
    ck_assert_str_eq(msg, "HTTP 503: Service Unavailable ");
    ck_assert_int_eq(api(200, "<html>not prometheus</html>", msg, sizeof(msg), NULL),
                     CSM_ERR_PARSE);
    ck_assert_int_eq(api(200, "{\"status\":\"success\"}", msg, sizeof(msg), NULL), CSM_ERR_PARSE);
    /* A long error page is cut, not copied whole. */
    {
        char big[4096];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        ck_assert_int_eq(api(502, big, msg, sizeof(msg), NULL), CSM_ERR_HTTP);
        ck_assert_uint_eq(strlen(msg), strlen("HTTP 502: ") + 200);
    }
}
END_TEST

static double inc(const char *values, double from, double to, int interp)
{
    cJSON *v = cJSON_Parse(values);
    double out = -1;
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(csm_report_counter_increase(v, from, to, interp, &out), CSM_OK);
    cJSON_Delete(v);
    return out;
}

START_TEST(test_counter_increase)
{
    /* Plain growth, window inside the samples: the start is interpolated. */
    ck_assert_double_eq_tol(
        inc("[[100,\"0\"],[110,\"10\"],[120,\"20\"],[130,\"30\"]]", 105, 130, 1), 25, 1e-9);
    /* Without interpolation (created/deleted): from the last sample <= from. */
    ck_assert_double_eq_tol(inc("[[100,\"0\"],[110,\"1\"],[120,\"2\"]]", 105, 120, 0), 2, 1e-9);
    /* A reset (exporter restart): the value after it counts whole. */
    ck_assert_double_eq_tol(
        inc("[[100,\"50\"],[110,\"60\"],[120,\"3\"],[130,\"13\"]]", 100, 130, 1), 10 + 3 + 10,
        1e-9);
    /* A series born in the window (the exporter started): from zero. */
    ck_assert_double_eq_tol(inc("[[150,\"4\"],[160,\"14\"]]", 100, 200, 1), 14, 1e-9);
    /* ... but a counter first scraped 2 s into the window that already
     * stood at 40 (one live object) counts 2 s, not 40. */
    ck_assert_double_eq_tol(inc("[[102,\"40\"],[112,\"50\"]]", 100, 200, 1), 12, 1e-9);
    /* A single sample: nothing to cap with. */
    ck_assert_double_eq_tol(inc("[[150,\"4\"]]", 100, 200, 1), 4, 1e-9);
    /* The end is interpolated towards the next sample (190 of 200 at 300),
     * later samples are ignored; without interpolation nothing after to. */
    ck_assert_double_eq_tol(
        inc("[[100,\"0\"],[110,\"10\"],[300,\"200\"],[310,\"900\"]]", 90, 200, 1), 10 + 90, 1e-9);
    ck_assert_double_eq_tol(inc("[[100,\"0\"],[110,\"10\"],[300,\"200\"]]", 90, 200, 0), 10, 1e-9);
    /* Samples only before from give 0. */
    ck_assert_double_eq_tol(inc("[[100,\"7\"],[110,\"7\"]]", 120, 200, 1), 0, 1e-9);
    /* A reset right after from. */
    ck_assert_double_eq_tol(inc("[[100,\"70\"],[110,\"2\"],[120,\"5\"]]", 105, 120, 1), 5, 1e-9);
    ck_assert_double_eq(inc("[]", 0, 10, 1), 0);
    /* Malformed. */
    {
        const char *bad[] = {"{}", "[[1]]", "[[\"1\",\"2\"]]", "[[1,\"x\"]]", "[[1,2]]"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            cJSON *v = cJSON_Parse(bad[i]);
            double out;
            ck_assert_int_eq(csm_report_counter_increase(v, 0, 10, 1, &out), CSM_ERR_PARSE);
            cJSON_Delete(v);
        }
    }
}
END_TEST

START_TEST(test_flags_exit_codes)
{
    char *no_url[] = {"report", "--resource", "a/v1/K"};
    char *bad_fmt[] = {"report",   "--prometheus", "http://127.0.0.1:1", "--resource", "a/v1/K",
                       "--format", "xml"};
    char *bad_res[] = {"report", "--prometheus=http://127.0.0.1:1", "--resource=K"};
    char *bad_from[] = {"report", "--prometheus=http://127.0.0.1:1", "--resource=a/v1/K",
                        "--from=later"};
    char *reversed[] = {"report", "--prometheus=http://127.0.0.1:1", "--resource=a/v1/K",
                        "--from=1d", "--to=2d"};
    char *unknown[] = {"report", "--prometheus=http://127.0.0.1:1", "--resource=a/v1/K",
                       "--frobnicate=1"};
    char *bad_by[] = {"report", "--prometheus=http://127.0.0.1:1", "--resource=a/v1/K", "--by=a-b"};
    char buf[4096];
    FILE *err = fmemopen(buf, sizeof(buf), "w");
    FILE *out = fopen("/dev/null", "w");

    ck_assert_int_eq(csm_report_main(3, no_url, out, err), 2);
    ck_assert_int_eq(csm_report_main(7, bad_fmt, out, err), 2);
    ck_assert_int_eq(csm_report_main(3, bad_res, out, err), 2);
    ck_assert_int_eq(csm_report_main(4, bad_from, out, err), 2);
    ck_assert_int_eq(csm_report_main(5, reversed, out, err), 2);
    ck_assert_int_eq(csm_report_main(4, unknown, out, err), 2);
    ck_assert_int_eq(csm_report_main(4, bad_by, out, err), 2);
    fclose(err);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(buf, "--prometheus URL is required"));
    ck_assert_ptr_nonnull(strstr(buf, "invalid value \"xml\" for --format"));
    ck_assert_ptr_nonnull(strstr(buf, "invalid value \"K\" for --resource"));
    ck_assert_ptr_nonnull(strstr(buf, "invalid value \"later\" for --from"));
    ck_assert_ptr_nonnull(strstr(buf, "--from 1d is not before --to 2d"));
    ck_assert_ptr_nonnull(strstr(buf, "unknown flag --frobnicate"));
    ck_assert_ptr_nonnull(strstr(buf, "invalid value \"a-b\" for --by"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_parse_time);
    tcase_add_test(tc, test_api_answers);
    tcase_add_test(tc, test_counter_increase);
    tcase_add_test(tc, test_flags_exit_codes);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
