#include "exporter.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "serve/auth.h"
#include "serve/auth/kctransport.h"
#include "ingest/autoshard.h"
#include "base/buf.h"
#include "base/loop.h"
#include "csm_version.h"
#include "generators/builtin.h"
#include "render/gen.h"
#include "ingest/crsdisco.h"
#include "render/genconf.h"
#include "serve/httpd.h"
#include "ingest/informer.h"
#include "ingest/kclient.h"
#include "ingest/kubeconfig.h"
#include "resource.h"
#include "serve/telemetry.h"
#include "serve/tls.h"

typedef struct exporter {
    const csm_config *cfg;
    csm_log *log;
    struct event_base *base;
    csm_kauth *auth;
    csm_kclient *kc;
    csm_telemetry *tel;
    csm_tel_family *objects;
    csm_tel_family *served;
    csm_genconf *gc;            /* generators, plugins, filter, --config */
    csm_resource_opts res_opts; /* for resources a --config reload adds */
    struct event *reload_timer; /* polls --config */
    struct event *sighup;       /* reloads --config */
    csm_crsdisco *disco;        /* resolves the config's wildcards */
    csm_informer_env env;
    csm_resource **res;
    size_t nres;
    csm_httpd *metrics_srv;
    csm_httpd *tel_srv;
    csm_tls *tls;             /* NULL: plain HTTP */
    csm_auth *access;         /* NULL: --auth=none */
    csm_shard *shard;         /* NULL: --total-shards 1 and no --pod */
    csm_autoshard *autoshard; /* --pod */
    int res_started;          /* resources run (with --pod: once the shard is known) */
    csm_tel_family *shard_ordinal;
    csm_tel_family *total_shards;
    csm_tel_family *reshards;
    struct event *sigterm;
    struct event *sigint;
    int stopping;
    int pending_shutdowns;
} exporter;

/* /metrics: the resources' families merged by name (resource.h). */
static csm_err write_metrics(void *ctx, csm_expo_format fmt, csm_sink *sink)
{
    exporter *x = ctx;
    return csm_resource_write_all(x->res, x->nres, fmt, sink);
}

/* Each resource's line goes to `why` whole or not at all: a csm_buf that
 * hits its cap empties itself, which made the text restart past 1 KiB.
 * Lines that do not fit are counted at the end instead (room kept). */
static int ready(void *ctx, csm_buf *why)
{
    exporter *x = ctx;
    csm_buf line;
    size_t left_out = 0;
    size_t room = why->max > 64 ? why->max - 64 : 0;
    int all = 1;
    if (x->shard && !csm_shard_known(x->shard)) {
        csm_buf_printf(why, "auto-sharding: %s\n", csm_autoshard_state(x->autoshard));
        return 0;
    }
    csm_buf_init(&line, why->max);
    for (size_t i = 0; i < x->nres; i++) {
        csm_buf_reset(&line);
        all &= csm_resource_ready(x->res[i], &line);
        if (left_out || why->len + line.len > room ||
            csm_buf_append(why, line.ptr, line.len) != CSM_OK)
            left_out++;
    }
    if (left_out)
        csm_buf_printf(why, "... and %zu more resources\n", left_out);
    csm_buf_free(&line);
    return all;
}

static csm_err write_telemetry(void *ctx, csm_expo_format fmt, csm_sink *sink)
{
    exporter *x = ctx;
    if (x->shard) {
        char ord[16];
        const char *ov[1] = {ord};
        snprintf(ord, sizeof(ord), "%d", (int)csm_shard_ordinal(x->shard));
        csm_tel_set(x->shard_ordinal, ov, (double)csm_shard_ordinal(x->shard));
        csm_tel_set(x->total_shards, NULL, (double)csm_shard_total(x->shard));
    }
    for (size_t i = 0; i < x->nres; i++) {
        const char *v[1] = {csm_resource_label(x->res[i])};
        csm_tel_set(x->objects, v, (double)csm_resource_objects(x->res[i]));
        csm_tel_set(x->served, v, (double)csm_resource_served(x->res[i]));
    }
    return csm_tel_write(x->tel, fmt, sink);
}

