/*
 * Test helper shared by the generator suites: renders one object through a
 * generator set and returns the samples of all families as one string.
 */
#ifndef CSM_TESTS_GENTEST_H
#define CSM_TESTS_GENTEST_H

#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "render/gen.h"

/* Returns the text (free() it); *failures and *diag (free() it) as
 * csm_genset_render_diag() gives them. */
static inline char *gentest_render(csm_genset *gs, const char *json, size_t *failures, char **diag)
{
    cJSON *obj = cJSON_Parse(json);
    csm_block *blk = NULL;
    csm_buf text;
    csm_buf d;
    char *out;

    ck_assert_msg(obj != NULL, "bad JSON in test: %s", json);
    csm_buf_init(&text, 1 << 20);
    csm_buf_init(&d, 1 << 20);
    ck_assert_int_eq(csm_genset_render_diag(gs, obj, &blk, failures, &d), CSM_OK);
    for (size_t f = 0; f < csm_genset_families(gs); f++) {
        size_t len;
        const char *p = csm_block_slice(blk, f, &len);
        csm_buf_append(&text, p, len);
    }
    out = strdup(csm_buf_str(&text));
    *diag = strdup(csm_buf_str(&d));
    csm_buf_free(&text);
    csm_buf_free(&d);
    csm_block_unref(blk);
    cJSON_Delete(obj);
    return out;
}

#endif
