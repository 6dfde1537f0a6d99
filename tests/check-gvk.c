#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/gvk.h"
#include "check_main.h"

static const struct {
    const char *in;
    const char *group, *version, *kind; /* NULL group: must fail */
} gvk_cases[] = {
    {"cache.example.com/v1/Memcached", "cache.example.com", "v1", "Memcached"},
    {"v1/ConfigMap", "", "v1", "ConfigMap"},
    {"apps/v1/Deployment", "apps", "v1", "Deployment"},
    {"x-y.z9/v2beta3/K8s", "x-y.z9", "v2beta3", "K8s"},
    {"", NULL, NULL, NULL},
    {"Memcached", NULL, NULL, NULL},
    {"v1/", NULL, NULL, NULL},
    {"/ConfigMap", NULL, NULL, NULL},
    {"-a.io/v1/Foo", NULL, NULL, NULL},
    {"a-.io/v1/Foo", NULL, NULL, NULL},
    {"a.io/v-1/Foo", NULL, NULL, NULL},
    {"a.io/v1/Foo Bar", NULL, NULL, NULL},
    {"a.io//Foo", NULL, NULL, NULL},
};

START_TEST(test_gvk_parse)
{
    csm_gvk g;
    csm_err err = csm_gvk_parse(gvk_cases[_i].in, &g, NULL, 0);

    if (!gvk_cases[_i].group) {
        ck_assert_msg(err == CSM_ERR_INVALID, "\"%s\" should be rejected", gvk_cases[_i].in);
        ck_assert_ptr_null(g.group);
        ck_assert_ptr_null(g.kind);
        return;
    }
    ck_assert_int_eq(err, CSM_OK);
    ck_assert_str_eq(g.group, gvk_cases[_i].group);
    ck_assert_str_eq(g.version, gvk_cases[_i].version);
    ck_assert_str_eq(g.kind, gvk_cases[_i].kind);
    csm_gvk_free(&g);
    ck_assert_ptr_null(g.group);
    csm_gvk_free(&g);
    csm_gvk_free(NULL);
}
END_TEST

START_TEST(test_gvk_long_group)
{
    char s[400];
    csm_gvk g;

    /* 63-byte labels are the limit; 64 is one too many. */
    memset(s, 'a', 63);
    strcpy(s + 63, ".io/v1/Foo");
    ck_assert_int_eq(csm_gvk_parse(s, &g, NULL, 0), CSM_OK);
    csm_gvk_free(&g);
    memset(s, 'a', 64);
    strcpy(s + 64, ".io/v1/Foo");
    ck_assert_int_eq(csm_gvk_parse(s, &g, NULL, 0), CSM_ERR_INVALID);
    /* 254 bytes of group overall: too long even with short labels. */
    for (int i = 0; i < 127; i++) {
        s[2 * i] = 'a';
        s[2 * i + 1] = '.';
    }
    strcpy(s + 253, "a/v1/Foo");
    ck_assert_int_eq(csm_gvk_parse(s, &g, NULL, 0), CSM_ERR_INVALID);
    s[251] = '\0';
    strcat(s, "/v1/Foo");
    ck_assert_int_eq(csm_gvk_parse(s, &g, NULL, 0), CSM_OK);
    csm_gvk_free(&g);
}
END_TEST

/* The reasons --resource prints; user text quoted. */
static const struct {
    const char *in;
    const char *why;
} why_cases[] = {
    {"Memcached", "expected GROUP/VERSION/KIND or VERSION/KIND"},
    {"a/b/c/d", "expected GROUP/VERSION/KIND or VERSION/KIND"},
    {"/v1/Foo", "empty group; use VERSION/KIND for the core group"},
    {"a_b/v1/Foo", "group \"a_b\" is not a DNS subdomain"},
    {"v1beta1x/", "kind \"\" must match [A-Za-z][A-Za-z0-9]*"},
    {"V1/Foo", "version \"V1\" must match [a-z0-9]+"},
    {"v1/Fo\no", "kind \"Fo\\x0ao\" must match [A-Za-z][A-Za-z0-9]*"},
};

START_TEST(test_gvk_parse_why)
{
    csm_gvk g;
    char why[256];

    for (size_t i = 0; i < sizeof(why_cases) / sizeof(why_cases[0]); i++) {
        ck_assert_int_eq(csm_gvk_parse(why_cases[i].in, &g, why, sizeof(why)), CSM_ERR_INVALID);
        ck_assert_str_eq(why, why_cases[i].why);
    }
    /* Success clears why; NULL input and output are refused. */
    ck_assert_int_eq(csm_gvk_parse("v1/Foo", &g, why, sizeof(why)), CSM_OK);
    ck_assert_str_eq(why, "");
    csm_gvk_free(&g);
    ck_assert_int_eq(csm_gvk_parse(NULL, &g, why, sizeof(why)), CSM_ERR_INVALID);
    ck_assert_ptr_null(g.kind);
    ck_assert_int_eq(csm_gvk_parse("v1/Foo", NULL, NULL, 0), CSM_ERR_INVALID);
}
END_TEST

