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
    /* Optional, for sharding: called before an ADDED, MODIFIED or DELETED
     * line is parsed, with the object's metadata.uid and
     * metadata.resourceVersion (rv NULL, rv_len 0 when absent) as found by
     * csm_watch_skim(). Returning non-zero drops the line unparsed. Lines
     * the skim cannot read (no uid, an escaped uid, broken JSON before the
     * metadata) are parsed and delivered as usual. */
    int (*prefilter)(void *ctx, csm_watch_type type, const char *uid, size_t uid_len,
                     const char *rv, size_t rv_len);
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

/*
 * Finds an event's type and its object's metadata.uid and
 * metadata.resourceVersion without building a tree: one forward scan that
 * stops once the metadata is behind it (the API server writes "type" first
 * and an object's metadata before its spec and status, so the spec and
 * status of a skipped object are never read). Strings are returned as spans
 * into line without their quotes; a uid or resourceVersion that contains an
 * escape counts as absent (the caller parses the line instead). The first
 * occurrence of a key wins, as with cJSON. Returns CSM_OK when the type and
 * the uid were found, CSM_ERR_PARSE otherwise (*rv may still be NULL on
 * success). Validates only what it reads: the rest of a line it accepts
 * may be broken JSON.
 */
csm_err csm_watch_skim(const char *line, size_t len, csm_watch_type *type, const char **uid,
                       size_t *uid_len, const char **rv, size_t *rv_len);

/* One element of a LIST response's "items", as csm_watch_skim_list() finds
 * it: the element's bytes, and its metadata.uid (NULL when absent, not a
 * string, or escaped; the caller then parses the element to decide). */
typedef struct csm_watch_list_item {
    const char *p;
    size_t len;
    const char *uid;
    size_t uid_len;
} csm_watch_list_item;

/*
 * Walks a LIST response ({"metadata":{...},"items":[...],...}) with the
 * same tree-less scan as csm_watch_skim(), so that a shard parses only the
 * items it owns: *meta spans the top-level "metadata" object (NULL if
 * absent) and *items (free() it; NULL when there are none) holds *nitems
 * entries, in order, pointing into body. The whole body is scanned
 * structurally; CSM_ERR_PARSE when it is not skimmable (escaped keys, raw
 * control bytes, broken structure, "items" not an array), and the caller
 * parses it whole instead; CSM_ERR_NOMEM.
 */
csm_err csm_watch_skim_list(const char *body, size_t len, const char **meta, size_t *meta_len,
                            csm_watch_list_item **items, size_t *nitems);

#endif
