/*
 * Request authentication and authorization (auth.c) as a sequence of
 * events: requests with untrusted Authorization headers, the API server's
 * answers to the reviews they cause (untrusted bodies, any status), clients
 * going away, time passing; plus the JWT "exp" reader and the
 * --auth-resource-attributes parser on their own.
 *
 * Input: lines of commands, so that seeds can be written by hand:
 *   config N                 before anything else: picks one of the configs
 *   check METHOD PATH [HDR]  a request; HDR is the whole Authorization value
 *   cert METHOD PATH CN [O...]  a request with a verified client certificate
 *   reply N STATUS [BODY]    answers the N-th review in flight (STATUS 0:
 *                            transport error)
 *   cancel N                 the N-th waiting request's client goes away
 *   tick MS                  the clocks advance
 *   fail                     the next review cannot be sent
 *   jwt TOKEN                csm_jwt_exp()
 *   attrs TEXT               csm_auth_resource_attributes_check()
 *
 * Checked beyond memory safety: a verdict comes at once or later through
 * exactly one callback, never from inside csm_auth_check() or after
 * csm_auth_cancel() (a cancelled request's slot is never reused, so a late
 * callback is caught); a review is cancelled only while in flight; the
 * bodies posted are what they say they are; csm_auth_free() cancels every
 * review still in flight.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/auth.h"
#include "serve/auth/jwt.h"

#define MAX_REQS  16
#define MAX_WAITS 32

typedef struct req {
    int live;
    csm_auth_reply_fn done;
    void *arg;
} req;

typedef struct waiter {
    int state; /* 0 free, 1 waiting, 2 answered, 3 cancelled */
    csm_auth_wait *w;
} waiter;

static req reqs[MAX_REQS];
static waiter waits[MAX_WAITS];
static int fail_next;
static int64_t mono;
static int64_t wall;

static int64_t mono_ms(void *ctx)
{
    return mono;
}

static int64_t wall_ms(void *ctx)
{
    return wall;
}

static csm_err post(void *ctx, const char *path, const char *body, size_t len, long timeout_ms,
                    csm_auth_reply_fn done, void *arg, void **handle)
{
    if (!path || !body || strlen(body) != len)
        abort();
    if (fail_next) {
        fail_next = 0;
        return CSM_ERR_IO;
    }
    for (size_t i = 0; i < MAX_REQS; i++) {
        if (!reqs[i].live) {
            reqs[i].live = 1;
            reqs[i].done = done;
            reqs[i].arg = arg;
            *handle = &reqs[i];
            return CSM_OK;
        }
    }
    return CSM_ERR_IO; /* "cannot send": a path of its own */
}

static void cancel(void *ctx, void *handle)
{
    req *r = handle;
    if (!r || !r->live)
        abort();
    r->live = 0;
}

static void on_verdict(void *arg, csm_auth_verdict v)
{
    waiter *w = arg;
    if (w->state != 1 || v == CSM_AUTH_PENDING)
        abort();
    w->state = 2;
}

static void check_verdict(csm_auth_verdict v)
{
    if (v < CSM_AUTH_ALLOW || v > CSM_AUTH_PENDING)
        abort();
}

/* The n-th (modulo their number) review in flight, or NULL. */
static req *nth_req(unsigned long n)
{
    size_t live = 0;
    size_t k = 0;
    for (size_t i = 0; i < MAX_REQS; i++)
        live += reqs[i].live != 0;
    for (size_t i = 0; live && i < MAX_REQS; i++) {
        if (reqs[i].live && k++ == n % live)
            return &reqs[i];
    }
    return NULL;
}

/* The n-th (modulo their number) request waiting, or NULL. */
static waiter *nth_wait(unsigned long n)
{
    size_t live = 0;
    size_t k = 0;
    for (size_t i = 0; i < MAX_WAITS; i++)
        live += waits[i].state == 1;
    for (size_t i = 0; live && i < MAX_WAITS; i++) {
        if (waits[i].state == 1 && k++ == n % live)
            return &waits[i];
    }
    return NULL;
}

static void do_check(csm_auth *a, char *args, int cert)
{
    char *method = strtok(args, " ");
    char *path = method ? strtok(NULL, " ") : NULL;
    char *rest = path ? strtok(NULL, "") : NULL;
    const char *groups[8];
    csm_auth_input in;
    waiter *slot = NULL;
    csm_auth_wait *w = (csm_auth_wait *)1;
    csm_auth_verdict v;

    if (!path)
        return;
    for (size_t i = 0; i < MAX_WAITS && !slot; i++)
        slot = waits[i].state == 0 || waits[i].state == 2 ? &waits[i] : NULL;
    if (!slot)
        return;
    memset(&in, 0, sizeof(in));
    in.method = method;
    in.path = path;
    if (cert) {
        in.cert_user = rest ? strtok(rest, " ") : "";
        for (char *g = strtok(NULL, " "); g && in.ncert_groups < 8; g = strtok(NULL, " "))
            groups[in.ncert_groups++] = g;
        in.cert_groups = groups;
    } else {
        in.authorization = rest;
    }
    slot->state = 0;
    v = csm_auth_check(a, &in, on_verdict, slot, &w);
    check_verdict(v);
    if (slot->state != 0)
        abort(); /* answered from inside csm_auth_check() */
    if ((v == CSM_AUTH_PENDING) != (w != NULL))
        abort();
    if (v == CSM_AUTH_PENDING) {
        slot->state = 1;
        slot->w = w;
    }
    if (csm_auth_http_status(v) < 200)
        abort();
}

