#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "serve/telemetry.h"

/* A sink that copies everything into a buffer and counts calls. */
typedef struct capture {
    csm_sink sink;
    csm_buf out;
    int texts;
} capture;

static csm_err cap_text(csm_sink *s, const char *p, size_t n)
{
    capture *c = (capture *)s;
    c->texts++;
    return csm_buf_append(&c->out, p, n);
}

static csm_err cap_ref(csm_sink *s, const char *p, size_t n, void (*release)(void *owner),
                       void *owner)
{
    capture *c = (capture *)s;
    csm_err err = csm_buf_append(&c->out, p, n);
    release(owner);
    return err;
}

static void cap_init(capture *c)
{
    c->sink.text = cap_text;
    c->sink.ref = cap_ref;
    csm_buf_init(&c->out, 1 << 20);
    c->texts = 0;
}

/* Renders t and returns the part before the process metrics (owned by c). */
static const char *render(csm_telemetry *t, csm_expo_format fmt, capture *c)
{
    char *proc;
    csm_buf_reset(&c->out);
    ck_assert_int_eq(csm_tel_write(t, fmt, &c->sink), CSM_OK);
    proc = strstr(c->out.ptr, "# HELP process_");
    ck_assert_ptr_nonnull(proc);
    *proc = '\0';
    return c->out.ptr;
}

/* Value of the unlabelled sample `name` in a rendering; NAN if absent. */
static double sample_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return NAN;
}

START_TEST(test_counter)
{
    csm_telemetry *t = csm_telemetry_new();
    csm_tel_family *f;
    const char *names[] = {"resource"};
    const char *a[] = {"memcacheds"};
    const char *b[] = {"widgets"};

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(
        csm_tel_family_add(t, "csm_events_total", "Events.", CSM_METRIC_COUNTER, 1, names, &f),
        CSM_OK);
    ck_assert_int_eq(csm_tel_inc(f, a, 1), CSM_OK);
    ck_assert_int_eq(csm_tel_inc(f, a, 2.5), CSM_OK);
    ck_assert_int_eq(csm_tel_inc(f, b, 1), CSM_OK);
    ck_assert(csm_tel_get(f, a) == 3.5);
    ck_assert(csm_tel_get(f, b) == 1);
    /* Counters only go up and cannot be set. */
    ck_assert_int_eq(csm_tel_inc(f, a, -1), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_inc(f, a, NAN), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_set(f, a, 10), CSM_ERR_TYPE);
    ck_assert_int_eq(csm_tel_observe(f, a, 10), CSM_ERR_TYPE);
    ck_assert(csm_tel_get(f, a) == 3.5);
    /* Missing label values. */
    ck_assert_int_eq(csm_tel_inc(f, NULL, 1), CSM_ERR_INVALID);
    csm_telemetry_free(t);
}
END_TEST

/* csm_tel_count: one more on {v0, v1} for families of 0, 1 or 2 labels;
 * a NULL family (telemetry off) is no error; a histogram is no counter. */
START_TEST(test_count)
{
    csm_telemetry *t = csm_telemetry_new();
    static const char *const one[] = {"result"};
    static const char *const two[] = {"cache", "result"};
    static const double bounds[] = {1};
    const char *hit[] = {"token", "hit"};
    const char *ok[] = {"ok"};
    csm_tel_family *f0;
    csm_tel_family *f1;
    csm_tel_family *f2;
    csm_tel_family *h;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(csm_tel_family_add(t, "csm_a_total", "A.", CSM_METRIC_COUNTER, 0, NULL, &f0),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_family_add(t, "csm_b_total", "B.", CSM_METRIC_COUNTER, 1, one, &f1),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_family_add(t, "csm_c_total", "C.", CSM_METRIC_COUNTER, 2, two, &f2),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_histogram_add(t, "csm_d_seconds", "D.", 0, NULL, bounds, 1, &h),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_count(NULL, "x", "y"), CSM_OK);
    ck_assert_int_eq(csm_tel_count(f0, NULL, NULL), CSM_OK);
    ck_assert_int_eq(csm_tel_count(f1, "ok", NULL), CSM_OK);
    ck_assert_int_eq(csm_tel_count(f1, "ok", "not read"), CSM_OK);
    ck_assert_int_eq(csm_tel_count(f2, "token", "hit"), CSM_OK);
    ck_assert(csm_tel_get(f0, NULL) == 1);
    ck_assert(csm_tel_get(f1, ok) == 2);
    ck_assert(csm_tel_get(f2, hit) == 1);
    ck_assert_int_eq(csm_tel_count(h, NULL, NULL), CSM_ERR_TYPE);
    csm_telemetry_free(t);
}
END_TEST

