#include "report.h"

#include <curl/curl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/gvk.h"
#include "render/expo.h"
#include "render/gen.h"

/* The largest Prometheus answer read: a range vector of a year of 1 s
 * samples for a few hundred namespaces stays well below it. */
#define REPORT_BODY_MAX (512u << 20)
/* query_range returns at most 11000 points per series. */
#define REPORT_MAX_STEPS 10000.0
/* Room before the window for the sample the start is interpolated from
 * (Prometheus' default lookback delta). */
#define REPORT_LOOKBACK_S 300.0
/* ... and after it, for the sample the end is interpolated towards. */
#define REPORT_TAIL_S 60.0

typedef enum report_format { FMT_TABLE = 0, FMT_CSV, FMT_JSON } report_format;

typedef struct report_opts {
    const char *prometheus;
    const char *resource;
    const char *from_s;
    const char *to_s;
    const char *by;
    const char *job;
    const char *token_file;
    const char *ca_file;
    int insecure;
    long timeout_s;
    report_format format;
} report_opts;

/* One row: a value of the --by label. */
typedef struct report_row {
    char *key;
    double seconds;
    double peak;
    double avg;
    double created;
    double deleted;
} report_row;

typedef struct report_ctx {
    report_opts o;
    CURL *curl;
    struct curl_slist *headers;
    char stem[256];
    double from, to, step;
    report_row *rows;
    size_t nrows;
    double coverage;
    FILE *err;
} report_ctx;

/* ---- parsing ----------------------------------------------------------- */

csm_err csm_report_parse_time(const char *s, double now, double *out)
{
    char *end;
    double v;

    if (!s || !s[0])
        return CSM_ERR_INVALID;
    if (strcmp(s, "now") == 0) {
        *out = now;
        return CSM_OK;
    }
    if (strchr(s, 'T') || strchr(s, 't'))
        return csm_gen_parse_rfc3339(s, out) == CSM_OK ? CSM_OK : CSM_ERR_INVALID;
    v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0)
        return CSM_ERR_INVALID;
    if (!*end) {
        *out = v; /* Unix seconds */
        return CSM_OK;
    }
    if (end[1])
        return CSM_ERR_INVALID;
    switch (*end) {
    case 's':
        break;
    case 'm':
        v *= 60;
        break;
    case 'h':
        v *= 3600;
        break;
    case 'd':
        v *= 86400;
        break;
    case 'w':
        v *= 7 * 86400;
        break;
    default:
        return CSM_ERR_INVALID;
    }
    *out = now - v;
    return CSM_OK;
}

csm_err csm_report_api_data(long status, const char *body, size_t len, cJSON **doc,
                            const cJSON **data, char *msg, size_t msglen)
{
    const cJSON *st, *et, *e;

    *doc = cJSON_ParseWithLength(body ? body : "", len);
    st = cJSON_GetObjectItemCaseSensitive(*doc, "status");
    et = cJSON_GetObjectItemCaseSensitive(*doc, "errorType");
    e = cJSON_GetObjectItemCaseSensitive(*doc, "error");
    if (cJSON_IsString(st) && strcmp(st->valuestring, "error") == 0) {
        snprintf(msg, msglen, "HTTP %ld: %s: %s", status,
                 cJSON_IsString(et) ? et->valuestring : "error",
                 cJSON_IsString(e) ? e->valuestring : "(no message)");
        return CSM_ERR_HTTP;
    }
    if (status != 200) {
        /* Not an API answer (a proxy, a 503 page): a bounded excerpt. */
        int n = (int)(len > 200 ? 200 : len);
        snprintf(msg, msglen, "HTTP %ld: %.*s", status, n, body ? body : "");
        for (char *p = msg; *p; p++) {
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        }
        return CSM_ERR_HTTP;
    }
    if (!cJSON_IsString(st) || strcmp(st->valuestring, "success") != 0) {
        snprintf(msg, msglen, "not a Prometheus API answer (HTTP 200, %zu bytes)", len);
        return CSM_ERR_PARSE;
    }
    *data = cJSON_GetObjectItemCaseSensitive(*doc, "data");
    if (!*data) {
        snprintf(msg, msglen, "Prometheus answer without data");
        return CSM_ERR_PARSE;
    }
    return CSM_OK;
}

