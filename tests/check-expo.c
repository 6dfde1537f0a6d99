#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "render/expo.h"

/* Formats v into a static-lifetime-per-call string for comparisons. */
static const char *fmt_value(csm_buf *b, double v)
{
    csm_buf_reset(b);
    ck_assert_int_eq(csm_expo_format_value(b, v), CSM_OK);
    return csm_buf_str(b);
}

static const char *header(csm_buf *b, csm_expo_format fmt, const char *name, const char *help,
                          csm_metric_type type)
{
    csm_buf_reset(b);
    ck_assert_int_eq(csm_expo_family_header(b, fmt, name, help, type), CSM_OK);
    return csm_buf_str(b);
}

START_TEST(test_escape_label_value)
{
    csm_buf b;
    csm_buf_init(&b, 1024);
    ck_assert_int_eq(csm_expo_escape_label_value(&b, "a\\b\"c\nd"), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), "a\\\\b\\\"c\\nd");
    csm_buf_reset(&b);
    /* UTF-8 and other bytes pass through untouched. */
    ck_assert_int_eq(csm_expo_escape_label_value(&b, "caf\xc3\xa9 \xe2\x9c\x93\t"), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), "caf\xc3\xa9 \xe2\x9c\x93\t");
    csm_buf_reset(&b);
    ck_assert_int_eq(csm_expo_escape_label_value(&b, ""), CSM_OK);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(csm_expo_escape_label_value(&b, "\\\\\n\n\"\""), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), "\\\\\\\\\\n\\n\\\"\\\"");
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_escape_help)
{
    csm_buf b;
    csm_buf_init(&b, 1024);
    /* Quotes are not escaped in HELP. */
    ck_assert_int_eq(csm_expo_escape_help(&b, "say \"hi\"\\\nbye"), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), "say \"hi\"\\\\\\nbye");
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_escape_respects_cap)
{
    csm_buf b;
    csm_buf_init(&b, 4);
    ck_assert_int_eq(csm_expo_escape_label_value(&b, "ab\"c"), CSM_ERR_TOO_LARGE);
    ck_assert_uint_eq(b.len, 0);
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_names)
{
    ck_assert(csm_expo_valid_metric_name("memcached_info"));
    ck_assert(csm_expo_valid_metric_name("a:b_c9"));
    ck_assert(csm_expo_valid_metric_name(":x"));
    ck_assert(csm_expo_valid_metric_name("_"));
    ck_assert(!csm_expo_valid_metric_name(""));
    ck_assert(!csm_expo_valid_metric_name(NULL));
    ck_assert(!csm_expo_valid_metric_name("9lives"));
    ck_assert(!csm_expo_valid_metric_name("my-kind"));
    ck_assert(!csm_expo_valid_metric_name("a b"));

    ck_assert(csm_expo_valid_label_name("namespace"));
    ck_assert(csm_expo_valid_label_name("_x1"));
    ck_assert(!csm_expo_valid_label_name("__name__"));
    ck_assert(!csm_expo_valid_label_name("a:b"));
    ck_assert(!csm_expo_valid_label_name("1a"));
    ck_assert(!csm_expo_valid_label_name(""));
    ck_assert(!csm_expo_valid_label_name(NULL));
}
END_TEST

