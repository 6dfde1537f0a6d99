#include <check.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "check_main.h"
#include "render/crs.h"
#include "render/crscount.h"

#define HEAD                                                                                       \
    "kind: CustomResourceStateMetrics\n"                                                           \
    "spec:\n"                                                                                      \
    "  resources:\n"                                                                               \
    "    - groupVersionKind: {group: cache.example.com, version: v1, kind: Memcached}\n"           \
    "      metricNamePrefix: memcached\n"                                                          \
    "      metrics:\n"                                                                             \
    "        - name: count\n"                                                                      \
    "          help: Memcacheds per namespace and plan.\n"                                         \
    "          labelsFromPath: {namespace: [metadata, namespace], plan: [spec, plan]}\n"

static const csm_resource_desc desc = {"cache.example.com", "v1", "Memcached",
                                       "memcacheds",        1,    "memcached"};

static csm_crscount *mk(const char *yaml, csm_crs **crs_out)
{
    csm_crs *crs = NULL;
    csm_crscount *c = NULL;
    char err[512];

    ck_assert_msg(csm_crs_load_text("t.yaml", yaml, strlen(yaml), &crs, err, sizeof(err)) == CSM_OK,
                  "%s", err);
    ck_assert_int_eq(csm_crscount_new(crs, &desc, &c), CSM_OK);
    ck_assert_ptr_nonnull(c);
    if (crs_out)
        *crs_out = crs;
    else
        csm_crs_unref(crs); /* the count keeps its own reference */
    return c;
}

static cJSON *obj(const char *uid, const char *ns, const char *plan)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    char name[64];

    snprintf(name, sizeof(name), "n-%s", uid);
    ck_assert_ptr_nonnull(cJSON_AddStringToObject(meta, "name", name));
    ck_assert_ptr_nonnull(cJSON_AddStringToObject(meta, "namespace", ns));
    ck_assert_ptr_nonnull(cJSON_AddStringToObject(meta, "uid", uid));
    if (plan)
        ck_assert_ptr_nonnull(
            cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "spec"), "plan", plan));
    return o;
}

static void see(csm_crscount *c, uint32_t source, const char *uid, const char *ns, const char *plan)
{
    cJSON *o = obj(uid, ns, plan);
    ck_assert_int_eq(csm_crscount_seen(c, source, o), CSM_OK);
    cJSON_Delete(o);
}

/* The body, with the lines that do not start with '#'. */
static char *body(const csm_crscount *c)
{
    csm_buf b;
    char *s;

    csm_buf_init(&b, 64u << 20);
    ck_assert_int_eq(csm_crscount_write(c, CSM_EXPO_TEXT, &b, NULL), CSM_OK);
    s = strdup(csm_buf_str(&b));
    csm_buf_free(&b);
    return s;
}

#define GVK                                                                                        \
    "customresource_group=\"cache.example.com\",customresource_kind=\"Memcached\","                \
    "customresource_version=\"v1\""