/* [t, "v"] -> t, v; 0 on success. */
static int sample_pair(const cJSON *p, double *t, double *v)
{
    const cJSON *a = cJSON_GetArrayItem(p, 0);
    const cJSON *b = cJSON_GetArrayItem(p, 1);
    char *end;

    if (!cJSON_IsNumber(a) || !cJSON_IsString(b))
        return -1;
    *t = a->valuedouble;
    *v = strtod(b->valuestring, &end);
    return end == b->valuestring || *end ? -1 : 0;
}

csm_err csm_report_counter_increase(const cJSON *values, double from, double to, int interpolate,
                                    double *out)
{
    const cJSON *p;
    double total = 0;
    double prev_t = NAN, prev_v = NAN; /* the last sample at or before from */
    double last_t = NAN, last_v = NAN; /* the last sample counted in the window */

    if (!cJSON_IsArray(values))
        return CSM_ERR_PARSE;
    cJSON_ArrayForEach(p, values)
    {
        double t, v;
        if (sample_pair(p, &t, &v))
            return CSM_ERR_PARSE;
        if (t > to) {
            /* The window ends between two samples: the part of that
             * interval up to `to` (object-seconds only; no reset). */
            if (interpolate && !isnan(last_v) && v >= last_v && t > last_t)
                total += (v - last_v) * (to - last_t) / (t - last_t);
            break;
        }
        if (t <= from) {
            prev_t = t;
            prev_v = v;
            continue;
        }
        if (isnan(last_v)) {
            /* The first sample inside the window: where does the window
             * start from? */
            double base = 0; /* no earlier sample, or a reset right after from */
            if (!isnan(prev_v) && v >= prev_v) {
                base = prev_v;
                if (interpolate && t > prev_t)
                    base = prev_v + (v - prev_v) * (from - prev_t) / (t - prev_t);
            } else if (isnan(prev_v) && interpolate) {
                /* The series starts in the window, but its counter may
                 * have run before (Prometheus was not scraping yet): count
                 * no more than the next interval's slope (the live objects)
                 * allows since from. */
                double t2, v2;
                if (p->next && sample_pair(p->next, &t2, &v2) == 0 && t2 > t && v2 >= v) {
                    double cap = (v2 - v) / (t2 - t) * (t - from);
                    if (cap < v)
                        base = v - cap;
                }
            }
            total += v - base;
        } else {
            total += v >= last_v ? v - last_v : v;
        }
        last_t = t;
        last_v = v;
    }
    *out = total;
    return CSM_OK;
}

/* ---- HTTP -------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    return csm_buf_append(ctx, p, size * n) == CSM_OK ? size * n : 0;
}

/*
 * GET <prometheus>/api/v1/<endpoint>?<params> and returns the "data" of the
 * answer (*doc is the caller's to free). On failure prints one clear line.
 */
static csm_err api_get(report_ctx *c, const char *endpoint, const char *params, cJSON **doc,
                       const cJSON **data)
{
    csm_buf url, body;
    char msg[512];
    long status = 0;
    CURLcode cc;
    csm_err err;

    *doc = NULL;
    csm_buf_init(&url, 1u << 20);
    csm_buf_init(&body, REPORT_BODY_MAX);
    err = csm_buf_printf(&url, "%s%sapi/v1/%s?%s", c->o.prometheus,
                         c->o.prometheus[strlen(c->o.prometheus) - 1] == '/' ? "" : "/", endpoint,
                         params);
    if (err)
        goto out;
    curl_easy_setopt(c->curl, CURLOPT_URL, url.ptr);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &body);
    cc = curl_easy_perform(c->curl);
    if (cc != CURLE_OK) {
        fprintf(c->err, "report: cannot query Prometheus at %s: %s\n", c->o.prometheus,
                body.len == 0 && cc == CURLE_WRITE_ERROR ? "answer too large"
                                                         : curl_easy_strerror(cc));
        err = CSM_ERR_HTTP;
        goto out;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    err = csm_report_api_data(status, body.ptr, body.len, doc, data, msg, sizeof(msg));
    if (err)
        fprintf(c->err, "report: Prometheus at %s failed the query: %s\n", c->o.prometheus, msg);
out:
    csm_buf_free(&url);
    csm_buf_free(&body);
    return err;
}

