#include <check.h>
#include <string.h>

#include "base/quote.h"
#include "check_main.h"

START_TEST(test_plain_text_verbatim)
{
    char q[CSM_QUOTE_SIZE];

    ck_assert_str_eq(csm_quote("v1/Pod", 6, q, sizeof(q)), "v1/Pod");
    ck_assert_str_eq(csm_quote("", 0, q, sizeof(q)), "");
    /* Only n bytes are read. */
    ck_assert_str_eq(csm_quote("abcdef", 3, q, sizeof(q)), "abc");
}
END_TEST

START_TEST(test_escapes)
{
    char q[CSM_QUOTE_SIZE];

    /* A newline cannot start a forged log line, a quote cannot close the
     * message's quotes, a NUL does not end the text early. */
    ck_assert_str_eq(csm_quote("a\nb", 3, q, sizeof(q)), "a\\x0ab");
    ck_assert_str_eq(csm_quote("\"x\\", 3, q, sizeof(q)), "\\x22x\\x5c");
    ck_assert_str_eq(csm_quote("a\0b", 3, q, sizeof(q)), "a\\x00b");
    ck_assert_str_eq(csm_quote("\x7f\x1b", 2, q, sizeof(q)), "\\x7f\\x1b");
    /* Bytes above 0x7f (UTF-8) pass. */
    ck_assert_str_eq(csm_quote("\xc3\xa9", 2, q, sizeof(q)), "\xc3\xa9");
}
END_TEST

START_TEST(test_long_values_cut)
{
    char in[1000];
    char q[CSM_QUOTE_SIZE];
    char want[CSM_QUOTE_MAX + 4];

    memset(in, 'x', sizeof(in));
    memset(want, 'x', CSM_QUOTE_MAX);
    memcpy(want + CSM_QUOTE_MAX, "...", 4);
    ck_assert_str_eq(csm_quote(in, sizeof(in), q, sizeof(q)), want);
    /* Exactly CSM_QUOTE_MAX bytes are not cut. */
    want[CSM_QUOTE_MAX] = '\0';
    ck_assert_str_eq(csm_quote(in, CSM_QUOTE_MAX, q, sizeof(q)), want);
    /* All control bytes: every one escaped, and the buffer fills before
     * the "..." mark (what flags.c always did): still cut and terminated. */
    memset(in, '\n', sizeof(in));
    csm_quote(in, sizeof(in), q, sizeof(q));
    ck_assert_uint_eq(strlen(q), CSM_QUOTE_MAX * 4);
    ck_assert_int_eq(memcmp(q + strlen(q) - 4, "\\x0a", 4), 0);
}
END_TEST

START_TEST(test_small_buffer)
{
    char q[12];

    /* A short buffer cuts earlier (room for an escape stays free) and
     * stays terminated. */
    memset(q, '#', sizeof(q));
    csm_quote("abcdefghijklmnop", 16, q, sizeof(q));
    ck_assert_str_eq(q, "abcd");
    csm_quote("abc", 3, q, 1);
    ck_assert_str_eq(q, "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quote");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_plain_text_verbatim);
    tcase_add_test(tc, test_escapes);
    tcase_add_test(tc, test_long_values_cut);
    tcase_add_test(tc, test_small_buffer);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
