/*
 * The Custom Resource State config loader (csm_crs_load_text) and the
 * rendering of an object with what it loaded.
 *
 * Input: the config text, optionally followed by a line "#object" and an
 * object in JSON (without one, a fixed object is used). For each of the
 * first resources the config names, a generator set is built as the
 * exporter builds it (the config generator plus every built-in, labels and
 * annotations allowing every key) and the object is rendered.
 *
 * Checked beyond memory safety: a failed load says why in one line; every
 * rendered line is a valid text-format sample of its family (valid and
 * distinct label names, values escaped, a number that reads back); and
 * rendering the same object twice gives the same bytes. The value readers
 * (quantities, durations, RFC 3339, numbers) also see every string of the
 * object directly.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generators/builtin.h"
#include "render/crs.h"
#include "render/crspath.h"
#include "render/expo.h"
#include "render/gen.h"
#include "render/quantity.h"
#include "store/store.h"

#define MAX_RESOURCES 4

static const char default_object[] =
    "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w\","
    "\"namespace\":\"ns\",\"uid\":\"u1\",\"creationTimestamp\":\"2024-01-02T03:04:05Z\","
    "\"labels\":{\"app\":\"a\",\"app.kubernetes.io/name\":\"x\"},\"annotations\":{\"n\":\"1\"}},"
    "\"spec\":{\"replicas\":3,\"size\":\"250m\",\"tags\":[\"a\",\"b\"],\"m\":{\"k\":\"v\"}},"
    "\"status\":{\"phase\":\"Ready\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
    "\"lastTransitionTime\":\"2024-01-02T03:04:05Z\"}],\"observedGeneration\":2}}";

/* Checks one quoted label value starting after '"'; returns the byte after
 * the closing quote. */
static const char *check_value(const char *p, const char *end)
{
    while (p < end && *p != '"') {
        if (*p == '\n')
            abort();
        if (*p == '\\') {
            if (p + 1 >= end || (p[1] != '\\' && p[1] != '"' && p[1] != 'n'))
                abort();
            p++;
        }
        p++;
    }
    if (p >= end)
        abort();
    return p + 1;
}