/* Appends "name=<escaped value>" (with '&' before all but the first). */
static csm_err param(csm_buf *q, const char *name, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    csm_err err;
    if (!esc)
        return CSM_ERR_NOMEM;
    err = csm_buf_printf(q, "%s%s=%s", q->len ? "&" : "", name, esc);
    curl_free(esc);
    return err;
}

/* ---- rows -------------------------------------------------------------- */

static report_row *row_get(report_ctx *c, const char *key)
{
    report_row *grown;
    for (size_t i = 0; i < c->nrows; i++) {
        if (strcmp(c->rows[i].key, key) == 0)
            return &c->rows[i];
    }
    grown = realloc(c->rows, (c->nrows + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    c->rows = grown;
    memset(&grown[c->nrows], 0, sizeof(grown[0]));
    grown[c->nrows].key = strdup(key);
    if (!grown[c->nrows].key)
        return NULL;
    return &grown[c->nrows++];
}

static const char *series_key(const report_ctx *c, const cJSON *series)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(series, "metric");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, c->o.by);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int cmp_rows(const void *a, const void *b)
{
    return strcmp(((const report_row *)a)->key, ((const report_row *)b)->key);
}

/* Which member of a row a counter goes to. */
typedef enum row_field { F_SECONDS = 0, F_CREATED, F_DELETED } row_field;

/* Sums the exact increase of <stem><suffix> per --by value. */
static csm_err counter_rows(report_ctx *c, const char *suffix, row_field field, size_t *nseries)
{
    csm_buf q, expr;
    char range[64], at[64];
    cJSON *doc = NULL;
    const cJSON *data, *res, *s;
    csm_err err;

    *nseries = 0;
    csm_buf_init(&q, 1u << 20);
    csm_buf_init(&expr, 1u << 20);
    /* From a lookback before the window to a little after it, for the
     * samples the window's ends are interpolated between. */
    snprintf(range, sizeof(range), "%.0fs",
             ceil(c->to - c->from + REPORT_LOOKBACK_S + REPORT_TAIL_S));
    snprintf(at, sizeof(at), "%.3f", c->to + REPORT_TAIL_S);
    err = csm_buf_printf(&expr, "%s%s[%s]", c->stem, suffix, range);
    if (!err)
        err = param(&q, "query", expr.ptr);
    if (!err)
        err = param(&q, "time", at);
    if (!err)
        err = api_get(c, "query", q.ptr, &doc, &data);
    if (err)
        goto out;
    res = cJSON_GetObjectItemCaseSensitive(data, "result");
    cJSON_ArrayForEach(s, res)
    {
        double inc = 0;
        report_row *r;
        err = csm_report_counter_increase(cJSON_GetObjectItemCaseSensitive(s, "values"), c->from,
                                          c->to, field == F_SECONDS, &inc);
        if (err) {
            fprintf(c->err, "report: malformed range vector for %s%s\n", c->stem, suffix);
            goto out;
        }
        r = row_get(c, series_key(c, s));
        if (!r) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
        if (field == F_SECONDS)
            r->seconds += inc;
        else if (field == F_CREATED)
            r->created += inc;
        else
            r->deleted += inc;
        (*nseries)++;
    }
out:
    cJSON_Delete(doc);
    csm_buf_free(&q);
    csm_buf_free(&expr);
    return err;
}

/* query_range over the window; calls fn for every result series. */
static csm_err range_query(report_ctx *c, const char *expr, cJSON **doc, const cJSON **result)
{
    csm_buf q;
    char b[3][64];
    const cJSON *data;
    csm_err err;

    csm_buf_init(&q, 1u << 20);
    snprintf(b[0], sizeof(b[0]), "%.3f", c->from);
    snprintf(b[1], sizeof(b[1]), "%.3f", c->to);
    snprintf(b[2], sizeof(b[2]), "%.3f", c->step);
    err = param(&q, "query", expr);
    if (!err)
        err = param(&q, "start", b[0]);
    if (!err)
        err = param(&q, "end", b[1]);
    if (!err)
        err = param(&q, "step", b[2]);
    if (!err)
        err = api_get(c, "query_range", q.ptr, doc, &data);
    if (!err)
        *result = cJSON_GetObjectItemCaseSensitive(data, "result");
    csm_buf_free(&q);
    return err;
}

static double steps_in_window(const report_ctx *c)
{
    return floor((c->to - c->from) / c->step) + 1;
}

static csm_err info_rows(report_ctx *c, size_t *nseries)
{
    csm_buf expr;
    cJSON *doc = NULL;
    const cJSON *res, *s, *p;
    csm_err err;

    *nseries = 0;
    csm_buf_init(&expr, 1u << 20);
    err = csm_buf_printf(&expr, "count by (%s) (%s_info)", c->o.by, c->stem);
    if (!err)
        err = range_query(c, expr.ptr, &doc, &res);
    if (err)
        goto out;
    cJSON_ArrayForEach(s, res)
    {
        report_row *r = row_get(c, series_key(c, s));
        double sum = 0;
        if (!r) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(s, "values"))
        {
            double t, v;
            if (sample_pair(p, &t, &v))
                continue;
            sum += v;
            if (v > r->peak)
                r->peak = v;
        }
        /* Steps without a sample had no instance. */
        r->avg = sum / steps_in_window(c);
        (*nseries)++;
    }
out:
    cJSON_Delete(doc);
    csm_buf_free(&expr);
    return err;
}

