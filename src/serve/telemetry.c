/*
 * The exporter's own metrics.
 *
 * A registry is a list of families in registration order; each family keeps
 * its series in creation order, so the output is stable between scrapes.
 * Histogram buckets are stored non-cumulatively (one increment per
 * observation) and summed up at render time, which is the rarer operation.
 */
#include "serve/telemetry.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/strlist.h"

/* The rendered telemetry page is small; this only guards against a runaway
 * series count. */
#define TEL_MAX_OUTPUT (16u << 20)

/* Longest family name; leaves room for the "_bucket" etc. suffixes in the
 * fixed-size name buffer of write_histogram(). */
#define TEL_MAX_NAME 200

typedef enum tel_kind {
    TEL_COUNTER,
    TEL_GAUGE,
    TEL_HISTOGRAM,
} tel_kind;

typedef struct tel_series tel_series;
struct tel_series {
    tel_series *next;
    char **values;     /* nlabels copies */
    double value;      /* counter / gauge */
    double sum;        /* histogram */
    uint64_t count;    /* histogram */
    uint64_t *buckets; /* histogram: nbounds per-bucket (not cumulative) counts */
};

struct csm_tel_family {
    csm_tel_family *next;
    char *name;
    char *help;
    tel_kind kind;
    size_t nlabels;
    char **label_names;
    double *bounds; /* histogram upper bounds, ascending, finite */
    size_t nbounds;
    tel_series *series;
    tel_series *last;
};

struct csm_telemetry {
    csm_tel_family *head;
    csm_tel_family *tail;
};

/* Names rendered by tel_write_process(); families may not reuse them. */
static const char *const process_names[] = {
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
};

csm_telemetry *csm_telemetry_new(void)
{
    return calloc(1, sizeof(csm_telemetry));
}

static void series_free(tel_series *s, size_t nlabels)
{
    if (!s)
        return;
    csm_strv_free(s->values, nlabels);
    free(s->buckets);
    free(s);
}

static void family_free(csm_tel_family *f)
{
    tel_series *s;
    tel_series *next;

    if (!f)
        return;
    for (s = f->series; s; s = next) {
        next = s->next;
        series_free(s, f->nlabels);
    }
    csm_strv_free(f->label_names, f->nlabels);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void csm_telemetry_free(csm_telemetry *t)
{
    csm_tel_family *f;
    csm_tel_family *next;

    if (!t)
        return;
    for (f = t->head; f; f = next) {
        next = f->next;
        family_free(f);
    }
    free(t);
}

/* Copies n strings; NULL on allocation failure (nothing leaks). A NULL
 * vector with n == 0 gives a NULL copy, which is fine. */
static csm_err copy_strings(const char *const *in, size_t n, char ***out)
{
    char **v = NULL;
    csm_err err = CSM_OK;

    *out = NULL;
    if (n == 0)
        return CSM_OK;
    v = calloc(n, sizeof(*v));
    if (!v)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i] = strdup(in[i]);
        if (!v[i]) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
    }
    *out = v;
    v = NULL;
out:
    csm_strv_free(v, n);
    return err;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t sl = strlen(suffix);
    return n >= sl && strcmp(s + n - sl, suffix) == 0;
}

/* Length of the name OpenMetrics announces for a family: counters drop
 * "_total". Two families whose announced names collide cannot coexist. */
static size_t family_stem_len(const char *name, tel_kind kind)
{
    size_t n = strlen(name);
    if (kind == TEL_COUNTER && has_suffix(name, "_total"))
        n -= strlen("_total");
    return n;
}

static int same_strings(char *const *a, const char *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    }
    return 1;
}

/*
 * Looks for a family whose announced name collides with `name`. Returns
 * CSM_OK with *found set when an identical definition exists (so two users
 * of one registry, e.g. two HTTP servers, can register the same family and
 * share it), CSM_ERR_INVALID on a conflicting one, CSM_OK with *found NULL
 * when the name is free.
 */