START_TEST(test_update_moves_delete_removes)
{
    csm_crscount *c = mk(HEAD "          each: {type: Count}\n", NULL);
    char *s;

    see(c, 0, "u1", "a", "gold");
    see(c, 0, "u2", "a", "gold");
    see(c, 0, "u3", "b", "free");
    s = body(c);
    ck_assert_str_eq(s, "# HELP memcached_count Memcacheds per namespace and plan.\n"
                        "# TYPE memcached_count gauge\n"
                        "memcached_count{" GVK ",namespace=\"a\",plan=\"gold\"} 2\n"
                        "memcached_count{" GVK ",namespace=\"b\",plan=\"free\"} 1\n");
    free(s);
    /* u2 changes plan: it moves; seen twice more, it still counts once. */
    see(c, 0, "u2", "a", "free");
    see(c, 0, "u2", "a", "free");
    s = body(c);
    ck_assert_str_eq(s, "# HELP memcached_count Memcacheds per namespace and plan.\n"
                        "# TYPE memcached_count gauge\n"
                        "memcached_count{" GVK ",namespace=\"a\",plan=\"free\"} 1\n"
                        "memcached_count{" GVK ",namespace=\"a\",plan=\"gold\"} 1\n"
                        "memcached_count{" GVK ",namespace=\"b\",plan=\"free\"} 1\n");
    free(s);
    /* The last object of a combination leaves: the series goes. */
    ck_assert_int_eq(csm_crscount_forget(c, "u3"), CSM_OK);
    ck_assert_int_eq(csm_crscount_forget(c, "u3"), CSM_ERR_NOT_FOUND);
    /* A missing path leaves the label out. */
    see(c, 0, "u1", "a", NULL);
    s = body(c);
    ck_assert_str_eq(s, "# HELP memcached_count Memcacheds per namespace and plan.\n"
                        "# TYPE memcached_count gauge\n"
                        "memcached_count{" GVK ",namespace=\"a\"} 1\n"
                        "memcached_count{" GVK ",namespace=\"a\",plan=\"free\"} 1\n");
    free(s);
    ck_assert_uint_eq(csm_crscount_objects(c), 2);
    csm_crscount_clear(c);
    s = body(c);
    ck_assert_str_eq(s, "");
    free(s);
    ck_assert_uint_eq(csm_crscount_combinations(c, 0), 0);
    csm_crscount_free(c);
}
END_TEST

START_TEST(test_relist_sweeps_only_its_source)
{
    csm_crscount *c = mk(HEAD "          each: {type: Count}\n", NULL);
    char *s;

    see(c, 0, "u1", "a", "gold");
    see(c, 0, "u2", "a", "gold");
    see(c, 1, "u3", "b", "gold");
    ck_assert_int_eq(csm_crscount_sync_begin(c, 0), CSM_OK);
    see(c, 0, "u1", "a", "gold");
    see(c, 0, "u4", "a", "gold");
    /* u2 was not listed again; u3 belongs to source 1 and stays. */
    ck_assert_uint_eq(csm_crscount_sync_end(c, 0), 1);
    s = body(c);
    ck_assert_ptr_nonnull(strstr(s, "namespace=\"a\",plan=\"gold\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(s, "namespace=\"b\",plan=\"gold\"} 1\n"));
    free(s);
    ck_assert_uint_eq(csm_crscount_sync_end(c, 7), 0);
    csm_crscount_free(c);
}
END_TEST

START_TEST(test_max_series_and_disabled)
{
    csm_crscount *c = mk(HEAD "          each: {type: Count, count: {maxSeries: 2}}\n", NULL);
    size_t omitted = 0;
    csm_buf b;
    char uid[16];
    char ns[16];

    for (int i = 0; i < 5; i++) {
        snprintf(uid, sizeof(uid), "u%d", i);
        snprintf(ns, sizeof(ns), "ns%d", i);
        see(c, 0, uid, ns, "gold");
    }
    ck_assert_uint_eq(csm_crscount_combinations(c, 0), 5);
    /* What the series budget is charged: what is written. */
    ck_assert_uint_eq(csm_crscount_series(c), 2);
    csm_buf_init(&b, 1u << 20);
    ck_assert_int_eq(csm_crscount_write(c, CSM_EXPO_OPENMETRICS, &b, &omitted), CSM_OK);
    ck_assert_uint_eq(omitted, 3);
    /* The first two in label order, and nothing else. */
    ck_assert_str_eq(csm_buf_str(&b),
                     "# HELP memcached_count Memcacheds per namespace and plan.\n"
                     "# TYPE memcached_count gauge\n"
                     "memcached_count{" GVK ",namespace=\"ns0\",plan=\"gold\"} 1\n"
                     "memcached_count{" GVK ",namespace=\"ns1\",plan=\"gold\"} 1\n");
    csm_buf_reset(&b);
    csm_crscount_enable(c, 0, 0);
    ck_assert_int_eq(csm_crscount_write(c, CSM_EXPO_TEXT, &b, &omitted), CSM_OK);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(omitted, 0);
    ck_assert_uint_eq(csm_crscount_series(c), 0);
    csm_buf_free(&b);
    csm_crscount_free(c);
}
END_TEST