static csm_err coverage(report_ctx *c)
{
    csm_buf expr;
    cJSON *doc = NULL;
    const cJSON *res, *p;
    double up = 0;
    csm_err err;

    csm_buf_init(&expr, 1u << 20);
    err = csm_buf_printf(&expr, "max(up{job=\"%s\"}) == 1", c->o.job);
    if (!err)
        err = range_query(c, expr.ptr, &doc, &res);
    if (!err) {
        cJSON_ArrayForEach(
            p, cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, 0), "values")) up++;
        c->coverage = up / steps_in_window(c);
    }
    cJSON_Delete(doc);
    csm_buf_free(&expr);
    return err;
}

/* 1 if Prometheus ever had a series of the resource (all of its retention). */
static csm_err known_resource(report_ctx *c, int *known)
{
    csm_buf q, m;
    cJSON *doc = NULL;
    const cJSON *data;
    csm_err err;

    csm_buf_init(&q, 1u << 20);
    csm_buf_init(&m, 1u << 20);
    err = csm_buf_printf(&m, "{__name__=~\"%s_(info|object_seconds_total)\"}", c->stem);
    if (!err)
        err = param(&q, "match[]", m.ptr);
    if (!err)
        err = csm_buf_puts(&q, "&limit=1");
    if (!err)
        err = api_get(c, "series", q.ptr, &doc, &data);
    if (!err)
        *known = cJSON_GetArraySize(data) > 0;
    cJSON_Delete(doc);
    csm_buf_free(&q);
    csm_buf_free(&m);
    return err;
}

/* ---- output ------------------------------------------------------------ */

