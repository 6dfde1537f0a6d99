/*
 * The logger: text lines with client-chosen bytes escaped, JSON lines, and
 * the level filter. Output goes to a memory stream.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "base/log.h"

/* Everything the logger wrote, NUL-terminated; the caller frees it. */
typedef struct memlog {
    char *buf;
    size_t len;
    FILE *out;
    csm_log *log;
} memlog;

static void memlog_open(memlog *m, csm_log_level min, csm_log_format fmt)
{
    memset(m, 0, sizeof(*m));
    m->out = open_memstream(&m->buf, &m->len);
    ck_assert_ptr_nonnull(m->out);
    m->log = csm_log_new(m->out, min, fmt);
    ck_assert_ptr_nonnull(m->log);
}

/* The text after the timestamp and level of the only line written. */
static const char *memlog_msg(memlog *m)
{
    const char *p;

    fflush(m->out);
    ck_assert_ptr_nonnull(m->buf);
    ck_assert_ptr_eq(strchr(m->buf, '\n'), m->buf + m->len - 1); /* one line */
    p = strchr(m->buf, ' ');                                     /* after the timestamp */
    ck_assert_ptr_nonnull(p);
    while (*p == ' ')
        p++;
    p = strchr(p, ' '); /* after the level */
    ck_assert_ptr_nonnull(p);
    while (*p == ' ')
        p++;
    return p;
}

static void memlog_close(memlog *m)
{
    csm_log_free(m->log);
    fclose(m->out);
    free(m->buf);
}

START_TEST(test_text_escapes_control_bytes)
{
    memlog m;

    memlog_open(&m, CSM_LOG_DEBUG, CSM_LOG_TEXT);
    /* What a request URI could carry: a forged second line, a terminal
     * escape, DEL, a backslash, and UTF-8 (kept). */
    csm_logf(m.log, CSM_LOG_DEBUG, "http: GET %s -> 404",
             "/x\r\n2026-01-01T00:00:00.000Z ERROR forged\x1b[2J\x7f\\ \xc3\xa9");
    ck_assert_str_eq(memlog_msg(&m), "http: GET /x\\r\\n2026-01-01T00:00:00.000Z ERROR "
                                     "forged\\x1b[2J\\x7f\\\\ \xc3\xa9 -> 404\n");
    memlog_close(&m);
}
END_TEST

START_TEST(test_json_escapes)
{
    memlog m;

    memlog_open(&m, CSM_LOG_INFO, CSM_LOG_JSON);
    csm_logf(m.log, CSM_LOG_WARN, "a\"b\\c\nd\x1b");
    fflush(m.out);
    ck_assert_ptr_nonnull(strstr(m.buf, "\"level\":\"warn\""));
    ck_assert_ptr_nonnull(strstr(m.buf, "\"msg\":\"a\\\"b\\\\c\\nd\\u001b\"}\n"));
    memlog_close(&m);
}
END_TEST

START_TEST(test_level_filter)
{
    memlog m;

    memlog_open(&m, CSM_LOG_WARN, CSM_LOG_TEXT);
    csm_logf(m.log, CSM_LOG_INFO, "hidden");
    ck_assert(!csm_log_enabled(m.log, CSM_LOG_INFO));
    ck_assert(csm_log_enabled(m.log, CSM_LOG_ERROR));
    csm_logf(m.log, CSM_LOG_ERROR, "shown");
    ck_assert_str_eq(memlog_msg(&m), "shown\n");
    memlog_close(&m);
    csm_logf(NULL, CSM_LOG_ERROR, "a NULL logger discards");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_text_escapes_control_bytes);
    tcase_add_test(tc, test_json_escapes);
    tcase_add_test(tc, test_level_filter);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return csm_check_run(suite());
}
