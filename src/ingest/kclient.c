#include "ingest/kclient.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/buf.h"
#include "base/loop.h"
#include "csm_version.h"
#include "base/num.h"

/* Enough for any Kubernetes Status object; longer error bodies are cut. */
#define KCLIENT_ERRBODY_MAX       (64u * 1024u)
#define KCLIENT_CONNECT_TIMEOUT_S 10L

struct csm_kreq {
    csm_kclient *c;
    CURL *easy;
    struct curl_slist *headers;
    csm_kreq_cbs cbs;
    csm_buf errbody;
    char *body; /* POST body copy */
    size_t body_len;
    long status;
    int aborted;
    double retry_after;
    char errbuf[CURL_ERROR_SIZE];
    csm_kreq *prev;
    csm_kreq *next;
};

struct csm_kclient {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    csm_kauth *auth;
    csm_log *log;
    int force_token; /* the last response was 401: re-read the token */
    csm_kreq *reqs;  /* every request in flight */
};

/* Per-socket state curl hands back to us through curl_multi_assign(). */
typedef struct kc_sock {
    struct event *ev;
} kc_sock;

static void req_unlink(csm_kreq *r)
{
    csm_kclient *c = r->c;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

/* Removes the request from curl and frees it; no callback. */
static void req_destroy(csm_kreq *r)
{
    if (r->easy) {
        curl_multi_remove_handle(r->c->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    /* Headers hold the bearer token and POST bodies may hold a token under
     * review: wipe both before the memory goes back to the allocator. */
    for (struct curl_slist *h = r->headers; h; h = h->next)
        memset(h->data, 0, strlen(h->data));
    curl_slist_free_all(r->headers);
    csm_buf_free(&r->errbody);
    if (r->body)
        memset(r->body, 0, r->body_len);
    free(r->body);
    free(r);
}

static void check_multi_info(csm_kclient *c)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        csm_kreq *r = NULL;
        csm_kresp resp;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (!r)
            continue;
        memset(&resp, 0, sizeof(resp));
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        resp.aborted = r->aborted;
        resp.retry_after = r->retry_after;
        if (msg->data.result != CURLE_OK && !r->aborted) {
            resp.transport_error = (int)msg->data.result;
            resp.error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(msg->data.result);
        }
        if (r->errbody.len) {
            resp.body = r->errbody.ptr;
            resp.body_len = r->errbody.len;
        }
        if (resp.status == 401)
            c->force_token = 1;
        req_unlink(r);
        /* Detach from curl before done(), which may start new requests. */
        curl_multi_remove_handle(c->multi, r->easy);
        if (r->cbs.done)
            r->cbs.done(r->cbs.ctx, &resp);
        req_destroy(r);
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    csm_kclient *c = arg;
    int flags = 0;
    int running = 0;

    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    check_multi_info(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    csm_kclient *c = arg;
    int running = 0;

    (void)fd;
    (void)what;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(c);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    csm_kclient *c = userp;
    kc_sock *ks = socketp;
    short kind;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (ks) {
            /* NULL when event_new() failed below. */
            if (ks->ev)
                event_free(ks->ev);
            free(ks);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    kind = EV_PERSIST;
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (!ks) {
        ks = calloc(1, sizeof(*ks));
        if (!ks)
            return -1;
        curl_multi_assign(c->multi, s, ks);
    } else if (ks->ev) {
        event_free(ks->ev);
    }
    ks->ev = event_new(c->base, s, kind, on_socket_event, c);
    if (!ks->ev || event_priority_set(ks->ev, CSM_LOOP_INGEST) != 0 || event_add(ks->ev, NULL) != 0)
        return -1;
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    csm_kclient *c = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    /* Never act from inside curl's callback: a zero timer runs it next. */
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return evtimer_add(c->timer, &tv) == 0 ? 0 : -1;
}

csm_err csm_kclient_new(struct event_base *base, csm_kauth *auth, csm_log *log, csm_kclient **out)
{
    csm_kclient *c = calloc(1, sizeof(*c));

    if (!c)
        return CSM_ERR_NOMEM;
    c->base = base;
    c->auth = auth;
    c->log = log;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer, c);
    if (!c->multi || !c->timer || event_priority_set(c->timer, CSM_LOOP_INGEST) != 0) {
        csm_kclient_free(c);
        return CSM_ERR_NOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    if (auth->insecure)
        csm_logf(log, CSM_LOG_WARN,
                 "TLS verification of the API server %s is OFF: the kubeconfig sets "
                 "insecure-skip-tls-verify",
                 auth->server);
    *out = c;
    return CSM_OK;
}

void csm_kclient_free(csm_kclient *c)
{
    if (!c)
        return;
    while (c->reqs) {
        csm_kreq *r = c->reqs;
        req_unlink(r);
        req_destroy(r);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->timer)
        event_free(c->timer);
    free(c);
}

void csm_kreq_cancel(csm_kreq *r)
{
    if (!r)
        return;
    req_unlink(r);
    req_destroy(r);
}

static csm_err transport_get(void *ctx, const char *path, long timeout_s, const csm_kreq_cbs *cbs,
                             void **handle)
{
    csm_kreq *r = NULL;
    csm_err err = csm_kclient_request(ctx, "GET", path, NULL, 0, timeout_s, cbs, &r);

    *handle = r;
    return err;
}

static void transport_cancel(void *ctx, void *handle)
{
    (void)ctx;
    csm_kreq_cancel(handle);
}

void csm_kclient_transport(csm_kclient *c, csm_kreq_transport *out)
{
    out->get = transport_get;
    out->cancel = transport_cancel;
    out->ctx = c;
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    csm_kreq *r = ud;
    size_t len = size * nmemb;

    if (!r->status)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status >= 200 && r->status < 300) {
        if (r->cbs.data && r->cbs.data(r->cbs.ctx, p, len) != CSM_OK) {
            r->aborted = 1;
            return 0;
        }
        return len;
    }
    if (r->errbody.len < KCLIENT_ERRBODY_MAX) {
        size_t room = KCLIENT_ERRBODY_MAX - r->errbody.len;
        csm_buf_append(&r->errbody, p, len < room ? len : room);
    }
    return len;
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    csm_kreq *r = ud;
    size_t len = size * nmemb;
    static const char name[] = "retry-after:";

    /* A new status line starts a new header block (after 100 Continue). */
    if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
        r->retry_after = -1;
        r->status = 0;
    } else if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        long v;
        /* Only delta-seconds; the API server never sends an HTTP date.
         * "inf", "1e12", "-1" or garbage are ignored (the backoff applies),
         * and a huge value waits CSM_KCLIENT_RETRY_AFTER_MAX_S at most. */
        if (csm_num_delta_seconds(p + sizeof(name) - 1, len - (sizeof(name) - 1),
                                  CSM_KCLIENT_RETRY_AFTER_MAX_S, &v) == CSM_OK)
            r->retry_after = (double)v;
    }
    return len;
}

static csm_err set_tls(csm_kreq *r, const csm_kauth *a)
{
    CURL *e = r->easy;
    struct curl_blob blob;

    if (a->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (a->ca_data) {
        blob.data = a->ca_data;
        blob.len = a->ca_len;
        blob.flags = CURL_BLOB_COPY;
        if (curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob) != CURLE_OK)
            return CSM_ERR_TLS;
    } else if (a->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, a->ca_file);
    }
    if (a->cert_data) {
        blob.data = a->cert_data;
        blob.len = a->cert_len;
        blob.flags = CURL_BLOB_COPY;
        if (curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob) != CURLE_OK)
            return CSM_ERR_TLS;
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (a->cert_file) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, a->cert_file);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (a->key_data) {
        blob.data = a->key_data;
        blob.len = a->key_len;
        blob.flags = CURL_BLOB_COPY;
        if (curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob) != CURLE_OK)
            return CSM_ERR_TLS;
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (a->key_file) {
        curl_easy_setopt(e, CURLOPT_SSLKEY, a->key_file);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    return CSM_OK;
}

