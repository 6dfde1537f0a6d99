#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "ingest/crsdisco.h"

START_TEST(test_preferred_version)
{
    char v[64] = "";
    const char *group = "{\"kind\":\"APIGroup\",\"name\":\"gen.example.com\",\"versions\":["
                        "{\"groupVersion\":\"gen.example.com/v2\",\"version\":\"v2\"},"
                        "{\"groupVersion\":\"gen.example.com/v1\",\"version\":\"v1\"}],"
                        "\"preferredVersion\":{\"groupVersion\":\"gen.example.com/v1\","
                        "\"version\":\"v1\"}}";
    const char *core = "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"]}";

    ck_assert_int_eq(csm_crsdisco_preferred(group, strlen(group), v, sizeof(v)), CSM_OK);
    ck_assert_str_eq(v, "v1");
    ck_assert_int_eq(csm_crsdisco_preferred(core, strlen(core), v, sizeof(v)), CSM_OK);
    ck_assert_str_eq(v, "v1");
    ck_assert_int_eq(csm_crsdisco_preferred("{}", 2, v, sizeof(v)), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_crsdisco_preferred("nope", 4, v, sizeof(v)), CSM_ERR_PARSE);
    ck_assert_int_eq(csm_crsdisco_preferred(group, strlen(group), v, 2), CSM_ERR_PARSE);
}
END_TEST

static const char list_json[] =
    "{\"kind\":\"APIResourceList\",\"groupVersion\":\"gen.example.com/v1\",\"resources\":["
    "{\"name\":\"widgets\",\"kind\":\"Widget\",\"namespaced\":true,"
    "\"verbs\":[\"get\",\"list\",\"watch\",\"create\"]},"
    "{\"name\":\"widgets/status\",\"kind\":\"Widget\",\"verbs\":[\"get\",\"patch\"]},"
    "{\"name\":\"gadgets\",\"kind\":\"Gadget\",\"verbs\":[\"list\",\"watch\"]},"
    "{\"name\":\"reviews\",\"kind\":\"Review\",\"verbs\":[\"create\"]},"
    "{\"name\":7}]}";

START_TEST(test_kinds)
{
    csm_gvk *found = NULL;
    size_t n = 0;

    /* Every listable, watchable kind; no subresource; nothing twice. */
    ck_assert_int_eq(
        csm_crsdisco_kinds(list_json, strlen(list_json), "gen.example.com", "v1", "*", &found, &n),
        CSM_OK);
    ck_assert_int_eq(csm_crsdisco_kinds(list_json, strlen(list_json), "gen.example.com", "v1",
                                        "Widget", &found, &n),
                     CSM_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(found[0].kind, "Widget");
    ck_assert_str_eq(found[0].group, "gen.example.com");
    ck_assert_str_eq(found[0].version, "v1");
    ck_assert_str_eq(found[1].kind, "Gadget");
    /* One kind only. */
    ck_assert_int_eq(csm_crsdisco_kinds(list_json, strlen(list_json), "gen.example.com", "v2",
                                        "Gadget", &found, &n),
                     CSM_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(found[2].version, "v2");
    ck_assert_int_eq(csm_crsdisco_kinds("[", 1, "g", "v", "*", &found, &n), CSM_ERR_PARSE);
    for (size_t i = 0; i < n; i++)
        csm_gvk_free(&found[i]);
    free(found);
}
END_TEST

START_TEST(test_lifecycle_without_patterns)
{
    struct event_base *base = event_base_new();
    csm_crsdisco *d = NULL;

    /* No client needed while there is nothing to resolve. */
    ck_assert_int_eq(csm_crsdisco_new(base, NULL, NULL, 30, NULL, NULL, &d), CSM_OK);
    ck_assert_int_eq(csm_crsdisco_set_patterns(d, NULL, 0), CSM_OK);
    csm_crsdisco_stop(d);
    csm_crsdisco_free(d);
    csm_crsdisco_free(NULL);
    event_base_free(base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crsdisco");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_preferred_version);
    tcase_add_test(tc, test_kinds);
    tcase_add_test(tc, test_lifecycle_without_patterns);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
