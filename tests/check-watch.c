#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "base/buf.h"
#include "ingest/watch.h"

/* Records what the decoder delivered, as "TYPE name rv;" per event. */
typedef struct rec {
    csm_buf log;
    int events;
    int malformed;
} rec;

static csm_err on_event(void *ctx, csm_watch_type type, const cJSON *obj)
{
    rec *r = ctx;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    r->events++;
    return csm_buf_printf(&r->log, "%s %s %s;", csm_watch_type_name(type),
                          cJSON_IsString(name) ? name->valuestring : "-",
                          cJSON_IsString(rv) ? rv->valuestring : "-");
}

static void on_malformed(void *ctx, const char *why)
{
    rec *r = ctx;
    ck_assert_ptr_nonnull(why);
    r->malformed++;
}

/* A decoder recording into *r; prefilter may be NULL. */
static csm_watch *mkwatch_filtered(rec *r, size_t max,
                                   int (*prefilter)(void *, csm_watch_type, const char *, size_t,
                                                    const char *, size_t))
{
    csm_watch_cbs cbs = {on_event, on_malformed, r, prefilter};
    memset(r, 0, sizeof(*r));
    csm_buf_init(&r->log, 1 << 20);
    return csm_watch_new(max, &cbs);
}

static csm_watch *mkwatch(rec *r, size_t max)
{
    return mkwatch_filtered(r, max, NULL);
}

/* Frees what mkwatch() made. */
static void rmwatch(rec *r, csm_watch *w)
{
    csm_watch_free(w);
    csm_buf_free(&r->log);
}

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"2\"}}}"
    "\r\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"3\"}}}\n"
    "\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"4\"}}}\n";

static const char expected[] = "ADDED a 1;MODIFIED a 2;BOOKMARK - 3;DELETED a 4;";

START_TEST(test_whole_stream)
{
    rec r;
    csm_watch *w = mkwatch(&r, 4096);
    ck_assert_int_eq(csm_watch_feed(w, stream, strlen(stream)), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&r.log), expected);
    ck_assert_int_eq(r.malformed, 0);
    ck_assert_uint_eq(csm_watch_pending(w), 0);
    rmwatch(&r, w);
}
END_TEST

/* Every split position of the whole stream into two chunks, and the
 * stream fed one byte at a time, give the same events. */
START_TEST(test_split_at_every_byte)
{
    size_t n = strlen(stream);
    for (size_t cut = 0; cut <= n; cut++) {
        rec r;
        csm_watch *w = mkwatch(&r, 4096);
        ck_assert_int_eq(csm_watch_feed(w, stream, cut), CSM_OK);
        ck_assert_int_eq(csm_watch_feed(w, stream + cut, n - cut), CSM_OK);
        ck_assert_msg(strcmp(csm_buf_str(&r.log), expected) == 0, "cut at %zu: %s", cut,
                      csm_buf_str(&r.log));
        rmwatch(&r, w);
    }
    rec r;
    csm_watch *w = mkwatch(&r, 4096);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(csm_watch_feed(w, stream + i, 1), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&r.log), expected);
    rmwatch(&r, w);
}
END_TEST

START_TEST(test_malformed_line_skipped)
{
    static const char s[] =
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}"
        "\n"
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\n" /* truncated JSON */
        "[1,2,3]\n"                                                 /* not an event */
        "{\"type\":\"SURPRISE\",\"object\":{}}\n"                   /* unknown type */
        "{\"type\":\"ADDED\"}\n"                                    /* no object */
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"2\"}}}"
        "\n";
    rec r;
    csm_watch *w = mkwatch(&r, 4096);
    ck_assert_int_eq(csm_watch_feed(w, s, strlen(s)), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&r.log), "ADDED a 1;ADDED b 2;");
    ck_assert_int_eq(r.malformed, 4);
    rmwatch(&r, w);
}
END_TEST

static char *big_event(const char *name, size_t payload)
{
    csm_buf b;
    char *pad = malloc(payload + 1);
    memset(pad, 'x', payload);
    pad[payload] = '\0';
    csm_buf_init(&b, payload + 4096);
    csm_buf_printf(&b,
                   "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"%s\","
                   "\"resourceVersion\":\"9\"},\"spec\":{\"blob\":\"%s\"}}}\n",
                   name, pad);
    free(pad);
    return csm_buf_steal(&b, NULL);
}