static void shutdown_done(void *arg)
{
    exporter *x = arg;
    if (--x->pending_shutdowns == 0)
        event_base_loopexit(x->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    exporter *x = arg;
    (void)what;
    if (x->stopping) {
        csm_logf(x->log, CSM_LOG_WARN, "second signal %d: exiting now", (int)sig);
        event_base_loopbreak(x->base);
        return;
    }
    x->stopping = 1;
    csm_autoshard_stop(x->autoshard);
    if (x->reload_timer)
        evtimer_del(x->reload_timer);
    csm_crsdisco_stop(x->disco);
    csm_logf(x->log, CSM_LOG_INFO, "signal %d: shutting down after in-flight responses", (int)sig);
    for (size_t i = 0; i < x->nres; i++)
        csm_resource_stop(x->res[i]);
    x->pending_shutdowns = 2;
    csm_httpd_shutdown(x->metrics_srv, shutdown_done, x);
    csm_httpd_shutdown(x->tel_srv, shutdown_done, x);
}

/* kube-state-metrics' two sharding gauges under our prefix, and what
 * sharding does per resource. The gauges exist only when sharding is on. */
static csm_err register_shard_telemetry(exporter *x)
{
    static const char *const ordinal[] = {"shard_ordinal"};
    static const char *const res_only[] = {"resource"};
    csm_err err;

    if (!x->shard)
        return CSM_OK;
    err = csm_tel_family_add(x->tel, "crd_state_metrics_shard_ordinal",
                             "Current sharding ordinal/index of this instance.", CSM_METRIC_GAUGE,
                             1, ordinal, &x->shard_ordinal);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_total_shards",
                                 "Number of total shards this instance is aware of.",
                                 CSM_METRIC_GAUGE, 0, NULL, &x->total_shards);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_shard_skipped_objects_total",
                                 "Objects (list items and watch events) dropped before rendering "
                                 "because another shard owns them, by resource.",
                                 CSM_METRIC_COUNTER, 1, res_only, &x->env.skipped);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_reshards_total",
                                 "Changes of the number of shards applied in place "
                                 "(auto-sharding).",
                                 CSM_METRIC_COUNTER, 0, NULL, &x->reshards);
    if (!err && x->autoshard)
        err = csm_tel_inc(x->reshards, NULL, 0);
    return err;
}

static csm_err register_telemetry(exporter *x)
{
    static const char *const res_result[] = {"resource", "result"};
    static const char *const res_type[] = {"resource", "type"};
    static const char *const res_reason[] = {"resource", "reason"};
    static const char *const res_only[] = {"resource"};
    static const char *const res_code[] = {"resource", "code"};
    static const char *const version[] = {"version"};
    const char *vv[1] = {CSM_VERSION};
    csm_tel_family *build = NULL;
    csm_err err;

    err = csm_tel_family_add(x->tel, "crd_state_metrics_build_info",
                             "Build information of the exporter.", CSM_METRIC_GAUGE, 1, version,
                             &build);
    if (!err)
        err = csm_tel_set(build, vv, 1);
    if (!err)
        err = csm_tel_family_add(
            x->tel, "crd_state_metrics_list_total",
            "Full syncs (a paged LIST or a WatchList stream) by resource and result.",
            CSM_METRIC_COUNTER, 2, res_result, &x->env.list_total);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_watch_total",
                                 "WATCH requests ended, by resource and result.",
                                 CSM_METRIC_COUNTER, 2, res_result, &x->env.watch_total);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_watch_events_total",
                                 "Watch events by resource and type; MALFORMED counts events "
                                 "that could not be decoded.",
                                 CSM_METRIC_COUNTER, 2, res_type, &x->env.events_total);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_relists_total",
                                 "Relists after the first LIST, by resource and reason.",
                                 CSM_METRIC_COUNTER, 2, res_reason, &x->env.relists_total);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_last_sync_timestamp_seconds",
                                 "Unix time of the last completed LIST per resource.",
                                 CSM_METRIC_GAUGE, 1, res_only, &x->env.last_sync);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_api_errors_total",
                                 "Failed API requests by resource and HTTP status code "
                                 "(\"transport\" for connection failures).",
                                 CSM_METRIC_COUNTER, 2, res_code, &x->env.api_errors);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_resource_served",
                                 "1 while discovery says the resource is served, else 0.",
                                 CSM_METRIC_GAUGE, 1, res_only, &x->served);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_objects",
                                 "Objects in the store per resource.", CSM_METRIC_GAUGE, 1,
                                 res_only, &x->objects);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_series_dropped",
                                 "Series not exported because their objects did not fit the "
                                 "series budget (--max-series, --max-series-per-resource, "
                                 "maxSeries), per resource.",
                                 CSM_METRIC_GAUGE, 1, res_only, &x->env.series_dropped);
    if (!err)
        err = csm_tel_family_add(x->tel, "crd_state_metrics_objects_skipped",
                                 "Objects skipped whole by the series budget, per resource.",
                                 CSM_METRIC_GAUGE, 1, res_only, &x->env.objects_skipped);
    if (!err)
        err = csm_genconf_register_telemetry(x->gc, x->tel);
    return err;
}

