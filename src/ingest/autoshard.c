#include "ingest/autoshard.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/buf.h"

/* A Pod object is a few KiB; anything much larger is not one. */
#define AS_MAX_POD_BYTES (4u << 20)

struct csm_autoshard {
    csm_informer_env env;
    csm_autoshard_hooks hooks;
    csm_shard *shard;
    long delay_ms;
    char *pod;
    char *ns;
    char sts[254];
    void *req; /* the request seam's handle (kclient.h) */
    csm_buf body;
    struct event *retry;    /* pod GET retries */
    struct event *handover; /* ends a handover */
    csm_backoff backoff;
    csm_informer *inf; /* the StatefulSet, once the pod named it */
    int first_pending; /* the handover timer delivers FIRST */
    char state[384];
};

static void set_state(csm_autoshard *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_state(csm_autoshard *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->state, sizeof(a->state), fmt, ap);
    va_end(ap);
}

static void arm(struct event *ev, double seconds)
{
    struct timeval tv;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    evtimer_add(ev, &tv);
}

static void get_pod(csm_autoshard *a);

static void pod_failed(csm_autoshard *a, const char *why)
{
    double d = csm_backoff_next(&a->backoff, csm_clock_mono());
    csm_logf(a->env.log, CSM_LOG_WARN, "auto-sharding: pod %s/%s: %s; retrying in %.1fs", a->ns,
             a->pod, why, d);
    set_state(a, "waiting for pod %s/%s: %s", a->ns, a->pod, why);
    arm(a->retry, d);
}

/* ---- the StatefulSet -------------------------------------------------- */

/* The handover timer. Also delivers FIRST: the render hook runs inside the
 * informer's data() callback, where no request may be started or cancelled
 * (kclient.h), and FIRST starts the resources, GAIN cancels and restarts
 * their requests; so both go through the event loop. */
static void handover_end(evutil_socket_t fd, short what, void *arg)
{
    csm_autoshard *a = arg;
    (void)fd;
    (void)what;
    if (a->first_pending) {
        a->first_pending = 0;
        a->hooks.changed(a->hooks.ctx, CSM_AUTOSHARD_FIRST);
        return;
    }
    if (!csm_shard_end_handover(a->shard)) {
        csm_logf(a->env.log, CSM_LOG_INFO,
                 "auto-sharding: handover to %d shards ends; this shard gains nothing "
                 "(the count grew), no relist",
                 (int)csm_shard_total(a->shard));
        return;
    }
    csm_logf(a->env.log, CSM_LOG_INFO, "auto-sharding: handover to %d shards ends; relisting",
             (int)csm_shard_total(a->shard));
    a->hooks.changed(a->hooks.ctx, CSM_AUTOSHARD_GAIN);
}

csm_err csm_autoshard_replicas(const cJSON *sts, int32_t *out)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(sts, "spec");
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(spec, "replicas");

    if (!rep || cJSON_IsNull(rep)) {
        *out = 1;
        return CSM_OK;
    }
    if (!cJSON_IsNumber(rep) || !(rep->valuedouble >= 0 && rep->valuedouble <= 1e9) ||
        rep->valuedouble != (double)(int32_t)rep->valuedouble)
        return CSM_ERR_TYPE;
    *out = (int32_t)rep->valuedouble;
    return CSM_OK;
}

/* The StatefulSet informer's render hook: reads spec.replicas and returns
 * an empty block; the StatefulSet itself is not exported. */