static csm_err add_header(csm_kreq *r, const char *h)
{
    struct curl_slist *n = curl_slist_append(r->headers, h);
    if (!n)
        return CSM_ERR_NOMEM;
    r->headers = n;
    return CSM_OK;
}

/*
 * The request headers (Accept, the bearer token if any, Content-Type for
 * a POST) and the body: a POST copies body[0..body_len) into r, which
 * owns it until req_destroy(); a GET sends none. Other methods are
 * CSM_ERR_INVALID.
 */
static csm_err set_request(csm_kreq *r, const char *method, const char *body, size_t body_len)
{
    csm_kclient *c = r->c;
    csm_buf auth;
    const char *token = NULL;
    csm_err err;

    csm_buf_init(&auth, 64 * 1024);
    err = csm_kauth_bearer(c->auth, time(NULL), c->force_token, &token);
    if (err)
        goto out;
    c->force_token = 0;
    err = add_header(r, "Accept: application/json");
    if (!err && token) {
        err = csm_buf_printf(&auth, "Authorization: Bearer %s", token);
        if (!err)
            err = add_header(r, auth.ptr);
    }
    if (!err && strcmp(method, "POST") == 0) {
        err = add_header(r, "Content-Type: application/json");
        if (!err) {
            r->body = malloc(body_len + 1);
            r->body_len = body_len;
            err = r->body ? CSM_OK : CSM_ERR_NOMEM;
        }
        if (!err) {
            if (body_len)
                memcpy(r->body, body, body_len);
            r->body[body_len] = '\0';
            curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
            curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        }
    } else if (!err && strcmp(method, "GET") != 0) {
        err = CSM_ERR_INVALID;
    }
out:
    /* The header list holds a copy of the token; the scratch copy goes now. */
    if (auth.ptr)
        memset(auth.ptr, 0, auth.len);
    csm_buf_free(&auth);
    return err;
}

