#include "flags.h"

#include <getopt.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/quote.h"
#include "serve/auth.h"
#include "render/mfilter.h"
#include "base/reslist.h"
#include "ingest/shard.h"
#include "serve/tls.h"

/*
 * Adding a flag: give it an id below, a row in flag_specs[] and either a
 * row in value_specs[] (a number with its range, a duration, a string, a
 * selector, a resource list) or a case in flag_apply(). Defaults live only
 * in flag_specs[]: flag_apply() applies them before argv is read, so --help
 * can never disagree with the behaviour.
 */
enum flag_id {
    /* Above any short-option character, so getopt's optopt tells them apart. */
    FLAG_RESOURCE = 256,
    FLAG_NAMESPACES,
    FLAG_NAMESPACES_DENYLIST,
    FLAG_LABEL_SELECTOR,
    FLAG_FIELD_SELECTOR,
    FLAG_KUBECONFIG,
    FLAG_APISERVER,
    FLAG_HOST,
    FLAG_PORT,
    FLAG_TELEMETRY_HOST,
    FLAG_TELEMETRY_PORT,
    FLAG_LOG_LEVEL,
    FLAG_LOG_FORMAT,
    FLAG_GENERATORS,
    FLAG_LABELS_ALLOWLIST,
    FLAG_ANNOTATIONS_ALLOWLIST,
    FLAG_METRIC_ALLOWLIST,
    FLAG_METRIC_DENYLIST,
    FLAG_CONFIG,
    FLAG_GENERATOR_PLUGIN,
    FLAG_HELP,
    FLAG_VERSION,
    FLAG_WATCH_TIMEOUT,
    FLAG_LIST_PAGE_SIZE,
    FLAG_WATCH_LIST,
    FLAG_TLS_CERT_FILE,
    FLAG_TLS_KEY_FILE,
    FLAG_TLS_MIN_VERSION,
    FLAG_TLS_CIPHER_SUITES,
    FLAG_CLIENT_CA_FILE,
    FLAG_AUTH,
    FLAG_AUTH_TOKEN_AUDIENCES,
    FLAG_AUTH_ALLOW_PATHS,
    FLAG_AUTH_ALLOW_GROUPS,
    FLAG_AUTH_RESOURCE_ATTRIBUTES,
    FLAG_AUTH_TTL_TOKEN,
    FLAG_AUTH_TTL_ALLOWED,
    FLAG_AUTH_TTL_DENIED,
    FLAG_AUTH_STALE_IF_ERROR,
    FLAG_AUTH_TIMEOUT,
    FLAG_MAX_LABELS_PER_SAMPLE,
    FLAG_MAX_SERIES,
    FLAG_MAX_SERIES_PER_RESOURCE,
    FLAG_MAX_CONNECTIONS,
    FLAG_MAX_CONNECTIONS_PER_CLIENT,
    FLAG_RESPONSE_TIMEOUT,
    FLAG_RESPONSE_MIN_RATE,
    FLAG_AUTH_MAX_REVIEWS,
    FLAG_SHARD,
    FLAG_TOTAL_SHARDS,
    FLAG_POD,
    FLAG_POD_NAMESPACE,
    FLAG_RESHARD_DELAY,
};

typedef struct flag_spec {
    const char *name;
    int id;
    char short_name;     /* '\0' for none */
    int has_arg;         /* getopt's no_argument or required_argument */
    const char *metavar; /* NULL for switches */
    const char *defval;  /* applied before parsing and shown by --help, or NULL */
    const char *help;
} flag_spec;