static void log_config(const exporter *x)
{
    const csm_config *c = x->cfg;
    csm_buf b;

    csm_buf_init(&b, 64 * 1024);
    for (size_t i = 0; i < c->nresources; i++) {
        const csm_gvk *g = &c->resources[i];
        char *text = csm_gvk_text(g->group, g->version, g->kind);
        if (text)
            csm_buf_printf(&b, "%s%s", i ? "," : "", text);
        free(text);
    }
    csm_logf(x->log, CSM_LOG_INFO,
             "crd-state-metrics %s starting: resources=%s server=%s namespaces=%zu "
             "denied-namespaces=%zu metrics=[%s]:%d telemetry=[%s]:%d auth=%s",
             CSM_VERSION, csm_buf_str(&b), x->auth->server, c->namespaces.n, c->namespaces_deny.n,
             c->host, c->port, c->telemetry_host, c->telemetry_port,
             x->auth->token || x->auth->token_file      ? "bearer token"
             : x->auth->cert_file || x->auth->cert_data ? "client certificate"
                                                        : "none");
    csm_buf_free(&b);
}

/* TLS and access control for both listeners, from the --tls-* and
 * --auth* flags (validated by the flag parser). */
static csm_err start_security(exporter *x)
{
    const csm_config *c = x->cfg;
    csm_tls_config tc;
    csm_auth_config ac;
    csm_auth_transport tr;
    csm_err err;

    if (!c->tls_cert_file)
        return CSM_OK;
    memset(&tc, 0, sizeof(tc));
    tc.cert_file = c->tls_cert_file;
    tc.key_file = c->tls_key_file;
    tc.client_ca_file = c->client_ca_file;
    /* Without --auth a client CA is the only gate, so a certificate is
     * required; with it, a certificate is one way of authenticating. */
    tc.require_client_cert = c->auth == CSM_AUTH_MODE_NONE;
    tc.min_version = c->tls_min_version;
    tc.cipher_suites = c->tls_cipher_suites;
    err = csm_tls_new(x->base, &tc, x->log, x->tel, &x->tls);
    if (err || c->auth != CSM_AUTH_MODE_KUBERNETES)
        return err;
    memset(&ac, 0, sizeof(ac));
    ac.audiences = (const char *const *)c->auth_audiences.items;
    ac.naudiences = c->auth_audiences.n;
    ac.allow_paths = (const char *const *)c->auth_allow_paths.items;
    ac.nallow_paths = c->auth_allow_paths.n;
    ac.allow_groups = (const char *const *)c->auth_allow_groups.items;
    ac.nallow_groups = c->auth_allow_groups.n;
    ac.resource_attributes = c->auth_resource_attributes;
    ac.ttl_token_ms = c->auth_ttl_token_ms;
    ac.ttl_allowed_ms = c->auth_ttl_allowed_ms;
    ac.ttl_denied_ms = c->auth_ttl_denied_ms;
    ac.stale_ms = c->auth_stale_ms;
    ac.timeout_ms = c->auth_timeout_ms;
    ac.max_inflight = c->auth_max_reviews > 0 ? (size_t)c->auth_max_reviews : 0;
    csm_kctransport_init(x->kc, &tr);
    return csm_auth_new(&ac, &tr, x->log, x->tel, &x->access);
}