static csm_err find_existing(csm_telemetry *t, const char *name, const char *help, tel_kind kind,
                             size_t nlabels, const char *const *label_names, const double *bounds,
                             size_t nbounds, csm_tel_family **found)
{
    size_t stem = family_stem_len(name, kind);

    *found = NULL;
    for (size_t i = 0; i < sizeof(process_names) / sizeof(process_names[0]); i++) {
        const char *p = process_names[i];
        if (strcmp(p, name) == 0 ||
            (strlen(p) > stem && strncmp(p, name, stem) == 0 && strcmp(p + stem, "_total") == 0))
            return CSM_ERR_INVALID;
    }
    for (csm_tel_family *f = t->head; f; f = f->next) {
        size_t fstem = family_stem_len(f->name, f->kind);
        if (strcmp(f->name, name) != 0 && !(fstem == stem && strncmp(f->name, name, stem) == 0))
            continue;
        if (strcmp(f->name, name) != 0 || f->kind != kind || f->nlabels != nlabels ||
            strcmp(f->help, help ? help : "") != 0 ||
            !same_strings(f->label_names, label_names, nlabels) || f->nbounds != nbounds ||
            (nbounds && memcmp(f->bounds, bounds, nbounds * sizeof(*bounds)) != 0))
            return CSM_ERR_INVALID;
        *found = f;
        return CSM_OK;
    }
    return CSM_OK;
}

static csm_err series_new(csm_tel_family *f, const char *const *label_values, tel_series **out);

static csm_err family_add(csm_telemetry *t, const char *name, const char *help, tel_kind kind,
                          size_t nlabels, const char *const *label_names, const double *bounds,
                          size_t nbounds, csm_tel_family **out)
{
    csm_tel_family *f = NULL;
    tel_series *unused;
    csm_err err;

    if (!t || !out || !csm_expo_valid_metric_name(name) || strlen(name) > TEL_MAX_NAME ||
        (nlabels && !label_names) || (nbounds && !bounds))
        return CSM_ERR_INVALID;
    if (kind == TEL_COUNTER && !has_suffix(name, "_total"))
        return CSM_ERR_INVALID;
    for (size_t i = 0; i < nlabels; i++) {
        if (!csm_expo_valid_label_name(label_names[i]))
            return CSM_ERR_INVALID;
        if (kind == TEL_HISTOGRAM && strcmp(label_names[i], "le") == 0)
            return CSM_ERR_INVALID;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(label_names[i], label_names[j]) == 0)
                return CSM_ERR_INVALID;
        }
    }
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
            return CSM_ERR_INVALID;
    }
    err = find_existing(t, name, help, kind, nlabels, label_names, bounds, nbounds, out);
    if (err || *out)
        return err;

    f = calloc(1, sizeof(*f));
    if (!f)
        return CSM_ERR_NOMEM;
    f->kind = kind;
    f->nlabels = nlabels;
    f->nbounds = nbounds;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    err = copy_strings(label_names, nlabels, &f->label_names);
    if (err)
        goto out;
    if (nbounds) {
        f->bounds = malloc(nbounds * sizeof(*bounds));
        if (!f->bounds) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
        memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
    }
    /* An unlabelled family has exactly one series: create it now so it is
     * exposed as 0 before the first event, as Prometheus clients do. */
    if (nlabels == 0) {
        err = series_new(f, NULL, &unused);
        if (err)
            goto out;
    }
    if (t->tail)
        t->tail->next = f;
    else
        t->head = f;
    t->tail = f;
    *out = f;
    f = NULL;
out:
    family_free(f);
    return err;
}

csm_err csm_tel_family_add(csm_telemetry *t, const char *name, const char *help,
                           csm_metric_type type, size_t nlabels, const char *const *label_names,
                           csm_tel_family **out)
{
    tel_kind kind;

    if (type == CSM_METRIC_COUNTER)
        kind = TEL_COUNTER;
    else if (type == CSM_METRIC_GAUGE)
        kind = TEL_GAUGE;
    else
        return CSM_ERR_INVALID;
    return family_add(t, name, help, kind, nlabels, label_names, NULL, 0, out);
}

csm_err csm_tel_histogram_add(csm_telemetry *t, const char *name, const char *help, size_t nlabels,
                              const char *const *label_names, const double *bounds, size_t nbounds,
                              csm_tel_family **out)
{
    return family_add(t, name, help, TEL_HISTOGRAM, nlabels, label_names, bounds, nbounds, out);
}

/* ---- Series. ------------------------------------------------------------- */

