/*
 * The resource layer against a fake transport (fakekreq.h): discovery of
 * a Kind's plural and scope, the informers it starts (one per allowed
 * namespace) and their selectors, readiness, a collection that answers
 * 404, and the scrape-time merge of families that several resources share
 * (csm_resource_write_all()). No server; one test waits for the teardown
 * timer.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "fakekreq.h"
#include "resource.h"

/* ---- A test generator: one family every kind shares, one of its own. -- */

typedef struct tgen_state {
    size_t shared;
    size_t own;
} tgen_state;

static csm_err tgen_init(const csm_resource_desc *res, const char *arg, csm_families *fams,
                         void **state)
{
    tgen_state *st = calloc(1, sizeof(*st));
    char name[160];
    csm_err err;

    (void)arg;
    if (!st)
        return CSM_ERR_NOMEM;
    snprintf(name, sizeof(name), "%s_own", res->stem);
    err = csm_families_add(fams, "shared", "Shared by every kind.", CSM_METRIC_GAUGE, &st->shared);
    if (!err)
        err = csm_families_add(fams, name, "Of one kind.", CSM_METRIC_GAUGE, &st->own);
    if (err) {
        free(st);
        return err;
    }
    *state = st;
    return CSM_OK;
}

static csm_err tgen_generate(void *state, const csm_object *obj, csm_emitter *em)
{
    const tgen_state *st = state;
    const char *names[1] = {"name"};
    const char *values[1] = {csm_object_name(obj)};
    csm_err err;

    if (!values[0])
        return CSM_ERR_NOT_FOUND;
    err = csm_emit(em, st->shared, 1, names, values, 1);
    if (!err)
        err = csm_emit(em, st->own, 1, names, values, 2);
    return err;
}

static void tgen_destroy(void *state)
{
    free(state);
}

static const csm_generator tgen = {
    .abi_version = CSM_GENERATOR_ABI_VERSION,
    .name = "t",
    .init = tgen_init,
    .generate = tgen_generate,
    .destroy = tgen_destroy,
};

static csm_err make_genset(void *ctx, const csm_resource_desc *desc, csm_genset **out, char *errbuf,
                           size_t errlen)
{
    csm_genset *gs = NULL;
    csm_err err = csm_genset_new(desc, NULL, NULL, &gs);

    (void)ctx;
    if (!err)
        err = csm_genset_add(gs, &tgen, NULL, errbuf, errlen);
    if (err) {
        csm_genset_free(gs);
        return err;
    }
    *out = gs;
    return CSM_OK;
}

/* ---- Harness. ------------------------------------------------------------ */

typedef struct h {
    struct event_base *base;
    fake_kreq_transport f;
    csm_informer_env env;
    csm_resource *res[2];
    size_t nres;
} h;

static void h_env(h *x)
{
    memset(x, 0, sizeof(*x));
    x->base = event_base_new();
    ck_assert_ptr_nonnull(x->base);
    x->env.base = x->base;
    fake_kreq_init(&x->f, &x->env.transport);
}

/* A resource for group cache.example.com/v1 and kind; namespaces NULL:
 * all of them. */
static csm_resource *h_add(h *x, const char *kind, const csm_strlist *namespaces,
                           const csm_strlist *deny, const char *label_selector)
{
    csm_gvk gvk = {(char *)"cache.example.com", (char *)"v1", (char *)kind};
    csm_resource_opts o;

    memset(&o, 0, sizeof(o));
    o.env = &x->env;
    o.gvk = &gvk;
    o.namespaces = namespaces;
    o.namespaces_deny = deny;
    o.label_selector = label_selector;
    o.make_genset = make_genset;
    ck_assert_uint_lt(x->nres, 2);
    ck_assert_int_eq(csm_resource_new(&o, &x->res[x->nres]), CSM_OK);
    return x->res[x->nres++];
}

static void h_teardown(h *x)
{
    for (size_t i = 0; i < x->nres; i++)
        csm_resource_free(x->res[i]);
    fake_kreq_free(&x->f);
    event_base_free(x->base);
}

/* The APIResourceList of cache.example.com/v1 with Memcached (namespaced,
 * with a status subresource listed first) and Redis (cluster-scoped). */
#define DISCOVERY                                                                                  \
    "{\"kind\":\"APIResourceList\",\"groupVersion\":\"cache.example.com/v1\",\"resources\":["      \
    "{\"name\":\"memcacheds/status\",\"kind\":\"Memcached\",\"namespaced\":true},"                 \
    "{\"name\":\"memcacheds\",\"kind\":\"Memcached\",\"namespaced\":true},"                        \
    "{\"name\":\"redises\",\"kind\":\"Redis\",\"namespaced\":false}]}"
#define OBJ(uid, name) "{\"metadata\":{\"name\":\"" name "\",\"uid\":\"" uid "\"}}"
#define LIST(items)    "{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[" items "]}"

