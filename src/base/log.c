#include "base/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct csm_log {
    FILE *out;
    csm_log_level min;
    csm_log_format fmt;
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

csm_log *csm_log_new(FILE *out, csm_log_level min, csm_log_format fmt)
{
    csm_log *log = calloc(1, sizeof(*log));
    if (!log)
        return NULL;
    log->out = out;
    log->min = min;
    log->fmt = fmt;
    return log;
}

void csm_log_free(csm_log *log)
{
    free(log);
}

csm_err csm_log_level_parse(const char *s, csm_log_level *out)
{
    if (!s)
        return CSM_ERR_INVALID;
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (csm_log_level)i;
            return CSM_OK;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = CSM_LOG_WARN;
        return CSM_OK;
    }
    return CSM_ERR_INVALID;
}

csm_err csm_log_format_parse(const char *s, csm_log_format *out)
{
    if (s && strcmp(s, "text") == 0) {
        *out = CSM_LOG_TEXT;
        return CSM_OK;
    }
    if (s && strcmp(s, "json") == 0) {
        *out = CSM_LOG_JSON;
        return CSM_OK;
    }
    return CSM_ERR_INVALID;
}

int csm_log_enabled(const csm_log *log, csm_log_level lvl)
{
    return log && log->out && lvl >= log->min;
}

/* Writes s as the body of a JSON string (without quotes). */
static void json_escape(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
}

/* Writes s with backslashes doubled and control characters escaped (\n,
 * \r, \t, \xHH for the rest, DEL included), so that text a client chose (a request URI, a
 * header) can neither forge a log line nor send a terminal escape
 * sequence. Bytes >= 0x80 pass: they cannot do either, and UTF-8 stays
 * readable. */
static void text_escape(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\r')
            fputs("\\r", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
}

void csm_logf(const csm_log *log, csm_log_level lvl, const char *fmt, ...)
{
    char msg[4096];
    char ts[96];
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (!csm_log_enabled(log, lvl))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000L);

    if (log->fmt == CSM_LOG_JSON) {
        fprintf(log->out, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_names[lvl]);
        json_escape(log->out, msg);
        fputs("\"}\n", log->out);
    } else {
        fprintf(log->out, "%s %-5s ", ts, level_names[lvl]);
        text_escape(log->out, msg);
        fputc('\n', log->out);
    }
    fflush(log->out);
}
