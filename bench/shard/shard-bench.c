/*
 * What a foreign object costs a shard, against an owned one.
 *
 * Builds N watch-event lines of realistic custom resources (labels,
 * annotations, managedFields, spec, status conditions; about 2 KiB each),
 * then measures process CPU time (CLOCK_PROCESS_CPUTIME_ID) for feeding them
 * through the exporter's own ingest code, in 64 KiB chunks as a watch body
 * arrives:
 *
 *   owned, unsharded   csm_watch parse -> render (info, labels, created,
 *                      status) -> store upsert: what every object costs a
 *                      replica without sharding
 *   owned, sharded     the same plus the skim and the shard check
 *   foreign, watch     the early filter: csm_watch_skim + csm_shard_owns,
 *                      no parse, no render (the WATCH and WatchList path)
 *   foreign, LIST      LIST pages of 500 items as a shard's informer
 *                      takes them: csm_watch_skim_list, the shard check,
 *                      no parse of a foreign item
 *   foreign, parsed    the same items parsed with cJSON and dropped by the
 *                      UID check before rendering (what a page costs when
 *                      it cannot be skimmed)
 *
 * Each variant runs R times; the median is reported per 1,000 objects.
 * Usage: shard-bench [N [R]] (default 20000 5); --smoke runs N=500 R=1 and
 * checks the counts only (for scripts/test), no timing claims.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "generators/builtin.h"
#include "base/buf.h"
#include "render/gen.h"
#include "ingest/shard.h"
#include "store/store.h"
#include "ingest/watch.h"

typedef struct bench {
    csm_genset *gs;
    csm_store *store;
    csm_shard *shard; /* NULL: unsharded */
    size_t rendered;
    size_t skipped;
} bench;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static csm_err on_event(void *ctx, csm_watch_type type, const cJSON *obj)
{
    bench *b = ctx;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
    csm_block *blk = NULL;
    size_t failures = 0;
    csm_err err;

    (void)type;
    if (!cJSON_IsString(uid))
        return CSM_ERR_PARSE;
    /* The LIST path's check: after the parse, before rendering. */
    if (b->shard && !csm_shard_owns(b->shard, uid->valuestring, strlen(uid->valuestring))) {
        b->skipped++;
        return CSM_OK;
    }
    err = csm_genset_render(b->gs, obj, &blk, &failures);
    if (err)
        return err;
    b->rendered++;
    return csm_store_upsert(b->store, uid->valuestring, blk);
}

static int prefilter(void *ctx, csm_watch_type type, const char *uid, size_t n, const char *rv,
                     size_t rvn)
{
    bench *b = ctx;
    (void)type;
    (void)rv;
    (void)rvn;
    if (csm_shard_owns(b->shard, uid, n))
        return 0;
    b->skipped++;
    return 1;
}