/* The ready line of one resource. */
static int ready(const csm_resource *r, char *out, size_t len)
{
    csm_buf why;
    int ok;

    csm_buf_init(&why, 4096);
    ok = csm_resource_ready(r, &why);
    snprintf(out, len, "%s", csm_buf_str(&why));
    csm_buf_free(&why);
    return ok;
}

START_TEST(test_discovery_starts_informers)
{
    static char *ns[] = {"team-a", "team-b"};
    static char *deny[] = {"kube-system"};
    csm_strlist nsl = {ns, 2};
    csm_strlist denyl = {deny, 1};
    h x;
    csm_resource *r;
    char line[512];

    h_env(&x);
    r = h_add(&x, "Memcached", &nsl, &denyl, "app=x");
    ck_assert_str_eq(csm_resource_label(r), "cache.example.com/v1/Memcached");
    ck_assert_int_eq(csm_resource_start(r), CSM_OK);
    ck_assert_uint_eq(x.f.n, 1);
    ck_assert_str_eq(x.f.reqs[0].path, "/apis/cache.example.com/v1");
    ck_assert_int_eq(ready(r, line, sizeof(line)), 0);
    ck_assert_int_eq(csm_resource_served(r), 0);
    fake_kreq_finish(&x.f.reqs[0], 200, DISCOVERY);
    ck_assert_int_eq(csm_resource_served(r), 1);
    /* One informer per allowed namespace, each with the selectors. */
    ck_assert_uint_eq(x.f.n, 3);
    ck_assert_str_eq(x.f.reqs[1].path,
                     "/apis/cache.example.com/v1/namespaces/team-a/memcacheds?limit=500"
                     "&labelSelector=app%3Dx&fieldSelector=metadata.namespace%21%3Dkube-system");
    ck_assert_str_eq(x.f.reqs[2].path,
                     "/apis/cache.example.com/v1/namespaces/team-b/memcacheds?limit=500"
                     "&labelSelector=app%3Dx&fieldSelector=metadata.namespace%21%3Dkube-system");
    ck_assert_int_eq(ready(r, line, sizeof(line)), 0);
    ck_assert_ptr_nonnull(strstr(line, "not ready: 0 of 2 informers synced"));
    fake_kreq_finish(&x.f.reqs[1], 200, LIST(OBJ("u1", "m1") "," OBJ("u2", "m2")));
    ck_assert_int_eq(ready(r, line, sizeof(line)), 0);
    ck_assert_ptr_nonnull(strstr(line, "1 of 2 informers synced"));
    fake_kreq_finish(&x.f.reqs[2], 200, LIST(OBJ("u3", "m3")));
    ck_assert_int_eq(ready(r, line, sizeof(line)), 1);
    ck_assert_str_eq(line, "cache.example.com/v1/Memcached: synced, 3 objects\n");
    ck_assert_uint_eq(csm_resource_objects(r), 3);
    /* Both informers watch now; stop cancels every request. */
    ck_assert_uint_eq(x.f.n, 5);
    csm_resource_stop(r);
    ck_assert_int_eq(x.f.reqs[3].state, FAKE_KREQ_CANCELLED);
    ck_assert_int_eq(x.f.reqs[4].state, FAKE_KREQ_CANCELLED);
    h_teardown(&x);
}
END_TEST

/* Cluster-scoped: one informer over the collection, namespaces ignored. */
START_TEST(test_cluster_scoped)
{
    static char *ns[] = {"team-a", "team-b"};
    csm_strlist nsl = {ns, 2};
    h x;
    csm_resource *r;

    h_env(&x);
    r = h_add(&x, "Redis", &nsl, NULL, NULL);
    csm_resource_start(r);
    fake_kreq_finish(&x.f.reqs[0], 200, DISCOVERY);
    ck_assert_uint_eq(x.f.n, 2);
    ck_assert_str_eq(x.f.reqs[1].path, "/apis/cache.example.com/v1/redises?limit=500");
    h_teardown(&x);
}
END_TEST

/* A Kind the server does not serve is ready with no objects; a failing
 * discovery is not ready. */
START_TEST(test_unserved_and_failing)
{
    h x;
    csm_resource *r;
    char line[512];

    h_env(&x);
    r = h_add(&x, "Etcd", NULL, NULL, NULL);
    csm_resource_start(r);
    fake_kreq_finish(&x.f.reqs[0], 200, DISCOVERY);
    ck_assert_uint_eq(x.f.n, 1);
    ck_assert_int_eq(ready(r, line, sizeof(line)), 1);
    ck_assert_str_eq(line, "cache.example.com/v1/Etcd: not served (kind not in the group "
                           "version's discovery document); counted as ready with no objects\n");
    h_teardown(&x);

    h_env(&x);
    r = h_add(&x, "Memcached", NULL, NULL, NULL);
    csm_resource_start(r);
    fake_kreq_finish(&x.f.reqs[0], 404, NULL);
    ck_assert_int_eq(ready(r, line, sizeof(line)), 1);
    ck_assert_ptr_nonnull(strstr(line, "not served (group version not served)"));
    h_teardown(&x);

    h_env(&x);
    r = h_add(&x, "Memcached", NULL, NULL, NULL);
    csm_resource_start(r);
    fake_kreq_finish(&x.f.reqs[0], 503, NULL);
    ck_assert_int_eq(ready(r, line, sizeof(line)), 0);
    ck_assert_str_eq(line,
                     "cache.example.com/v1/Memcached: not ready: discovery failed: HTTP 503\n");
    h_teardown(&x);
}
END_TEST