START_TEST(test_sanitize)
{
    char out[32];
    ck_assert_int_eq(csm_name_sanitize("Memcached", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "Memcached");
    ck_assert_int_eq(csm_name_sanitize("my-kind.v2", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "my_kind_v2");
    ck_assert_int_eq(csm_name_sanitize("3scale", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "_3scale");
    ck_assert_int_eq(csm_name_sanitize("a:b/c", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "a:b_c");
    /* One '_' per UTF-8 character, not per byte. */
    ck_assert_int_eq(csm_name_sanitize("caf\xc3\xa9", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "caf_");
    ck_assert(csm_expo_valid_metric_name(out));
    ck_assert_int_eq(csm_name_sanitize("", out, sizeof(out)), CSM_ERR_INVALID);
    ck_assert_str_eq(out, "");
    /* Stray continuation bytes (octal 227, 200, 277) are dropped before the
     * leading-digit rule applies (found by tests/fuzz/fuzz-expo). */
    ck_assert_int_eq(csm_name_sanitize("\22700", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "_00");
    ck_assert(csm_expo_valid_metric_name(out));
    ck_assert_int_eq(csm_label_sanitize("\200\2771a", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "_1a");
    ck_assert(csm_expo_valid_label_name(out));
}
END_TEST

START_TEST(test_sanitize_too_small)
{
    char out[6];
    memset(out, 'x', sizeof(out));
    ck_assert_int_eq(csm_name_sanitize("abcde", out, sizeof(out)), CSM_OK);
    ck_assert_str_eq(out, "abcde");
    ck_assert_int_eq(csm_name_sanitize("abcdef", out, sizeof(out)), CSM_ERR_TOO_LARGE);
    ck_assert_str_eq(out, "");
    /* The '_' prefix counts too. */
    ck_assert_int_eq(csm_name_sanitize("12345", out, sizeof(out)), CSM_ERR_TOO_LARGE);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_values)
{
    csm_buf b;
    csm_buf_init(&b, 1024);
    ck_assert_str_eq(fmt_value(&b, 1), "1");
    ck_assert_str_eq(fmt_value(&b, 0), "0");
    ck_assert_str_eq(fmt_value(&b, -0.0), "0");
    ck_assert_str_eq(fmt_value(&b, -3), "-3");
    ck_assert_str_eq(fmt_value(&b, 0.5), "0.5");
    ck_assert_str_eq(fmt_value(&b, 0.1), "0.1");
    ck_assert_str_eq(fmt_value(&b, 1e-9), "1e-09");
    ck_assert_str_eq(fmt_value(&b, 1e21), "1e+21");
    ck_assert_str_eq(fmt_value(&b, 1700000000), "1700000000");
    ck_assert_str_eq(fmt_value(&b, 1700000000.25), "1700000000.25");
    ck_assert_str_eq(fmt_value(&b, 9007199254740991.0), "9007199254740991");
    /* 2^53 and beyond leave the exact-integer path: shortest round-trip %g,
     * which for 2^53 happens to need all 16 digits and so no exponent. */
    ck_assert_str_eq(fmt_value(&b, 9007199254740992.0), "9007199254740992");
    ck_assert_str_eq(fmt_value(&b, 1152921504606846976.0), "1.152921504606847e+18");
    ck_assert_str_eq(fmt_value(&b, -1e100), "-1e+100");
    ck_assert_str_eq(fmt_value(&b, NAN), "NaN");
    ck_assert_str_eq(fmt_value(&b, INFINITY), "+Inf");
    ck_assert_str_eq(fmt_value(&b, -INFINITY), "-Inf");
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_values_round_trip)
{
    const double vs[] = {1.0 / 3,    2.0 / 3, 0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308,
                         123456.789, -2.5e-7};
    csm_buf b;
    csm_buf_init(&b, 1024);
    for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
        const char *s = fmt_value(&b, vs[i]);
        ck_assert_msg(strtod(s, NULL) == vs[i], "%s does not round-trip", s);
        ck_assert_msg(strlen(s) <= 24, "%s is too long", s);
    }
    ck_assert_str_eq(fmt_value(&b, 0.1 + 0.2), "0.30000000000000004");
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_headers_text)
{
    csm_buf b;
    csm_buf_init(&b, 1024);
    ck_assert_str_eq(header(&b, CSM_EXPO_TEXT, "memcached_info", "Info.", CSM_METRIC_INFO),
                     "# HELP memcached_info Info.\n# TYPE memcached_info gauge\n");
    ck_assert_str_eq(header(&b, CSM_EXPO_TEXT, "x_phase", "P", CSM_METRIC_STATESET),
                     "# HELP x_phase P\n# TYPE x_phase gauge\n");
    ck_assert_str_eq(header(&b, CSM_EXPO_TEXT, "x_total", "C", CSM_METRIC_COUNTER),
                     "# HELP x_total C\n# TYPE x_total counter\n");
    ck_assert_str_eq(header(&b, CSM_EXPO_TEXT, "x_replicas", "a\\b\nc \"q\"", CSM_METRIC_GAUGE),
                     "# HELP x_replicas a\\\\b\\nc \"q\"\n# TYPE x_replicas gauge\n");
    ck_assert_str_eq(header(&b, CSM_EXPO_TEXT, "x", NULL, CSM_METRIC_GAUGE),
                     "# HELP x \n# TYPE x gauge\n");
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_headers_openmetrics)
{
    csm_buf b;
    csm_buf_init(&b, 1024);
    ck_assert_str_eq(header(&b, CSM_EXPO_OPENMETRICS, "memcached_info", "Info.", CSM_METRIC_INFO),
                     "# HELP memcached Info.\n# TYPE memcached info\n");
    ck_assert_str_eq(header(&b, CSM_EXPO_OPENMETRICS, "x_phase", "P", CSM_METRIC_STATESET),
                     "# HELP x_phase P\n# TYPE x_phase stateset\n");
    ck_assert_str_eq(header(&b, CSM_EXPO_OPENMETRICS, "x_total", "C", CSM_METRIC_COUNTER),
                     "# HELP x C\n# TYPE x counter\n");
    ck_assert_str_eq(header(&b, CSM_EXPO_OPENMETRICS, "x_replicas", "R", CSM_METRIC_GAUGE),
                     "# HELP x_replicas R\n# TYPE x_replicas gauge\n");
    /* Already a family name: left alone. */
    ck_assert_str_eq(header(&b, CSM_EXPO_OPENMETRICS, "y", "", CSM_METRIC_COUNTER),
                     "# HELP y \n# TYPE y counter\n");
    /* "_info" alone is not a suffix of anything. */
    ck_assert_str_eq(header(&b, CSM_EXPO_OPENMETRICS, "_info", "", CSM_METRIC_INFO),
                     "# HELP _info \n# TYPE _info info\n");
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_header_rejects_bad_name)
{
    csm_buf b;
    csm_buf_init(&b, 1024);
    ck_assert_int_eq(csm_expo_family_header(&b, CSM_EXPO_TEXT, "bad-name", "", CSM_METRIC_GAUGE),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(csm_expo_family_header(&b, CSM_EXPO_TEXT, "ok", "", (csm_metric_type)42),
                     CSM_ERR_INVALID);
    ck_assert_uint_eq(b.len, 0);
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_sample)
{
    const char *names[] = {"namespace", "memcached"};
    const char *values[] = {"default", "ex\"a\\m\nple"};
    csm_buf b;
    csm_buf_init(&b, 1024);
    ck_assert_int_eq(csm_expo_sample(&b, "memcached_info", 2, names, values, 1), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b),
                     "memcached_info{namespace=\"default\",memcached=\"ex\\\"a\\\\m\\nple\"} 1\n");
    csm_buf_reset(&b);
    ck_assert_int_eq(csm_expo_sample(&b, "up", 0, NULL, NULL, 0.25), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), "up 0.25\n");
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_sample_rejects)
{
    const char *bad_label[] = {"ok", "__reserved"};
    const char *dup[] = {"a", "a"};
    const char *values[] = {"1", "2"};
    const char *null_value[] = {"1", NULL};
    const char *names[] = {"a", "b"};
    csm_buf b;
    csm_buf_init(&b, 1024);
    ck_assert_int_eq(csm_buf_puts(&b, "keep\n"), CSM_OK);
    ck_assert_int_eq(csm_expo_sample(&b, "1bad", 0, NULL, NULL, 1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_expo_sample(&b, "m", 2, bad_label, values, 1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_expo_sample(&b, "m", 2, dup, values, 1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_expo_sample(&b, "m", 2, names, null_value, 1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_expo_sample(&b, "m", 1, NULL, NULL, 1), CSM_ERR_INVALID);
    /* Rejected samples leave the buffer as it was. */
    ck_assert_str_eq(csm_buf_str(&b), "keep\n");
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_content_types)
{
    ck_assert_str_eq(csm_expo_content_type(CSM_EXPO_TEXT),
                     "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_str_eq(csm_expo_content_type(CSM_EXPO_OPENMETRICS),
                     "application/openmetrics-text; version=1.0.0; charset=utf-8");
}
END_TEST

START_TEST(test_negotiate)
{
    /* Prometheus 2.x/3.x scrape header. */
    ck_assert_int_eq(
        csm_expo_negotiate("application/openmetrics-text;version=1.0.0,application/"
                           "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
                           "*/*;q=0.1"),
        CSM_EXPO_OPENMETRICS);
    /* Prometheus with OpenMetrics disabled. */
    ck_assert_int_eq(csm_expo_negotiate("text/plain;version=0.0.4;q=1,*/*;q=0.1"), CSM_EXPO_TEXT);
    ck_assert_int_eq(csm_expo_negotiate("text/plain"), CSM_EXPO_TEXT);
    ck_assert_int_eq(csm_expo_negotiate("*/*"), CSM_EXPO_TEXT);
    ck_assert_int_eq(csm_expo_negotiate(NULL), CSM_EXPO_TEXT);
    ck_assert_int_eq(csm_expo_negotiate(""), CSM_EXPO_TEXT);
    ck_assert_int_eq(csm_expo_negotiate("application/openmetrics-text"), CSM_EXPO_OPENMETRICS);
    ck_assert_int_eq(csm_expo_negotiate("Application/OpenMetrics-Text; Version=\"1.0.0\""),
                     CSM_EXPO_OPENMETRICS);
    ck_assert_int_eq(csm_expo_negotiate("application/openmetrics-text;version=0.0.1"),
                     CSM_EXPO_OPENMETRICS);
    /* A version we do not speak is ignored. */
    ck_assert_int_eq(csm_expo_negotiate("application/openmetrics-text;version=2.0.0"),
                     CSM_EXPO_TEXT);
    /* q ordering. */
    ck_assert_int_eq(csm_expo_negotiate("text/plain;q=0.9, application/openmetrics-text;q=0.8"),
                     CSM_EXPO_TEXT);
    ck_assert_int_eq(csm_expo_negotiate("text/plain;q=0.8 , application/openmetrics-text;q=0.8"),
                     CSM_EXPO_OPENMETRICS);
    ck_assert_int_eq(csm_expo_negotiate("*/*;q=0.9, application/openmetrics-text;q=0.5"),
                     CSM_EXPO_TEXT);
    ck_assert_int_eq(csm_expo_negotiate("application/openmetrics-text;q=0, text/plain;q=0.1"),
                     CSM_EXPO_TEXT);
    ck_assert_int_eq(csm_expo_negotiate("application/openmetrics-text;q=0"), CSM_EXPO_TEXT);
    /* text/plain with an unknown version cannot be served as such. */
    ck_assert_int_eq(
        csm_expo_negotiate("text/plain;version=9.9;q=1, application/openmetrics-text;q=0.5"),
        CSM_EXPO_OPENMETRICS);
    /* Protobuf preferred but not served: OpenMetrics is the best we have. */
    ck_assert_int_eq(csm_expo_negotiate("application/vnd.google.protobuf;proto=io.prometheus."
                                        "client.MetricFamily;encoding=delimited,application/"
                                        "openmetrics-text;version=1.0.0;q=0.8,text/"
                                        "plain;version=0.0.4;q=0.5"),
                     CSM_EXPO_OPENMETRICS);
}
END_TEST

START_TEST(test_negotiate_malformed)
{
    /* Garbage does not crash and falls back to text. */
    ck_assert_int_eq(csm_expo_negotiate(";;;,,,===\"unterminated"), CSM_EXPO_TEXT);
    /* A malformed q makes its element void. */
    ck_assert_int_eq(csm_expo_negotiate("application/openmetrics-text;q=abc"), CSM_EXPO_TEXT);
    ck_assert_int_eq(csm_expo_negotiate("application/openmetrics-text;q=1.5"), CSM_EXPO_TEXT);
    /* A quoted comma does not split elements; the good element still counts. */
    ck_assert_int_eq(csm_expo_negotiate("text/plain;x=\"a,b\";q=0.1,application/openmetrics-text"),
                     CSM_EXPO_OPENMETRICS);
    ck_assert_int_eq(csm_expo_negotiate("bogus junk, application/openmetrics-text"),
                     CSM_EXPO_OPENMETRICS);
}
END_TEST

START_TEST(test_gzip)
{
    ck_assert(csm_expo_accepts_gzip("gzip"));
    ck_assert(csm_expo_accepts_gzip("gzip, deflate, br"));
    ck_assert(csm_expo_accepts_gzip("deflate, GZIP;q=0.5"));
    ck_assert(csm_expo_accepts_gzip("x-gzip"));
    ck_assert(csm_expo_accepts_gzip("*"));
    ck_assert(csm_expo_accepts_gzip("identity;q=1, *;q=0.1"));
    ck_assert(!csm_expo_accepts_gzip("gzip;q=0"));
    ck_assert(!csm_expo_accepts_gzip("gzip;q=0.000"));
    ck_assert(!csm_expo_accepts_gzip("*, gzip;q=0"));
    ck_assert(!csm_expo_accepts_gzip("*;q=0"));
    ck_assert(!csm_expo_accepts_gzip("identity"));
    ck_assert(!csm_expo_accepts_gzip("deflate, br"));
    ck_assert(!csm_expo_accepts_gzip(""));
    ck_assert(!csm_expo_accepts_gzip(NULL));
    ck_assert(!csm_expo_accepts_gzip("gzipx"));
    ck_assert(csm_expo_accepts_gzip("gzip;q=0.001"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("expo");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_escape_label_value);
    tcase_add_test(tc, test_escape_help);
    tcase_add_test(tc, test_escape_respects_cap);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_sanitize);
    tcase_add_test(tc, test_sanitize_too_small);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_values_round_trip);
    tcase_add_test(tc, test_headers_text);
    tcase_add_test(tc, test_headers_openmetrics);
    tcase_add_test(tc, test_header_rejects_bad_name);
    tcase_add_test(tc, test_sample);
    tcase_add_test(tc, test_sample_rejects);
    tcase_add_test(tc, test_content_types);
    tcase_add_test(tc, test_negotiate);
    tcase_add_test(tc, test_negotiate_malformed);
    tcase_add_test(tc, test_gzip);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
