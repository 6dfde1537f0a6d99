#include <check.h>
#include <string.h>
#include <yaml.h>

#include "base/yamldoc.h"
#include "check_main.h"

/* Parses text into *doc and returns its root. */
static yaml_node_t *load(yaml_document_t *doc, const char *text)
{
    yaml_parser_t p;

    ck_assert(yaml_parser_initialize(&p));
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    ck_assert(yaml_parser_load(&p, doc));
    yaml_parser_delete(&p);
    ck_assert_ptr_nonnull(yaml_document_get_root_node(doc));
    return yaml_document_get_root_node(doc);
}

START_TEST(test_is_null)
{
    yaml_document_t doc;
    yaml_node_t *root = load(&doc, "a: ~\n"
                                   "b: null\n"
                                   "c: Null\n"
                                   "d: NULL\n"
                                   "e:\n"
                                   "f: \"\"\n"
                                   "g: 'null'\n"
                                   "h: nULL\n"
                                   "i: []\n"
                                   "j: 0\n");
    const char *nulls = "abcde";
    const char *not_nulls = "fghij";

    ck_assert(csm_yamldoc_is_null(NULL));
    for (const char *k = nulls; *k; k++) {
        char key[2] = {*k, '\0'};
        yaml_node_t *v = csm_yamldoc_map_get(&doc, root, key, CSM_YAMLDOC_FIRST);
        ck_assert_ptr_nonnull(v);
        ck_assert_msg(csm_yamldoc_is_null(v), "%s should be null", key);
    }
    /* Quoted, other spellings, lists and numbers are values. */
    for (const char *k = not_nulls; *k; k++) {
        char key[2] = {*k, '\0'};
        yaml_node_t *v = csm_yamldoc_map_get(&doc, root, key, CSM_YAMLDOC_FIRST);
        ck_assert_ptr_nonnull(v);
        ck_assert_msg(!csm_yamldoc_is_null(v), "%s should not be null", key);
    }
    yaml_document_delete(&doc);
}
END_TEST

START_TEST(test_scalar_is)
{
    yaml_document_t doc;
    yaml_node_t *root = load(&doc, "[abc, \"a\\0b\", [x], \"\"]");
    yaml_node_t *items[4];

    for (int i = 0; i < 4; i++)
        items[i] = yaml_document_get_node(&doc, root->data.sequence.items.start[i]);
    ck_assert(csm_yamldoc_scalar_is(items[0], "abc"));
    ck_assert(!csm_yamldoc_scalar_is(items[0], "ab"));
    ck_assert(!csm_yamldoc_scalar_is(items[0], "abcd"));
    /* A value with a NUL byte is not the C string before the NUL. */
    ck_assert(!csm_yamldoc_scalar_is(items[1], "a"));
    ck_assert(!csm_yamldoc_scalar_is(items[2], "x"));
    ck_assert(csm_yamldoc_scalar_is(items[3], ""));
    ck_assert(!csm_yamldoc_scalar_is(NULL, ""));
    yaml_document_delete(&doc);
}
END_TEST

START_TEST(test_map_get_repeated_keys)
{
    yaml_document_t doc;
    yaml_node_t *root = load(&doc, "k: one\n"
                                   "other: x\n"
                                   "k: two\n"
                                   "? [list, key]\n"
                                   ": v\n"
                                   "\"k\\0z\": three\n");

    /* The rule is the caller's: crs.c reads the first, kubeconfig.c the
     * last (client-go). */
    ck_assert(
        csm_yamldoc_scalar_is(csm_yamldoc_map_get(&doc, root, "k", CSM_YAMLDOC_FIRST), "one"));
    ck_assert(csm_yamldoc_scalar_is(csm_yamldoc_map_get(&doc, root, "k", CSM_YAMLDOC_LAST), "two"));
    ck_assert(
        csm_yamldoc_scalar_is(csm_yamldoc_map_get(&doc, root, "other", CSM_YAMLDOC_LAST), "x"));
    ck_assert_ptr_null(csm_yamldoc_map_get(&doc, root, "missing", CSM_YAMLDOC_FIRST));
    ck_assert_ptr_null(csm_yamldoc_map_get(&doc, root, "list", CSM_YAMLDOC_FIRST));
    /* Not a mapping, or none. */
    ck_assert_ptr_null(csm_yamldoc_map_get(&doc, NULL, "k", CSM_YAMLDOC_FIRST));
    ck_assert_ptr_null(csm_yamldoc_map_get(
        &doc, csm_yamldoc_map_get(&doc, root, "other", CSM_YAMLDOC_FIRST), "k", CSM_YAMLDOC_LAST));
    yaml_document_delete(&doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("yamldoc");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_is_null);
    tcase_add_test(tc, test_scalar_is);
    tcase_add_test(tc, test_map_get_repeated_keys);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