static csm_err sts_render(void *ctx, const cJSON *obj, csm_block **out)
{
    csm_autoshard *a = ctx;
    int first = !csm_shard_known(a->shard) || a->first_pending;
    int32_t ordinal = csm_shard_ordinal(a->shard);
    int32_t total;

    *out = csm_block_new(0, NULL, NULL);
    if (!*out)
        return CSM_ERR_NOMEM;
    if (csm_autoshard_replicas(obj, &total) != CSM_OK) {
        csm_logf(a->env.log, CSM_LOG_WARN,
                 "auto-sharding: StatefulSet %s/%s has no usable spec.replicas; keeping %d", a->ns,
                 a->sts, (int)csm_shard_total(a->shard));
        return CSM_OK;
    }
    if (total < 1) {
        /* Scaled to zero: this pod is about to go; keep what it has. */
        csm_logf(a->env.log, CSM_LOG_INFO,
                 "auto-sharding: StatefulSet %s/%s scaled to 0; keeping %d shards", a->ns, a->sts,
                 (int)csm_shard_total(a->shard));
        return CSM_OK;
    }
    set_state(a, "StatefulSet %s/%s: %d replicas, this is shard %d%s", a->ns, a->sts, (int)total,
              (int)ordinal, ordinal >= total ? " (beyond the replicas: exports nothing)" : "");
    if (!csm_shard_set_total(a->shard, total, !first && a->delay_ms > 0))
        return CSM_OK;
    if (first) {
        csm_logf(a->env.log, CSM_LOG_INFO, "auto-sharding: shard %d of %d (StatefulSet %s/%s)",
                 (int)ordinal, (int)total, a->ns, a->sts);
        a->first_pending = 1;
        arm(a->handover, 0);
        return CSM_OK;
    }
    csm_logf(a->env.log, CSM_LOG_INFO,
             "auto-sharding: StatefulSet %s/%s now has %d replicas; shard %d drops what it "
             "no longer owns and takes in what it gains in %ld ms",
             a->ns, a->sts, (int)total, (int)ordinal, a->delay_ms);
    /* Dropping only removes store entries: safe inside data(). A FIRST
     * still pending cannot be: it is delivered before any change. */
    a->hooks.changed(a->hooks.ctx, CSM_AUTOSHARD_DROP);
    evtimer_del(a->handover);
    arm(a->handover, (double)a->delay_ms / 1000.0);
    return CSM_OK;
}

static void sts_gone(void *ctx)
{
    csm_autoshard *a = ctx;
    /* Not served at all (no apps/v1?): the informer stopped; keep the
     * assignment and say so. */
    set_state(a, "StatefulSet collection in %s is not served; keeping %d shards", a->ns,
              (int)csm_shard_total(a->shard));
}

static csm_err start_sts(csm_autoshard *a)
{
    csm_informer_hooks hooks = {.render = sts_render, .gone = sts_gone, .ctx = a};
    csm_informer_env env = a->env;
    char label[600];
    char path[512];
    char query[400];
    csm_err err;

    env.shard = NULL;
    env.skipped = NULL;
    snprintf(label, sizeof(label), "apps/v1/StatefulSet %s/%s", a->ns, a->sts);
    snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/%s/statefulsets", a->ns);
    /* Names are DNS subdomains: nothing to escape but the '='. */
    snprintf(query, sizeof(query), "fieldSelector=metadata.name%%3D%s", a->sts);
    err = csm_informer_new(&env, label, path, query, &hooks, &a->inf);
    if (!err)
        err = csm_informer_start(a->inf);
    if (!err)
        set_state(a, "waiting for StatefulSet %s/%s", a->ns, a->sts);
    return err;
}

/* ---- the pod ---------------------------------------------------------- */

const char *csm_autoshard_owner(const cJSON *pod, char *out, size_t len)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences");
    const cJSON *ref;

    cJSON_ArrayForEach(ref, refs)
    {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ref, "kind");
        const cJSON *api = cJSON_GetObjectItemCaseSensitive(ref, "apiVersion");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(ref, "name");
        const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(ref, "controller");

        if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "StatefulSet") != 0 ||
            !cJSON_IsString(api) || strncmp(api->valuestring, "apps/", 5) != 0 ||
            !cJSON_IsString(name) || !cJSON_IsTrue(ctl))
            continue;
        if (!name->valuestring[0] || strlen(name->valuestring) >= len)
            return "the StatefulSet owner reference has an invalid name";
        strcpy(out, name->valuestring);
        return NULL;
    }
    return "the pod has no controlling StatefulSet owner reference";
}

static csm_err pod_data(void *ctx, const char *p, size_t n)
{
    csm_autoshard *a = ctx;
    return csm_buf_append(&a->body, p, n);
}