START_TEST(test_gauge_and_remove)
{
    csm_telemetry *t = csm_telemetry_new();
    csm_tel_family *f;
    const char *names[] = {"resource", "namespace"};
    const char *a[] = {"memcacheds", "default"};
    const char *b[] = {"memcacheds", "other"};
    capture c;

    cap_init(&c);
    ck_assert_int_eq(
        csm_tel_family_add(t, "csm_objects", "Objects.", CSM_METRIC_GAUGE, 2, names, &f), CSM_OK);
    /* A labelled family without series is not announced. */
    ck_assert_str_eq(render(t, CSM_EXPO_TEXT, &c), "");
    ck_assert(csm_tel_get(f, a) == 0);
    ck_assert_int_eq(csm_tel_set(f, a, 5), CSM_OK);
    ck_assert_int_eq(csm_tel_inc(f, a, -2), CSM_OK);
    ck_assert_int_eq(csm_tel_set(f, b, 1), CSM_OK);
    ck_assert(csm_tel_get(f, a) == 3);
    ck_assert_str_eq(render(t, CSM_EXPO_TEXT, &c),
                     "# HELP csm_objects Objects.\n# TYPE csm_objects gauge\n"
                     "csm_objects{resource=\"memcacheds\",namespace=\"default\"} 3\n"
                     "csm_objects{resource=\"memcacheds\",namespace=\"other\"} 1\n");
    ck_assert_int_eq(csm_tel_remove(f, a), CSM_OK);
    ck_assert_int_eq(csm_tel_remove(f, a), CSM_ERR_NOT_FOUND);
    ck_assert(csm_tel_get(f, a) == 0);
    ck_assert_str_eq(render(t, CSM_EXPO_TEXT, &c),
                     "# HELP csm_objects Objects.\n# TYPE csm_objects gauge\n"
                     "csm_objects{resource=\"memcacheds\",namespace=\"other\"} 1\n");
    /* Removing the last series and re-adding keeps the list consistent. */
    ck_assert_int_eq(csm_tel_remove(f, b), CSM_OK);
    ck_assert_int_eq(csm_tel_set(f, a, 2), CSM_OK);
    ck_assert_int_eq(csm_tel_set(f, b, 4), CSM_OK);
    ck_assert_str_eq(render(t, CSM_EXPO_TEXT, &c),
                     "# HELP csm_objects Objects.\n# TYPE csm_objects gauge\n"
                     "csm_objects{resource=\"memcacheds\",namespace=\"default\"} 2\n"
                     "csm_objects{resource=\"memcacheds\",namespace=\"other\"} 4\n");
    csm_buf_free(&c.out);
    csm_telemetry_free(t);
}
END_TEST