static int labels_ok(const csm_tel_family *f, const char *const *label_values)
{
    if (f->nlabels && !label_values)
        return 0;
    for (size_t i = 0; i < f->nlabels; i++) {
        if (!label_values[i])
            return 0;
    }
    return 1;
}

/* Linear scan: families have a handful of series (see telemetry.h). */
static tel_series *series_find(const csm_tel_family *f, const char *const *label_values,
                               tel_series **prev)
{
    tel_series *p = NULL;

    for (tel_series *s = f->series; s; p = s, s = s->next) {
        if (same_strings(s->values, label_values, f->nlabels)) {
            if (prev)
                *prev = p;
            return s;
        }
    }
    return NULL;
}

static csm_err series_new(csm_tel_family *f, const char *const *label_values, tel_series **out)
{
    tel_series *s = calloc(1, sizeof(*s));
    csm_err err = CSM_OK;

    if (!s)
        return CSM_ERR_NOMEM;
    err = copy_strings(label_values, f->nlabels, &s->values);
    if (err)
        goto out;
    if (f->kind == TEL_HISTOGRAM && f->nbounds) {
        s->buckets = calloc(f->nbounds, sizeof(*s->buckets));
        if (!s->buckets) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
    }
    if (f->last)
        f->last->next = s;
    else
        f->series = s;
    f->last = s;
    *out = s;
    s = NULL;
out:
    series_free(s, f->nlabels);
    return err;
}

static csm_err series_get(csm_tel_family *f, const char *const *label_values, tel_series **out)
{
    if (!f || !labels_ok(f, label_values))
        return CSM_ERR_INVALID;
    *out = series_find(f, label_values, NULL);
    if (*out)
        return CSM_OK;
    return series_new(f, label_values, out);
}

csm_err csm_tel_inc(csm_tel_family *f, const char *const *label_values, double delta)
{
    tel_series *s;
    csm_err err;

    if (!f || f->kind == TEL_HISTOGRAM)
        return CSM_ERR_TYPE;
    if (f->kind == TEL_COUNTER && !(delta >= 0))
        return CSM_ERR_INVALID; /* negative or NaN: counters only go up */
    err = series_get(f, label_values, &s);
    if (err)
        return err;
    s->value += delta;
    return CSM_OK;
}

csm_err csm_tel_count(csm_tel_family *f, const char *v0, const char *v1)
{
    const char *v[2] = {v0, v1};

    return f ? csm_tel_inc(f, v, 1) : CSM_OK;
}

csm_err csm_tel_set(csm_tel_family *f, const char *const *label_values, double value)
{
    tel_series *s;
    csm_err err;

    if (!f || f->kind != TEL_GAUGE)
        return CSM_ERR_TYPE;
    err = series_get(f, label_values, &s);
    if (err)
        return err;
    s->value = value;
    return CSM_OK;
}

csm_err csm_tel_observe(csm_tel_family *f, const char *const *label_values, double value)
{
    tel_series *s;
    csm_err err;
    size_t i = 0;

    if (!f || f->kind != TEL_HISTOGRAM)
        return CSM_ERR_TYPE;
    if (isnan(value))
        return CSM_ERR_INVALID;
    err = series_get(f, label_values, &s);
    if (err)
        return err;
    while (i < f->nbounds && value > f->bounds[i])
        i++;
    if (i < f->nbounds)
        s->buckets[i]++;
    s->count++;
    s->sum += value;
    return CSM_OK;
}

/* For a histogram series this returns the observation count. */
double csm_tel_get(const csm_tel_family *f, const char *const *label_values)
{
    const tel_series *s;

    if (!f || !labels_ok(f, label_values))
        return 0;
    s = series_find(f, label_values, NULL);
    if (!s)
        return 0;
    return f->kind == TEL_HISTOGRAM ? (double)s->count : s->value;
}

csm_err csm_tel_remove(csm_tel_family *f, const char *const *label_values)
{
    tel_series *prev = NULL;
    tel_series *s;

    if (!f || !labels_ok(f, label_values))
        return CSM_ERR_INVALID;
    s = series_find(f, label_values, &prev);
    if (!s)
        return CSM_ERR_NOT_FOUND;
    if (prev)
        prev->next = s->next;
    else
        f->series = s->next;
    if (f->last == s)
        f->last = prev;
    series_free(s, f->nlabels);
    return CSM_OK;
}