START_TEST(test_one_mib_objects_in_odd_chunks)
{
    char *e1 = big_event("big1", 1 << 20);
    char *e2 = big_event("big2", 1 << 20);
    size_t l1 = strlen(e1), l2 = strlen(e2);
    char *all = malloc(l1 + l2);
    rec r;
    csm_watch *w = mkwatch(&r, 4u << 20);

    memcpy(all, e1, l1);
    memcpy(all + l1, e2, l2);
    /* 16 KiB is libcurl's usual write size; 7 makes boundaries wander. */
    for (size_t off = 0; off < l1 + l2; off += 16384 + 7) {
        size_t n = l1 + l2 - off < 16384 + 7 ? l1 + l2 - off : 16384 + 7;
        ck_assert_int_eq(csm_watch_feed(w, all + off, n), CSM_OK);
    }
    ck_assert_str_eq(csm_buf_str(&r.log), "ADDED big1 9;ADDED big2 9;");
    ck_assert_int_eq(r.malformed, 0);
    rmwatch(&r, w);
    free(all);
    free(e1);
    free(e2);
}
END_TEST

START_TEST(test_oversized_line_dropped_stream_continues)
{
    char *e1 = big_event("huge", 200000);
    static const char next[] = "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"n\","
                               "\"resourceVersion\":\"5\"}}}\n";
    rec r;
    csm_watch *w = mkwatch(&r, 100000);
    size_t l1 = strlen(e1);

    /* Split so that both the in-place path and the buffered path meet the
     * oversized line. */
    ck_assert_int_eq(csm_watch_feed(w, e1, 1000), CSM_OK);
    ck_assert_int_eq(csm_watch_feed(w, e1 + 1000, l1 - 1000), CSM_OK);
    ck_assert_int_eq(csm_watch_feed(w, next, strlen(next)), CSM_OK);
    ck_assert_int_eq(csm_watch_feed(w, e1, l1), CSM_OK);
    ck_assert_int_eq(csm_watch_feed(w, next, strlen(next)), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&r.log), "DELETED n 5;DELETED n 5;");
    ck_assert_int_eq(r.malformed, 2);
    ck_assert_uint_eq(csm_watch_pending(w), 0);
    rmwatch(&r, w);
    free(e1);
}
END_TEST

static csm_err fail_event(void *ctx, csm_watch_type type, const cJSON *obj)
{
    (void)ctx;
    (void)type;
    (void)obj;
    return CSM_ERR_NOMEM;
}

START_TEST(test_callback_error_propagates)
{
    csm_watch_cbs cbs = {fail_event, NULL, NULL, NULL};
    csm_watch *w = csm_watch_new(4096, &cbs);
    ck_assert_int_eq(csm_watch_feed(w, stream, strlen(stream)), CSM_ERR_NOMEM);
    csm_watch_free(w);
}
END_TEST

/* Skims line; returns "TYPE uid rv" or "FAIL". */
static const char *skim_str(const char *line, char *out, size_t len)
{
    csm_watch_type t;
    const char *uid;
    const char *rv;
    size_t ul;
    size_t rl;

    if (csm_watch_skim(line, strlen(line), &t, &uid, &ul, &rv, &rl) != CSM_OK)
        return "FAIL";
    snprintf(out, len, "%s %.*s %.*s", csm_watch_type_name(t), (int)ul, uid, rv ? (int)rl : 1,
             rv ? rv : "-");
    return out;
}

