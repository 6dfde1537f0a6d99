#include <check.h>
#include <string.h>

#include "check_main.h"
#include "base/b64.h"

#define KC (CSM_B64_PAD | CSM_B64_SKIP_CRLF) /* kubeconfig "-data" fields */

/* Decodes s with flags; the bytes land in out[], NUL-terminated. */
static csm_err dec(const char *s, unsigned flags, char *out, size_t *n, size_t *bad)
{
    unsigned char buf[256];
    csm_err err;

    ck_assert_uint_le(csm_b64_decoded_max(strlen(s)), sizeof(buf));
    err = csm_b64_decode(s, strlen(s), flags, buf, n, bad);
    if (!err) {
        memcpy(out, buf, *n);
        out[*n] = '\0';
    }
    return err;
}

static void ok(const char *s, unsigned flags, const char *want)
{
    char out[256];
    size_t n = 99;

    ck_assert_msg(dec(s, flags, out, &n, NULL) == CSM_OK, "\"%s\" did not decode", s);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_str_eq(out, want);
}

static void bad(const char *s, unsigned flags, size_t at)
{
    char out[256];
    size_t n = 99;
    size_t where = 12345;

    ck_assert_msg(dec(s, flags, out, &n, &where) == CSM_ERR_PARSE, "\"%s\" decoded", s);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(where, at);
    /* *bad may be NULL. */
    ck_assert_int_eq(dec(s, flags, out, &n, NULL), CSM_ERR_PARSE);
}

/* RFC 4648 section 10, padded and not. */
START_TEST(test_rfc4648_vectors)
{
    ok("", KC, "");
    ok("Zg==", KC, "f");
    ok("Zm8=", KC, "fo");
    ok("Zm9v", KC, "foo");
    ok("Zm9vYg==", KC, "foob");
    ok("Zm9vYmE=", KC, "fooba");
    ok("Zm9vYmFy", KC, "foobar");
    ok("Zg", KC, "f");
    ok("Zm9vYmE", KC, "fooba");
    ok("Zg", CSM_B64_URL, "f");
    ok("Zm9vYmFy", CSM_B64_URL, "foobar");
    ok("Zm9vYmFy", 0, "foobar");
}
END_TEST

START_TEST(test_alphabets)
{
    /* 0xfb 0xff 0xbf: the two characters that differ between them. */
    ok("+/+/", KC, "\xfb\xff\xbf");
    ok("-_-_", CSM_B64_URL, "\xfb\xff\xbf");
    bad("-_-_", KC, 0);
    bad("Zm9v+/", CSM_B64_URL, 4);
    bad("Zm9v_", 0, 4);
}
END_TEST

START_TEST(test_padding_rules)
{
    bad("Zg=", KC, 3);           /* padding that does not complete the quantum */
    bad("Q0E===", KC, 5);        /* a third '=' */
    bad("Q0E=Q0E=", KC, 4);      /* data after padding */
    bad("=Zg=", KC, 0);          /* padding where no quantum is open */
    bad("Zm9v=", KC, 4);         /* ... nor after a whole one */
    bad("Zg==", CSM_B64_URL, 2); /* padding not allowed at all */
    bad("Z", KC, 1);             /* a lone character is 6 bits */
    bad("Zm9vY", CSM_B64_URL, 5);
}
END_TEST

START_TEST(test_crlf_and_junk)
{
    ok("Zm9v\r\nYmFy\n", KC, "foobar");
    ok("Q0VSVC1Q\nRU0K", KC, "CERT-PEM\n");
    bad("Zm9v\nYmFy", CSM_B64_URL, 4);
    bad("Zm9v YmFy", KC, 4);
    bad("S0VZ$SECRET", KC, 4);
}
END_TEST

/* Only len bytes are read: a JWT payload ends at a '.'. */
START_TEST(test_length_bounds)
{
    const char *jwt = "eyJleHAiOjF9.sig";
    unsigned char out[32];
    size_t n = 0;

    ck_assert_int_eq(csm_b64_decode(jwt, 12, CSM_B64_URL, out, &n, NULL), CSM_OK);
    ck_assert_uint_eq(n, 9);
    ck_assert_int_eq(memcmp(out, "{\"exp\":1}", 9), 0);
    ck_assert_uint_eq(csm_b64_decoded_max(0), 3);
    ck_assert_uint_ge(csm_b64_decoded_max(4), 3);
    ck_assert_uint_ge(csm_b64_decoded_max(7), 5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("b64");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_rfc4648_vectors);
    tcase_add_test(tc, test_alphabets);
    tcase_add_test(tc, test_padding_rules);
    tcase_add_test(tc, test_crlf_and_junk);
    tcase_add_test(tc, test_length_bounds);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