/* A label name span: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__". */
static int label_name_ok(const char *p, size_t n)
{
    if (n == 0 || (p[0] >= '0' && p[0] <= '9') || (n >= 2 && p[0] == '_' && p[1] == '_'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* One sample line of family `name`, without its '\n'. */
static void check_line(const char *p, const char *end, const char *name)
{
    const char *names[256]; /* the first 256 labels are checked for duplicates */
    size_t lens[256];
    size_t nnames = 0;
    size_t nlen = strlen(name);
    char num[64];
    double v;
    char *e;

    if ((size_t)(end - p) <= nlen || memcmp(p, name, nlen) != 0)
        abort();
    p += nlen;
    if (*p == '{') {
        p++;
        for (;;) {
            const char *eq = memchr(p, '=', (size_t)(end - p));
            size_t n;
            if (!eq || eq[1] != '"')
                abort();
            n = (size_t)(eq - p);
            if (!label_name_ok(p, n))
                abort();
            for (size_t i = 0; i < nnames; i++) {
                if (lens[i] == n && memcmp(names[i], p, n) == 0)
                    abort();
            }
            if (nnames < 256) {
                names[nnames] = p;
                lens[nnames++] = n;
            }
            p = check_value(eq + 2, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p >= end || *p != '}')
                abort();
            p++;
            break;
        }
    }
    if (p >= end || *p != ' ' || (size_t)(end - p - 1) >= sizeof(num))
        abort();
    memcpy(num, p + 1, (size_t)(end - p - 1));
    num[end - p - 1] = '\0';
    if (strcmp(num, "NaN") == 0 || strcmp(num, "+Inf") == 0 || strcmp(num, "-Inf") == 0)
        return;
    v = strtod(num, &e);
    if (*e != '\0' || !num[0] || !isfinite(v))
        abort();
}

static void check_block(const csm_genset *gs, const csm_block *blk)
{
    if (csm_block_families(blk) != csm_genset_families(gs))
        abort();
    for (size_t f = 0; f < csm_block_families(blk); f++) {
        size_t len;
        const char *p = csm_block_slice(blk, f, &len);
        const char *end = p + len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl)
                abort(); /* a partial line */
            check_line(p, nl, csm_genset_family(gs, f)->name);
            p = nl + 1;
        }
    }
}

static int same_block(const csm_block *a, const csm_block *b)
{
    if (csm_block_families(a) != csm_block_families(b))
        return 0;
    for (size_t f = 0; f < csm_block_families(a); f++) {
        size_t la;
        size_t lb;
        const char *pa = csm_block_slice(a, f, &la);
        const char *pb = csm_block_slice(b, f, &lb);
        if (la != lb || (la && memcmp(pa, pb, la) != 0))
            return 0;
    }
    return 1;
}

static void render(csm_crs *crs, const csm_crs_resource *r, const cJSON *obj)
{
    static const char *const builtins[] = {"info", "labels", "annotations", "created", "status"};
    const char *version = strcmp(r->version, "*") == 0 ? "v1" : r->version;
    const char *kind = strcmp(r->kind, "*") == 0 ? "Widget" : r->kind;
    char stem[256];
    char plural[300];
    char errbuf[512];
    csm_resource_desc d;
    csm_genset *gs = NULL;
    csm_block *b1 = NULL;
    csm_block *b2 = NULL;
    csm_buf diag;
    size_t failures;
    csm_err err;

    if (csm_gen_stem(kind, stem, sizeof(stem)) != CSM_OK)
        return;
    snprintf(plural, sizeof(plural), "%ss", stem);
    d.group = r->group;
    d.version = version;
    d.kind = kind;
    d.plural = plural;
    d.namespaced = 1;
    d.stem = stem;
    if (csm_genset_new(&d, NULL, NULL, &gs) != CSM_OK)
        abort();
    /* Only a name clash between two entries matching this resource (a
     * metric of one name and two types) is refused at this point. */
    err = csm_genset_add_ctx(gs, &csm_generator_config, NULL, crs, errbuf, sizeof(errbuf));
    if (err && err != CSM_ERR_INVALID) {
        fprintf(stderr, "config generator refused a loaded config: %s\n", errbuf);
        abort();
    }
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        const char *arg = i == 1 || i == 2 ? "*=[*]" : NULL;
        /* A built-in whose family name collides with a config metric is
         * refused; that is the set's business, not a failure here. */
        csm_genset_add(gs, csm_gen_builtin(builtins[i]), arg, errbuf, sizeof(errbuf));
    }
    csm_buf_init(&diag, 1u << 20);
    if (csm_genset_render_diag(gs, obj, &b1, &failures, &diag) != CSM_OK)
        abort();
    check_block(gs, b1);
    if (csm_genset_render(gs, obj, &b2, NULL) != CSM_OK)
        abort();
    if (!same_block(b1, b2))
        abort();
    csm_block_unref(b1);
    csm_block_unref(b2);
    csm_buf_free(&diag);
    csm_genset_free(gs);
}

/* The value readers on every string of the object, also when the config
 * reads none of them; a failed parse leaves *out untouched. */
static void read_values(const cJSON *v, int depth)
{
    const cJSON *c;
    double d;

    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        d = 42;
        if (csm_quantity_parse(s, &d) != CSM_OK && d != 42)
            abort();
        d = 42;
        if (csm_quantity_duration(s, &d) != CSM_OK && d != 42)
            abort();
        csm_gen_parse_rfc3339(s, &d);
        csm_crspath_string_number(s, &d);
        return;
    }
    if (depth > 32)
        return;
    cJSON_ArrayForEach(c, v) read_values(c, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char marker[] = "\n#object\n";
    const char *text = (const char *)data;
    const char *m = memmem(data, size, marker, sizeof(marker) - 1);
    size_t clen = m ? (size_t)(m - text) : size;
    char errbuf[1024];
    csm_crs *crs = NULL;
    cJSON *obj = NULL;
    csm_err err;

    if (m) {
        const char *o = m + sizeof(marker) - 1;
        obj = cJSON_ParseWithLength(o, size - (size_t)(o - text));
    }
    if (!obj)
        obj = cJSON_Parse(default_object);
    if (!obj)
        abort();
    read_values(obj, 0);
    memset(errbuf, 'x', sizeof(errbuf));
    err = csm_crs_load_text("fuzz.yaml", text, clen, &crs, errbuf, sizeof(errbuf));
    if (!memchr(errbuf, '\0', sizeof(errbuf)))
        abort();
    if (err) {
        if (crs || !errbuf[0])
            abort();
        cJSON_Delete(obj);
        return 0;
    }
    for (size_t i = 0; i < csm_crs_resources(crs) && i < MAX_RESOURCES; i++) {
        const csm_crs_resource *r = csm_crs_resource_at(crs, i);
        if (!r->fingerprint || !r->group || !r->version || !r->kind)
            abort();
        render(crs, r, obj);
    }
    cJSON_Delete(obj);
    csm_crs_unref(crs);
    return 0;
}
