/*
 * Structured-enough logging to stderr (or any FILE), text or JSON lines.
 *
 * Logging is best-effort: a failed write is ignored, which is why the
 * functions below return void. A NULL csm_log is valid and discards
 * everything, which keeps unit tests quiet.
 *
 * Never pass a bearer token, a private key or a review body to these
 * functions; callers redact before logging.
 */
#ifndef CSM_LOG_H
#define CSM_LOG_H

#include <stdio.h>

#include "csm/error.h"

typedef enum csm_log_level {
    CSM_LOG_DEBUG = 0,
    CSM_LOG_INFO,
    CSM_LOG_WARN,
    CSM_LOG_ERROR,
} csm_log_level;

typedef enum csm_log_format {
    CSM_LOG_TEXT = 0,
    CSM_LOG_JSON,
} csm_log_format;

typedef struct csm_log csm_log;

/* Returns a logger writing to `out` (not owned), or NULL on allocation
 * failure. Free with csm_log_free(). */
csm_log *csm_log_new(FILE *out, csm_log_level min, csm_log_format fmt);
void csm_log_free(csm_log *log);

/* Parses "debug|info|warn|warning|error" and "text|json". */
csm_err csm_log_level_parse(const char *s, csm_log_level *out);
csm_err csm_log_format_parse(const char *s, csm_log_format *out);

/* 1 if a message at `lvl` would be written: lets callers skip building
 * expensive debug text. */
int csm_log_enabled(const csm_log *log, csm_log_level lvl);

void csm_logf(const csm_log *log, csm_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