static void time_str(double t, char *out, size_t len)
{
    time_t s = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static csm_err print_report(const report_ctx *c, FILE *out)
{
    char f[32], t[32];
    csm_err err = CSM_OK;

    time_str(c->from, f, sizeof(f));
    time_str(c->to, t, sizeof(t));
    if (c->o.format == FMT_JSON) {
        cJSON *root = cJSON_CreateObject();
        cJSON *rows = cJSON_AddArrayToObject(root, "rows");
        char *text;
        cJSON_AddStringToObject(root, "resource", c->o.resource);
        cJSON_AddStringToObject(root, "from", f);
        cJSON_AddStringToObject(root, "to", t);
        cJSON_AddNumberToObject(root, "from_unix", c->from);
        cJSON_AddNumberToObject(root, "to_unix", c->to);
        cJSON_AddStringToObject(root, "by", c->o.by);
        cJSON_AddNumberToObject(root, "coverage", c->coverage);
        for (size_t i = 0; rows && i < c->nrows; i++) {
            const report_row *r = &c->rows[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, c->o.by, r->key);
            cJSON_AddNumberToObject(o, "instance_seconds", r->seconds);
            cJSON_AddNumberToObject(o, "instance_hours", r->seconds / 3600);
            cJSON_AddNumberToObject(o, "peak_instances", r->peak);
            cJSON_AddNumberToObject(o, "average_instances", r->avg);
            cJSON_AddNumberToObject(o, "created", round(r->created));
            cJSON_AddNumberToObject(o, "deleted", round(r->deleted));
            cJSON_AddItemToArray(rows, o);
        }
        text = cJSON_Print(root);
        if (text)
            fprintf(out, "%s\n", text);
        else
            err = CSM_ERR_NOMEM;
        cJSON_free(text);
        cJSON_Delete(root);
        return err;
    }
    if (c->o.format == FMT_CSV) {
        csv_field(out, c->o.by);
        fputs(",instance_hours,instance_seconds,peak_instances,average_instances,created,deleted,"
              "coverage\n",
              out);
        for (size_t i = 0; i < c->nrows; i++) {
            const report_row *r = &c->rows[i];
            csv_field(out, r->key);
            fprintf(out, ",%.6f,%.3f,%.0f,%.4f,%.0f,%.0f,%.4f\n", r->seconds / 3600, r->seconds,
                    r->peak, r->avg, round(r->created), round(r->deleted), c->coverage);
        }
        return CSM_OK;
    }
    fprintf(out, "%s from %s to %s, by %s; exporter coverage %.1f%%\n", c->o.resource, f, t,
            c->o.by, c->coverage * 100);
    fprintf(out, "%-24s %16s %10s %10s %8s %8s\n", c->o.by, "INSTANCE-HOURS", "PEAK", "AVERAGE",
            "CREATED", "DELETED");
    for (size_t i = 0; i < c->nrows; i++) {
        const report_row *r = &c->rows[i];
        fprintf(out, "%-24s %16.6f %10.0f %10.3f %8.0f %8.0f\n", r->key[0] ? r->key : "(none)",
                r->seconds / 3600, r->peak, r->avg, round(r->created), round(r->deleted));
    }
    return CSM_OK;
}

/* ---- flags ------------------------------------------------------------- */

static int usage_error(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(FILE *err, const char *fmt, ...)
{
    va_list ap;
    fputs("report: ", err);
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputs("\nusage: crd-state-metrics report --prometheus URL --resource GROUP/VERSION/KIND\n"
          "       [--from T] [--to T] [--by namespace|LABEL] [--format table|csv|json]\n"
          "       [--job NAME] [--bearer-token-file FILE] [--ca-file FILE]\n"
          "       [--insecure-skip-tls-verify] [--timeout SECONDS]\n"
          "T: RFC 3339, Unix seconds, now, or an age like 30d, 12h, 90m\n",
          err);
    return 2;
}

static int parse_flags(int argc, char **argv, report_opts *o, FILE *err)
{
    memset(o, 0, sizeof(*o));
    o->from_s = "30d";
    o->to_s = "now";
    o->by = "namespace";
    o->job = "crd-state-metrics";
    o->timeout_s = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        const char *eq = strchr(a, '=');
        char name[64];
        size_t n = eq ? (size_t)(eq - a) : strlen(a);

        if (strncmp(a, "--", 2) != 0 || n >= sizeof(name))
            return usage_error(err, "unexpected argument \"%s\"", a);
        memcpy(name, a + 2, n - 2);
        name[n - 2] = '\0';
        if (strcmp(name, "insecure-skip-tls-verify") == 0 && !eq) {
            o->insecure = 1;
            continue;
        }
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return usage_error(err, "--%s needs a value", name);
        if (!v[0])
            return usage_error(err, "invalid value \"\" for --%s: must not be empty", name);
        if (strcmp(name, "prometheus") == 0)
            o->prometheus = v;
        else if (strcmp(name, "resource") == 0)
            o->resource = v;
        else if (strcmp(name, "from") == 0)
            o->from_s = v;
        else if (strcmp(name, "to") == 0)
            o->to_s = v;
        else if (strcmp(name, "by") == 0)
            o->by = v;
        else if (strcmp(name, "job") == 0)
            o->job = v;
        else if (strcmp(name, "bearer-token-file") == 0)
            o->token_file = v;
        else if (strcmp(name, "ca-file") == 0)
            o->ca_file = v;
        else if (strcmp(name, "timeout") == 0) {
            char *end;
            o->timeout_s = strtol(v, &end, 10);
            if (*end || o->timeout_s <= 0 || o->timeout_s > 3600)
                return usage_error(err, "invalid value \"%s\" for --timeout: %s", v,
                                   "seconds in 1..3600");
        } else if (strcmp(name, "format") == 0) {
            if (strcmp(v, "table") == 0)
                o->format = FMT_TABLE;
            else if (strcmp(v, "csv") == 0)
                o->format = FMT_CSV;
            else if (strcmp(v, "json") == 0)
                o->format = FMT_JSON;
            else
                return usage_error(err, "invalid value \"%s\" for --format: %s", v,
                                   "one of table, csv, json");
        } else
            return usage_error(err, "unknown flag --%s", name);
    }
    if (!o->prometheus)
        return usage_error(err, "--prometheus URL is required");
    if (strncmp(o->prometheus, "http://", 7) != 0 && strncmp(o->prometheus, "https://", 8) != 0)
        return usage_error(err, "invalid value \"%s\" for --prometheus: %s", o->prometheus,
                           "an http:// or https:// URL");
    if (!o->resource)
        return usage_error(err, "--resource GROUP/VERSION/KIND is required");
    if (!csm_expo_valid_label_name(o->by))
        return usage_error(err, "invalid value \"%s\" for --by: %s", o->by, "not a label name");
    for (const char *p = o->job; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '\n')
            return usage_error(err, "invalid value \"%s\" for --job: %s", o->job,
                               "quotes, backslashes and newlines are not allowed");
    }
    return 0;
}

