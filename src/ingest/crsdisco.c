#include "ingest/crsdisco.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

/* Discovery documents are small; this only stops a runaway body. */
#define DISCO_BODY_MAX  (8u << 20)
#define DISCO_TIMEOUT_S 30

struct csm_crsdisco {
    struct event_base *base;
    csm_kclient *kc;
    csm_log *log;
    struct timeval interval;
    struct event *timer;
    csm_crsdisco_found_fn fn;
    void *ctx;
    int stopped;
    csm_gvk *pat;
    size_t npat;
    /* The round in progress. */
    csm_kreq *req;
    csm_buf body;
    size_t cur;       /* pattern being resolved */
    char version[64]; /* its version, once known */
    csm_gvk *found;
    size_t nfound;
};

csm_err csm_crsdisco_preferred(const char *json, size_t len, char *out, size_t outlen)
{
    cJSON *doc = cJSON_ParseWithLength(json, len);
    const cJSON *v;
    csm_err err = CSM_ERR_PARSE;

    if (!doc)
        return CSM_ERR_PARSE;
    v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "preferredVersion"),
                                         "version");
    if (!cJSON_IsString(v)) /* /api answers APIVersions */
        v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "versions"), 0);
    if (cJSON_IsString(v) && strlen(v->valuestring) < outlen) {
        strcpy(out, v->valuestring);
        err = CSM_OK;
    }
    cJSON_Delete(doc);
    return err;
}

static int has_verb(const cJSON *verbs, const char *verb)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, verbs)
    {
        if (cJSON_IsString(v) && strcmp(v->valuestring, verb) == 0)
            return 1;
    }
    return 0;
}

csm_err csm_crsdisco_kinds(const char *json, size_t len, const char *group, const char *version,
                           const char *kind, csm_gvk **found, size_t *n)
{
    cJSON *doc = cJSON_ParseWithLength(json, len);
    const cJSON *it;
    csm_err err = CSM_OK;

    if (!doc)
        return CSM_ERR_PARSE;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "resources"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "kind");
        const cJSON *verbs = cJSON_GetObjectItemCaseSensitive(it, "verbs");
        if (!cJSON_IsString(name) || !cJSON_IsString(k) || strchr(name->valuestring, '/'))
            continue;
        if (strcmp(kind, "*") != 0 && strcmp(kind, k->valuestring) != 0)
            continue;
        if (!has_verb(verbs, "list") || !has_verb(verbs, "watch"))
            continue;
        err = csm_gvk_list_add(found, n, group, version, k->valuestring);
        if (err)
            break;
    }
    cJSON_Delete(doc);
    return err;
}

/* ---- rounds ------------------------------------------------------------- */

static void step(csm_crsdisco *d);

static void finish_round(csm_crsdisco *d)
{
    d->fn(d->ctx, d->found, d->nfound);
    csm_gvk_list_free(d->found, d->nfound);
    d->found = NULL;
    d->nfound = 0;
    if (!d->stopped && d->npat)
        evtimer_add(d->timer, &d->interval);
}

static csm_err on_data(void *ctx, const char *p, size_t n)
{
    csm_crsdisco *d = ctx;
    return csm_buf_append(&d->body, p, n);
}

/* The next pattern, or the end of the round. */
static void next_pattern(csm_crsdisco *d)
{
    d->cur++;
    d->version[0] = '\0';
    if (d->cur >= d->npat) {
        finish_round(d);
        return;
    }
    step(d);
}

static void on_done(void *ctx, const csm_kresp *resp)
{
    csm_crsdisco *d = ctx;
    const csm_gvk *p = &d->pat[d->cur];
    int ok = resp->status == 200 && !resp->transport_error && !resp->aborted;

    d->req = NULL;
    if (!ok) {
        /* 404: the group (version) is not served (yet); the next round
         * tries again. Anything else is worth a word. */
        if (resp->status != 404)
            csm_logf(d->log, CSM_LOG_WARN, "config wildcard %s/%s/%s: discovery failed: %s",
                     p->group, p->version, p->kind,
                     resp->transport_error && resp->error ? resp->error : "HTTP error");
        csm_buf_free(&d->body);
        next_pattern(d);
        return;
    }
    if (!d->version[0]) {
        if (csm_crsdisco_preferred(d->body.ptr ? d->body.ptr : "", d->body.len, d->version,
                                   sizeof(d->version)) != CSM_OK) {
            csm_logf(d->log, CSM_LOG_WARN, "config wildcard %s/*/%s: no preferred version",
                     p->group, p->kind);
            csm_buf_free(&d->body);
            next_pattern(d);
            return;
        }
        csm_buf_free(&d->body);
        step(d);
        return;
    }
    if (csm_crsdisco_kinds(d->body.ptr ? d->body.ptr : "", d->body.len, p->group, d->version,
                           p->kind, &d->found, &d->nfound) != CSM_OK)
        csm_logf(d->log, CSM_LOG_WARN, "config wildcard %s/%s/%s: malformed discovery document",
                 p->group, d->version, p->kind);
    csm_buf_free(&d->body);
    next_pattern(d);
}