/* ---- Rendering. ---------------------------------------------------------- */

/* Scratch label vectors with room for one extra label ("le"). */
typedef struct label_scratch {
    const char **names;
    const char **values;
} label_scratch;

static csm_err write_histogram(csm_buf *b, const csm_tel_family *f, label_scratch *ls)
{
    char name[TEL_MAX_NAME + 16];
    char le[40];
    csm_buf lebuf;
    csm_err err = CSM_OK;
    size_t n = f->nlabels;

    csm_buf_init(&lebuf, sizeof(le) - 1);
    err = csm_buf_puts(b, "# HELP ");
    if (!err)
        err = csm_buf_puts(b, f->name);
    if (!err)
        err = csm_buf_putc(b, ' ');
    if (!err)
        err = csm_expo_escape_help(b, f->help);
    if (!err)
        err = csm_buf_printf(b, "\n# TYPE %s histogram\n", f->name);
    if (err)
        goto out;

    for (size_t i = 0; i < n; i++)
        ls->names[i] = f->label_names[i];
    ls->names[n] = "le";
    for (const tel_series *s = f->series; s; s = s->next) {
        uint64_t cum = 0;
        for (size_t i = 0; i < n; i++)
            ls->values[i] = s->values[i];
        snprintf(name, sizeof(name), "%s_bucket", f->name);
        for (size_t i = 0; i <= f->nbounds; i++) {
            csm_buf_reset(&lebuf);
            if (i < f->nbounds) {
                cum += s->buckets[i];
                err = csm_expo_format_value(&lebuf, f->bounds[i]);
            } else {
                cum = s->count;
                err = csm_expo_format_value(&lebuf, INFINITY);
            }
            if (err)
                goto out;
            snprintf(le, sizeof(le), "%s", csm_buf_str(&lebuf));
            ls->values[n] = le;
            err = csm_expo_sample(b, name, n + 1, ls->names, ls->values, (double)cum);
            if (err)
                goto out;
        }
        snprintf(name, sizeof(name), "%s_sum", f->name);
        err = csm_expo_sample(b, name, n, ls->names, ls->values, s->sum);
        if (err)
            goto out;
        snprintf(name, sizeof(name), "%s_count", f->name);
        err = csm_expo_sample(b, name, n, ls->names, ls->values, (double)s->count);
        if (err)
            goto out;
    }
out:
    csm_buf_free(&lebuf);
    return err;
}

static csm_err write_family(csm_buf *b, csm_expo_format fmt, const csm_tel_family *f,
                            label_scratch *ls)
{
    csm_err err;

    if (!f->series)
        return CSM_OK; /* no series yet: nothing to announce */
    if (f->kind == TEL_HISTOGRAM)
        return write_histogram(b, f, ls);
    /* family_header drops "_total" from a counter's announced name in
     * OpenMetrics; its samples keep it in both formats. */
    err = csm_expo_family_header(b, fmt, f->name, f->help,
                                 f->kind == TEL_COUNTER ? CSM_METRIC_COUNTER : CSM_METRIC_GAUGE);
    for (const tel_series *s = f->series; !err && s; s = s->next) {
        err = csm_expo_sample(b, f->name, f->nlabels, (const char *const *)f->label_names,
                              (const char *const *)s->values, s->value);
    }
    return err;
}

static csm_err write_one(csm_buf *b, csm_expo_format fmt, const char *name, const char *help,
                         csm_metric_type type, double v)
{
    csm_err err = csm_expo_family_header(b, fmt, name, help, type);
    if (!err)
        err = csm_expo_sample(b, name, 0, NULL, NULL, v);
    return err;
}

/* Reads the first line of `path` that starts with `key` into line; 0 if found. */
static int read_keyed_line(const char *path, const char *key, char *line, size_t len)
{
    FILE *fp = fopen(path, "re");
    int rc = -1;

    if (!fp)
        return -1;
    while (fgets(line, (int)len, fp)) {
        if (strncmp(line, key, strlen(key)) == 0) {
            rc = 0;
            break;
        }
    }
    fclose(fp);
    return rc;
}

/* The fields of /proc/self/stat this exporter uses. */
typedef struct proc_stat {
    unsigned long long utime, stime, starttime, vsize;
    long long rss; /* pages */
} proc_stat;