/* ---- main -------------------------------------------------------------- */

static csm_err setup_curl(report_ctx *c)
{
    csm_buf tok;
    csm_err err = CSM_OK;

    c->curl = curl_easy_init();
    if (!c->curl)
        return CSM_ERR_NOMEM;
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, c->o.timeout_s);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING, "");
    if (c->o.ca_file)
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->o.ca_file);
    if (c->o.insecure) {
        fprintf(c->err, "report: warning: --insecure-skip-tls-verify: Prometheus' certificate is "
                        "not verified\n");
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!c->o.token_file)
        return CSM_OK;
    csm_buf_init(&tok, 64 * 1024);
    err = csm_buf_read_file(&tok, c->o.token_file);
    if (err) {
        fprintf(c->err, "report: cannot read --bearer-token-file %s: %s\n", c->o.token_file,
                csm_strerror(err));
        return err;
    }
    while (tok.len && (tok.ptr[tok.len - 1] == '\n' || tok.ptr[tok.len - 1] == '\r'))
        tok.ptr[--tok.len] = '\0';
    {
        csm_buf h;
        csm_buf_init(&h, 128 * 1024);
        err = csm_buf_printf(&h, "Authorization: Bearer %s", csm_buf_str(&tok));
        if (!err) {
            c->headers = curl_slist_append(NULL, h.ptr);
            if (!c->headers)
                err = CSM_ERR_NOMEM;
        }
        /* The token never outlives its use in plain memory we own. */
        if (h.ptr)
            memset(h.ptr, 0, h.len);
        csm_buf_free(&h);
    }
    if (tok.ptr)
        memset(tok.ptr, 0, tok.len);
    csm_buf_free(&tok);
    if (!err)
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    return err;
}