/* Relists resource r with its new generators and the config's selectors
 * as they are now. */
static void regenerate(exporter *x, csm_resource *r)
{
    csm_resource_opts o = x->res_opts;

    o.gvk = csm_resource_gvk(r);
    csm_genconf_selectors(x->gc, o.gvk, &o.config_label_selector, &o.config_field_selector);
    if (csm_resource_set_query(r, &o) != CSM_OK)
        csm_logf(x->log, CSM_LOG_WARN, "%s: out of memory; selectors unchanged",
                 csm_resource_label(r));
    csm_resource_regenerate(r);
}

/*
 * Connection caps and response deadlines for both listeners. The
 * descriptor limit is raised first: every connection is one, and a
 * slow-loris flood is fought by holding more of them than it can open.
 */
static void set_connection_limits(exporter *x)
{
    const csm_config *c = x->cfg;
    long fds = 1024;
    long mmax = 0;
    long per = 0;
    long tmax = 0;
    csm_httpd_limits ml;
    csm_httpd_limits tl;

    if (csm_httpd_raise_fd_limit(&fds) != CSM_OK)
        csm_logf(x->log, CSM_LOG_WARN, "cannot read the file-descriptor limit: %s; assuming %ld",
                 strerror(errno), fds);
    csm_httpd_default_caps(fds, &mmax, &per, &tmax);
    if (c->max_connections > 0) {
        mmax = c->max_connections;
        per = mmax / 8 < 16 ? 16 : mmax / 8;
        if (mmax + tmax > fds)
            csm_logf(x->log, CSM_LOG_WARN,
                     "--max-connections %ld exceeds the file-descriptor limit %ld: past it, "
                     "new connections wait in the kernel's backlog",
                     mmax, fds);
    }
    if (c->max_connections_per_client > 0)
        per = c->max_connections_per_client;
    memset(&ml, 0, sizeof(ml));
    ml.response_ms = (int)c->response_timeout_ms;
    ml.min_rate = c->response_min_rate;
    tl = ml;
    ml.max_connections = mmax;
    ml.max_per_client = per;
    tl.max_connections = tmax;
    tl.max_per_client = tmax;
    csm_httpd_set_limits(x->metrics_srv, &ml);
    csm_httpd_set_limits(x->tel_srv, &tl);
    if (csm_httpd_set_priority(x->tel_srv, CSM_LOOP_INGEST) != CSM_OK)
        csm_logf(x->log, CSM_LOG_WARN, "telemetry port: cannot raise its loop priority");
    csm_logf(x->log, CSM_LOG_INFO,
             "connections: up to %ld on the metrics port (%ld per client), %ld on the telemetry "
             "port; file-descriptor limit %ld",
             mmax, per, tmax, fds);
}

/* Adds and starts a resource (a --config reload or discovery found it). */
static csm_err add_resource(exporter *x, const csm_gvk *gvk)
{
    csm_resource **nr = realloc(x->res, (x->nres + 1) * sizeof(*nr));
    csm_resource_opts o = x->res_opts;
    csm_err err;

    if (!nr)
        return CSM_ERR_NOMEM;
    x->res = nr;
    o.gvk = gvk;
    csm_genconf_selectors(x->gc, gvk, &o.config_label_selector, &o.config_field_selector);
    err = csm_resource_new(&o, &x->res[x->nres]);
    if (err)
        return err;
    /* Before the shard is known, on_reshard() starts it with the others. */
    if (x->res_started)
        csm_resource_start(x->res[x->nres]);
    x->nres++;
    return CSM_OK;
}