static void do_reply(char *args)
{
    char *end;
    unsigned long n = strtoul(args, &end, 10);
    long status = strtol(end, &end, 10);
    req *r = nth_req(n);
    csm_auth_reply reply;

    if (!r)
        return;
    if (*end == ' ')
        end++;
    memset(&reply, 0, sizeof(reply));
    reply.status = status;
    reply.transport_error = status == 0;
    reply.body = *end ? end : NULL;
    reply.len = strlen(end);
    r->live = 0; /* before done(): it may start new reviews */
    r->done(r->arg, &reply);
}

static void run(csm_auth *a, char *line)
{
    char *sp = strchr(line, ' ');
    char *args = sp ? sp + 1 : line + strlen(line);
    int64_t exp;
    char why[256];

    if (sp)
        *sp = '\0';
    if (strcmp(line, "check") == 0) {
        do_check(a, args, 0);
    } else if (strcmp(line, "cert") == 0) {
        do_check(a, args, 1);
    } else if (strcmp(line, "reply") == 0) {
        do_reply(args);
    } else if (strcmp(line, "cancel") == 0) {
        waiter *w = nth_wait(strtoul(args, NULL, 10));
        if (w) {
            w->state = 3;
            csm_auth_cancel(w->w);
        }
    } else if (strcmp(line, "tick") == 0) {
        long ms = strtol(args, NULL, 10) % 100000000;
        mono += ms < 0 ? -ms : ms;
        wall += ms; /* the wall clock may step back */
    } else if (strcmp(line, "fail") == 0) {
        fail_next = 1;
    } else if (strcmp(line, "jwt") == 0) {
        csm_jwt_exp(args, strlen(args), &exp);
    } else if (strcmp(line, "attrs") == 0) {
        if (csm_auth_resource_attributes_check(args, why, sizeof(why)) == CSM_ERR_INVALID &&
            !memchr(why, '\0', sizeof(why)))
            abort();
    }
}

static csm_auth *make(unsigned long variant, csm_telemetry *tel, csm_log *log)
{
    static const char *const auds[] = {"https://kubernetes.default.svc", "api"};
    static const char *const paths[] = {"/healthz", "/public/*"};
    static const char *const groups[] = {"system:masters"};
    csm_auth_clock clock = {mono_ms, wall_ms, NULL};
    csm_auth_transport tr = {post, cancel, NULL};
    csm_auth_config cfg;
    csm_auth *a = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.clock = &clock;
    cfg.allow_paths = paths;
    cfg.nallow_paths = 2;
    cfg.ttl_token_ms = 2000;
    cfg.ttl_allowed_ms = 2000;
    cfg.ttl_denied_ms = 500;
    cfg.max_entries = 3;
    if (variant & 1) {
        cfg.audiences = auds;
        cfg.naudiences = 2;
    }
    if (variant & 2) {
        cfg.allow_groups = groups;
        cfg.nallow_groups = 1;
    }
    if (variant & 4)
        cfg.resource_attributes = "namespace=ns,resource=services,subresource=proxy,name=x";
    if (variant & 8)
        cfg.stale_ms = 10000;
    if (csm_auth_new(&cfg, &tr, log, tel, &a) != CSM_OK)
        abort();
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char *save = NULL;
    char *line;
    unsigned long variant = 0;
    csm_telemetry *tel = csm_telemetry_new();
    FILE *devnull = fopen("/dev/null", "w");
    csm_log *log = csm_log_new(devnull, CSM_LOG_DEBUG, CSM_LOG_TEXT);
    csm_auth *a;

    if (!text || !tel || !devnull || !log)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    memset(reqs, 0, sizeof(reqs));
    memset(waits, 0, sizeof(waits));
    fail_next = 0;
    mono = 1000;
    wall = 1700000000000;
    if (strncmp(text, "config ", 7) == 0)
        variant = strtoul(text + 7, NULL, 10);
    a = make(variant, tel, log);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        run(a, line);
    /* Clients still waiting go away before the server does. */
    for (size_t i = 0; i < MAX_WAITS; i++) {
        if (waits[i].state == 1)
            csm_auth_cancel(waits[i].w);
    }
    csm_auth_free(a);
    for (size_t i = 0; i < MAX_REQS; i++) {
        if (reqs[i].live)
            abort(); /* a review left in flight */
    }
    csm_log_free(log);
    fclose(devnull);
    csm_telemetry_free(tel);
    free(text);
    return 0;
}