static void pod_done(void *ctx, const csm_kresp *resp)
{
    csm_autoshard *a = ctx;
    cJSON *pod = NULL;
    const char *bad;
    char why[160];

    a->req = NULL;
    if (resp->transport_error || resp->aborted || resp->status != 200) {
        if (resp->transport_error)
            snprintf(why, sizeof(why), "connection error: %s",
                     resp->error ? resp->error : "unknown");
        else if (resp->aborted)
            snprintf(why, sizeof(why), "Pod larger than %u bytes", AS_MAX_POD_BYTES);
        else
            snprintf(why, sizeof(why), "HTTP %ld", resp->status);
        pod_failed(a, why);
        goto out;
    }
    pod = cJSON_ParseWithLength(a->body.ptr ? a->body.ptr : "", a->body.len);
    bad = pod ? csm_autoshard_owner(pod, a->sts, sizeof(a->sts)) : "malformed Pod JSON";
    if (bad) {
        pod_failed(a, bad);
        goto out;
    }
    csm_backoff_reset(&a->backoff);
    csm_logf(a->env.log, CSM_LOG_INFO, "auto-sharding: pod %s/%s belongs to StatefulSet %s", a->ns,
             a->pod, a->sts);
    if (start_sts(a) != CSM_OK)
        pod_failed(a, "cannot start the StatefulSet watch (out of memory)");
out:
    cJSON_Delete(pod);
    csm_buf_free(&a->body);
}

static void get_pod(csm_autoshard *a)
{
    csm_kreq_cbs cbs = {pod_data, pod_done, a};
    char path[600];

    csm_buf_free(&a->body);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", a->ns, a->pod);
    set_state(a, "reading pod %s/%s", a->ns, a->pod);
    if (a->env.transport.get(a->env.transport.ctx, path, 30, &cbs, &a->req) != CSM_OK) {
        a->req = NULL;
        pod_failed(a, "cannot start the request");
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    get_pod(arg);
}

/* ---- life cycle ------------------------------------------------------- */

csm_err csm_autoshard_new(const csm_informer_env *env, const char *pod, const char *ns,
                          csm_shard *shard, long delay_ms, const csm_autoshard_hooks *hooks,
                          csm_autoshard **out)
{
    csm_autoshard *a = calloc(1, sizeof(*a));

    if (!a)
        return CSM_ERR_NOMEM;
    a->env = *env;
    a->hooks = *hooks;
    a->shard = shard;
    a->delay_ms = delay_ms;
    a->pod = strdup(pod);
    a->ns = strdup(ns);
    csm_buf_init(&a->body, AS_MAX_POD_BYTES);
    a->retry = evtimer_new(env->base, on_retry, a);
    a->handover = evtimer_new(env->base, handover_end, a);
    csm_backoff_init(&a->backoff, (uint64_t)(uintptr_t)a ^ (uint64_t)time(NULL));
    set_state(a, "not started");
    if (!a->pod || !a->ns || !a->retry || !a->handover) {
        csm_autoshard_free(a);
        return CSM_ERR_NOMEM;
    }
    *out = a;
    return CSM_OK;
}

csm_err csm_autoshard_start(csm_autoshard *a)
{
    get_pod(a);
    return CSM_OK;
}

void csm_autoshard_stop(csm_autoshard *a)
{
    if (!a)
        return;
    if (a->req) {
        a->env.transport.cancel(a->env.transport.ctx, a->req);
        a->req = NULL;
    }
    if (a->retry)
        evtimer_del(a->retry);
    if (a->handover)
        evtimer_del(a->handover);
    if (a->inf)
        csm_informer_stop(a->inf);
}

void csm_autoshard_free(csm_autoshard *a)
{
    if (!a)
        return;
    csm_autoshard_stop(a);
    csm_informer_free(a->inf);
    if (a->retry)
        event_free(a->retry);
    if (a->handover)
        event_free(a->handover);
    csm_buf_free(&a->body);
    free(a->pod);
    free(a->ns);
    free(a);
}

const char *csm_autoshard_state(const csm_autoshard *a)
{
    return a->state;
}
