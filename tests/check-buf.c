#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "base/buf.h"

START_TEST(test_append_and_terminate)
{
    csm_buf b;
    csm_buf_init(&b, 1024);
    ck_assert_str_eq(csm_buf_str(&b), "");
    ck_assert_int_eq(csm_buf_puts(&b, "hello"), CSM_OK);
    ck_assert_int_eq(csm_buf_printf(&b, " %d %s", 42, "x"), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), "hello 42 x");
    ck_assert_uint_eq(b.len, 10);
    csm_buf_consume(&b, 6);
    ck_assert_str_eq(csm_buf_str(&b), "42 x");
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_cap_frees_and_stays_usable)
{
    csm_buf b;
    csm_buf_init(&b, 8);
    ck_assert_int_eq(csm_buf_puts(&b, "12345678"), CSM_OK);
    ck_assert_int_eq(csm_buf_putc(&b, '9'), CSM_ERR_TOO_LARGE);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_null(b.ptr);
    ck_assert_int_eq(csm_buf_printf(&b, "%s", "123456789"), CSM_ERR_TOO_LARGE);
    ck_assert_int_eq(csm_buf_puts(&b, "ok"), CSM_OK);
    ck_assert_str_eq(csm_buf_str(&b), "ok");
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_steal)
{
    csm_buf b;
    size_t n = 99;
    char *s;
    csm_buf_init(&b, 100);
    ck_assert_ptr_null(csm_buf_steal(&b, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(csm_buf_append(&b, "abc", 3), CSM_OK);
    s = csm_buf_steal(&b, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(s, "abc");
    ck_assert_uint_eq(b.len, 0);
    free(s);
}
END_TEST

START_TEST(test_growth_keeps_content)
{
    csm_buf b;
    csm_buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(csm_buf_putc(&b, (char)('a' + i % 26)), CSM_OK);
    ck_assert_uint_eq(b.len, 10000);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(b.ptr[i], 'a' + i % 26);
    ck_assert_int_eq(b.ptr[10000], '\0');
    csm_buf_free(&b);
}
END_TEST

START_TEST(test_read_file)
{
    csm_buf b;

    csm_buf_init(&b, 1 << 20);
    ck_assert_int_eq(csm_buf_read_file(&b, "data/crs/single.yaml"), CSM_OK);
    ck_assert_ptr_nonnull(strstr(csm_buf_str(&b), "kind: CustomResourceStateMetrics\n"));
    csm_buf_free(&b);
    /* Past the cap: an error and an empty buffer. */
    csm_buf_init(&b, 16);
    ck_assert_int_eq(csm_buf_read_file(&b, "data/crs/single.yaml"), CSM_ERR_TOO_LARGE);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(csm_buf_read_file(&b, "data/crs/nope"), CSM_ERR_NOT_FOUND);
    csm_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_append_and_terminate);
    tcase_add_test(tc, test_cap_frees_and_stays_usable);
    tcase_add_test(tc, test_steal);
    tcase_add_test(tc, test_growth_keeps_content);
    tcase_add_test(tc, test_read_file);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