START_TEST(test_histogram_buckets)
{
    csm_telemetry *t = csm_telemetry_new();
    csm_tel_family *h;
    const double bounds[] = {0.25, 1, 4};
    const char *names[] = {"handler"};
    const char *m[] = {"metrics"};
    capture c;

    cap_init(&c);
    ck_assert_int_eq(
        csm_tel_histogram_add(t, "csm_lat_seconds", "Latency.", 1, names, bounds, 3, &h), CSM_OK);
    /* Upper bounds are inclusive. */
    ck_assert_int_eq(csm_tel_observe(h, m, 0.125), CSM_OK);
    ck_assert_int_eq(csm_tel_observe(h, m, 0.25), CSM_OK);
    ck_assert_int_eq(csm_tel_observe(h, m, 0.5), CSM_OK);
    ck_assert_int_eq(csm_tel_observe(h, m, 2), CSM_OK);
    ck_assert_int_eq(csm_tel_observe(h, m, 8), CSM_OK);
    ck_assert_int_eq(csm_tel_observe(h, m, NAN), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_inc(h, m, 1), CSM_ERR_TYPE);
    ck_assert(csm_tel_get(h, m) == 5);
    ck_assert_str_eq(render(t, CSM_EXPO_TEXT, &c),
                     "# HELP csm_lat_seconds Latency.\n"
                     "# TYPE csm_lat_seconds histogram\n"
                     "csm_lat_seconds_bucket{handler=\"metrics\",le=\"0.25\"} 2\n"
                     "csm_lat_seconds_bucket{handler=\"metrics\",le=\"1\"} 3\n"
                     "csm_lat_seconds_bucket{handler=\"metrics\",le=\"4\"} 4\n"
                     "csm_lat_seconds_bucket{handler=\"metrics\",le=\"+Inf\"} 5\n"
                     "csm_lat_seconds_sum{handler=\"metrics\"} 10.875\n"
                     "csm_lat_seconds_count{handler=\"metrics\"} 5\n");
    csm_buf_free(&c.out);
    csm_telemetry_free(t);
}
END_TEST

START_TEST(test_histogram_no_bounds_no_labels)
{
    csm_telemetry *t = csm_telemetry_new();
    csm_tel_family *h;
    capture c;

    cap_init(&c);
    ck_assert_int_eq(csm_tel_histogram_add(t, "h", "", 0, NULL, NULL, 0, &h), CSM_OK);
    ck_assert_int_eq(csm_tel_observe(h, NULL, 3), CSM_OK);
    ck_assert_str_eq(
        render(t, CSM_EXPO_OPENMETRICS, &c),
        "# HELP h \n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n");
    csm_buf_free(&c.out);
    csm_telemetry_free(t);
}
END_TEST

/* One registry with a counter, an escaped gauge and a histogram, rendered
 * exactly in both formats. */
static csm_telemetry *mixed_registry(void)
{
    csm_telemetry *t = csm_telemetry_new();
    csm_tel_family *ctr;
    csm_tel_family *g;
    csm_tel_family *h;
    const double bounds[] = {0.5};
    const char *gn[] = {"resource"};
    const char *gv[] = {"a\"b\\c\nd"};
    const char *hn[] = {"handler"};
    const char *hv[] = {"healthz"};

    ck_assert_int_eq(
        csm_tel_family_add(t, "csm_scrapes_total", "Scrapes.", CSM_METRIC_COUNTER, 0, NULL, &ctr),
        CSM_OK);
    ck_assert_int_eq(csm_tel_family_add(t, "csm_objects", "Objects \"in\" store\\\nper resource.",
                                        CSM_METRIC_GAUGE, 1, gn, &g),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_histogram_add(t, "csm_req_seconds", "Req.", 1, hn, bounds, 1, &h),
                     CSM_OK);
    ck_assert_int_eq(csm_tel_inc(ctr, NULL, 3), CSM_OK);
    ck_assert_int_eq(csm_tel_set(g, gv, 1700000000), CSM_OK);
    ck_assert_int_eq(csm_tel_observe(h, hv, 0.25), CSM_OK);
    return t;
}

START_TEST(test_render_text)
{
    csm_telemetry *t = mixed_registry();
    capture c;

    cap_init(&c);
    ck_assert_str_eq(render(t, CSM_EXPO_TEXT, &c),
                     "# HELP csm_scrapes_total Scrapes.\n"
                     "# TYPE csm_scrapes_total counter\n"
                     "csm_scrapes_total 3\n"
                     "# HELP csm_objects Objects \"in\" store\\\\\\nper resource.\n"
                     "# TYPE csm_objects gauge\n"
                     "csm_objects{resource=\"a\\\"b\\\\c\\nd\"} 1700000000\n"
                     "# HELP csm_req_seconds Req.\n"
                     "# TYPE csm_req_seconds histogram\n"
                     "csm_req_seconds_bucket{handler=\"healthz\",le=\"0.5\"} 1\n"
                     "csm_req_seconds_bucket{handler=\"healthz\",le=\"+Inf\"} 1\n"
                     "csm_req_seconds_sum{handler=\"healthz\"} 0.25\n"
                     "csm_req_seconds_count{handler=\"healthz\"} 1\n");
    /* The whole page goes to the sink in one text() call. */
    ck_assert_int_eq(c.texts, 1);
    csm_buf_free(&c.out);
    csm_telemetry_free(t);
}
END_TEST

