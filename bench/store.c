/*
 * bench/store: resident bytes per object the store holds at rest (issue 10,
 * steady RSS), without an API server: N objects shaped like bench/run's
 * (a 36-character UID, an info and a spec_size sample, about 360 bytes of
 * text), each upserted from a fresh block with some parser-like garbage
 * allocated around it, as the informer does. Prints the process' RSS growth
 * per object after the upserts (before any scrape), after the first
 * csm_store_segments() (what a scrape builds: the steady state), and after
 * a relist that re-renders every object followed by a scrape (what a relist
 * burst leaves), with the text bytes per object for comparison.
 *
 *   build/bench/bench-store [N...]      default N = 10000 100000
 *
 * RSS is the kernel's count (/proc/self/statm), so allocator overhead and
 * fragmentation are in it; each N runs in a fresh child process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"

/* Resident KiB of this process, or -1. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0;
    long res = -1;

    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Upserts objects 0..n-1 with generation gen of their text. */
static csm_err fill(csm_store *s, size_t n, unsigned gen)
{
    char uid[64];
    char info[512];
    char size[512];

    for (size_t i = 0; i < n; i++) {
        const char *texts[2] = {info, size};
        size_t lens[2];
        void *junk = malloc(700 + i % 64); /* the parsed object, freed after */
        csm_err err;
        snprintf(uid, sizeof(uid), "%08zx-%04x-4%03x-8%03x-%012zx", i * 2654435761u % 0xffffffffu,
                 (unsigned)(i & 0xffff), (unsigned)(i % 0xfff), gen % 0xfff, i);
        lens[0] = (size_t)snprintf(
            info, sizeof(info),
            "kube_customresource_info{customresource_group=\"cache.example.com\","
            "customresource_kind=\"Memcached\",customresource_version=\"v1\","
            "namespace=\"bench-%zu\",memcached=\"mc-%06zu\",app=\"memcached\"} 1\n",
            i % 4, i);
        lens[1] = (size_t)snprintf(size, sizeof(size),
                                   "kube_customresource_spec_size{customresource_group=\"cache."
                                   "example.com\",customresource_kind=\"Memcached\","
                                   "customresource_version=\"v1\",namespace=\"bench-%zu\","
                                   "memcached=\"mc-%06zu\"} %u\n",
                                   i % 4, i, gen);
        err = csm_store_upsert(s, uid, csm_block_new(2, texts, lens));
        free(junk);
        if (err)
            return err;
    }
    return CSM_OK;
}

static csm_err scrape(csm_store *s)
{
    csm_seg *const *segs;
    size_t n;
    return csm_store_segments(s, &segs, &n);
}

static double per_obj(long kib, long base, size_t n)
{
    return (double)(kib - base) * 1024.0 / (double)n;
}

static int run(size_t n)
{
    long base = rss_kib();
    long filled;
    long steady;
    long relisted;
    csm_store *s = csm_store_new();
    int rc = 1;

    if (!s || base < 0)
        goto out;
    if (fill(s, n, 1) != CSM_OK)
        goto out;
    filled = rss_kib();
    if (scrape(s) != CSM_OK)
        goto out;
    steady = rss_kib();
    csm_store_relist_begin(s);
    if (fill(s, n, 2) != CSM_OK)
        goto out;
    csm_store_relist_end(s);
    if (scrape(s) != CSM_OK)
        goto out;
    relisted = rss_kib();
    printf("%10zu %10.0f %12.0f %12.0f %14.0f\n", n, (double)csm_store_bytes(s) / (double)n,
           per_obj(filled, base, n), per_obj(steady, base, n), per_obj(relisted, base, n));
    rc = 0;
out:
    csm_store_free(s);
    return rc;
}

int main(int argc, char **argv)
{
    static const size_t def[] = {10000, 100000};
    size_t nn = argc > 1 ? (size_t)argc - 1 : sizeof(def) / sizeof(def[0]);
    int rc = 0;

    printf("%10s %10s %12s %12s %14s\n", "objects", "text_B", "upserted_B", "steady_B",
           "after_relist_B");
    fflush(stdout);
    for (size_t k = 0; k < nn; k++) {
        size_t n = argc > 1 ? strtoull(argv[k + 1], NULL, 10) : def[k];
        pid_t pid;
        int st;
        if (n == 0) {
            fprintf(stderr, "bench-store: N must be a positive integer, got '%s'\n", argv[k + 1]);
            return 2;
        }
        /* A fresh process per N: RSS only grows within one. */
        pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            int r = run(n);
            fflush(stdout);
            _exit(r);
        }
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = 1;
    }
    return rc;
}
