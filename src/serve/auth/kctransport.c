#include "serve/auth/kctransport.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* A TokenReview or SubjectAccessReview answer is a few KiB. */
#define KC_REPLY_MAX (1u << 20)

typedef struct kc_post {
    csm_kreq *req;
    csm_auth_reply_fn done;
    void *arg;
    /* The 2xx body. TokenReview answers echo the token, so the buffer is
     * grown by copy-and-wipe rather than realloc, and wiped at the end. */
    char *body;
    size_t len;
    size_t cap;
} kc_post;

static void kc_post_free(kc_post *k)
{
    if (k->body) {
        OPENSSL_cleanse(k->body, k->cap);
        free(k->body);
    }
    free(k);
}

static csm_err kc_data(void *ctx, const char *p, size_t n)
{
    kc_post *k = ctx;
    size_t cap;
    char *nb;

    if (n > KC_REPLY_MAX - k->len)
        return CSM_ERR_TOO_LARGE;
    if (k->len + n + 1 > k->cap) {
        cap = k->cap ? k->cap : 4096;
        while (cap < k->len + n + 1)
            cap *= 2;
        nb = malloc(cap);
        if (!nb)
            return CSM_ERR_NOMEM;
        if (k->body) {
            memcpy(nb, k->body, k->len);
            OPENSSL_cleanse(k->body, k->cap);
            free(k->body);
        }
        k->body = nb;
        k->cap = cap;
    }
    memcpy(k->body + k->len, p, n);
    k->len += n;
    k->body[k->len] = '\0';
    return CSM_OK;
}

static void kc_done(void *ctx, const csm_kresp *resp)
{
    kc_post *k = ctx;
    csm_auth_reply r;

    memset(&r, 0, sizeof(r));
    r.status = resp->status;
    r.transport_error = resp->transport_error;
    if (resp->status >= 200 && resp->status < 300) {
        /* An aborted body (too large) is no answer. */
        r.body = resp->aborted ? NULL : k->body;
        r.len = resp->aborted ? 0 : k->len;
    } else {
        r.body = resp->body;
        r.len = resp->body_len;
    }
    k->done(k->arg, &r);
    kc_post_free(k);
}

static csm_err kc_post_start(void *ctx, const char *path, const char *body, size_t len,
                             long timeout_ms, csm_auth_reply_fn done, void *arg, void **handle)
{
    kc_post *k = calloc(1, sizeof(*k));
    csm_kreq_cbs cbs;
    csm_err err;

    if (!k)
        return CSM_ERR_NOMEM;
    k->done = done;
    k->arg = arg;
    cbs.data = kc_data;
    cbs.done = kc_done;
    cbs.ctx = k;
    /* kclient counts whole seconds; round up so a short timeout is not 0
     * (which would mean none). */
    err =
        csm_kclient_request(ctx, "POST", path, body, len, (timeout_ms + 999) / 1000, &cbs, &k->req);
    if (err) {
        kc_post_free(k);
        return err;
    }
    *handle = k;
    return CSM_OK;
}

static void kc_post_cancel(void *ctx, void *handle)
{
    kc_post *k = handle;
    (void)ctx;
    if (!k)
        return;
    csm_kreq_cancel(k->req);
    kc_post_free(k);
}

void csm_kctransport_init(csm_kclient *kc, csm_auth_transport *out)
{
    out->post = kc_post_start;
    out->cancel = kc_post_cancel;
    out->ctx = kc;
}