START_TEST(test_render_openmetrics)
{
    csm_telemetry *t = mixed_registry();
    capture c;

    cap_init(&c);
    ck_assert_str_eq(render(t, CSM_EXPO_OPENMETRICS, &c),
                     "# HELP csm_scrapes Scrapes.\n"
                     "# TYPE csm_scrapes counter\n"
                     "csm_scrapes_total 3\n"
                     "# HELP csm_objects Objects \"in\" store\\\\\\nper resource.\n"
                     "# TYPE csm_objects gauge\n"
                     "csm_objects{resource=\"a\\\"b\\\\c\\nd\"} 1700000000\n"
                     "# HELP csm_req_seconds Req.\n"
                     "# TYPE csm_req_seconds histogram\n"
                     "csm_req_seconds_bucket{handler=\"healthz\",le=\"0.5\"} 1\n"
                     "csm_req_seconds_bucket{handler=\"healthz\",le=\"+Inf\"} 1\n"
                     "csm_req_seconds_sum{handler=\"healthz\"} 0.25\n"
                     "csm_req_seconds_count{handler=\"healthz\"} 1\n");
    csm_buf_free(&c.out);
    csm_telemetry_free(t);
}
END_TEST

START_TEST(test_unlabelled_starts_at_zero)
{
    csm_telemetry *t = csm_telemetry_new();
    csm_tel_family *f;
    capture c;

    cap_init(&c);
    ck_assert_int_eq(csm_tel_family_add(t, "csm_up", "Up.", CSM_METRIC_GAUGE, 0, NULL, &f), CSM_OK);
    ck_assert_str_eq(render(t, CSM_EXPO_TEXT, &c),
                     "# HELP csm_up Up.\n# TYPE csm_up gauge\ncsm_up 0\n");
    csm_buf_free(&c.out);
    csm_telemetry_free(t);
}
END_TEST

START_TEST(test_registration_rules)
{
    csm_telemetry *t = csm_telemetry_new();
    csm_tel_family *f;
    csm_tel_family *g;
    const char *names[] = {"handler"};
    const char *other[] = {"path"};
    const char *dup[] = {"a", "a"};
    const char *le[] = {"le"};
    const char *reserved[] = {"__x"};
    const double bounds[] = {1, 2};
    const double unsorted[] = {2, 1};
    const double inf[] = {1, INFINITY};

    ck_assert_int_eq(csm_tel_family_add(t, "bad-name", "", CSM_METRIC_GAUGE, 0, NULL, &f),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_family_add(t, "no_suffix", "", CSM_METRIC_COUNTER, 0, NULL, &f),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_family_add(t, "x_info", "", CSM_METRIC_INFO, 0, NULL, &f),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_family_add(t, "x", "", CSM_METRIC_GAUGE, 2, dup, &f), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_family_add(t, "x", "", CSM_METRIC_GAUGE, 1, reserved, &f),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_histogram_add(t, "h", "", 1, le, bounds, 2, &f), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_histogram_add(t, "h", "", 0, NULL, unsorted, 2, &f), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_histogram_add(t, "h", "", 0, NULL, inf, 2, &f), CSM_ERR_INVALID);
    /* Process metric names are taken. */
    ck_assert_int_eq(csm_tel_family_add(t, "process_open_fds", "", CSM_METRIC_GAUGE, 0, NULL, &f),
                     CSM_ERR_INVALID);
    ck_assert_int_eq(
        csm_tel_family_add(t, "process_cpu_seconds", "", CSM_METRIC_GAUGE, 0, NULL, &f),
        CSM_ERR_INVALID);

    /* Identical re-registration shares the family; conflicts are refused. */
    ck_assert_int_eq(csm_tel_histogram_add(t, "h", "H.", 1, names, bounds, 2, &f), CSM_OK);
    ck_assert_int_eq(csm_tel_histogram_add(t, "h", "H.", 1, names, bounds, 2, &g), CSM_OK);
    ck_assert_ptr_eq(f, g);
    ck_assert_int_eq(csm_tel_histogram_add(t, "h", "H.", 1, other, bounds, 2, &g), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_histogram_add(t, "h", "H.", 1, names, bounds, 1, &g), CSM_ERR_INVALID);
    ck_assert_int_eq(csm_tel_family_add(t, "h", "H.", CSM_METRIC_GAUGE, 1, names, &g),
                     CSM_ERR_INVALID);
    /* "y" and "y_total" both announce family "y" in OpenMetrics. */
    ck_assert_int_eq(csm_tel_family_add(t, "y_total", "", CSM_METRIC_COUNTER, 0, NULL, &f), CSM_OK);
    ck_assert_int_eq(csm_tel_family_add(t, "y", "", CSM_METRIC_GAUGE, 0, NULL, &g),
                     CSM_ERR_INVALID);
    csm_telemetry_free(t);
}
END_TEST

