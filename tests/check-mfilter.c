#include <check.h>
#include <stdio.h>
#include <string.h>

#include "generators/builtin.h"
#include "check_main.h"
#include "render/gen.h"
#include "render/mfilter.h"

static csm_mfilter *make(const char *const *allow, size_t na, const char *const *deny, size_t nd)
{
    csm_mfilter *f = NULL;
    char why[256] = "";
    ck_assert_msg(csm_mfilter_new(allow, na, deny, nd, &f, why, sizeof(why)) == CSM_OK, "%s", why);
    return f;
}

START_TEST(test_allowlist_is_anchored)
{
    static const char *const allow[] = {"memcached_info", "memcached_status_.*"};
    csm_mfilter *f = make(allow, 2, NULL, 0);

    ck_assert(csm_mfilter_admits(f, "memcached_info"));
    ck_assert(csm_mfilter_admits(f, "memcached_status_condition"));
    ck_assert(!csm_mfilter_admits(f, "memcached_info_extra"));
    ck_assert(!csm_mfilter_admits(f, "x_memcached_info"));
    ck_assert(!csm_mfilter_admits(f, "memcached_labels"));
    csm_mfilter_free(f);
}
END_TEST

START_TEST(test_denylist_and_alternation)
{
    static const char *const deny[] = {"a|b", ".*_created"};
    csm_mfilter *f = make(NULL, 0, deny, 2);

    /* "^(a|b)$": the anchor covers both alternatives. */
    ck_assert(!csm_mfilter_admits(f, "a"));
    ck_assert(!csm_mfilter_admits(f, "b"));
    ck_assert(csm_mfilter_admits(f, "ab"));
    ck_assert(!csm_mfilter_admits(f, "memcached_created"));
    ck_assert(csm_mfilter_admits(f, "memcached_info"));
    csm_mfilter_free(f);
    /* No list: everything; NULL filter: everything. */
    f = make(NULL, 0, NULL, 0);
    ck_assert(csm_mfilter_admits(f, "anything"));
    csm_mfilter_free(f);
    ck_assert(csm_mfilter_admits(NULL, "anything"));
    csm_mfilter_free(NULL);
}
END_TEST

START_TEST(test_errors)
{
    static const char *const bad[] = {"ok", "memcached_(info"};
    static const char *const one[] = {"x"};
    csm_mfilter *f = NULL;
    char why[256] = "";

    ck_assert_int_eq(csm_mfilter_new(bad, 2, NULL, 0, &f, why, sizeof(why)), CSM_ERR_INVALID);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(strstr(why, "\"memcached_(info\": "));
    ck_assert_int_eq(csm_mfilter_new(one, 1, one, 1, &f, why, sizeof(why)), CSM_ERR_INVALID);
    ck_assert_str_eq(why, "an allow list and a deny list are mutually exclusive");
}
END_TEST

START_TEST(test_denied_families_cost_nothing)
{
    static const char *const deny[] = {"memcached_status_condition", "memcached_.*generation"};
    csm_resource_desc d = {"g.io", "v1", "Memcached", "memcacheds", 1, "memcached"};
    csm_mfilter *f = make(NULL, 0, deny, 2);
    csm_genset *gs = NULL;
    cJSON *obj = cJSON_Parse("{\"metadata\":{\"name\":\"a\",\"generation\":2}}");
    csm_block *blk = NULL;
    size_t failures = 1;
    size_t len;
    const char *text;
    char got[128];
    char err[128];

    ck_assert_int_eq(csm_genset_new(&d, csm_mfilter_admits, f, &gs), CSM_OK);
    ck_assert_int_eq(csm_genset_add(gs, csm_gen_builtin("status"), NULL, err, sizeof(err)), CSM_OK);
    ck_assert_int_eq(csm_genset_add(gs, csm_gen_builtin("info"), NULL, err, sizeof(err)), CSM_OK);
    /* Only memcached_info is left; the status generator's emits are no-ops. */
    ck_assert_uint_eq(csm_genset_families(gs), 1);
    ck_assert_str_eq(csm_genset_family(gs, 0)->name, "memcached_info");
    ck_assert_int_eq(csm_genset_render(gs, obj, &blk, &failures), CSM_OK);
    ck_assert_uint_eq(failures, 0);
    ck_assert_uint_eq(csm_block_families(blk), 1);
    text = csm_block_slice(blk, 0, &len);
    snprintf(got, sizeof(got), "%.*s", (int)len, text);
    ck_assert_str_eq(got, "memcached_info{memcached=\"a\"} 1\n");
    csm_block_unref(blk);
    cJSON_Delete(obj);
    csm_genset_free(gs);
    csm_mfilter_free(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mfilter");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_allowlist_is_anchored);
    tcase_add_test(tc, test_denylist_and_alternation);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_denied_families_cost_nothing);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
