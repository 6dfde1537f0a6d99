/*
 * bench/labels: how long rendering one object with many labels takes, the
 * cost a tenant controls with labels=*, annotations=* or a labelsFromPath
 * over a map (issue 14). Prints, per label count, the median of RUNS renders
 * of one object whose labels, annotations and spec.tags each hold N entries
 * through the labels, annotations and config generators, and the ratio to
 * the previous N (linear handling: about 10x per 10x; quadratic: about 100x).
 *
 *   build/bench/bench-labels [RUNS [N...]]     default 5 runs, N = 1000 10000 50000
 *
 * CPU time of the process (wall-clock on a shared machine measures the
 * neighbours); still noisy (caches, frequency), compare ratios.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "generators/builtin.h"
#include "base/buf.h"
#include "render/crs.h"
#include "render/gen.h"

static const char crs_text[] =
    "kind: CustomResourceStateMetrics\n"
    "spec:\n"
    "  resources:\n"
    "  - groupVersionKind: {group: cache.example.com, version: v1, kind: Memcached}\n"
    "    metricNamePrefix: big\n"
    "    metrics:\n"
    "    - name: tags\n"
    "      each:\n"
    "        type: Info\n"
    "        info: {path: [spec], labelsFromPath: {\"tag_*\": [tags]}}\n";

/* CPU time of this process: on a shared machine wall-clock mostly measures
 * the neighbours. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

/* N entries "k%07zu": "v%zu", one in 100 a pair that sanitizes alike. */
static void put_map(csm_buf *b, size_t n)
{
    csm_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i % 100 == 0 && i + 1 < n) {
            csm_buf_printf(b, "%s\"c.%07zu\":\"x\",\"c_%07zu\":\"y\"", i ? "," : "", i, i);
            i++;
            continue;
        }
        csm_buf_printf(b, "%s\"k%07zu\":\"v%zu\"", i ? "," : "", i, i);
    }
    csm_buf_putc(b, '}');
}

static cJSON *make_object(size_t n)
{
    csm_buf b;
    cJSON *obj;

    csm_buf_init(&b, (size_t)1 << 30);
    csm_buf_puts(&b, "{\"metadata\":{\"name\":\"big\",\"namespace\":\"ns\",\"labels\":");
    put_map(&b, n);
    csm_buf_puts(&b, ",\"annotations\":");
    put_map(&b, n);
    csm_buf_puts(&b, "},\"spec\":{\"tags\":");
    put_map(&b, n);
    csm_buf_puts(&b, "}}");
    obj = cJSON_ParseWithLength(csm_buf_str(&b), b.len);
    csm_buf_free(&b);
    return obj;
}

static csm_genset *make_genset(void)
{
    csm_resource_desc d = {"cache.example.com", "v1", "Memcached", "memcacheds", 1, "memcached"};
    csm_genset *gs = NULL;
    csm_crs *crs = NULL;
    char err[512] = "";

    if (csm_genset_new(&d, NULL, NULL, &gs) != CSM_OK ||
        csm_genset_add(gs, csm_gen_builtin("labels"), "*=[*]", err, sizeof(err)) != CSM_OK ||
        csm_genset_add(gs, csm_gen_builtin("annotations"), "*=[*]", err, sizeof(err)) != CSM_OK ||
        csm_crs_load_text("bench.yaml", crs_text, strlen(crs_text), &crs, err, sizeof(err)) !=
            CSM_OK ||
        csm_genset_add_ctx(gs, &csm_generator_config, NULL, crs, err, sizeof(err)) != CSM_OK) {
        fprintf(stderr, "bench-labels: set-up failed: %s\n", err);
        csm_crs_unref(crs);
        csm_genset_free(gs);
        return NULL;
    }
    csm_crs_unref(crs);
    return gs;
}

int main(int argc, char **argv)
{
    static const size_t defaults[] = {1000, 10000, 50000};
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    size_t nsizes = argc > 2 ? (size_t)(argc - 2) : 3;
    csm_genset *gs = make_genset();
    double prev = 0;
    int rc = 0;

    if (!gs || runs < 1 || runs > 1000)
        return 2;
    printf("%10s %14s %12s %8s\n", "labels", "median_cpu_ms", "bytes", "ratio");
    for (size_t s = 0; s < nsizes && !rc; s++) {
        size_t n = argc > 2 ? (size_t)strtoul(argv[2 + s], NULL, 10) : defaults[s];
        cJSON *obj = make_object(n);
        double *t = calloc((size_t)runs, sizeof(*t));
        size_t bytes = 0;

        if (!obj || !t) {
            rc = 1;
        }
        for (int r = 0; !rc && r < runs; r++) {
            csm_block *blk = NULL;
            size_t failures = 0;
            double t0 = now_ms();
            if (csm_genset_render(gs, obj, &blk, &failures) != CSM_OK || failures) {
                fprintf(stderr, "bench-labels: render failed\n");
                rc = 1;
                break;
            }
            t[r] = now_ms() - t0;
            bytes = csm_block_size(blk);
            csm_block_unref(blk);
        }
        if (!rc) {
            qsort(t, (size_t)runs, sizeof(*t), cmp_double);
            char ratio[32] = "-";
            if (prev > 0)
                snprintf(ratio, sizeof(ratio), "%.1f", t[runs / 2] / prev);
            printf("%10zu %14.2f %12zu %8s\n", n, t[runs / 2], bytes, ratio);
            prev = t[runs / 2];
        }
        free(t);
        cJSON_Delete(obj);
    }
    csm_genset_free(gs);
    return rc;
}
