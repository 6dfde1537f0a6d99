/*
 * The discovery-document parsers of src/ingest/crsdisco.c (csm_crsdisco_preferred,
 * csm_crsdisco_kinds) against untrusted APIGroup / APIVersions /
 * APIResourceList bodies.
 *
 * Input: one byte choosing the output size for the preferred version (1 to
 * 64), then the body. Checked, besides the sanitizers:
 *   - preferred: on success the answer fits, and a larger buffer gives the
 *     same answer (a size limit never changes what is read);
 *   - kinds: every entry found carries the group and version asked for and
 *     nothing twice; a second call on the same list adds nothing;
 *     each kind found with "*" is found again when asked for by name, and
 *     asking by name finds only that kind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/gvk.h"
#include "ingest/crsdisco.h"

static void check_preferred(const char *body, size_t len, size_t outlen)
{
    char small[64];
    char big[4096];
    csm_err e1 = csm_crsdisco_preferred(body, len, small, outlen);
    csm_err e2;

    if (e1 != CSM_OK && e1 != CSM_ERR_PARSE)
        abort();
    if (e1 != CSM_OK)
        return;
    if (strlen(small) >= outlen)
        abort();
    e2 = csm_crsdisco_preferred(body, len, big, sizeof(big));
    if (e2 != CSM_OK || strcmp(small, big) != 0)
        abort();
}

static int count_kind(const csm_gvk *l, size_t n, const char *kind)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += strcmp(l[i].kind, kind) == 0;
    return c;
}

static void check_kinds(const char *body, size_t len)
{
    csm_gvk *all = NULL;
    size_t nall = 0;
    size_t again;
    csm_err err = csm_crsdisco_kinds(body, len, "g.example.com", "v1", "*", &all, &nall);

    if (err != CSM_OK && err != CSM_ERR_PARSE && err != CSM_ERR_NOMEM)
        abort();
    if (err != CSM_OK)
        goto out;
    for (size_t i = 0; i < nall; i++) {
        if (strcmp(all[i].group, "g.example.com") != 0 || strcmp(all[i].version, "v1") != 0)
            abort();
        if (count_kind(all, nall, all[i].kind) != 1)
            abort(); /* nothing twice */
    }
    again = nall;
    if (csm_crsdisco_kinds(body, len, "g.example.com", "v1", "*", &all, &again) != CSM_OK ||
        again != nall)
        abort();
    /* Bounded so that a document with thousands of kinds stays fast. */
    for (size_t i = 0; i < nall && i < 16; i++) {
        csm_gvk *one = NULL;
        size_t n1 = 0;
        if (csm_crsdisco_kinds(body, len, "g.example.com", "v1", all[i].kind, &one, &n1) !=
                CSM_OK ||
            n1 != 1 || strcmp(one[0].kind, all[i].kind) != 0)
            abort();
        csm_gvk_list_free(one, n1);
    }
out:
    csm_gvk_list_free(all, nall);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    check_preferred((const char *)data + 1, size - 1, 1 + (size_t)(data[0] % 64));
    check_kinds((const char *)data + 1, size - 1);
    return 0;
}