/* Parses /proc/self/stat. The command name (field 2) is parenthesised and
 * may contain spaces or ')' itself, so parsing starts after the last ')'. */
static int read_proc_stat(proc_stat *ps)
{
    char line[2048];
    FILE *fp = fopen("/proc/self/stat", "re");
    const char *p;
    int n;

    if (!fp)
        return -1;
    p = fgets(line, sizeof(line), fp);
    fclose(fp);
    if (!p)
        return -1;
    p = strrchr(line, ')');
    if (!p)
        return -1;
    /* Fields 3..24: state ppid pgrp session tty_nr tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime priority nice num_threads
     * itrealvalue starttime vsize rss. */
    n = sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &ps->utime, &ps->stime, &ps->starttime, &ps->vsize, &ps->rss);
    return n == 5 ? 0 : -1;
}

/* Counts /proc/self/fd entries, not counting the descriptor opendir() uses. */
static int count_open_fds(double *out)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char self[32];
    double n = 0;

    if (!d)
        return -1;
    snprintf(self, sizeof(self), "%d", dirfd(d));
    for (e = readdir(d); e; e = readdir(d)) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, self) == 0)
            continue;
        n++;
    }
    closedir(d);
    *out = n;
    return 0;
}

/*
 * Process metrics as the Prometheus Go client exposes them. Each is read
 * independently; one that cannot be read (no /proc) is left out rather than
 * failing the scrape. Cost: three small /proc reads and a directory scan.
 */
static csm_err write_process(csm_buf *b, csm_expo_format fmt)
{
    proc_stat ps;
    struct rlimit rl;
    char line[256];
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    unsigned long long btime;
    double fds;
    int have_stat = read_proc_stat(&ps) == 0 && tck > 0;
    csm_err err = CSM_OK;

    if (have_stat) {
        err = write_one(b, fmt, "process_cpu_seconds_total",
                        "Total user and system CPU time spent in seconds.", CSM_METRIC_COUNTER,
                        (double)(ps.utime + ps.stime) / (double)tck);
    }
    if (!err && count_open_fds(&fds) == 0)
        err = write_one(b, fmt, "process_open_fds", "Number of open file descriptors.",
                        CSM_METRIC_GAUGE, fds);
    if (!err && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        err = write_one(b, fmt, "process_max_fds", "Maximum number of open file descriptors.",
                        CSM_METRIC_GAUGE,
                        rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
    }
    if (!err && have_stat)
        err = write_one(b, fmt, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                        CSM_METRIC_GAUGE, (double)ps.vsize);
    if (!err && have_stat && page > 0)
        err = write_one(b, fmt, "process_resident_memory_bytes", "Resident memory size in bytes.",
                        CSM_METRIC_GAUGE, (double)ps.rss * (double)page);
    if (!err && have_stat && read_keyed_line("/proc/stat", "btime ", line, sizeof(line)) == 0 &&
        sscanf(line + strlen("btime "), "%llu", &btime) == 1) {
        err = write_one(b, fmt, "process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds.", CSM_METRIC_GAUGE,
                        (double)btime + (double)ps.starttime / (double)tck);
    }
    return err;
}

csm_err csm_tel_write(csm_telemetry *t, csm_expo_format fmt, csm_sink *sink)
{
    csm_buf b;
    label_scratch ls = {NULL, NULL};
    size_t maxl = 0;
    csm_err err = CSM_OK;

    if (!t || !sink)
        return CSM_ERR_INVALID;
    csm_buf_init(&b, TEL_MAX_OUTPUT);
    for (const csm_tel_family *f = t->head; f; f = f->next) {
        if (f->nlabels > maxl)
            maxl = f->nlabels;
    }
    ls.names = calloc(maxl + 1, sizeof(*ls.names));
    ls.values = calloc(maxl + 1, sizeof(*ls.values));
    if (!ls.names || !ls.values) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    for (const csm_tel_family *f = t->head; f; f = f->next) {
        err = write_family(&b, fmt, f, &ls);
        if (err)
            goto out;
    }
    err = write_process(&b, fmt);
    if (err)
        goto out;
    err = sink->text(sink, b.ptr, b.len);
out:
    free(ls.names);
    free(ls.values);
    csm_buf_free(&b);
    return err;
}