/* Adds resources the generator configuration appended from index `first`. */
static void add_new_resources(exporter *x, const char *why)
{
    const csm_gvk *res;
    size_t n;

    /* Only allocation can fail here. x->res must stay a prefix of the
     * configuration's list (reload_config() pairs them by index), so the
     * first failure stops the round; the next reload or discovery round
     * tries the rest again. */
    res = csm_genconf_resources(x->gc, &n);
    for (size_t i = x->nres; i < n; i++) {
        if (add_resource(x, &res[i]) != CSM_OK) {
            csm_logf(x->log, CSM_LOG_ERROR, "%s: cannot add %s/%s yet; retrying later", why,
                     res[i].version, res[i].kind);
            break;
        }
        csm_logf(x->log, CSM_LOG_INFO, "%s: now exporting %s", why,
                 csm_resource_label(x->res[x->nres - 1]));
    }
}

/* A discovery round resolved the config's wildcards. */
static void on_discovered(void *ctx, const csm_gvk *found, size_t n)
{
    exporter *x = ctx;
    size_t first;

    if (x->stopping || csm_genconf_discovered(x->gc, found, n, &first) != CSM_OK)
        return;
    add_new_resources(x, "config wildcard");
}

/* Resolves the config's "*" versions and kinds every 30 s (CRDs come and
 * go); with no wildcards, nothing runs. */
static csm_err update_discovery(exporter *x)
{
    const csm_gvk *wild;
    size_t n;
    csm_err err;

    wild = csm_genconf_wildcards(x->gc, &n);
    if (!x->disco && !n)
        return CSM_OK;
    if (!x->disco) {
        err = csm_crsdisco_new(x->base, x->kc, x->log, 30, on_discovered, x, &x->disco);
        if (err)
            return err;
    }
    return csm_crsdisco_set_patterns(x->disco, wild, n);
}

/*
 * Reloads --config (a changed file or SIGHUP). A bad config is logged and
 * the old one stays. Otherwise resources whose config metrics changed are
 * relisted with new generator sets (their series are absent for one LIST),
 * resources the config no longer names go, new ones start.
 */
static void reload_config(exporter *x, const char *why)
{
    char errbuf[1024] = "";
    csm_genconf_action *act = NULL;
    csm_resource **kept;
    size_t nold = 0;
    size_t k = 0;

    if (x->stopping)
        return;
    /* Allocated before the reload so that a failure cannot leave the
     * generator configuration switched and x->res not. */
    kept = calloc(x->nres ? x->nres : 1, sizeof(*kept));
    if (!kept) {
        csm_logf(x->log, CSM_LOG_ERROR,
                 "config reload (%s): out of memory; the previous config "
                 "stays",
                 why);
        return;
    }
    if (csm_genconf_reload(x->gc, &act, &nold, errbuf, sizeof(errbuf)) != CSM_OK) {
        csm_logf(x->log, CSM_LOG_ERROR, "config reload (%s) failed; the previous config stays: %s",
                 why, errbuf);
        free(kept);
        return;
    }
    /* x->res is a prefix of the old configuration's resource list (see
     * add_new_resources()), so index i names the same resource in both. */
    for (size_t i = 0; i < nold && i < x->nres; i++) {
        const char *v[1] = {csm_resource_label(x->res[i])};
        if (act[i] == CSM_GENCONF_DROP) {
            csm_logf(x->log, CSM_LOG_INFO, "config reload: %s is no longer configured", v[0]);
            csm_tel_remove(x->objects, v);
            csm_tel_remove(x->served, v);
            csm_resource_free(x->res[i]);
            continue;
        }
        if (act[i] == CSM_GENCONF_REGENERATE) {
            csm_logf(x->log, CSM_LOG_INFO, "config reload: %s relists with its new metrics", v[0]);
            regenerate(x, x->res[i]);
        }
        kept[k++] = x->res[i];
    }
    memcpy(x->res, kept, k * sizeof(*kept));
    x->nres = k;
    free(kept);
    free(act);
    add_new_resources(x, "config reload");
    if (update_discovery(x) != CSM_OK)
        csm_logf(x->log, CSM_LOG_ERROR, "config reload: cannot resolve the config's wildcards");
    csm_logf(x->log, CSM_LOG_INFO, "config reloaded (%s)", why);
}

