#include <check.h>
#include <stdint.h>
#include <string.h>

#include "base/hash.h"
#include "check_main.h"

/* 64-bit FNV-1a reference values: the first three from the FNV test
 * suite, the others computed independently (Python, the published
 * definition). Sharding must match kube-state-metrics bit for bit. */
static const struct {
    const char *in;
    size_t n;
    uint64_t h;
} vectors[] = {
    {"", 0, 0xcbf29ce484222325ull},
    {"a", 1, 0xaf63dc4c8601ec8cull},
    {"foobar", 6, 0x85944171f73967e8ull},
    /* A byte above 0x7f is taken unsigned. */
    {"\xff", 1, 0xaf64724c8602eb6eull},
    /* A NUL byte is hashed like any other. */
    {"a\0b", 3, 0xe5d29919042666b2ull},
    {"0123456789abcdef-uid", 20, 0xde321e09a47f0ab2ull},
};

START_TEST(test_vectors)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        ck_assert_uint_eq(csm_hash_fnv1a64(vectors[i].in, vectors[i].n), vectors[i].h);
}
END_TEST

START_TEST(test_str_matches_bytes)
{
    ck_assert_uint_eq(csm_hash_fnv1a64_str(""), 0xcbf29ce484222325ull);
    ck_assert_uint_eq(csm_hash_fnv1a64_str("foobar"), 0x85944171f73967e8ull);
    /* The string form stops at the NUL. */
    ck_assert_uint_eq(csm_hash_fnv1a64_str("a\0b"), 0xaf63dc4c8601ec8cull);
    ck_assert_uint_eq(csm_hash_fnv1a64_str("0123456789abcdef-uid"),
                      csm_hash_fnv1a64("0123456789abcdef-uid", 20));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hash");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_vectors);
    tcase_add_test(tc, test_str_matches_bytes);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