/*
 * What every request sets on its handle: the URL, the callbacks into r,
 * the timeouts and keepalive, HTTP/1.1 and the protocols allowed. The
 * setopt results go unchecked, as they did before this was split out of
 * csm_kclient_request(): a handle left without its URL fails its transfer
 * (an error the request's done callback reports).
 */
static void set_transfer(csm_kreq *r, const char *url, long timeout_s)
{
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "crd-state-metrics/" CSM_VERSION);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, KCLIENT_CONNECT_TIMEOUT_S);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, timeout_s > 0 ? timeout_s : 0L);
    /* A watch may be silent for minutes between bookmarks; keepalive is
     * what notices a peer that vanished without a FIN. */
    curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "https,http");
}

csm_err csm_kclient_request(csm_kclient *c, const char *method, const char *path, const char *body,
                            size_t body_len, long timeout_s, const csm_kreq_cbs *cbs,
                            csm_kreq **out)
{
    csm_kreq *r = calloc(1, sizeof(*r));
    csm_buf url;
    csm_err err = CSM_ERR_NOMEM;

    csm_buf_init(&url, 64 * 1024);
    if (!r)
        goto out;
    r->c = c;
    r->cbs = *cbs;
    r->retry_after = -1;
    csm_buf_init(&r->errbody, KCLIENT_ERRBODY_MAX + 1);
    r->easy = curl_easy_init();
    if (!r->easy)
        goto out;
    err = csm_buf_printf(&url, "%s%s", c->auth->server, path);
    if (!err)
        err = set_request(r, method, body, body_len);
    if (!err)
        err = set_tls(r, c->auth);
    if (err)
        goto out;
    set_transfer(r, url.ptr, timeout_s);
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        err = CSM_ERR_HTTP;
        goto out;
    }
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    if (out)
        *out = r;
    r = NULL;
    err = CSM_OK;
out:
    csm_buf_free(&url);
    if (r)
        req_destroy(r);
    return err;
}