static void on_reload_timer(evutil_socket_t fd, short what, void *arg)
{
    exporter *x = arg;
    (void)fd;
    (void)what;
    if (csm_genconf_file_changed(x->gc))
        reload_config(x, "the file changed");
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    exporter *x = arg;
    (void)sig;
    (void)what;
    csm_genconf_file_changed(x->gc); /* the poll need not reload it again */
    reload_config(x, "SIGHUP");
}

/* Polls --config every 2 s, which also sees a ConfigMap's symlink swap that
 * inotify on the path would miss, and reloads on SIGHUP. */
static csm_err start_reload(exporter *x)
{
    struct timeval every = {2, 0};

    if (!csm_genconf_has_file(x->gc))
        return CSM_OK;
    if (update_discovery(x) != CSM_OK)
        return CSM_ERR_NOMEM;
    x->reload_timer = event_new(x->base, -1, EV_PERSIST, on_reload_timer, x);
    x->sighup = evsignal_new(x->base, SIGHUP, on_sighup, x);
    if (!x->reload_timer || !x->sighup || event_add(x->reload_timer, &every) ||
        evsignal_add(x->sighup, NULL))
        return CSM_ERR_IO;
    return CSM_OK;
}

/* Auto-sharding learned or changed the number of shards. */
static void on_reshard(void *ctx, csm_autoshard_event ev)
{
    exporter *x = ctx;
    size_t dropped = 0;

    if (x->stopping)
        return;
    switch (ev) {
    case CSM_AUTOSHARD_FIRST:
        x->res_started = 1;
        for (size_t i = 0; i < x->nres; i++)
            csm_resource_start(x->res[i]);
        return;
    case CSM_AUTOSHARD_DROP:
        csm_tel_inc(x->reshards, NULL, 1);
        for (size_t i = 0; i < x->nres; i++)
            dropped += csm_resource_drop_foreign(x->res[i]);
        csm_logf(x->log, CSM_LOG_INFO, "reshard: dropped %zu objects other shards own now",
                 dropped);
        return;
    case CSM_AUTOSHARD_GAIN:
        for (size_t i = 0; i < x->nres; i++)
            csm_resource_resync(x->res[i]);
        return;
    }
}

/* --shard/--total-shards, or --pod: the assignment every informer applies. */
static csm_err start_sharding(exporter *x)
{
    const csm_config *c = x->cfg;
    csm_autoshard_hooks hooks = {on_reshard, x};
    int32_t ordinal = (int32_t)c->shard;

    if (!c->pod) {
        if (c->total_shards <= 1)
            return CSM_OK;
        x->shard = csm_shard_new(ordinal, (int32_t)c->total_shards);
        if (!x->shard)
            return CSM_ERR_NOMEM;
        csm_logf(x->log, CSM_LOG_INFO, "sharding: shard %d of %d", c->shard, c->total_shards);
        return CSM_OK;
    }
    if (csm_shard_pod_ordinal(c->pod, &ordinal) != CSM_OK) {
        csm_logf(x->log, CSM_LOG_ERROR,
                 "--pod \"%s\": not a StatefulSet pod name (no -ORDINAL suffix)", c->pod);
        return CSM_ERR_USAGE;
    }
    x->shard = csm_shard_new(ordinal, 0);
    if (!x->shard)
        return CSM_ERR_NOMEM;
    return csm_autoshard_new(&x->env, c->pod, c->pod_namespace, x->shard, c->reshard_delay_ms,
                             &hooks, &x->autoshard);
}

/*
 * What every informer shares (x->env): the API client, the series budget,
 * the watch settings and the shard assignment, with the shard's telemetry.
 * Needs x->kc and x->tel.
 */
