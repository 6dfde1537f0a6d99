/*
 * The watch-stream decoder (csm_watch_feed) against untrusted watch bodies.
 *
 * Input: one byte choosing the line cap, four bytes seeding the chunk sizes,
 * then the body. The body is fed twice, whole and in pseudo-random chunks
 * (1 to 64 bytes, or the rest); where the network splits a body must not
 * matter, so both runs must report the same events, the same malformed
 * lines, the same error and the same unfinished tail. A third run, on the
 * chunked decoder after csm_watch_reset(), must match too.
 *
 * Each line of the body also goes through csm_watch_skim(), the sharding
 * prefilter's scan: where both it and the full decode accept a line, they
 * must agree on the type and on metadata.uid and metadata.resourceVersion
 * (a skim that saw another UID than the parse would put an object on the
 * wrong shard). The whole body also goes through csm_watch_skim_list(),
 * the LIST page scan: where it and cJSON both accept the body, they must
 * agree on the number of items, each item's bytes must parse, and each UID
 * the scan reports must be the item's metadata.uid.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "ingest/watch.h"

typedef struct run {
    csm_buf log; /* one line per callback */
} run;

static csm_err on_event(void *ctx, csm_watch_type type, const cJSON *object)
{
    run *r = ctx;
    char *text = cJSON_PrintUnformatted(object);

    if (!text)
        abort(); /* the object was parsed, so it prints */
    csm_buf_printf(&r->log, "%s %s\n", csm_watch_type_name(type), text);
    cJSON_free(text);
    /* An event the consumer refuses aborts the feed with its error. */
    return cJSON_GetObjectItemCaseSensitive(object, "abort") ? CSM_ERR_INVALID : CSM_OK;
}

static void on_malformed(void *ctx, const char *why)
{
    run *r = ctx;
    csm_buf_printf(&r->log, "malformed: %s\n", why);
}

static uint32_t next_rand(uint32_t *s)
{
    /* xorshift32; a zero state would stay zero. */
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static void check_same(const run *a, const run *b, csm_err ea, csm_err eb, const char *what)
{
    if (ea != eb || a->log.len != b->log.len ||
        memcmp(csm_buf_str(&a->log), csm_buf_str(&b->log), a->log.len) != 0) {
        fprintf(stderr, "%s differs:\n--- whole (%d)\n%s--- other (%d)\n%s", what, (int)ea,
                csm_buf_str(&a->log), (int)eb, csm_buf_str(&b->log));
        abort();
    }
}

/* 1 if item is a string equal to the n bytes at p. */
static int same_string(const cJSON *item, const char *p, size_t n)
{
    return cJSON_IsString(item) && strlen(item->valuestring) == n &&
           memcmp(item->valuestring, p, n) == 0;
}

static void check_skim(const char *line, size_t len)
{
    csm_watch_type st;
    csm_watch_type dt;
    const char *uid;
    const char *rv;
    size_t ul;
    size_t rl;
    cJSON *doc = NULL;
    const cJSON *obj = NULL;
    const char *why = NULL;
    const cJSON *meta;

    if (csm_watch_skim(line, len, &st, &uid, &ul, &rv, &rl) != CSM_OK)
        return;
    if (csm_watch_decode(line, len, &dt, &doc, &obj, &why) != CSM_OK)
        return;
    meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    if (st != dt || !same_string(cJSON_GetObjectItemCaseSensitive(meta, "uid"), uid, ul) ||
        (rv && !same_string(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion"), rv, rl))) {
        fprintf(stderr, "skim and decode disagree on: %.*s\n", (int)len, line);
        abort();
    }
    cJSON_Delete(doc);
}

static void check_skim_list(const char *body, size_t len)
{
    csm_watch_list_item *it = NULL;
    const char *meta;
    size_t ml;
    size_t n = 0;
    cJSON *doc;
    const cJSON *items;
    const cJSON *item;
    size_t i = 0;

    if (csm_watch_skim_list(body, len, &meta, &ml, &it, &n) != CSM_OK)
        return;
    doc = cJSON_ParseWithLength(body, len);
    items = cJSON_GetObjectItemCaseSensitive(doc, "items");
    if (!doc || (items && !cJSON_IsArray(items) && !cJSON_IsNull(items))) {
        /* The scan reads less than cJSON: it may accept what cJSON does not. */
        cJSON_Delete(doc);
        free(it);
        return;
    }
    if ((size_t)cJSON_GetArraySize(items) != n)
        abort();
    cJSON_ArrayForEach(item, items)
    {
        cJSON *one = cJSON_ParseWithLength(it[i].p, it[i].len);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(item, "metadata");
        if (!one)
            abort();
        cJSON_Delete(one);
        if (it[i].uid &&
            !same_string(cJSON_GetObjectItemCaseSensitive(m, "uid"), it[i].uid, it[i].uid_len))
            abort();
        i++;
    }
    cJSON_Delete(doc);
    free(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run whole;
    run chunked;
    csm_watch_cbs cbs = {on_event, on_malformed, NULL, NULL};
    csm_watch *w1;
    csm_watch *w2;
    const char *body;
    size_t len;
    size_t max_line;
    uint32_t seed;
    csm_err e1;
    csm_err e2 = CSM_OK;
    csm_err e3;

    if (size < 5)
        return 0;
    /* Small caps reach the over-long-line paths; 1 MiB is the real one. */
    max_line = data[0] & 0x80 ? (size_t)1 << 20 : 1 + (size_t)data[0] * 4;
    memcpy(&seed, data + 1, sizeof(seed));
    body = (const char *)data + 5;
    len = size - 5;

    csm_buf_init(&whole.log, (size_t)1 << 26);
    csm_buf_init(&chunked.log, (size_t)1 << 26);
    cbs.ctx = &whole;
    w1 = csm_watch_new(max_line, &cbs);
    cbs.ctx = &chunked;
    w2 = csm_watch_new(max_line, &cbs);
    if (!w1 || !w2)
        abort();

    e1 = csm_watch_feed(w1, body, len);
    for (size_t off = 0; off < len && !e2;) {
        uint32_t r = next_rand(&seed);
        size_t n = r % 8 == 0 ? len - off : 1 + (r >> 8) % 64;
        if (n > len - off)
            n = len - off;
        e2 = csm_watch_feed(w2, body + off, n);
        if (csm_watch_pending(w2) > max_line)
            abort();
        off += n;
    }
    check_same(&whole, &chunked, e1, e2, "chunked run");
    if (!e1 && csm_watch_pending(w1) != csm_watch_pending(w2))
        abort();

    /* After a reset the decoder starts clean, whatever it held. */
    csm_watch_reset(w2);
    if (csm_watch_pending(w2) != 0)
        abort();
    csm_buf_reset(&chunked.log);
    e3 = csm_watch_feed(w2, body, len);
    check_same(&whole, &chunked, e1, e3, "run after reset");

    check_skim_list(body, len);
    for (const char *p = body, *end = body + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        check_skim(p, n);
        p += n + 1;
    }

    csm_watch_free(w1);
    csm_watch_free(w2);
    csm_buf_free(&whole.log);
    csm_buf_free(&chunked.log);
    return 0;
}