START_TEST(test_process_metrics)
{
    csm_telemetry *t = csm_telemetry_new();
    capture c;
    double rss;
    double vsz;
    double fds;
    double fds2;
    double maxfds;
    double start;
    double cpu;
    int fd;

    cap_init(&c);
    ck_assert_int_eq(csm_tel_write(t, CSM_EXPO_TEXT, &c.sink), CSM_OK);
    ck_assert_ptr_nonnull(strstr(c.out.ptr, "# TYPE process_cpu_seconds_total counter\n"));
    ck_assert_ptr_nonnull(strstr(c.out.ptr, "# TYPE process_resident_memory_bytes gauge\n"));
    rss = sample_value(c.out.ptr, "process_resident_memory_bytes");
    vsz = sample_value(c.out.ptr, "process_virtual_memory_bytes");
    fds = sample_value(c.out.ptr, "process_open_fds");
    maxfds = sample_value(c.out.ptr, "process_max_fds");
    start = sample_value(c.out.ptr, "process_start_time_seconds");
    cpu = sample_value(c.out.ptr, "process_cpu_seconds_total");
    ck_assert(rss >= 64 * 1024 && rss < 64.0 * 1024 * 1024 * 1024);
    ck_assert(vsz >= rss);
    ck_assert(fds >= 1 && fds <= maxfds);
    ck_assert(cpu >= 0 && cpu < 3600);
    /* Started within the last day, not in the future (1 s of clock skew
     * between btime and the wall clock is allowed). */
    ck_assert(start > (double)time(NULL) - 86400 && start <= (double)time(NULL) + 1);

    /* One more descriptor is counted exactly. */
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    csm_buf_reset(&c.out);
    ck_assert_int_eq(csm_tel_write(t, CSM_EXPO_TEXT, &c.sink), CSM_OK);
    fds2 = sample_value(c.out.ptr, "process_open_fds");
    close(fd);
    ck_assert(fds2 == fds + 1);

    /* OpenMetrics announces the CPU counter without "_total". */
    csm_buf_reset(&c.out);
    ck_assert_int_eq(csm_tel_write(t, CSM_EXPO_OPENMETRICS, &c.sink), CSM_OK);
    ck_assert_ptr_nonnull(strstr(c.out.ptr, "# TYPE process_cpu_seconds counter\n"
                                            "process_cpu_seconds_total "));
    csm_buf_free(&c.out);
    csm_telemetry_free(t);
}
END_TEST

START_TEST(test_free_null)
{
    csm_telemetry_free(NULL);
    ck_assert(csm_tel_get(NULL, NULL) == 0);
    ck_assert_int_eq(csm_tel_inc(NULL, NULL, 1), CSM_ERR_TYPE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("telemetry");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_counter);
    tcase_add_test(tc, test_count);
    tcase_add_test(tc, test_gauge_and_remove);
    tcase_add_test(tc, test_histogram_buckets);
    tcase_add_test(tc, test_histogram_no_bounds_no_labels);
    tcase_add_test(tc, test_render_text);
    tcase_add_test(tc, test_render_openmetrics);
    tcase_add_test(tc, test_unlabelled_starts_at_zero);
    tcase_add_test(tc, test_registration_rules);
    tcase_add_test(tc, test_process_metrics);
    tcase_add_test(tc, test_free_null);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