static csm_err start_env(exporter *x)
{
    csm_err err;

    x->env.base = x->base;
    csm_kclient_transport(x->kc, &x->env.transport);
    x->env.log = x->log;
    x->env.page_size = (size_t)x->cfg->list_page_size;
    /* Always a top budget (maybe unlimited), so that per-resource limits,
     * from flags or from the config, apply without a global one. */
    err = csm_budget_new(NULL, (size_t)x->cfg->max_series, "", x->log, NULL, NULL,
                         &x->env.series_budget);
    if (err)
        return err;
    x->env.max_series_per_resource = (size_t)x->cfg->max_series_per_resource;
    x->env.watch_timeout_s = x->cfg->watch_timeout_s;
    x->env.watch_list = x->cfg->watch_list == CSM_WATCH_LIST_ON    ? 1
                        : x->cfg->watch_list == CSM_WATCH_LIST_OFF ? 0
                                                                   : 2;
    err = start_sharding(x);
    if (err)
        return err;
    x->env.shard = x->shard;
    return register_shard_telemetry(x);
}

/*
 * x->res_opts, what every resource gets, also those a reload or discovery
 * adds; then one resource per entry of the generator configuration (there
 * may be none at first: a config of wildcards only). None runs yet.
 */
static csm_err start_resources(exporter *x)
{
    const csm_gvk *resources;
    size_t nresources;
    csm_err err;

    memset(&x->res_opts, 0, sizeof(x->res_opts));
    x->res_opts.env = &x->env;
    x->res_opts.namespaces = &x->cfg->namespaces;
    x->res_opts.namespaces_deny = &x->cfg->namespaces_deny;
    x->res_opts.label_selector = x->cfg->label_selector;
    x->res_opts.field_selector = x->cfg->field_selector;
    x->res_opts.make_genset = csm_genconf_make_genset;
    x->res_opts.genset_ctx = x->gc;
    resources = csm_genconf_resources(x->gc, &nresources);
    /* Never NULL, even for no resources: reload_config() copies into it. */
    x->res = calloc(nresources ? nresources : 1, sizeof(*x->res));
    if (!x->res)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < nresources; i++) {
        err = add_resource(x, &resources[i]);
        if (err)
            return err;
    }
    return CSM_OK;
}

/* TLS, access control and both listeners with their connection caps. */
static csm_err start_servers(exporter *x)
{
    csm_httpd_handlers mh = {write_metrics, ready, x, "crd-state-metrics", NULL, NULL};
    csm_httpd_handlers th = {write_telemetry, NULL, x, "crd-state-metrics telemetry", NULL, NULL};
    csm_err err;

    err = start_security(x);
    if (err) {
        csm_logf(x->log, CSM_LOG_ERROR, "cannot set up TLS or access control: %s",
                 csm_strerror(err));
        return err;
    }
    mh.tls = th.tls = x->tls;
    mh.auth = th.auth = x->access;
    err = csm_httpd_new(x->base, x->cfg->host, x->cfg->port, &mh, x->log, x->tel, &x->metrics_srv);
    if (err) {
        csm_logf(x->log, CSM_LOG_ERROR, "cannot serve metrics on [%s]:%d: %s", x->cfg->host,
                 x->cfg->port, csm_strerror(err));
        return err;
    }
    err = csm_httpd_new(x->base, x->cfg->telemetry_host, x->cfg->telemetry_port, &th, x->log, NULL,
                        &x->tel_srv);
    if (err) {
        csm_logf(x->log, CSM_LOG_ERROR, "cannot serve telemetry on [%s]:%d: %s",
                 x->cfg->telemetry_host, x->cfg->telemetry_port, csm_strerror(err));
        return err;
    }
    set_connection_limits(x);
    csm_logf(x->log, CSM_LOG_INFO, "serving metrics on port %d and telemetry on port %d",
             csm_httpd_port(x->metrics_srv), csm_httpd_port(x->tel_srv));
    return CSM_OK;
}

