#include "watch.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonnum.h"

struct csm_watch {
    csm_buf line;   /* the unfinished line carried between chunks */
    int discarding; /* an over-long line is being skipped */
    size_t max_line;
    csm_watch_cbs cbs;
};

static const char *const type_names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

const char *csm_watch_type_name(csm_watch_type t)
{
    return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "UNKNOWN";
}

csm_watch *csm_watch_new(size_t max_line, const csm_watch_cbs *cbs)
{
    csm_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    csm_buf_init(&w->line, max_line);
    w->max_line = max_line;
    w->cbs = *cbs;
    return w;
}

void csm_watch_free(csm_watch *w)
{
    if (!w)
        return;
    csm_buf_free(&w->line);
    free(w);
}

size_t csm_watch_pending(const csm_watch *w)
{
    return w->line.len;
}

void csm_watch_reset(csm_watch *w)
{
    csm_buf_free(&w->line);
    w->discarding = 0;
}

csm_err csm_watch_decode(const char *line, size_t len, csm_watch_type *type, cJSON **doc,
                         const cJSON **object, const char **why)
{
    const char *end = NULL;
    cJSON *root;
    const cJSON *t;
    const cJSON *o;

    root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!root) {
        *why = "invalid JSON";
        return CSM_ERR_PARSE;
    }
    /* Integers above 2^53 keep their text for labels (jsonnum.h). */
    if (csm_jsonnum_annotate(root, line, (size_t)(end - line)) != CSM_OK) {
        *why = "out of memory";
        goto bad;
    }
    t = cJSON_GetObjectItemCaseSensitive(root, "type");
    o = cJSON_GetObjectItemCaseSensitive(root, "object");
    if (!cJSON_IsString(t)) {
        *why = "event without a type";
        goto bad;
    }
    if (!cJSON_IsObject(o)) {
        *why = "event without an object";
        goto bad;
    }
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (strcmp(t->valuestring, type_names[i]) == 0) {
            *type = (csm_watch_type)i;
            *doc = root;
            *object = o;
            return CSM_OK;
        }
    }
    *why = "unknown event type";
bad:
    cJSON_Delete(root);
    return CSM_ERR_PARSE;
}

static int blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    }
    return 1;
}

static csm_err dispatch(csm_watch *w, const char *line, size_t len)
{
    csm_watch_type type;
    cJSON *doc = NULL;
    const cJSON *obj = NULL;
    const char *why = NULL;
    csm_err err;

    if (blank(line, len))
        return CSM_OK;
    if (csm_watch_decode(line, len, &type, &doc, &obj, &why)) {
        if (w->cbs.malformed)
            w->cbs.malformed(w->cbs.ctx, why);
        return CSM_OK;
    }
    err = w->cbs.event ? w->cbs.event(w->cbs.ctx, type, obj) : CSM_OK;
    cJSON_Delete(doc);
    return err;
}

csm_err csm_watch_feed(csm_watch *w, const char *p, size_t n)
{
    const char *end = p + n;
    csm_err err;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t seg = nl ? (size_t)(nl - p) : (size_t)(end - p);

        if (w->discarding) {
            if (nl)
                w->discarding = 0;
        } else if (nl && w->line.len == 0 && seg <= w->max_line) {
            /* The common case: a whole line inside this chunk, no copy. */
            err = dispatch(w, p, seg);
            if (err)
                return err;
        } else if (csm_buf_append(&w->line, p, seg) != CSM_OK) {
            /* Over the cap (the buffer freed itself): skip to the newline. */
            if (w->cbs.malformed)
                w->cbs.malformed(w->cbs.ctx, "event larger than the line limit");
            w->discarding = nl == NULL;
        } else if (nl) {
            err = dispatch(w, w->line.ptr, w->line.len);
            csm_buf_reset(&w->line);
            if (err)
                return err;
        }
        p += seg + (nl ? 1 : 0);
    }
    return CSM_OK;
}