/* Issues the request the current pattern needs next. */
static void step(csm_crsdisco *d)
{
    const csm_gvk *p = &d->pat[d->cur];
    csm_kreq_cbs cbs = {on_data, on_done, d};
    char path[1024];

    if (!d->version[0] && strcmp(p->version, "*") != 0)
        snprintf(d->version, sizeof(d->version), "%s", p->version);
    if (!d->version[0] && p->group[0])
        snprintf(path, sizeof(path), "/apis/%s", p->group);
    else if (!d->version[0])
        snprintf(path, sizeof(path), "/api");
    else if (p->group[0])
        snprintf(path, sizeof(path), "/apis/%s/%s", p->group, d->version);
    else
        snprintf(path, sizeof(path), "/api/%s", d->version);
    csm_buf_free(&d->body);
    if (csm_kclient_request(d->kc, "GET", path, NULL, 0, DISCO_TIMEOUT_S, &cbs, &d->req) !=
        CSM_OK) {
        d->req = NULL;
        next_pattern(d);
    }
}

static void start_round(csm_crsdisco *d)
{
    if (d->stopped || d->req || !d->npat)
        return;
    d->cur = 0;
    d->version[0] = '\0';
    step(d);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_round(arg);
}

csm_err csm_crsdisco_new(struct event_base *base, csm_kclient *kc, csm_log *log, int interval_s,
                         csm_crsdisco_found_fn fn, void *ctx, csm_crsdisco **out)
{
    csm_crsdisco *d = calloc(1, sizeof(*d));

    if (!d)
        return CSM_ERR_NOMEM;
    d->base = base;
    d->kc = kc;
    d->log = log;
    d->interval.tv_sec = interval_s;
    d->fn = fn;
    d->ctx = ctx;
    csm_buf_init(&d->body, DISCO_BODY_MAX);
    d->timer = evtimer_new(base, on_timer, d);
    if (!d->timer) {
        free(d);
        return CSM_ERR_NOMEM;
    }
    *out = d;
    return CSM_OK;
}

void csm_crsdisco_stop(csm_crsdisco *d)
{
    if (!d)
        return;
    d->stopped = 1;
    evtimer_del(d->timer);
    if (d->req)
        csm_kreq_cancel(d->req);
    d->req = NULL;
}

void csm_crsdisco_free(csm_crsdisco *d)
{
    if (!d)
        return;
    csm_crsdisco_stop(d);
    event_free(d->timer);
    csm_buf_free(&d->body);
    csm_gvk_list_free(d->pat, d->npat);
    csm_gvk_list_free(d->found, d->nfound);
    free(d);
}

csm_err csm_crsdisco_set_patterns(csm_crsdisco *d, const csm_gvk *patterns, size_t n)
{
    csm_gvk *copy = NULL;
    size_t ncopy = 0;
    csm_err err = CSM_OK;

    for (size_t i = 0; !err && i < n; i++)
        err = csm_gvk_list_add(&copy, &ncopy, patterns[i].group, patterns[i].version,
                               patterns[i].kind);
    if (err) {
        csm_gvk_list_free(copy, ncopy);
        return err;
    }
    /* A round in flight refers to the old patterns: start over. */
    if (d->req)
        csm_kreq_cancel(d->req);
    d->req = NULL;
    evtimer_del(d->timer);
    csm_gvk_list_free(d->found, d->nfound);
    d->found = NULL;
    d->nfound = 0;
    csm_gvk_list_free(d->pat, d->npat);
    d->pat = copy;
    d->npat = ncopy;
    start_round(d);
    return CSM_OK;
}
