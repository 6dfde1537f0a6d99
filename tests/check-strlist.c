#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "base/strlist.h"

START_TEST(test_push_has_clear)
{
    csm_strlist l = {0};

    /* Only n bytes are copied: the item need not end there. */
    ck_assert_int_eq(csm_strlist_push(&l, "alpha,beta", 5), CSM_OK);
    ck_assert_int_eq(csm_strlist_push(&l, "", 0), CSM_OK);
    ck_assert_int_eq(csm_strlist_push(&l, "beta", 4), CSM_OK);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.items[0], "alpha");
    ck_assert_str_eq(l.items[1], "");
    ck_assert_str_eq(l.items[2], "beta");
    ck_assert_int_eq(csm_strlist_has(&l, "alpha"), 1);
    ck_assert_int_eq(csm_strlist_has(&l, ""), 1);
    ck_assert_int_eq(csm_strlist_has(&l, "alph"), 0);
    ck_assert_int_eq(csm_strlist_has(&l, "alpha,beta"), 0);
    csm_strlist_clear(&l);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_ptr_null(l.items);
    ck_assert_int_eq(csm_strlist_has(&l, "alpha"), 0);
    /* Cleared lists are reusable; NULL is fine. */
    ck_assert_int_eq(csm_strlist_push(&l, "again", 5), CSM_OK);
    ck_assert_str_eq(l.items[0], "again");
    csm_strlist_clear(&l);
    csm_strlist_clear(NULL);
}
END_TEST

START_TEST(test_append)
{
    const char *src[] = {"a", NULL, "c"};
    csm_strlist l = {0};
    char buf[] = "mutable";
    const char *one[] = {buf};

    ck_assert_int_eq(csm_strlist_append(&l, NULL, 0), CSM_OK);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_int_eq(csm_strlist_append(&l, src, 3), CSM_OK);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.items[0], "a");
    ck_assert_str_eq(l.items[1], ""); /* NULL is copied as "" */
    ck_assert_str_eq(l.items[2], "c");
    /* Appends after what is there, and keeps copies, not the pointers. */
    ck_assert_int_eq(csm_strlist_append(&l, one, 1), CSM_OK);
    buf[0] = 'X';
    ck_assert_uint_eq(l.n, 4);
    ck_assert_str_eq(l.items[3], "mutable");
    ck_assert_ptr_ne(l.items[3], buf);
    csm_strlist_clear(&l);
}
END_TEST

START_TEST(test_strv_free)
{
    char **v = calloc(3, sizeof(*v));

    ck_assert_ptr_nonnull(v);
    v[0] = strdup("x");
    v[2] = strdup("z");  /* v[1] stays NULL */
    csm_strv_free(v, 3); /* ASan reports a leak or a bad free here */
    csm_strv_free(NULL, 5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("strlist");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_push_has_clear);
    tcase_add_test(tc, test_append);
    tcase_add_test(tc, test_strv_free);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