START_TEST(test_long_key_uncounted)
{
    csm_crscount *c = mk(HEAD "          each: {type: Count}\n", NULL);
    size_t n = CSM_CRSCOUNT_KEY_MAX + 10;
    char *plan = malloc(n + 1);

    memset(plan, 'x', n);
    plan[n] = '\0';
    see(c, 0, "u1", "a", plan);
    ck_assert_uint_eq(csm_crscount_uncounted(c, 0), 1);
    ck_assert_uint_eq(csm_crscount_combinations(c, 0), 0);
    see(c, 0, "u1", "a", plan);
    ck_assert_uint_eq(csm_crscount_uncounted(c, 0), 1);
    see(c, 0, "u1", "a", "gold");
    ck_assert_uint_eq(csm_crscount_uncounted(c, 0), 0);
    ck_assert_uint_eq(csm_crscount_combinations(c, 0), 1);
    see(c, 0, "u1", "a", plan);
    ck_assert_uint_eq(csm_crscount_uncounted(c, 0), 1);
    ck_assert_int_eq(csm_crscount_forget(c, "u1"), CSM_OK);
    ck_assert_uint_eq(csm_crscount_uncounted(c, 0), 0);
    free(plan);
    csm_crscount_free(c);
}
END_TEST

START_TEST(test_no_count_metrics_and_no_uid)
{
    const char *yaml = "kind: CustomResourceStateMetrics\nspec:\n  resources:\n"
                       "    - groupVersionKind: {group: cache.example.com, version: v1, kind: "
                       "Memcached}\n"
                       "      metrics:\n"
                       "        - {name: r, help: h, each: {type: Gauge, gauge: {path: [spec, "
                       "replicas]}}}\n";
    csm_crs *crs = NULL;
    csm_crscount *c = (csm_crscount *)1;
    cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"x\"}}");
    char err[256];

    ck_assert_int_eq(csm_crs_load_text("t.yaml", yaml, strlen(yaml), &crs, err, sizeof(err)),
                     CSM_OK);
    ck_assert_int_eq(csm_crscount_new(crs, &desc, &c), CSM_OK);
    ck_assert_ptr_null(c);
    csm_crscount_free(NULL);
    csm_crs_unref(crs);
    c = mk(HEAD "          each: {type: Count}\n", NULL);
    ck_assert_int_eq(csm_crscount_seen(c, 0, o), CSM_ERR_NOT_FOUND);
    ck_assert_uint_eq(csm_crscount_objects(c), 0);
    cJSON_Delete(o);
    csm_crscount_free(c);
}
END_TEST

/* ---- against a model ---------------------------------------------------- */

#define M_UIDS    40
#define M_NS      3
#define M_PLANS   4
#define M_SOURCES 2

typedef struct model_obj {
    int live;
    int source; /* objects of namespace ns come from source ns % M_SOURCES */
    int ns;
    int plan; /* -1: no spec.plan */
    int marked;
} model_obj;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static const char *const plans[M_PLANS] = {"free", "gold", "silver", "a\"b\\c"};

/* Compares the body with the model: every combination with a live object
 * once, with its count, and no other sample. */
