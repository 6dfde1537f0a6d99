/*
 * Watch-stream decoding: a Kubernetes watch body is newline-delimited JSON,
 * one {"type": ..., "object": {...}} event per line, delivered in chunks that
 * split lines anywhere.
 *
 * Each byte is scanned for '\n' exactly once and each complete line is
 * parsed exactly once: a line that lies wholly inside one chunk is parsed in
 * place; only the unfinished tail of a chunk is copied, into a buffer that
 * keeps growing until its line ends. A line that would exceed the cap is
 * dropped whole (reported as malformed) and decoding resumes after its
 * newline, so one oversized or broken event never stops the stream.
 */
#ifndef CSM_WATCH_H
#define CSM_WATCH_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "csm/error.h"

typedef enum csm_watch_type {
    CSM_WATCH_ADDED = 0,
    CSM_WATCH_MODIFIED,
    CSM_WATCH_DELETED,
    CSM_WATCH_BOOKMARK,
    CSM_WATCH_ERROR,
} csm_watch_type;

/* "ADDED" etc.; static string. */
const char *csm_watch_type_name(csm_watch_type t);

typedef struct csm_watch_cbs {
    /* One decoded event. `object` is borrowed for the call (the whole parsed
     * event is freed afterwards). For CSM_WATCH_ERROR it is the Status
     * object. Returning an error aborts the feed with that error. */
    csm_err (*event)(void *ctx, csm_watch_type type, const cJSON *object);
    /* A line that is not a valid event: not JSON, no known type, no object,
     * or over the size cap. `why` is a short static description. */
    void (*malformed)(void *ctx, const char *why);
    void *ctx;
} csm_watch_cbs;

typedef struct csm_watch csm_watch;

/* max_line: the largest event line accepted, in bytes. Returns NULL on
 * allocation failure. Free with csm_watch_free(). */
csm_watch *csm_watch_new(size_t max_line, const csm_watch_cbs *cbs);
void csm_watch_free(csm_watch *w);

/* Feeds the next chunk of the body. */
csm_err csm_watch_feed(csm_watch *w, const char *p, size_t n);

/* Bytes of an unfinished line currently buffered. */
size_t csm_watch_pending(const csm_watch *w);

/* Forgets any unfinished line (a new watch request starts clean). */
void csm_watch_reset(csm_watch *w);

/* Decodes one complete line into type and object; used by the feed and
 * directly by tests. On success *doc must be freed with cJSON_Delete() and
 * *object points into it. */
csm_err csm_watch_decode(const char *line, size_t len, csm_watch_type *type, cJSON **doc,
                         const cJSON **object, const char **why);

#endif
