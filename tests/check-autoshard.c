#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/autoshard.h"
#include "check_main.h"

/* The owner of a Pod given as JSON: the name, or "ERR: <why>". */
static const char *owner(const char *json, char *buf, size_t len)
{
    cJSON *pod = cJSON_Parse(json);
    const char *why;
    static char err[256];

    ck_assert_ptr_nonnull(pod);
    why = csm_autoshard_owner(pod, buf, len);
    cJSON_Delete(pod);
    if (!why)
        return buf;
    snprintf(err, sizeof(err), "ERR: %s", why);
    return err;
}

/* A Pod whose one owner reference is apiVersion/kind/name, a controller
 * if `controller`; written into out[len]. */
static const char *pod_owned(char *out, size_t len, const char *api_version, const char *kind,
                             const char *name, int controller)
{
    int n = snprintf(out, len,
                     "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"%s\",\"kind\":\"%s\","
                     "\"name\":\"%s\"%s}]}}",
                     api_version, kind, name, controller ? ",\"controller\":true" : "");

    ck_assert(n > 0 && (size_t)n < len);
    return out;
}

static const char NO_OWNER[] = "ERR: the pod has no controlling StatefulSet owner reference";
static const char BAD_NAME[] = "ERR: the StatefulSet owner reference has an invalid name";

START_TEST(test_owner)
{
    char b[64];
    char p[256];

    ck_assert_str_eq(owner("{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":"
                           "\"ConfigMap\",\"name\":\"x\",\"controller\":true},{\"apiVersion\":"
                           "\"apps/v1\",\"kind\":\"StatefulSet\",\"name\":\"csm\",\"controller\":"
                           "true}]}}",
                           b, sizeof(b)),
                     "csm");
    /* Not the controller, another kind or group: not ours. */
    ck_assert_str_eq(
        owner(pod_owned(p, sizeof(p), "apps/v1", "StatefulSet", "csm", 0), b, sizeof(b)), NO_OWNER);
    ck_assert_str_eq(
        owner(pod_owned(p, sizeof(p), "apps/v1", "ReplicaSet", "csm", 1), b, sizeof(b)), NO_OWNER);
    ck_assert_str_eq(
        owner(pod_owned(p, sizeof(p), "example.com/v1", "StatefulSet", "csm", 1), b, sizeof(b)),
        NO_OWNER);
    ck_assert_str_eq(owner("{\"metadata\":{}}", b, sizeof(b)), NO_OWNER);
    ck_assert_str_eq(
        owner("{\"metadata\":{\"ownerReferences\":{\"kind\":\"StatefulSet\"}}}", b, sizeof(b)),
        NO_OWNER);
    /* A name that does not fit, or an empty one. */
    ck_assert_str_eq(owner(pod_owned(p, sizeof(p), "apps/v1", "StatefulSet", "csm", 1), b, 3),
                     BAD_NAME);
    ck_assert_str_eq(owner(pod_owned(p, sizeof(p), "apps/v1", "StatefulSet", "", 1), b, sizeof(b)),
                     BAD_NAME);
}
END_TEST

static csm_err replicas(const char *json, int32_t *out)
{
    cJSON *sts = cJSON_Parse(json);
    csm_err err;

    ck_assert_ptr_nonnull(sts);
    err = csm_autoshard_replicas(sts, out);
    cJSON_Delete(sts);
    return err;
}

START_TEST(test_replicas)
{
    int32_t n = -1;

    ck_assert_int_eq(replicas("{\"spec\":{\"replicas\":3}}", &n), CSM_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(replicas("{\"spec\":{\"replicas\":0}}", &n), CSM_OK);
    ck_assert_int_eq(n, 0);
    /* Absent or null: the API default, 1. */
    ck_assert_int_eq(replicas("{\"spec\":{}}", &n), CSM_OK);
    ck_assert_int_eq(n, 1);
    n = -1;
    ck_assert_int_eq(replicas("{\"spec\":{\"replicas\":null}}", &n), CSM_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(replicas("{}", &n), CSM_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(replicas("{\"spec\":{\"replicas\":1000000000}}", &n), CSM_OK);
    ck_assert_int_eq(n, 1000000000);
    /* Not an integer in range: refused (the exporter keeps its count). */
    ck_assert_int_eq(replicas("{\"spec\":{\"replicas\":-1}}", &n), CSM_ERR_TYPE);
    ck_assert_int_eq(replicas("{\"spec\":{\"replicas\":2.5}}", &n), CSM_ERR_TYPE);
    ck_assert_int_eq(replicas("{\"spec\":{\"replicas\":1e10}}", &n), CSM_ERR_TYPE);
    ck_assert_int_eq(replicas("{\"spec\":{\"replicas\":\"3\"}}", &n), CSM_ERR_TYPE);
    ck_assert_int_eq(replicas("{\"spec\":{\"replicas\":1e400}}", &n), CSM_ERR_TYPE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("autoshard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_owner);
    tcase_add_test(tc, test_replicas);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