static void check_model(const csm_crscount *c, const model_obj *m)
{
    int want[M_NS][M_PLANS + 1];
    size_t combos = 0;
    size_t lines = 0;
    size_t objects = 0;
    char *s = body(c);
    csm_buf line;

    memset(want, 0, sizeof(want));
    for (int i = 0; i < M_UIDS; i++) {
        if (!m[i].live)
            continue;
        objects++;
        want[m[i].ns][m[i].plan + 1]++;
    }
    csm_buf_init(&line, 4096);
    for (int n = 0; n < M_NS; n++) {
        for (int p = 0; p <= M_PLANS; p++) {
            const char *esc[M_PLANS] = {"free", "gold", "silver", "a\\\"b\\\\c"};
            if (!want[n][p])
                continue;
            combos++;
            csm_buf_reset(&line);
            if (p == 0)
                csm_buf_printf(&line, "memcached_count{" GVK ",namespace=\"ns%d\"} %d\n", n,
                               want[n][p]);
            else
                csm_buf_printf(&line,
                               "memcached_count{" GVK ",namespace=\"ns%d\",plan=\"%s\"} %d\n", n,
                               esc[p - 1], want[n][p]);
            ck_assert_msg(strstr(s, csm_buf_str(&line)) != NULL, "missing %s in\n%s",
                          csm_buf_str(&line), s);
        }
    }
    for (const char *p = s; *p; p = strchr(p, '\n') + 1)
        lines += *p != '#';
    ck_assert_uint_eq(lines, combos);
    ck_assert_uint_eq(csm_crscount_combinations(c, 0), combos);
    ck_assert_uint_eq(csm_crscount_objects(c), objects);
    csm_buf_free(&line);
    free(s);
}

START_TEST(test_random_against_model)
{
    csm_crscount *c = mk(HEAD "          each: {type: Count}\n", NULL);
    model_obj m[M_UIDS];
    int syncing[M_SOURCES] = {0, 0};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char uid[16];
    char ns[16];

    memset(m, 0, sizeof(m));
    for (int step = 0; step < 20000; step++) {
        uint64_t r = rnd(&seed);
        int i = (int)(r % M_UIDS);
        int op = (int)((r >> 8) % 100);
        snprintf(uid, sizeof(uid), "uid-%d", i);
        if (op < 55) {
            /* Upsert; a deleted uid comes back in a namespace of its own. */
            if (!m[i].live)
                m[i].ns = (int)((r >> 16) % M_NS);
            m[i].plan = (int)((r >> 24) % (M_PLANS + 1)) - 1;
            m[i].source = m[i].ns % M_SOURCES;
            m[i].live = 1;
            m[i].marked = 1;
            snprintf(ns, sizeof(ns), "ns%d", m[i].ns);
            see(c, (uint32_t)m[i].source, uid, ns, m[i].plan < 0 ? NULL : plans[m[i].plan]);
        } else if (op < 80) {
            ck_assert_int_eq(csm_crscount_forget(c, uid), m[i].live ? CSM_OK : CSM_ERR_NOT_FOUND);
            m[i].live = 0;
        } else if (op < 90) {
            int src = (int)((r >> 16) % M_SOURCES);
            ck_assert_int_eq(csm_crscount_sync_begin(c, (uint32_t)src), CSM_OK);
            syncing[src] = 1;
            for (int k = 0; k < M_UIDS; k++) {
                if (m[k].source == src)
                    m[k].marked = 0;
            }
        } else if (op < 99) {
            int src = (int)((r >> 16) % M_SOURCES);
            size_t gone = 0;
            if (!syncing[src])
                continue;
            for (int k = 0; k < M_UIDS; k++) {
                if (m[k].live && m[k].source == src && !m[k].marked) {
                    m[k].live = 0;
                    gone++;
                }
            }
            ck_assert_uint_eq(csm_crscount_sync_end(c, (uint32_t)src), gone);
            syncing[src] = 0;
        } else {
            csm_crscount_clear(c);
            for (int k = 0; k < M_UIDS; k++)
                m[k].live = 0;
        }
        if (step % 7 == 0)
            check_model(c, m);
    }
    check_model(c, m);
    csm_crscount_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crscount");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_update_moves_delete_removes);
    tcase_add_test(tc, test_relist_sweeps_only_its_source);
    tcase_add_test(tc, test_max_series_and_disabled);
    tcase_add_test(tc, test_long_key_uncounted);
    tcase_add_test(tc, test_no_count_metrics_and_no_uid);
    tcase_add_test(tc, test_random_against_model);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