START_TEST(test_skim)
{
    char b[256];
    /* As the API server writes a custom resource: sorted keys; the
     * ownerReferences' uid comes before metadata.uid and must not win. */
    ck_assert_str_eq(
        skim_str("{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"x/v1\",\"kind\":\"K\","
                 "\"metadata\":{\"annotations\":{\"uid\":\"no\"},\"ownerReferences\":[{"
                 "\"uid\":\"owner\"}],\"resourceVersion\":\"42\",\"uid\":\"u-1\"},"
                 "\"spec\":{\"uid\":\"no\"}}}",
                 b, sizeof(b)),
        "ADDED u-1 42");
    /* Type after the object, whitespace everywhere, escapes elsewhere. */
    ck_assert_str_eq(skim_str(" { \"object\" : { \"spec\" : [ 1 , \"a\\\"}\" , { } ] , "
                              "\"metadata\" : { \"uid\" : \"u2\" } } , \"type\" : \"DELETED\" } ",
                              b, sizeof(b)),
                     "DELETED u2 -");
    /* The first occurrence wins, as in cJSON. */
    ck_assert_str_eq(skim_str("{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"uid\":"
                              "\"first\",\"uid\":\"second\"}}}",
                              b, sizeof(b)),
                     "MODIFIED first -");
    /* The scan stops after the metadata: what follows is not read. */
    ck_assert_str_eq(skim_str("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":\"u\","
                              "\"resourceVersion\":\"7\"},\"spec\":{{{{ broken",
                              b, sizeof(b)),
                     "ADDED u 7");
    /* Not skimmable: the caller parses the line instead. */
    ck_assert_str_eq(skim_str("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":"
                              "\"u\\u0031\"}}}",
                              b, sizeof(b)),
                     "FAIL");
    ck_assert_str_eq(
        skim_str("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"n\"}}}", b, sizeof(b)),
        "FAIL");
    ck_assert_str_eq(
        skim_str("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":5}}}", b, sizeof(b)),
        "FAIL");
    ck_assert_str_eq(
        skim_str("{\"type\":\"NOPE\",\"object\":{\"metadata\":{\"uid\":\"u\"}}}", b, sizeof(b)),
        "FAIL");
    ck_assert_str_eq(
        skim_str("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":\"u", b, sizeof(b)),
        "FAIL");
    /* An escaped key might spell "uid": the parse decides. */
    ck_assert_str_eq(skim_str("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"\\u0075id\":"
                              "\"x\",\"uid\":\"y\"}}}",
                              b, sizeof(b)),
                     "FAIL");
    {
        /* A raw NUL in the uid: cJSON would cut it there; not skimmed. */
        static const char nul[] =
            "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":\"a\0b\"}}}";
        csm_watch_type t;
        const char *u;
        const char *v;
        size_t ul;
        size_t vl;
        ck_assert_int_eq(csm_watch_skim(nul, sizeof(nul) - 1, &t, &u, &ul, &v, &vl), CSM_ERR_PARSE);
    }
    ck_assert_str_eq(skim_str("[1,2]", b, sizeof(b)), "FAIL");
    ck_assert_str_eq(skim_str("", b, sizeof(b)), "FAIL");
    ck_assert_str_eq(
        skim_str("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":\"u\\", b, sizeof(b)),
        "FAIL");
}
END_TEST

/* Drops uids starting with 'f' (foreign). */
static int drop_f(void *ctx, csm_watch_type type, const char *uid, size_t ul, const char *rv,
                  size_t rl)
{
    rec *r = ctx;
    (void)type;
    (void)rv;
    (void)rl;
    if (ul > 0 && uid[0] == 'f') {
        csm_buf_printf(&r->log, "skip %.*s;", (int)ul, uid);
        return 1;
    }
    return 0;
}

START_TEST(test_prefilter_drops_unparsed)
{
    rec r;
    csm_watch *w = mkwatch_filtered(&r, 4096, drop_f);
    /* A foreign line that is broken after its metadata is dropped without
     * a parse (so without a MALFORMED); an owned broken one is parsed and
     * reported; bookmarks always reach the parser. Fed in 7-byte chunks. */
    static const char in[] =
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":"
        "\"1\",\"uid\":\"own\"}}}\n"
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\",\"resourceVersion\":"
        "\"2\",\"uid\":\"foreign\"},\"spec\":{broken\n"
        "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"c\",\"resourceVersion\":"
        "\"3\",\"uid\":\"own2\"},\"spec\":{broken\n"
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"4\","
        "\"uid\":\"fake\"}}}\n"
        "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"d\",\"uid\":\"fx\"}}}\n";
    size_t n = sizeof(in) - 1;

    for (size_t i = 0; i < n; i += 7)
        ck_assert_int_eq(csm_watch_feed(w, in + i, n - i < 7 ? n - i : 7), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&r.log), "ADDED a 1;skip foreign;BOOKMARK - 4;skip fx;");
    ck_assert_int_eq(r.malformed, 1);
    rmwatch(&r, w);
}
END_TEST

/* csm_watch_skim_list() of a NUL-terminated page. */
static csm_err skim_lit(const char *page, const char **meta, size_t *ml, csm_watch_list_item **it,
                        size_t *n)
{
    return csm_watch_skim_list(page, strlen(page), meta, ml, it, n);
}