static const flag_spec flag_specs[] = {
    {"resource", FLAG_RESOURCE, 0, required_argument, "GROUP/VERSION/KIND", NULL,
     "Resource to export; repeatable or comma-separated. VERSION/KIND means the core\n"
     "group (v1/ConfigMap). At least one is required."},
    {"namespaces", FLAG_NAMESPACES, 0, required_argument, "NS[,NS...]", NULL,
     "Only watch these namespaces (default: all namespaces)."},
    {"namespaces-denylist", FLAG_NAMESPACES_DENYLIST, 0, required_argument, "NS[,NS...]", NULL,
     "Watch all namespaces except these; excludes --namespaces."},
    {"label-selector", FLAG_LABEL_SELECTOR, 0, required_argument, "SELECTOR", NULL,
     "Only export objects matching this label selector (default: none)."},
    {"field-selector", FLAG_FIELD_SELECTOR, 0, required_argument, "SELECTOR", NULL,
     "Only export objects matching this field selector (default: none)."},
    {"kubeconfig", FLAG_KUBECONFIG, 0, required_argument, "PATH", NULL,
     "Kubeconfig file (default: $KUBECONFIG, else in-cluster, else ~/.kube/config)."},
    {"apiserver", FLAG_APISERVER, 0, required_argument, "URL", NULL,
     "API server URL; overrides the server from the kubeconfig."},
    {"host", FLAG_HOST, 0, required_argument, "ADDR",
     "::", "Address the /metrics listener binds to."},
    {"port", FLAG_PORT, 0, required_argument, "PORT", "8389", "Port of the /metrics listener."},
    {"telemetry-host", FLAG_TELEMETRY_HOST, 0, required_argument, "ADDR",
     "::", "Address the exporter's own telemetry listener binds to."},
    {"telemetry-port", FLAG_TELEMETRY_PORT, 0, required_argument, "PORT", "8390",
     "Port of the telemetry listener."},
    {"log-level", FLAG_LOG_LEVEL, 0, required_argument, "LEVEL", "info",
     "One of debug, info, warn, error."},
    {"log-format", FLAG_LOG_FORMAT, 0, required_argument, "FORMAT", "text", "text or json."},
    {"watch-timeout", FLAG_WATCH_TIMEOUT, 0, required_argument, "SECONDS", "300",
     "Server-side timeout of each WATCH; each one uses a random value in [T, 2T)."},
    {"list-page-size", FLAG_LIST_PAGE_SIZE, 0, required_argument, "N", "500",
     "Objects per LIST page (limit/continue)."},
    {"watch-list", FLAG_WATCH_LIST, 0, required_argument, "MODE", "auto",
     "Initial sync by a streaming WATCH with sendInitialEvents: auto (when the\n"
     "server supports it), on or off (paged LIST)."},
    {"max-labels-per-sample", FLAG_MAX_LABELS_PER_SAMPLE, 0, required_argument, "N", "256",
     "Largest label set of one sample (0: no cap). A sample with more (say the labels\n"
     "generator with [*] on an object with thousands of labels) is dropped whole,\n"
     "counted in crd_state_metrics_samples_dropped_total and logged once."},
    {"max-series", FLAG_MAX_SERIES, 0, required_argument, "N", "0",
     "Series budget of the whole exporter (0: none). An object whose series do not\n"
     "fit is skipped (see \"Series budget\" in the README) and counted in\n"
     "crd_state_metrics_series_dropped."},
    {"max-series-per-resource", FLAG_MAX_SERIES_PER_RESOURCE, 0, required_argument, "N", "0",
     "Series budget of each resource (0: none); a Custom Resource State config\n"
     "entry's maxSeries sets it for the resources it matches."},
    {"shard", FLAG_SHARD, 0, required_argument, "N", "0",
     "The shard this instance exports (0-based): the objects whose UID\n"
     "kube-state-metrics' jump hash puts on shard N of --total-shards."},
    {"total-shards", FLAG_TOTAL_SHARDS, 0, required_argument, "M", "1",
     "Number of shards; 1 exports every object."},
    {"pod", FLAG_POD, 0, required_argument, "NAME", NULL,
     "Auto-sharding: this pod's name (downward API). The shard is its StatefulSet\n"
     "ordinal, the total its owning StatefulSet's spec.replicas, followed live.\n"
     "Excludes --shard and --total-shards."},
    {"pod-namespace", FLAG_POD_NAMESPACE, 0, required_argument, "NS", NULL,
     "The namespace of --pod (default: $POD_NAMESPACE)."},
    {"shard-handover-delay", FLAG_RESHARD_DELAY, 0, required_argument, "DURATION", "2s",
     "Auto-sharding: after spec.replicas changes, objects this shard loses go at\n"
     "once and objects it gains are listed this much later, so shards that learn\n"
     "the change at slightly different moments never export an object twice."},
    {"tls-cert-file", FLAG_TLS_CERT_FILE, 0, required_argument, "PATH", NULL,
     "Serve both listeners over TLS with this PEM certificate (leaf first). It and\n"
     "the key are reloaded when the files change; a bad new pair keeps the old one."},
    {"tls-private-key-file", FLAG_TLS_KEY_FILE, 0, required_argument, "PATH", NULL,
     "The PEM private key of --tls-cert-file."},
    {"tls-min-version", FLAG_TLS_MIN_VERSION, 0, required_argument, "VERSION", "VersionTLS12",
     "Oldest TLS version accepted: VersionTLS12 or VersionTLS13 (or 1.2, 1.3)."},
    {"tls-cipher-suites", FLAG_TLS_CIPHER_SUITES, 0, required_argument, "SUITE[,SUITE...]", NULL,
     "TLS 1.2 cipher suites, IANA names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...);\n"
     "default: OpenSSL's. TLS 1.3 suites are always on."},
    {"client-ca-file", FLAG_CLIENT_CA_FILE, 0, required_argument, "PATH", NULL,
     "Verify client certificates against this PEM CA bundle. With --auth=kubernetes\n"
     "a verified certificate authenticates CN as the user and O as groups; with\n"
     "--auth=none every client must present one."},
    {"auth", FLAG_AUTH, 0, required_argument, "MODE", "none",
     "none, or kubernetes: Bearer tokens checked with a TokenReview, then every\n"
     "request with a SubjectAccessReview. Needs --tls-cert-file."},
    {"auth-token-audiences", FLAG_AUTH_TOKEN_AUDIENCES, 0, required_argument, "AUD[,AUD...]", NULL,
     "Audiences a token must be issued for (default: the API server's)."},
    {"auth-always-allow-paths", FLAG_AUTH_ALLOW_PATHS, 0, required_argument, "PATH[,PATH...]",
     "/healthz,/livez,/readyz",
     "Paths served without authentication (exact; a trailing * matches a prefix).\n"
     "An empty value allows none."},
    {"auth-always-allow-groups", FLAG_AUTH_ALLOW_GROUPS, 0, required_argument, "GROUP[,GROUP...]",
     NULL, "Authenticated users in these groups skip the SubjectAccessReview."},
    {"auth-resource-attributes", FLAG_AUTH_RESOURCE_ATTRIBUTES, 0, required_argument,
     "KEY=VALUE[,...]", NULL,
     "Authorize against these resource attributes instead of the request path, as\n"
     "kube-rbac-proxy does; keys: namespace, apiGroup, apiVersion, resource (required),\n"
     "subresource, name."},
    {"auth-cache-ttl-token", FLAG_AUTH_TTL_TOKEN, 0, required_argument, "DURATION", "1m",
     "How long a TokenReview answer is reused (never past a JWT's exp)."},
    {"auth-cache-ttl-allowed", FLAG_AUTH_TTL_ALLOWED, 0, required_argument, "DURATION", "5m",
     "How long an allowing SubjectAccessReview answer is reused."},
    {"auth-cache-ttl-denied", FLAG_AUTH_TTL_DENIED, 0, required_argument, "DURATION", "30s",
     "How long a denying SubjectAccessReview answer is reused."},
    {"auth-stale-if-error", FLAG_AUTH_STALE_IF_ERROR, 0, required_argument, "DURATION", "0s",
     "When the API server cannot answer a review, reuse an answer that expired at\n"
     "most this long ago instead of answering 503 (never past a token's exp)."},
    {"auth-timeout", FLAG_AUTH_TIMEOUT, 0, required_argument, "DURATION", "10s",
     "Timeout of each TokenReview and SubjectAccessReview request."},
    {"auth-max-reviews", FLAG_AUTH_MAX_REVIEWS, 0, required_argument, "N", "64",
     "TokenReviews and SubjectAccessReviews in flight at once; a request that\n"
     "needs one more gets 503."},
    {"max-connections", FLAG_MAX_CONNECTIONS, 0, required_argument, "N", NULL,
     "Open connections on the metrics port (default: from the file-descriptor\n"
     "limit, which is raised to its hard limit). At the cap a new connection\n"
     "evicts the oldest one without complete request headers, else the oldest\n"
     "idle one."},
    {"max-connections-per-client", FLAG_MAX_CONNECTIONS_PER_CLIENT, 0, required_argument, "N", NULL,
     "Open connections per client address (default: an eighth of\n--max-connections)."},
    {"http-response-timeout", FLAG_RESPONSE_TIMEOUT, 0, required_argument, "DURATION", "60s",
     "Every response may take this long, plus its body at --http-min-rate."},
    {"http-min-rate", FLAG_RESPONSE_MIN_RATE, 0, required_argument, "BYTES", "65536",
     "Slowest download rate, in bytes per second, that always finishes."},
    {"generators", FLAG_GENERATORS, 0, required_argument, "LIST", NULL,
     "Generators per resource: a list (info,labels,created,status) for every\n"
     "--resource, or RESOURCE=[GEN,...] entries by plural with * for the rest\n"
     "(memcacheds=[info,status],*=[info]). Built-ins: info, labels, annotations,\n"
     "created, status, lifecycle; plugins by name. Default: info and every plugin."},
    {"metric-labels-allowlist", FLAG_LABELS_ALLOWLIST, 0, required_argument,
     "RESOURCE=[KEY,...],...", NULL,
     "Object labels the labels generator exports as label_<key>, by plural or *;\n"
     "[*] for all (kube-state-metrics' syntax: memcacheds=[app,tier],*=[team])."},
    {"metric-annotations-allowlist", FLAG_ANNOTATIONS_ALLOWLIST, 0, required_argument,
     "RESOURCE=[KEY,...],...", NULL,
     "Object annotations the annotations generator exports as annotation_<key>."},
    {"metric-allowlist", FLAG_METRIC_ALLOWLIST, 0, required_argument, "REGEX[,REGEX...]", NULL,
     "Generate only the metric families whose whole name matches one of these POSIX\n"
     "extended regular expressions; excludes --metric-denylist."},
    {"metric-denylist", FLAG_METRIC_DENYLIST, 0, required_argument, "REGEX[,REGEX...]", NULL,
     "Generate every metric family except those whose whole name matches one of\n"
     "these. Denied families are never rendered."},
    {"config", FLAG_CONFIG, 0, required_argument, "FILE", NULL,
     "A kube-state-metrics Custom Resource State config (YAML or JSON). Its\n"
     "resources are exported too; it is reloaded when the file changes and on SIGHUP."},
    {"generator-plugin", FLAG_GENERATOR_PLUGIN, 0, required_argument, "PATH.so", NULL,
     "Load a generator plugin (include/csm/generator.h); repeatable."},
    {"help", FLAG_HELP, 'h', no_argument, NULL, NULL, "Print this help and exit."},
    {"version", FLAG_VERSION, 0, no_argument, NULL, NULL, "Print the version and exit."},
};