static int run(report_ctx *c, FILE *out)
{
    csm_gvk gvk = {0};
    struct timespec ts;
    double now;
    size_t nsec = 0, ninfo = 0, n = 0;
    int known = 0;
    int rc = 1;

    if (csm_gvk_parse(c->o.resource, &gvk, NULL, 0) != CSM_OK ||
        csm_gen_stem(gvk.kind, c->stem, sizeof(c->stem)) != CSM_OK) {
        csm_gvk_free(&gvk);
        return usage_error(c->err, "invalid value \"%s\" for --resource: %s", c->o.resource,
                           "want GROUP/VERSION/KIND");
    }
    csm_gvk_free(&gvk);
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    if (csm_report_parse_time(c->o.from_s, now, &c->from) != CSM_OK)
        return usage_error(c->err, "invalid value \"%s\" for --from: %s", c->o.from_s,
                           "RFC 3339, Unix seconds, now, or an age like 30d");
    if (csm_report_parse_time(c->o.to_s, now, &c->to) != CSM_OK)
        return usage_error(c->err, "invalid value \"%s\" for --to: %s", c->o.to_s,
                           "RFC 3339, Unix seconds, now, or an age like 30d");
    if (c->to <= c->from)
        return usage_error(c->err, "--from %s is not before --to %s", c->o.from_s, c->o.to_s);
    c->step = ceil((c->to - c->from) / REPORT_MAX_STEPS);
    if (c->step < 1)
        c->step = 1;
    if (setup_curl(c) != CSM_OK)
        return 1;
    if (known_resource(c, &known) != CSM_OK)
        return 1;
    if (!known) {
        fprintf(c->err,
                "report: Prometheus has no series of %s (neither %s_info nor "
                "%s_object_seconds_total): unknown resource, or not scraped\n",
                c->o.resource, c->stem, c->stem);
        return 1;
    }
    if (counter_rows(c, "_object_seconds_total", F_SECONDS, &nsec) != CSM_OK ||
        counter_rows(c, "_created_total", F_CREATED, &n) != CSM_OK ||
        counter_rows(c, "_deleted_total", F_DELETED, &n) != CSM_OK ||
        info_rows(c, &ninfo) != CSM_OK || coverage(c) != CSM_OK)
        return 1;
    if (!nsec && !ninfo && c->coverage == 0) {
        fprintf(c->err,
                "report: no data for %s in the window: no %s_object_seconds_total or %s_info "
                "samples and no up{job=\"%s\"}\n",
                c->o.resource, c->stem, c->stem, c->o.job);
        return 1;
    }
    if (!nsec)
        fprintf(c->err,
                "report: warning: no %s_object_seconds_total in the window (is the lifecycle "
                "generator enabled?); instance-hours are 0\n",
                c->stem);
    if (c->coverage < 1)
        fprintf(c->err,
                "report: warning: an exporter was up for %.1f%% of the window; time when none "
                "ran is not counted\n",
                c->coverage * 100);
    qsort(c->rows, c->nrows, sizeof(*c->rows), cmp_rows);
    if (print_report(c, out) == CSM_OK)
        rc = 0;
    return rc;
}

int csm_report_main(int argc, char **argv, FILE *out, FILE *err)
{
    report_ctx c;
    int rc;

    memset(&c, 0, sizeof(c));
    c.err = err;
    rc = parse_flags(argc, argv, &c.o, err);
    if (rc)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(err, "report: libcurl initialisation failed\n");
        return 1;
    }
    rc = run(&c, out);
    for (size_t i = 0; i < c.nrows; i++)
        free(c.rows[i].key);
    free(c.rows);
    curl_slist_free_all(c.headers);
    if (c.curl)
        curl_easy_cleanup(c.curl);
    curl_global_cleanup();
    return rc;
}