/* One object as the API server writes a custom resource (sorted keys). */
static csm_err make_line(csm_buf *out, size_t i, const char *uid)
{
    return csm_buf_printf(
        out,
        "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"cache.example.com/v1\",\"kind\":"
        "\"Memcached\",\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/"
        "last-applied-configuration\":\"{\\\"apiVersion\\\":\\\"cache.example.com/v1\\\","
        "\\\"kind\\\":\\\"Memcached\\\",\\\"metadata\\\":{\\\"name\\\":\\\"m-%zu\\\"}}\\n\","
        "\"team\":\"storage\"},\"creationTimestamp\":\"2026-11-30T10:00:00Z\",\"generation\":3,"
        "\"labels\":{\"app\":\"memcached\",\"tier\":\"cache\",\"env\":\"prod\"},"
        "\"managedFields\":[{\"apiVersion\":\"cache.example.com/v1\",\"fieldsType\":\"FieldsV1\","
        "\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{},\"f:env\":{},"
        "\"f:tier\":{}}},\"f:spec\":{\".\":{},\"f:size\":{},\"f:image\":{}}},\"manager\":"
        "\"kubectl\",\"operation\":\"Update\",\"time\":\"2026-11-30T10:00:00Z\"},{\"apiVersion\":"
        "\"cache.example.com/v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:status\":{"
        "\".\":{},\"f:conditions\":{}}},\"manager\":\"memcached-operator\",\"operation\":"
        "\"Update\",\"subresource\":\"status\",\"time\":\"2026-11-30T10:00:05Z\"}],\"name\":"
        "\"m-%zu\",\"namespace\":\"team-%zu\",\"resourceVersion\":\"%zu\",\"uid\":\"%s\"},"
        "\"spec\":{\"image\":\"memcached:1.6\",\"size\":%zu,\"resources\":{\"limits\":{\"cpu\":"
        "\"500m\",\"memory\":\"256Mi\"}}},\"status\":{\"conditions\":[{\"lastTransitionTime\":"
        "\"2026-11-30T10:00:05Z\",\"message\":\"all replicas ready\",\"reason\":\"Ready\","
        "\"status\":\"True\",\"type\":\"Available\"},{\"lastTransitionTime\":"
        "\"2026-11-30T10:00:05Z\",\"message\":\"\",\"reason\":\"Done\",\"status\":\"False\","
        "\"type\":\"Progressing\"}],\"nodes\":[\"m-%zu-0\",\"m-%zu-1\",\"m-%zu-2\"]}}}\n",
        i, i, i % 8, 1000 + i, uid, i % 5 + 1, i, i, i);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef enum variant {
    OWNED_UNSHARDED = 0,
    OWNED_SHARDED,
    FOREIGN_WATCH,
    FOREIGN_LIST,
    FOREIGN_PARSED,
    NVARIANTS
} variant;

static const char *const variant_names[] = {"owned, unsharded", "owned, sharded",
                                            "foreign, watch (skim)", "foreign, LIST (skim)",
                                            "foreign, parsed"};

/* The foreign-LIST variant: pages of objects (the "object" of each event
 * line) as the informer's skimmed-page path treats them. */
static double run_pages(const csm_buf *pages, const size_t *page_off, size_t npages, size_t expect,
                        csm_shard *shard)
{
    size_t skipped = 0;
    double t0 = cpu_now();

    for (size_t pg = 0; pg < npages; pg++) {
        csm_watch_list_item *items = NULL;
        const char *meta;
        size_t ml;
        size_t n;
        cJSON *m;
        if (csm_watch_skim_list(pages->ptr + page_off[pg], page_off[pg + 1] - page_off[pg], &meta,
                                &ml, &items, &n) != CSM_OK)
            return -1;
        m = cJSON_ParseWithLength(meta, ml);
        for (size_t i = 0; i < n; i++) {
            if (items[i].uid && !csm_shard_owns(shard, items[i].uid, items[i].uid_len))
                skipped++;
        }
        cJSON_Delete(m);
        free(items);
    }
    if (skipped != expect) {
        fprintf(stderr, "foreign LIST: skipped %zu, expected %zu\n", skipped, expect);
        return -1;
    }
    return cpu_now() - t0;
}

/* Feeds the stream once; returns CPU seconds, or -1 on failure. */
static double run(variant v, const csm_buf *stream, size_t expect, const csm_resource_desc *d,
                  csm_shard *shard)
{
    bench b;
    csm_watch_cbs cbs = {on_event, NULL, &b, NULL};
    csm_watch *w;
    char err[256];
    const char *gens[] = {"info", "labels", "created", "status"};
    double t0;
    double t1;
    csm_err e = CSM_OK;

    memset(&b, 0, sizeof(b));
    if (csm_genset_new(d, NULL, NULL, &b.gs) != CSM_OK)
        return -1;
    for (size_t g = 0; g < 4; g++) {
        if (csm_genset_add(b.gs, csm_gen_builtin(gens[g]), g == 1 ? "*=[*]" : NULL, err,
                           sizeof(err)) != CSM_OK) {
            fprintf(stderr, "generator %s: %s\n", gens[g], err);
            csm_genset_free(b.gs);
            return -1;
        }
    }
    b.store = csm_store_new();
    b.shard = v == OWNED_UNSHARDED ? NULL : shard;
    if (v == OWNED_SHARDED || v == FOREIGN_WATCH)
        cbs.prefilter = prefilter;
    w = csm_watch_new(64u << 20, &cbs);
    t0 = cpu_now();
    for (size_t off = 0; !e && off < stream->len; off += 65536) {
        size_t n = stream->len - off < 65536 ? stream->len - off : 65536;
        e = csm_watch_feed(w, stream->ptr + off, n);
    }
    t1 = cpu_now();
    if (e || (v <= OWNED_SHARDED ? b.rendered : b.skipped) != expect ||
        (v <= OWNED_SHARDED ? b.skipped : b.rendered) != 0) {
        fprintf(stderr, "%s: rendered %zu skipped %zu, expected %zu (%s)\n", variant_names[v],
                b.rendered, b.skipped, expect, csm_strerror(e));
        t1 = t0 - 1;
    }
    csm_watch_free(w);
    csm_store_free(b.store);
    csm_genset_free(b.gs);
    return t1 - t0;
}

int main(int argc, char **argv)
{
    int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
    size_t n = smoke ? 500 : (argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 20000);
    size_t runs = smoke ? 1 : (argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 5);
    csm_resource_desc d = {"cache.example.com", "v1", "Memcached", "memcacheds", 1, "memcached"};
    csm_shard *shard = csm_shard_new(0, 2);
    csm_buf owned;
    csm_buf foreign;
    size_t nowned = 0;
    size_t nforeign = 0;
    double med[NVARIANTS];
    csm_buf pages;
    size_t *page_off = NULL;
    size_t npages = 0;
    double *t;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int rc = 1;

    if (n == 0 || runs == 0 || !shard)
        return 2;
    t = calloc(runs, sizeof(*t));
    csm_buf_init(&owned, (size_t)1 << 34);
    csm_buf_init(&foreign, (size_t)1 << 34);
    csm_buf_init(&pages, (size_t)1 << 34);
    /* Owned and foreign streams of n objects each for shard 0 of 2. */
    for (size_t i = 0; nowned < n || nforeign < n; i++) {
        char uid[40];
        csm_buf *dst;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(uid, sizeof(uid), "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(rng >> 32),
                 (unsigned)(rng >> 16) & 0xffff, (unsigned)(rng >> 4) & 0xfff,
                 (unsigned)(rng >> 20) & 0xfff, (unsigned long long)(rng & 0xffffffffffffull));
        if (csm_shard_owns(shard, uid, strlen(uid))) {
            if (nowned == n)
                continue;
            dst = &owned;
            nowned++;
        } else {
            if (nforeign == n)
                continue;
            dst = &foreign;
            nforeign++;
        }
        if (make_line(dst, i, uid) != CSM_OK)
            goto out;
    }
    /* The foreign objects again as LIST pages of 500. */
    page_off = calloc(n / 500 + 2, sizeof(*page_off));
    if (!page_off)
        goto out;
    for (const char *p = foreign.ptr, *end = foreign.ptr + foreign.len; p < end;) {
        size_t k = 0;
        page_off[npages] = pages.len;
        if (csm_buf_printf(&pages, "{\"apiVersion\":\"cache.example.com/v1\",\"items\":[") !=
            CSM_OK)
            goto out;
        for (; p < end && k < 500; k++) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *obj = strstr(p, "\"object\":") + strlen("\"object\":");
            /* The event line ends in "}}": the object without the event's brace. */
            if (csm_buf_printf(&pages, "%s%.*s", k ? "," : "", (int)(nl - 1 - obj), obj) != CSM_OK)
                goto out;
            p = nl + 1;
        }
        if (csm_buf_printf(&pages, "],\"kind\":\"MemcachedList\",\"metadata\":{"
                                   "\"resourceVersion\":\"99\"}}") != CSM_OK)
            goto out;
        npages++;
    }
    page_off[npages] = pages.len;
    printf("shard-bench: %zu objects per variant, %.0f bytes per event line, %zu runs "
           "(median), process CPU time\n",
           n, (double)owned.len / (double)n, runs);
    for (int v = 0; v < NVARIANTS; v++) {
        for (size_t r = 0; r < runs; r++) {
            if (v == FOREIGN_LIST)
                t[r] = run_pages(&pages, page_off, npages, n, shard);
            else
                t[r] = run(v == FOREIGN_PARSED ? FOREIGN_LIST : (variant)v,
                           v <= OWNED_SHARDED ? &owned : &foreign, n, &d, shard);
            if (t[r] < 0)
                goto out;
        }
        qsort(t, runs, sizeof(*t), cmp_double);
        med[v] = t[runs / 2];
        if (!smoke)
            printf("  %-24s %8.2f ms CPU per 1,000 objects\n", variant_names[v],
                   med[v] * 1e3 * 1000.0 / (double)n);
    }
    if (!smoke)
        printf("  a foreign watch event costs %.1f%% of an owned one (%.1fx cheaper); a foreign "
               "LIST item %.1f%% (parsed: %.1f%%)\n",
               100.0 * med[FOREIGN_WATCH] / med[OWNED_UNSHARDED],
               med[OWNED_UNSHARDED] / med[FOREIGN_WATCH],
               100.0 * med[FOREIGN_LIST] / med[OWNED_UNSHARDED],
               100.0 * med[FOREIGN_PARSED] / med[OWNED_UNSHARDED]);
    else
        printf("  smoke: every variant rendered or skipped the expected %zu objects\n", n);
    rc = 0;
out:
    free(t);
    free(page_off);
    csm_buf_free(&pages);
    csm_buf_free(&owned);
    csm_buf_free(&foreign);
    csm_shard_free(shard);
    return rc;
}