#define NFLAGS (sizeof(flag_specs) / sizeof(flag_specs[0]))

static csm_err usage_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static csm_err usage_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errbuf && errlen) {
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return CSM_ERR_USAGE;
}

/*
 * The one shape of a bad-value message: 'invalid value "<val>" for --<flag>:
 * <what>', with the value quoted safely; `what` is a printf format.
 */
static csm_err invalid_value(const flag_spec *f, const char *val, char *errbuf, size_t errlen,
                             const char *what, ...) __attribute__((format(printf, 5, 6)));

static csm_err invalid_value(const flag_spec *f, const char *val, char *errbuf, size_t errlen,
                             const char *what, ...)
{
    char q[CSM_QUOTE_SIZE];
    char expect[512];
    va_list ap;

    va_start(ap, what);
    vsnprintf(expect, sizeof(expect), what, ap);
    va_end(ap);
    return usage_err(errbuf, errlen, "invalid value \"%s\" for --%s: %s",
                     csm_quote(val, strlen(val), q, sizeof(q)), f->name, expect);
}

/* Index of val in names[0..n), or -1: for flags that take one keyword. */
static int choice_index(const char *val, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(val, names[i]) == 0)
            return (int)i;
    }
    return -1;
}

static const flag_spec *flag_by_id(int id)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        if (flag_specs[i].id == id)
            return &flag_specs[i];
    }
    return NULL;
}

static const flag_spec *flag_by_short(int c)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        if (flag_specs[i].short_name && flag_specs[i].short_name == c)
            return &flag_specs[i];
    }
    return NULL;
}

/*
 * Comma-list iteration: *pos starts at the value; each call yields the next
 * item (possibly empty) and returns 0 once the value is exhausted.
 */
static int next_item(const char **pos, const char **item, size_t *len)
{
    const char *comma;

    if (!*pos)
        return 0;
    comma = strchr(*pos, ',');
    *item = *pos;
    *len = comma ? (size_t)(comma - *pos) : strlen(*pos);
    *pos = comma ? comma + 1 : NULL;
    return 1;
}

static int gvk_same_resource(const csm_gvk *a, const csm_gvk *b)
{
    /* Versions of one group/kind serve the same objects, and kinds that
     * differ only in case map to the same metric name: either way every
     * series would be exported twice. */
    return strcmp(a->group, b->group) == 0 && strcasecmp(a->kind, b->kind) == 0;
}

static csm_err add_resources(csm_config *cfg, const flag_spec *f, const char *val, char *errbuf,
                             size_t errlen)
{
    const char *pos = val;
    const char *item;
    size_t len;
    char *one = NULL;
    char why[256];
    char q[CSM_QUOTE_SIZE];
    char q2[CSM_QUOTE_SIZE];
    csm_gvk g = {0};
    csm_gvk *res;
    csm_err err = CSM_OK;

    while (next_item(&pos, &item, &len)) {
        if (len == 0) {
            err = usage_err(errbuf, errlen, "--%s \"%s\": empty item in comma-separated list",
                            f->name, csm_quote(val, strlen(val), q, sizeof(q)));
            goto out;
        }
        one = strndup(item, len);
        if (!one) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
        err = csm_gvk_parse(one, &g, why, sizeof(why));
        if (err == CSM_ERR_INVALID) {
            err = usage_err(errbuf, errlen, "--%s \"%s\": %s", f->name,
                            csm_quote(item, len, q, sizeof(q)), why);
            goto out;
        }
        if (err)
            goto out;
        for (size_t i = 0; i < cfg->nresources; i++) {
            const csm_gvk *o = &cfg->resources[i];
            if (gvk_same_resource(o, &g)) {
                csm_gvk_format(why, sizeof(why), o->group, o->version, o->kind);
                err = usage_err(errbuf, errlen, "--%s \"%s\": duplicates \"%s\"", f->name,
                                csm_quote(item, len, q, sizeof(q)),
                                csm_quote(why, strlen(why), q2, sizeof(q2)));
                goto out;
            }
        }
        res = realloc(cfg->resources, (cfg->nresources + 1) * sizeof(*res));
        if (!res) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
        cfg->resources = res;
        cfg->resources[cfg->nresources++] = g;
        memset(&g, 0, sizeof(g));
        free(one);
        one = NULL;
    }
out:
    free(one);
    csm_gvk_free(&g);
    return err;
}

