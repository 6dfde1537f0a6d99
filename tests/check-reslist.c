#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "base/reslist.h"

static csm_reslist *parse_ok(const char *text, int plain_ok)
{
    csm_reslist *l = NULL;
    char why[256] = "";
    ck_assert_msg(csm_reslist_parse(text, plain_ok, &l, why, sizeof(why)) == CSM_OK, "%s: %s", text,
                  why);
    return l;
}

static void parse_bad(const char *text, int plain_ok, const char *want)
{
    csm_reslist *l = NULL;
    char why[256] = "";
    ck_assert_int_eq(csm_reslist_parse(text, plain_ok, &l, why, sizeof(why)), CSM_ERR_INVALID);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(why, want);
}

START_TEST(test_ksm_syntax)
{
    csm_reslist *l = parse_ok("memcacheds=[app,tier], *=[*] ,pods=[ app.kubernetes.io/name ],"
                              "empty=[]",
                              0);
    const char *const *items;
    size_t n = 9;

    ck_assert_uint_eq(csm_reslist_entries(l), 4);
    ck_assert_str_eq(csm_reslist_resource(l, 1), "*");
    ck_assert_ptr_null(csm_reslist_resource(l, 4));
    items = csm_reslist_get(l, "memcacheds", &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(items[0], "app");
    ck_assert_str_eq(items[1], "tier");
    items = csm_reslist_get(l, "*", &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(items[0], "*");
    items = csm_reslist_get(l, "pods", &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(items[0], "app.kubernetes.io/name");
    /* "[]" is an entry with no items, unlike a resource that is absent. */
    ck_assert_ptr_nonnull(csm_reslist_get(l, "empty", &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(csm_reslist_get(l, "nodes", &n));
    ck_assert_uint_eq(n, 0);
    csm_reslist_free(l);
    csm_reslist_free(NULL);

    l = parse_ok("", 0);
    ck_assert_uint_eq(csm_reslist_entries(l), 0);
    csm_reslist_free(l);
    l = parse_ok(NULL, 0);
    ck_assert_uint_eq(csm_reslist_entries(l), 0);
    csm_reslist_free(l);
}
END_TEST

START_TEST(test_plain_lists)
{
    csm_reslist *l = parse_ok("info, labels,status", 1);
    const char *const *items;
    size_t n;

    items = csm_reslist_get(l, "*", &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(items[1], "labels");
    csm_reslist_free(l);
    /* The keyed form works where plain lists do. */
    l = parse_ok("memcacheds=[info,status],*=[info]", 1);
    ck_assert_uint_eq(csm_reslist_entries(l), 2);
    csm_reslist_free(l);
    /* Without plain_ok a bare list is an error. */
    parse_bad("app,tier", 0, "\"app,tier\": expected RESOURCE=[ITEM,...]");
}
END_TEST

START_TEST(test_errors)
{
    parse_bad("=[a]", 0, "\"\": expected a resource name before '='");
    parse_bad("pods=a", 0, "\"pods\": expected [ITEM,...] after '='");
    parse_bad("pods=[a", 0, "\"pods\": expected [ITEM,...] after '='");
    parse_bad("pods=[a,,b]", 0, "an empty item in the list of \"pods\"");
    parse_bad("pods=[a,]", 0, "an empty item in the list of \"pods\"");
    parse_bad("pods=[a=b]", 0, "'[', ']' or '=' in the list of \"pods\"");
    parse_bad("pods=[a] nodes=[b]", 0, "\"nodes=[b]\": expected ',' between entries");
    parse_bad("pods=[a],", 0, "a trailing ','");
    parse_bad("pods=[a],pods=[b]", 0, "resource \"pods\" is listed twice");
    parse_bad("info,,labels", 1, "an empty item in the list of \"*\"");
    parse_bad("info,", 1, "an empty item in the list of \"*\"");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reslist");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_ksm_syntax);
    tcase_add_test(tc, test_plain_lists);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