START_TEST(test_gvk_format)
{
    char s[64];
    char *t;

    ck_assert_uint_eq(csm_gvk_format(s, sizeof(s), "cache.example.com", "v1", "Memcached"), 30);
    ck_assert_str_eq(s, "cache.example.com/v1/Memcached");
    /* The core group has no leading slash. */
    ck_assert_uint_eq(csm_gvk_format(s, sizeof(s), "", "v1", "ConfigMap"), 12);
    ck_assert_str_eq(s, "v1/ConfigMap");
    /* Cut like snprintf; the result says how long the whole text is. */
    ck_assert_uint_eq(csm_gvk_format(s, 5, "a.io", "v1", "Foo"), 11);
    ck_assert_str_eq(s, "a.io");
    ck_assert_uint_eq(csm_gvk_format(NULL, 0, "a.io", "v1", "Foo"), 11);
    /* The text parses back to the same GVK. */
    {
        csm_gvk g;
        csm_gvk_format(s, sizeof(s), "x-y.z9", "v2beta3", "K8s");
        ck_assert_int_eq(csm_gvk_parse(s, &g, NULL, 0), CSM_OK);
        ck_assert_str_eq(g.group, "x-y.z9");
        ck_assert_str_eq(g.version, "v2beta3");
        ck_assert_str_eq(g.kind, "K8s");
        csm_gvk_free(&g);
    }
    /* Whatever the length, csm_gvk_text holds it all. */
    {
        char kind[5000];
        memset(kind, 'K', sizeof(kind) - 1);
        kind[sizeof(kind) - 1] = '\0';
        t = csm_gvk_text("g.io", "v1", kind);
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(strlen(t), 8 + sizeof(kind) - 1);
        ck_assert_int_eq(strncmp(t, "g.io/v1/KKK", 11), 0);
        free(t);
    }
    t = csm_gvk_text("", "v1", "Pod");
    ck_assert_str_eq(t, "v1/Pod");
    free(t);
}
END_TEST

START_TEST(test_dns_label)
{
    char s[70];

    ck_assert(csm_gvk_is_dns_label("a", 1));
    ck_assert(csm_gvk_is_dns_label("kube-system", 11));
    ck_assert(!csm_gvk_is_dns_label("", 0));
    ck_assert(!csm_gvk_is_dns_label("-a", 2));
    ck_assert(!csm_gvk_is_dns_label("a-", 2));
    ck_assert(!csm_gvk_is_dns_label("A", 1));
    ck_assert(!csm_gvk_is_dns_label("a.b", 3));
    /* Only n bytes count. */
    ck_assert(csm_gvk_is_dns_label("ab-", 2));
    memset(s, 'a', sizeof(s));
    ck_assert(csm_gvk_is_dns_label(s, 63));
    ck_assert(!csm_gvk_is_dns_label(s, 64));
}
END_TEST

START_TEST(test_gvk_list)
{
    csm_gvk *l = NULL;
    size_t n = 0;

    ck_assert_int_eq(csm_gvk_list_add(&l, &n, "g.io", "v1", "A"), CSM_OK);
    ck_assert_int_eq(csm_gvk_list_add(&l, &n, "", "v1", "ConfigMap"), CSM_OK);
    /* Equal entries once; another version is another entry. */
    ck_assert_int_eq(csm_gvk_list_add(&l, &n, "g.io", "v1", "A"), CSM_OK);
    ck_assert_int_eq(csm_gvk_list_add(&l, &n, "g.io", "v2", "A"), CSM_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(l[1].kind, "ConfigMap");
    ck_assert_str_eq(l[2].version, "v2");
    csm_gvk_list_free(l, n);
    csm_gvk_list_free(NULL, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gvk");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_gvk_parse, 0, (int)(sizeof(gvk_cases) / sizeof(gvk_cases[0])));
    tcase_add_test(tc, test_gvk_long_group);
    tcase_add_test(tc, test_gvk_parse_why);
    tcase_add_test(tc, test_gvk_format);
    tcase_add_test(tc, test_dns_label);
    tcase_add_test(tc, test_gvk_list);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