static csm_err add_namespaces(csm_strlist *l, const flag_spec *f, const char *val, char *errbuf,
                              size_t errlen)
{
    const char *pos = val;
    const char *item;
    size_t len;
    char q[CSM_QUOTE_SIZE];
    csm_err err;

    while (next_item(&pos, &item, &len)) {
        if (len == 0)
            return usage_err(errbuf, errlen, "--%s \"%s\": empty item in comma-separated list",
                             f->name, csm_quote(val, strlen(val), q, sizeof(q)));
        if (!csm_gvk_is_dns_label(item, len))
            return usage_err(errbuf, errlen,
                             "--%s \"%s\": not a valid namespace name (RFC 1123 label)", f->name,
                             csm_quote(item, len, q, sizeof(q)));
        for (size_t i = 0; i < l->n; i++) {
            if (strlen(l->items[i]) == len && memcmp(l->items[i], item, len) == 0)
                return usage_err(errbuf, errlen, "--%s \"%s\": namespace listed twice", f->name,
                                 csm_quote(item, len, q, sizeof(q)));
        }
        err = csm_strlist_push(l, item, len);
        if (err)
            return err;
    }
    return CSM_OK;
}

/* Replaces *dst; a repeated scalar flag means the last one wins. */
static csm_err set_string(char **dst, const char *val)
{
    char *copy = strdup(val);

    if (!copy)
        return CSM_ERR_NOMEM;
    free(*dst);
    *dst = copy;
    return CSM_OK;
}

static csm_err set_nonempty(char **dst, const flag_spec *f, const char *val, char *errbuf,
                            size_t errlen)
{
    if (!*val)
        return usage_err(errbuf, errlen, "invalid value \"\" for --%s: must not be empty", f->name);
    return set_string(dst, val);
}

/* An empty selector selects everything, which is what unset means too. */
static csm_err set_selector(char **dst, const char *val)
{
    if (!*val) {
        free(*dst);
        *dst = NULL;
        return CSM_OK;
    }
    return set_string(dst, val);
}

/* Parses a decimal integer in [min, max] (max below 10^9). */
static csm_err set_int_range(int *dst, const flag_spec *f, const char *val, long min, long max,
                             char *errbuf, size_t errlen)
{
    long v = 0;
    size_t n = strlen(val);

    /* Digits only: strtol would take "+1", " 1" and "0x10". Nine digits
     * cannot overflow a long. */
    for (size_t i = 0; i < n; i++) {
        if (val[i] < '0' || val[i] > '9' || i >= 9) {
            v = -1;
            break;
        }
        v = v * 10 + (val[i] - '0');
    }
    if (n == 0 || v < min || v > max)
        return invalid_value(f, val, errbuf, errlen, "must be an integer in %ld..%ld", min, max);
    *dst = (int)v;
    return CSM_OK;
}

/*
 * Parses a Go-style duration ("1m30s", "500ms", "2h", "0") into
 * milliseconds in [0, max_ms]. Integers only: nobody needs 1.5s here.
 */