/*
 * Everything the event loop runs, in the order a failure must be seen:
 * the generator configuration and the API configuration first (a mistake
 * there is the user's to fix, exit 2, and needs no API server to show),
 * then the client, the informers' environment, the resources, the
 * listeners, the signals and the --config reload. The resources start
 * last, or with --pod once the shard is known.
 */
static csm_err start(exporter *x)
{
    char errbuf[1024] = "";
    csm_err err;

    err = csm_genconf_new(x->cfg, csm_gen_builtin_table(), x->log, &x->gc, errbuf, sizeof(errbuf));
    if (err) {
        csm_logf(x->log, CSM_LOG_ERROR, "%s", errbuf[0] ? errbuf : csm_strerror(err));
        return err;
    }
    err = csm_kauth_load(x->cfg->kubeconfig, x->cfg->apiserver, &x->auth, errbuf, sizeof(errbuf));
    if (err) {
        csm_logf(x->log, CSM_LOG_ERROR, "API configuration: %s",
                 errbuf[0] ? errbuf : csm_strerror(err));
        return err;
    }
    log_config(x);
    err = csm_kclient_new(x->base, x->auth, x->log, &x->kc);
    if (err)
        return err;
    x->tel = csm_telemetry_new();
    if (!x->tel)
        return CSM_ERR_NOMEM;
    err = register_telemetry(x);
    if (!err)
        err = start_env(x);
    if (!err)
        err = start_resources(x);
    if (!err)
        err = start_servers(x);
    if (err)
        return err;
    x->sigterm = evsignal_new(x->base, SIGTERM, on_signal, x);
    x->sigint = evsignal_new(x->base, SIGINT, on_signal, x);
    if (!x->sigterm || !x->sigint || evsignal_add(x->sigterm, NULL) ||
        evsignal_add(x->sigint, NULL))
        return CSM_ERR_IO;
    err = start_reload(x);
    if (err)
        return err;
    if (x->autoshard)
        return csm_autoshard_start(x->autoshard);
    x->res_started = 1;
    for (size_t i = 0; i < x->nres; i++)
        csm_resource_start(x->res[i]);
    return CSM_OK;
}

static void teardown(exporter *x)
{
    csm_autoshard_free(x->autoshard);
    for (size_t i = 0; i < x->nres; i++)
        csm_resource_free(x->res[i]);
    free(x->res);
    /* After every resource: their budgets draw from it. */
    csm_budget_free(x->env.series_budget);
    /* After every generator set: it unloads the plugins. */
    csm_genconf_free(x->gc);
    csm_crsdisco_free(x->disco);
    if (x->reload_timer)
        event_free(x->reload_timer);
    if (x->sighup)
        event_free(x->sighup);
    csm_httpd_free(x->metrics_srv);
    csm_httpd_free(x->tel_srv);
    /* After the servers (their held requests cancel their waits) and
     * before the API client (whose requests it cancels). */
    csm_auth_free(x->access);
    csm_tls_free(x->tls);
    if (x->sigterm)
        event_free(x->sigterm);
    if (x->sigint)
        event_free(x->sigint);
    csm_kclient_free(x->kc);
    csm_shard_free(x->shard);
    csm_telemetry_free(x->tel);
    csm_kauth_free(x->auth);
    if (x->base)
        event_base_free(x->base);
}

int csm_exporter_run(const csm_config *cfg, csm_log *log)
{
    exporter x;
    csm_err err;
    int rc = 1;

    memset(&x, 0, sizeof(x));
    x.cfg = cfg;
    x.log = log;
    /* A scraper that hangs up mid-response must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (csm_loop_new(&x.base) != CSM_OK)
        goto out;
    err = start(&x);
    if (err) {
        /* A mistake in the flags' files (plugins, --config) is a usage
         * error, like a mistake in the flags themselves. */
        rc = err == CSM_ERR_USAGE ? 2 : 1;
        goto out;
    }
    event_base_dispatch(x.base);
    csm_logf(log, CSM_LOG_INFO, "stopped");
    rc = 0;
out:
    teardown(&x);
    return rc;
}