/* A text-only sink that keeps what it is given. */
typedef struct cap_sink {
    csm_sink s;
    csm_buf b;
} cap_sink;

static csm_err cap_text(csm_sink *s, const char *p, size_t n)
{
    return csm_buf_append(&((cap_sink *)s)->b, p, n);
}

static csm_err cap_ref(csm_sink *s, const char *p, size_t n, void (*release)(void *), void *owner)
{
    csm_err err = csm_buf_append(&((cap_sink *)s)->b, p, n);
    release(owner);
    return err;
}

static void scrape(h *x, csm_buf *out)
{
    cap_sink c = {{cap_text, cap_ref, NULL}, {0}};

    csm_buf_init(&c.b, 1u << 20);
    ck_assert_int_eq(csm_resource_write_all(x->res, x->nres, CSM_EXPO_TEXT, &c.s), CSM_OK);
    *out = c.b;
}

/* A family two resources share is written once, under the first one's
 * header, with both resources' samples; the others follow in order. */
START_TEST(test_write_all_merges_shared_families)
{
    h x;
    csm_resource *mc;
    csm_resource *rd;
    csm_buf out;

    h_env(&x);
    mc = h_add(&x, "Memcached", NULL, NULL, NULL);
    rd = h_add(&x, "Redis", NULL, NULL, NULL);
    /* Nothing is served yet: an empty body. */
    scrape(&x, &out);
    ck_assert_uint_eq(out.len, 0);
    csm_buf_free(&out);
    csm_resource_start(mc);
    csm_resource_start(rd);
    fake_kreq_finish(&x.f.reqs[0], 200, DISCOVERY);
    fake_kreq_finish(&x.f.reqs[1], 200, DISCOVERY);
    ck_assert_uint_eq(x.f.n, 4);
    fake_kreq_finish(&x.f.reqs[2], 200, LIST(OBJ("u1", "m1")));
    fake_kreq_finish(&x.f.reqs[3], 200, LIST(OBJ("u2", "r1")));
    scrape(&x, &out);
    ck_assert_str_eq(csm_buf_str(&out), "# HELP shared Shared by every kind.\n"
                                        "# TYPE shared gauge\n"
                                        "shared{name=\"m1\"} 1\n"
                                        "shared{name=\"r1\"} 1\n"
                                        "# HELP memcached_own Of one kind.\n"
                                        "# TYPE memcached_own gauge\n"
                                        "memcached_own{name=\"m1\"} 2\n"
                                        "# HELP redis_own Of one kind.\n"
                                        "# TYPE redis_own gauge\n"
                                        "redis_own{name=\"r1\"} 2\n");
    csm_buf_free(&out);
    h_teardown(&x);
}
END_TEST

/* An informer's 404 (the CRD was deleted) drops the resource's series on
 * the next loop iteration and discovery starts over. */
START_TEST(test_collection_gone_tears_down)
{
    h x;
    csm_resource *r;
    csm_buf out;

    h_env(&x);
    r = h_add(&x, "Memcached", NULL, NULL, NULL);
    csm_resource_start(r);
    fake_kreq_finish(&x.f.reqs[0], 200, DISCOVERY);
    fake_kreq_finish(&x.f.reqs[1], 200, LIST(OBJ("u1", "m1")));
    ck_assert_uint_eq(csm_resource_objects(r), 1);
    fake_kreq_finish(&x.f.reqs[2], 404, NULL);
    ck_assert_int_eq(csm_resource_served(r), 0);
    scrape(&x, &out);
    ck_assert_uint_eq(out.len, 0);
    csm_buf_free(&out);
    fake_kreq_wait(&x.f, x.base, 4);
    ck_assert_uint_eq(x.f.n, 4);
    ck_assert_str_eq(x.f.reqs[3].path, "/apis/cache.example.com/v1");
    ck_assert_uint_eq(csm_resource_objects(r), 0);
    /* Served again: new informers, the object is back. */
    fake_kreq_finish(&x.f.reqs[3], 200, DISCOVERY);
    fake_kreq_finish(&x.f.reqs[4], 200, LIST(OBJ("u1", "m1")));
    ck_assert_uint_eq(csm_resource_objects(r), 1);
    h_teardown(&x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resource");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_discovery_starts_informers);
    tcase_add_test(tc, test_cluster_scoped);
    tcase_add_test(tc, test_unserved_and_failing);
    tcase_add_test(tc, test_write_all_merges_shared_families);
    tcase_add_test(tc, test_collection_gone_tears_down);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