static csm_err set_duration(long *dst, const flag_spec *f, const char *val, long max_ms,
                            char *errbuf, size_t errlen)
{
    static const struct {
        const char *unit;
        long ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    const char *p = val;
    long total = 0;
    long n;
    size_t digits;
    size_t u;

    if (strcmp(val, "0") == 0) {
        *dst = 0;
        return CSM_OK;
    }
    while (*p) {
        n = 0;
        for (digits = 0; p[digits] >= '0' && p[digits] <= '9' && digits < 9; digits++)
            n = n * 10 + (p[digits] - '0');
        p += digits;
        /* "ms" comes before "m" in units[], so "m" never takes its m. */
        for (u = 0; digits && u < sizeof(units) / sizeof(units[0]); u++) {
            if (strncmp(p, units[u].unit, strlen(units[u].unit)) == 0)
                break;
        }
        if (!digits || u == sizeof(units) / sizeof(units[0]) || n > max_ms / units[u].ms ||
            total > max_ms - n * units[u].ms)
            return invalid_value(f, val, errbuf, errlen,
                                 "must be a duration like 30s, 5m or 1m30s, at most %ldh",
                                 max_ms / 3600000);
        total += n * units[u].ms;
        p += strlen(units[u].unit);
    }
    *dst = total;
    return CSM_OK;
}

/* Replaces *l with the comma-separated items of val; an empty value
 * empties the list. Items must be non-empty, and paths start with '/'. */
static csm_err set_list(csm_strlist *l, const flag_spec *f, const char *val, int paths,
                        char *errbuf, size_t errlen)
{
    const char *pos = *val ? val : NULL;
    const char *item;
    size_t len;
    char q[CSM_QUOTE_SIZE];
    csm_err err;

    csm_strlist_clear(l);
    while (next_item(&pos, &item, &len)) {
        if (len == 0)
            return usage_err(errbuf, errlen, "--%s \"%s\": empty item in comma-separated list",
                             f->name, csm_quote(val, strlen(val), q, sizeof(q)));
        if (paths && item[0] != '/')
            return usage_err(errbuf, errlen, "--%s \"%s\": a path must start with /", f->name,
                             csm_quote(item, len, q, sizeof(q)));
        err = csm_strlist_push(l, item, len);
        if (err)
            return err;
    }
    return CSM_OK;
}

/* The values that need OpenSSL or the auth module to check. */
static csm_err check_security_value(const flag_spec *f, const char *val, char *errbuf,
                                    size_t errlen)
{
    char why[256] = "";
    csm_err err;

    if (f->id == FLAG_TLS_CIPHER_SUITES)
        err = csm_tls_cipher_suites_parse(val, NULL, why, sizeof(why));
    else
        err = csm_auth_resource_attributes_check(val, why, sizeof(why));
    if (err == CSM_ERR_INVALID)
        return invalid_value(f, val, errbuf, errlen, "%s", why);
    return err;
}

/* --generators and the allow lists: RESOURCE=[ITEM,...] (see reslist.h). */
static csm_err set_reslist(char **dst, const flag_spec *f, const char *val, int plain_ok,
                           char *errbuf, size_t errlen)
{
    csm_reslist *l = NULL;
    char why[256] = "";
    csm_err err = csm_reslist_parse(val, plain_ok, &l, why, sizeof(why));

    csm_reslist_free(l);
    if (err == CSM_ERR_INVALID)
        return invalid_value(f, val, errbuf, errlen, "%s", why);
    return err ? err : set_string(dst, val);
}

/* --metric-allowlist/--metric-denylist: adds comma-separated regular
 * expressions, each of which must compile. */
static csm_err add_regexes(csm_strlist *l, const flag_spec *f, const char *val, char *errbuf,
                           size_t errlen)
{
    const char *pos = val;
    const char *item;
    size_t len;
    size_t first = l->n;
    csm_mfilter *mf = NULL;
    char why[256] = "";
    char q[CSM_QUOTE_SIZE];
    csm_err err;

    while (next_item(&pos, &item, &len)) {
        if (len == 0)
            return usage_err(errbuf, errlen, "--%s \"%s\": empty item in comma-separated list",
                             f->name, csm_quote(val, strlen(val), q, sizeof(q)));
        err = csm_strlist_push(l, item, len);
        if (err)
            return err;
    }
    err = csm_mfilter_new((const char *const *)l->items + first, l->n - first, NULL, 0, &mf, why,
                          sizeof(why));
    csm_mfilter_free(mf);
    if (err == CSM_ERR_INVALID)
        return usage_err(errbuf, errlen, "--%s: invalid regular expression %s", f->name, why);
    return err;
}

/* How a value_specs[] row stores its flag's value. */
typedef enum value_kind {
    VALUE_INT,             /* int: a decimal integer in [min, max] */
    VALUE_MS,              /* long: a duration in milliseconds in [0, max] */
    VALUE_STRING,          /* char *: any value but the empty one; replaced */
    VALUE_SELECTOR,        /* char *: a selector; empty means none (NULL) */
    VALUE_RESLIST,         /* char *: a list for every resource or RESOURCE=[ITEM,...] */
    VALUE_RESLIST_ENTRIES, /* char *: RESOURCE=[ITEM,...] entries only */
} value_kind;

/*
 * The flags whose value needs no more than its kind's check, with where it
 * goes: `field` is the offsetof() of a csm_config member of the C type the
 * kind names (the invariant apply_value() relies on). The range is the
 * flag's, not its type's: a value outside it exits 2 naming both ends.
 */
static const struct value_spec {
    int id;
    value_kind kind;
    size_t field;
    long min;
    long max;
} value_specs[] = {
    {FLAG_LABEL_SELECTOR, VALUE_SELECTOR, offsetof(csm_config, label_selector), 0, 0},
    {FLAG_FIELD_SELECTOR, VALUE_SELECTOR, offsetof(csm_config, field_selector), 0, 0},
    {FLAG_KUBECONFIG, VALUE_STRING, offsetof(csm_config, kubeconfig), 0, 0},
    {FLAG_APISERVER, VALUE_STRING, offsetof(csm_config, apiserver), 0, 0},
    {FLAG_HOST, VALUE_STRING, offsetof(csm_config, host), 0, 0},
    {FLAG_PORT, VALUE_INT, offsetof(csm_config, port), 0, 65535},
    {FLAG_TELEMETRY_HOST, VALUE_STRING, offsetof(csm_config, telemetry_host), 0, 0},
    {FLAG_TELEMETRY_PORT, VALUE_INT, offsetof(csm_config, telemetry_port), 0, 65535},
    {FLAG_WATCH_TIMEOUT, VALUE_INT, offsetof(csm_config, watch_timeout_s), 1, 86400},
    {FLAG_LIST_PAGE_SIZE, VALUE_INT, offsetof(csm_config, list_page_size), 1, 100000},
    {FLAG_MAX_LABELS_PER_SAMPLE, VALUE_INT, offsetof(csm_config, max_labels_per_sample), 0,
     1000000},
    {FLAG_MAX_SERIES, VALUE_INT, offsetof(csm_config, max_series), 0, 999999999},
    {FLAG_MAX_SERIES_PER_RESOURCE, VALUE_INT, offsetof(csm_config, max_series_per_resource), 0,
     999999999},
    {FLAG_TLS_CERT_FILE, VALUE_STRING, offsetof(csm_config, tls_cert_file), 0, 0},
    {FLAG_TLS_KEY_FILE, VALUE_STRING, offsetof(csm_config, tls_key_file), 0, 0},
    {FLAG_CLIENT_CA_FILE, VALUE_STRING, offsetof(csm_config, client_ca_file), 0, 0},
    {FLAG_AUTH_TTL_TOKEN, VALUE_MS, offsetof(csm_config, auth_ttl_token_ms), 0, 86400000L},
    {FLAG_AUTH_TTL_ALLOWED, VALUE_MS, offsetof(csm_config, auth_ttl_allowed_ms), 0, 86400000L},
    {FLAG_AUTH_TTL_DENIED, VALUE_MS, offsetof(csm_config, auth_ttl_denied_ms), 0, 86400000L},
    {FLAG_AUTH_STALE_IF_ERROR, VALUE_MS, offsetof(csm_config, auth_stale_ms), 0, 86400000L},
    {FLAG_AUTH_MAX_REVIEWS, VALUE_INT, offsetof(csm_config, auth_max_reviews), 1, 100000},
    {FLAG_MAX_CONNECTIONS, VALUE_INT, offsetof(csm_config, max_connections), 16, 10000000},
    {FLAG_MAX_CONNECTIONS_PER_CLIENT, VALUE_INT, offsetof(csm_config, max_connections_per_client),
     1, 10000000},
    {FLAG_RESPONSE_MIN_RATE, VALUE_INT, offsetof(csm_config, response_min_rate), 1, 999999999},
    {FLAG_SHARD, VALUE_INT, offsetof(csm_config, shard), 0, 999999999L},
    {FLAG_TOTAL_SHARDS, VALUE_INT, offsetof(csm_config, total_shards), 1, 999999999L},
    {FLAG_POD, VALUE_STRING, offsetof(csm_config, pod), 0, 0},
    {FLAG_POD_NAMESPACE, VALUE_STRING, offsetof(csm_config, pod_namespace), 0, 0},
    {FLAG_RESHARD_DELAY, VALUE_MS, offsetof(csm_config, reshard_delay_ms), 0, 600000L},
    {FLAG_GENERATORS, VALUE_RESLIST, offsetof(csm_config, generators), 0, 0},
    {FLAG_LABELS_ALLOWLIST, VALUE_RESLIST_ENTRIES, offsetof(csm_config, labels_allowlist), 0, 0},
    {FLAG_ANNOTATIONS_ALLOWLIST, VALUE_RESLIST_ENTRIES, offsetof(csm_config, annotations_allowlist),
     0, 0},
    {FLAG_CONFIG, VALUE_STRING, offsetof(csm_config, config_file), 0, 0},
};

static const struct value_spec *value_spec_by_id(int id)
{
    for (size_t i = 0; i < sizeof(value_specs) / sizeof(value_specs[0]); i++) {
        if (value_specs[i].id == id)
            return &value_specs[i];
    }
    return NULL;
}

static csm_err apply_value(csm_config *cfg, const struct value_spec *v, const flag_spec *f,
                           const char *val, char *errbuf, size_t errlen)
{
    char *field = (char *)cfg + v->field;

    switch (v->kind) {
    case VALUE_INT:
        return set_int_range((int *)(void *)field, f, val, v->min, v->max, errbuf, errlen);
    case VALUE_MS:
        return set_duration((long *)(void *)field, f, val, v->max, errbuf, errlen);
    case VALUE_STRING:
        return set_nonempty((char **)(void *)field, f, val, errbuf, errlen);
    case VALUE_SELECTOR:
        return set_selector((char **)(void *)field, val);
    case VALUE_RESLIST:
        return set_reslist((char **)(void *)field, f, val, 1, errbuf, errlen);
    case VALUE_RESLIST_ENTRIES:
        return set_reslist((char **)(void *)field, f, val, 0, errbuf, errlen);
    }
    return CSM_ERR_INTERNAL;
}

/* A flag of value_specs[], or one of those that check more than a kind. */
static csm_err flag_apply(csm_config *cfg, const flag_spec *f, const char *val, char *errbuf,
                          size_t errlen)
{
    const struct value_spec *v = value_spec_by_id(f->id);
    int choice;

    if (v)
        return apply_value(cfg, v, f, val, errbuf, errlen);
    switch (f->id) {
    case FLAG_RESOURCE:
        return add_resources(cfg, f, val, errbuf, errlen);
    case FLAG_NAMESPACES:
        return add_namespaces(&cfg->namespaces, f, val, errbuf, errlen);
    case FLAG_NAMESPACES_DENYLIST:
        return add_namespaces(&cfg->namespaces_deny, f, val, errbuf, errlen);
    case FLAG_LOG_LEVEL:
        /* csm_log_level_parse also takes "warning" and any case. */
        if (csm_log_level_parse(val, &cfg->log_level) != CSM_OK)
            return invalid_value(f, val, errbuf, errlen, "must be one of debug, info, warn, error");
        return CSM_OK;
    case FLAG_LOG_FORMAT:
        if (csm_log_format_parse(val, &cfg->log_format) != CSM_OK)
            return invalid_value(f, val, errbuf, errlen, "must be text or json");
        return CSM_OK;
    case FLAG_WATCH_LIST:
        /* In csm_watch_list_mode order. */
        choice = choice_index(val, (const char *const[]){"auto", "on", "off"}, 3);
        if (choice < 0)
            return invalid_value(f, val, errbuf, errlen, "must be auto, on or off");
        cfg->watch_list = (csm_watch_list_mode)choice;
        return CSM_OK;
    case FLAG_TLS_MIN_VERSION:
        if (csm_tls_version_parse(val, &cfg->tls_min_version) != CSM_OK)
            return invalid_value(f, val, errbuf, errlen,
                                 "must be VersionTLS12 or VersionTLS13 (older versions are not "
                                 "offered)");
        return CSM_OK;
    case FLAG_TLS_CIPHER_SUITES:
        if (check_security_value(f, val, errbuf, errlen) != CSM_OK)
            return CSM_ERR_USAGE;
        return set_nonempty(&cfg->tls_cipher_suites, f, val, errbuf, errlen);
    case FLAG_AUTH:
        choice = choice_index(val, (const char *const[]){"none", "kubernetes"}, 2);
        if (choice < 0)
            return invalid_value(f, val, errbuf, errlen, "must be none or kubernetes");
        cfg->auth = choice ? CSM_AUTH_MODE_KUBERNETES : CSM_AUTH_MODE_NONE;
        return CSM_OK;
    case FLAG_AUTH_TOKEN_AUDIENCES:
        return set_list(&cfg->auth_audiences, f, val, 0, errbuf, errlen);
    case FLAG_AUTH_ALLOW_PATHS:
        return set_list(&cfg->auth_allow_paths, f, val, 1, errbuf, errlen);
    case FLAG_AUTH_ALLOW_GROUPS:
        return set_list(&cfg->auth_allow_groups, f, val, 0, errbuf, errlen);
    case FLAG_AUTH_RESOURCE_ATTRIBUTES:
        if (check_security_value(f, val, errbuf, errlen) != CSM_OK)
            return CSM_ERR_USAGE;
        return set_nonempty(&cfg->auth_resource_attributes, f, val, errbuf, errlen);
    case FLAG_AUTH_TIMEOUT:
        if (set_duration(&cfg->auth_timeout_ms, f, val, 300000L, errbuf, errlen) != CSM_OK)
            return CSM_ERR_USAGE;
        if (cfg->auth_timeout_ms == 0)
            return usage_err(errbuf, errlen, "invalid value \"0\" for --%s: must be positive",
                             f->name);
        return CSM_OK;
    case FLAG_RESPONSE_TIMEOUT:
        if (set_duration(&cfg->response_timeout_ms, f, val, 86400000L, errbuf, errlen) != CSM_OK)
            return CSM_ERR_USAGE;
        if (cfg->response_timeout_ms < 1000)
            return invalid_value(f, val, errbuf, errlen, "must be at least 1s");
        return CSM_OK;
    case FLAG_METRIC_ALLOWLIST:
        return add_regexes(&cfg->metric_allowlist, f, val, errbuf, errlen);
    case FLAG_METRIC_DENYLIST:
        return add_regexes(&cfg->metric_denylist, f, val, errbuf, errlen);
    case FLAG_GENERATOR_PLUGIN:
        if (!*val)
            return usage_err(errbuf, errlen, "invalid value \"\" for --%s: must not be empty",
                             f->name);
        return csm_strlist_push(&cfg->plugins, val, strlen(val));
    case FLAG_HELP:
        cfg->show_help = 1;
        return CSM_OK;
    case FLAG_VERSION:
        cfg->show_version = 1;
        return CSM_OK;
    }
    return CSM_ERR_INTERNAL;
}

/* --shard against --total-shards; --pod against both, and its namespace
 * (from $POD_NAMESPACE when the flag is absent; the environment is read
 * here so that the config says what the exporter will do). */
static csm_err check_sharding(csm_config *cfg, char *errbuf, size_t errlen)
{
    const char *ns;
    int32_t ordinal;

    if (cfg->shard >= cfg->total_shards)
        return usage_err(errbuf, errlen,
                         "invalid value \"%d\" for --shard: must be less than "
                         "--total-shards (%d)",
                         cfg->shard, cfg->total_shards);
    if (!cfg->pod) {
        if (cfg->pod_namespace)
            return usage_err(errbuf, errlen, "--pod-namespace needs --pod");
        return CSM_OK;
    }
    if (csm_shard_pod_ordinal(cfg->pod, &ordinal) != CSM_OK)
        return usage_err(errbuf, errlen,
                         "invalid value \"%s\" for --pod: a StatefulSet pod name ends in "
                         "-ORDINAL",
                         cfg->pod);
    if (cfg->total_shards != 1)
        return usage_err(errbuf, errlen,
                         "--pod (auto-sharding) and --total-shards/--shard are mutually "
                         "exclusive");
    if (cfg->pod_namespace)
        return CSM_OK;
    ns = getenv("POD_NAMESPACE");
    if (!ns || !*ns)
        return usage_err(errbuf, errlen, "--pod needs --pod-namespace (or $POD_NAMESPACE)");
    return set_string(&cfg->pod_namespace, ns);
}

/* Checks that involve more than one flag, once argv is consumed. */
static csm_err check_config(csm_config *cfg, char *errbuf, size_t errlen)
{
    csm_err err = check_sharding(cfg, errbuf, errlen);

    if (err)
        return err;
    if (cfg->namespaces.n && cfg->namespaces_deny.n)
        return usage_err(errbuf, errlen,
                         "--namespaces and --namespaces-denylist are mutually exclusive");
    if (cfg->port != 0 && cfg->port == cfg->telemetry_port &&
        strcmp(cfg->host, cfg->telemetry_host) == 0)
        return usage_err(errbuf, errlen, "--port and --telemetry-port are both %d on the same host",
                         cfg->port);
    if (!cfg->tls_cert_file != !cfg->tls_key_file)
        return usage_err(errbuf, errlen,
                         "--tls-cert-file and --tls-private-key-file must be given together");
    if (!cfg->tls_cert_file && (cfg->client_ca_file || cfg->tls_cipher_suites))
        return usage_err(errbuf, errlen, "--%s needs --tls-cert-file",
                         cfg->client_ca_file ? "client-ca-file" : "tls-cipher-suites");
    /* A bearer token sent in clear text is anyone's on the path. */
    if (cfg->auth == CSM_AUTH_MODE_KUBERNETES && !cfg->tls_cert_file)
        return usage_err(errbuf, errlen,
                         "--auth=kubernetes needs --tls-cert-file: tokens must not travel "
                         "in clear text");
    if (cfg->metric_allowlist.n && cfg->metric_denylist.n)
        return usage_err(errbuf, errlen,
                         "--metric-allowlist and --metric-denylist are mutually exclusive");
    if (cfg->nresources == 0 && !cfg->config_file && !cfg->show_help && !cfg->show_version)
        return usage_err(errbuf, errlen,
                         "missing --resource: name at least one resource (or a --config "
                         "that does)");
    return CSM_OK;
}

/*
 * Names the option text getopt just consumed: "--name" without any
 * "=value". `sep` is set when the value came as the next argv element.
 */
static const char *consumed_flag(char **argv, int sep, size_t *len)
{
    const char *text = argv[optind - 1 - sep];
    const char *eq = strchr(text, '=');

    *len = eq ? (size_t)(eq - text) : strlen(text);
    return text;
}

/* Message for getopt's '?' (unknown flag, or a value given to a switch). */
static csm_err bad_flag(char **argv, char *errbuf, size_t errlen)
{
    const flag_spec *f;
    const char *text;
    size_t len;
    char q[CSM_QUOTE_SIZE];
    char c;

    if (optopt >= FLAG_RESOURCE) {
        f = flag_by_id(optopt);
        return usage_err(errbuf, errlen, "flag --%s does not take a value", f ? f->name : "?");
    }
    if (optopt != 0) {
        c = (char)optopt;
        return usage_err(errbuf, errlen, "unknown flag -%s", csm_quote(&c, 1, q, sizeof(q)));
    }
    text = consumed_flag(argv, 0, &len);
    return usage_err(errbuf, errlen, "unknown flag %s", csm_quote(text, len, q, sizeof(q)));
}

/*
 * Rejects what getopt_long would otherwise accept: abbreviations (a later
 * flag could make them ambiguous and break deployed command lines) and a
 * separate value that is itself a flag ("--kubeconfig --port 1").
 */
static csm_err check_long_form(char **argv, const flag_spec *f, char *errbuf, size_t errlen)
{
    int sep = f->has_arg == required_argument && optarg == argv[optind - 1];
    size_t len;
    const char *text = consumed_flag(argv, sep, &len);
    size_t nlen = strlen(f->name);
    char q[CSM_QUOTE_SIZE];

    if (len != nlen + 2 || strncmp(text, "--", 2) != 0 || memcmp(text + 2, f->name, nlen) != 0)
        return usage_err(errbuf, errlen, "unknown flag %s (did you mean --%s?)",
                         csm_quote(text, len, q, sizeof(q)), f->name);
    if (sep && strncmp(optarg, "--", 2) == 0 && optarg[2] != '\0')
        return usage_err(errbuf, errlen,
                         "flag --%s needs a value, got flag %s (use --%s=VALUE for a value "
                         "starting with --)",
                         f->name, csm_quote(optarg, strlen(optarg), q, sizeof(q)), f->name);
    return CSM_OK;
}

csm_err csm_flags_parse(int argc, char **argv, csm_config *cfg, char *errbuf, size_t errlen)
{
    struct option longopts[NFLAGS + 1];
    char optstring[2 * NFLAGS + 3];
    size_t o = 0;
    const flag_spec *f;
    int c;
    int longindex;
    char q[CSM_QUOTE_SIZE];
    csm_err err = CSM_OK;

    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!cfg)
        return CSM_ERR_INVALID;
    memset(cfg, 0, sizeof(*cfg));
    if (argc < 1 || !argv) {
        err = CSM_ERR_INVALID;
        goto out;
    }

    /* '+': stop at the first positional, so argv is never permuted;
     * ':': report a missing value as ':' rather than '?'. */
    optstring[o++] = '+';
    optstring[o++] = ':';
    for (size_t i = 0; i < NFLAGS; i++) {
        f = &flag_specs[i];
        longopts[i] = (struct option){f->name, f->has_arg, NULL, f->id};
        if (f->short_name) {
            optstring[o++] = f->short_name;
            if (f->has_arg == required_argument)
                optstring[o++] = ':';
        }
        if (f->defval) {
            err = flag_apply(cfg, f, f->defval, errbuf, errlen);
            if (err)
                goto out;
        }
    }
    longopts[NFLAGS] = (struct option){NULL, 0, NULL, 0};
    optstring[o] = '\0';

    optind = 0; /* glibc: 0 re-initialises getopt completely */
    opterr = 0;
    for (;;) {
        longindex = -1;
        c = getopt_long(argc, argv, optstring, longopts, &longindex);
        if (c == -1)
            break;
        if (c == '?') {
            err = bad_flag(argv, errbuf, errlen);
            goto out;
        }
        if (c == ':') {
            f = optopt >= FLAG_RESOURCE ? flag_by_id(optopt) : flag_by_short(optopt);
            err = usage_err(errbuf, errlen, "flag --%s needs a value", f ? f->name : "?");
            goto out;
        }
        f = c >= FLAG_RESOURCE ? flag_by_id(c) : flag_by_short(c);
        if (!f) {
            err = CSM_ERR_INTERNAL;
            goto out;
        }
        if (longindex >= 0) {
            err = check_long_form(argv, f, errbuf, errlen);
            if (err)
                goto out;
        }
        err = flag_apply(cfg, f, f->has_arg == required_argument ? optarg : NULL, errbuf, errlen);
        if (err)
            goto out;
    }

    if (optind < argc) {
        size_t used;
        if (errbuf && errlen) {
            used = (size_t)snprintf(errbuf, errlen,
                                    "unexpected argument%s:", argc - optind > 1 ? "s" : "");
            for (int i = optind; i < argc && used < errlen; i++)
                used += (size_t)snprintf(errbuf + used, errlen - used, " \"%s\"",
                                         csm_quote(argv[i], strlen(argv[i]), q, sizeof(q)));
        }
        err = CSM_ERR_USAGE;
        goto out;
    }
    err = check_config(cfg, errbuf, errlen);
out:
    if (err)
        csm_config_free(cfg);
    return err;
}