START_TEST(test_skim_list)
{
    static const char page[] =
        "{\"apiVersion\":\"x/v1\",\"items\":[{\"apiVersion\":\"x/v1\",\"metadata\":{"
        "\"ownerReferences\":[{\"uid\":\"owner\"}],\"uid\":\"u1\"},\"spec\":{\"a\":[1,{\"b\":\"]\"}"
        "]}},"
        " {\"metadata\":{\"name\":\"no-uid\"}} "
        ",{\"metadata\":{\"uid\":\"u\\u0033\"}}],\"kind\":\"XList\","
        "\"metadata\":{\"continue\":\"c\",\"resourceVersion\":\"9\"}}";
    csm_watch_list_item *it = NULL;
    const char *meta = NULL;
    size_t ml = 0;
    size_t n = 0;

    ck_assert_int_eq(skim_lit(page, &meta, &ml, &it, &n), CSM_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(strncmp(meta, "{\"continue\":\"c\",\"resourceVersion\":\"9\"}", ml), 0);
    ck_assert_uint_eq(ml, strlen("{\"continue\":\"c\",\"resourceVersion\":\"9\"}"));
    /* Item spans are whole JSON objects; uids from metadata only. */
    ck_assert_int_eq(it[0].p[0], '{');
    ck_assert_int_eq(it[0].p[it[0].len - 1], '}');
    ck_assert_int_eq(strncmp(it[0].uid, "u1", it[0].uid_len), 0);
    ck_assert_uint_eq(it[0].uid_len, 2);
    {
        cJSON *o = cJSON_ParseWithLength(it[0].p, it[0].len);
        ck_assert_ptr_nonnull(o);
        cJSON_Delete(o);
    }
    ck_assert_ptr_null(it[1].uid);
    ck_assert_int_eq(strncmp(it[1].p, "{\"metadata\":{\"name\":\"no-uid\"}}", it[1].len), 0);
    ck_assert_ptr_null(it[2].uid); /* escaped: the caller parses it */
    free(it);

    /* Empty and null items. */
    ck_assert_int_eq(skim_lit("{\"items\":[]}", &meta, &ml, &it, &n), CSM_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(meta);
    free(it);
    ck_assert_int_eq(skim_lit("{\"items\":null,\"metadata\":{}}", &meta, &ml, &it, &n), CSM_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(ml, 2);
    free(it);
    /* Not skimmable: the caller parses the page whole. */
    ck_assert_int_eq(skim_lit("{\"items\":{}}", &meta, &ml, &it, &n), CSM_ERR_PARSE);
    ck_assert_int_eq(skim_lit("{\"items\":[1]}", &meta, &ml, &it, &n), CSM_ERR_PARSE);
    ck_assert_int_eq(skim_lit("{\"items\":[{}", &meta, &ml, &it, &n), CSM_ERR_PARSE);
    ck_assert_int_eq(skim_lit("{\"items\":[]} x", &meta, &ml, &it, &n), CSM_ERR_PARSE);
    ck_assert_int_eq(skim_lit("{\"it\\u0065ms\":[]}", &meta, &ml, &it, &n), CSM_ERR_PARSE);
    ck_assert_int_eq(skim_lit("", &meta, &ml, &it, &n), CSM_ERR_PARSE);
}
END_TEST

/* 1200 items: the item array grows several times. */
START_TEST(test_skim_list_many)
{
    csm_buf b;
    csm_watch_list_item *it = NULL;
    const char *meta;
    size_t ml;
    size_t n;

    csm_buf_init(&b, 1 << 22);
    csm_buf_printf(&b, "{\"items\":[");
    for (int i = 0; i < 1200; i++)
        csm_buf_printf(&b, "%s{\"metadata\":{\"uid\":\"u%d\"}}", i ? "," : "", i);
    csm_buf_printf(&b, "]}");
    ck_assert_int_eq(csm_watch_skim_list(b.ptr, b.len, &meta, &ml, &it, &n), CSM_OK);
    ck_assert_uint_eq(n, 1200);
    ck_assert_int_eq(strncmp(it[1199].uid, "u1199", it[1199].uid_len), 0);
    free(it);
    csm_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("watch");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_whole_stream);
    tcase_add_test(tc, test_split_at_every_byte);
    tcase_add_test(tc, test_malformed_line_skipped);
    tcase_add_test(tc, test_one_mib_objects_in_odd_chunks);
    tcase_add_test(tc, test_oversized_line_dropped_stream_continues);
    tcase_add_test(tc, test_callback_error_propagates);
    tcase_add_test(tc, test_skim);
    tcase_add_test(tc, test_prefilter_drops_unparsed);
    tcase_add_test(tc, test_skim_list);
    tcase_add_test(tc, test_skim_list_many);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