csm_err csm_flags_usage(FILE *out, const char *prog)
{
    const flag_spec *f;
    int rc;

    if (!out)
        return CSM_ERR_INVALID;
    rc = fprintf(out,
                 "Usage: %s --resource GROUP/VERSION/KIND [flags]\n"
                 "       %s check-config CONFIG --object OBJECT [--resource G/V/K]\n"
                 "       %s report --prometheus URL --resource G/V/K [--from T] [--to T]\n"
                 "           [--by namespace|LABEL] [--format table|csv|json] (see README)\n\n"
                 "Exports Prometheus metrics about Kubernetes custom resources.\n\n"
                 "Flags (--flag VALUE or --flag=VALUE):\n",
                 prog ? prog : "crd-state-metrics", prog ? prog : "crd-state-metrics",
                 prog ? prog : "crd-state-metrics");
    for (size_t i = 0; i < NFLAGS && rc >= 0; i++) {
        f = &flag_specs[i];
        if (f->short_name)
            rc = fprintf(out, "  -%c, --%s", f->short_name, f->name);
        else
            rc = fprintf(out, "      --%s", f->name);
        if (rc >= 0)
            rc = fprintf(out, "%s%s\n", f->metavar ? " " : "", f->metavar ? f->metavar : "");
        /* Help text may span lines; indent each one. */
        for (const char *p = f->help; rc >= 0 && *p;) {
            const char *nl = strchr(p, '\n');
            int n = nl ? (int)(nl - p) : (int)strlen(p);
            rc = fprintf(out, "        %.*s\n", n, p);
            p += n + (nl ? 1 : 0);
        }
        if (rc >= 0 && f->defval)
            rc = fprintf(out, "        (default %s)\n", f->defval);
    }
    if (rc < 0 || fflush(out) != 0 || ferror(out))
        return CSM_ERR_IO;
    return CSM_OK;
}

void csm_config_free(csm_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nresources; i++)
        csm_gvk_free(&cfg->resources[i]);
    free(cfg->resources);
    csm_strlist_clear(&cfg->namespaces);
    csm_strlist_clear(&cfg->namespaces_deny);
    free(cfg->label_selector);
    free(cfg->field_selector);
    free(cfg->kubeconfig);
    free(cfg->apiserver);
    free(cfg->host);
    free(cfg->telemetry_host);
    free(cfg->generators);
    free(cfg->labels_allowlist);
    free(cfg->annotations_allowlist);
    csm_strlist_clear(&cfg->metric_allowlist);
    csm_strlist_clear(&cfg->metric_denylist);
    free(cfg->config_file);
    csm_strlist_clear(&cfg->plugins);
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    free(cfg->tls_cipher_suites);
    free(cfg->client_ca_file);
    csm_strlist_clear(&cfg->auth_audiences);
    csm_strlist_clear(&cfg->auth_allow_paths);
    csm_strlist_clear(&cfg->auth_allow_groups);
    free(cfg->auth_resource_attributes);
    free(cfg->pod);
    free(cfg->pod_namespace);
    memset(cfg, 0, sizeof(*cfg));
}
