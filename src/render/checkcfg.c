#include "render/checkcfg.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/gvk.h"
#include "render/crs.h"
#include "render/crscount.h"
#include "render/expo.h"
#include "render/gen.h"
#include "base/jsonnum.h"

#define OBJECT_MAX (64u << 20)

static const char usage[] =
    "Usage: crd-state-metrics check-config CONFIG --object OBJECT [--resource GROUP/VERSION/KIND]\n"
    "\n"
    "Prints, in Prometheus text format, the metrics the Custom Resource State\n"
    "config CONFIG produces for the object in OBJECT (JSON or YAML, as printed by\n"
    "kubectl get -o json|yaml; a List prints every item). The resource is the\n"
    "object's apiVersion and kind unless --resource names it. Problems reading\n"
    "the object go to stderr. Exit status: 0 all metrics read, 1 some paths or\n"
    "values could not be read, 2 bad usage, config or object.\n";

typedef struct args {
    const char *config;
    const char *object;
    const char *resource;
    const csm_generator *gen; /* the config's generator, handed by the wiring */
} args;

static int parse_args(int argc, char **argv, args *a, FILE *err)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char **dst = NULL;
        const char *val = NULL;
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)
            return 1;
        if (strncmp(s, "--object", 8) == 0 && (s[8] == '\0' || s[8] == '='))
            dst = &a->object;
        else if (strncmp(s, "--resource", 10) == 0 && (s[10] == '\0' || s[10] == '='))
            dst = &a->resource;
        if (dst) {
            val = strchr(s, '=');
            if (val) {
                val++;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                fprintf(err, "check-config: %s needs a value\n", s);
                return -1;
            }
            *dst = val;
            continue;
        }
        if (s[0] == '-' && s[1] != '\0') {
            fprintf(err, "check-config: unknown flag %s\n", s);
            return -1;
        }
        if (a->config) {
            fprintf(err, "check-config: unexpected argument %s\n", s);
            return -1;
        }
        a->config = s;
    }
    if (!a->config || !a->object) {
        fprintf(err, "check-config: %s\n", a->config ? "missing --object" : "missing CONFIG");
        return -1;
    }
    return 0;
}

/* ---- YAML objects as cJSON ---------------------------------------------- */

/*
 * kubectl reads YAML with sigs.k8s.io/yaml: go-yaml v2 resolves plain
 * scalars with YAML 1.1 rules, the result is marshalled to JSON and the
 * API machinery decodes that. So a plain scalar is:
 *   null     "", "~", null, Null, NULL
 *   boolean  y Y yes Yes YES true True TRUE on On ON (and n/no/false/off)
 *   integer  Go's strconv.ParseInt(s, 0, 64) after dropping '_': 010 is 8,
 *            0o10 8, 0x1F 31, 0b101 5, +7 7; then ParseUint for 2^63..2^64
 *   float    [-+]?(.D+|D+(.D*)?)([eE][-+]?D+)?  (08 is 8, 1e3 1000),
 *            .inf/.nan (which JSON cannot carry: kubectl fails on them)
 *   string   everything else (timestamps too: go-yaml keeps them as text)
 * Quoted scalars are strings.
 */
typedef enum ykind {
    Y_STR = 0,
    Y_NULL,
    Y_BOOL,
    Y_INT,  /* fits int64: u is the magnitude, neg its sign */
    Y_UINT, /* 2^63..2^64-1 */
    Y_FLOAT,
} ykind;

typedef struct yscalar {
    ykind kind;
    int b;
    int neg;
    unsigned long long u;
    double d;
} yscalar;

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/* strconv.ParseUint(s, 0, 64) without the underscores (already dropped). */
static int go_parse_uint(const char *s, unsigned long long *out)
{
    unsigned base = 10;
    unsigned long long v = 0;

    if (!*s)
        return 0;
    if (s[0] == '0') {
        char c = (char)tolower((unsigned char)s[1]);
        if (strlen(s) >= 3 && (c == 'b' || c == 'o' || c == 'x')) {
            base = c == 'b' ? 2 : c == 'o' ? 8 : 16;
            s += 2;
        } else {
            base = 8;
            s += 1;
        }
    }
    for (; *s; s++) {
        unsigned d = (unsigned)digit_value(*s);
        if (d >= base || v > (~0ULL - d) / base)
            return 0;
        v = v * base + d;
    }
    *out = v;
    return 1;
}

/* go-yaml's float pattern. */
static int yaml_float_syntax(const char *s)
{
    size_t int_digits = 0;
    size_t frac_digits = 0;

    if (*s == '+' || *s == '-')
        s++;
    while (isdigit((unsigned char)*s)) {
        s++;
        int_digits++;
    }
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s)) {
            s++;
            frac_digits++;
        }
        if (!int_digits && !frac_digits)
            return 0;
    } else if (!int_digits) {
        return 0;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

static int one_of(const char *s, const char *const *list)
{
    for (; *list; list++) {
        if (strcmp(s, *list) == 0)
            return 1;
    }
    return 0;
}

static void resolve_plain(const char *in, yscalar *y)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const yes[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                      "True", "TRUE", "on",  "On",  "ON",  NULL};
    static const char *const no[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                     "False", "FALSE", "off", "Off", "OFF", NULL};
    static const char *const nan[] = {".nan", ".NaN", ".NAN", NULL};
    static const char *const inf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
    char plain[128];
    size_t n = 0;
    const char *p;
    char *end;

    memset(y, 0, sizeof(*y));
    if (one_of(in, nulls) || one_of(in, yes) || one_of(in, no)) {
        y->kind = one_of(in, nulls) ? Y_NULL : Y_BOOL;
        y->b = one_of(in, yes);
        return;
    }
    if (one_of(in, nan) || one_of(in, inf) || one_of(in, ninf)) {
        y->kind = Y_FLOAT;
        y->d = one_of(in, nan) ? NAN : one_of(in, inf) ? INFINITY : -INFINITY;
        return;
    }
    if (in[0] == '.') {
        if (yaml_float_syntax(in)) {
            y->kind = Y_FLOAT;
            y->d = strtod(in, &end);
        }
        return;
    }
    if (!isdigit((unsigned char)in[0]) && in[0] != '+' && in[0] != '-')
        return;
    for (p = in; *p && n + 1 < sizeof(plain); p++) {
        if (*p != '_')
            plain[n++] = *p;
    }
    if (*p)
        return; /* too long for any number */
    plain[n] = '\0';
    p = plain;
    y->neg = *p == '-';
    if (*p == '+' || *p == '-')
        p++;
    if (go_parse_uint(p, &y->u) && *p != '+' && *p != '-') {
        if (y->u <= (y->neg ? 1ULL << 63 : (1ULL << 63) - 1)) {
            y->kind = Y_INT;
            return;
        }
        if (plain[0] != '+' && plain[0] != '-') {
            y->kind = Y_UINT;
            return;
        }
    }
    if (yaml_float_syntax(plain)) {
        y->d = strtod(plain, &end);
        if (!isinf(y->d))
            y->kind = Y_FLOAT;
    }
}

/* A resolved scalar as the JSON kubectl would send; NULL with why set. */
static cJSON *scalar_json(const char *text, const yscalar *y, char *why, size_t whylen)
{
    char dec[32];
    cJSON *n = NULL;
    csm_buf b;

    switch (y->kind) {
    case Y_STR:
        return cJSON_CreateString(text);
    case Y_NULL:
        return cJSON_CreateNull();
    case Y_BOOL:
        return cJSON_CreateBool(y->b);
    case Y_INT:
    case Y_UINT:
        snprintf(dec, sizeof(dec), "%s%llu", y->neg && y->u ? "-" : "", y->u);
        n = cJSON_CreateNumber(y->neg ? -(double)y->u : (double)y->u);
        /* Past 2^53 a double is not the number: keep its digits. */
        if (n && y->u >= (1ULL << 53) && csm_jsonnum_set_text(n, dec) != CSM_OK) {
            cJSON_Delete(n);
            n = NULL;
        }
        return n;
    case Y_FLOAT:
        if (!isfinite(y->d)) {
            snprintf(why, whylen, "\"%.40s\" is %s, which JSON cannot carry (kubectl fails too)",
                     text, isnan(y->d) ? "NaN" : "infinite");
            return NULL;
        }
        n = cJSON_CreateNumber(y->d);
        /* Go's encoder writes an integral float below 1e21 in full, and
         * the API machinery reads that back as an int64. */
        if (n && y->d == floor(y->d) && fabs(y->d) >= 9007199254740992.0 && fabs(y->d) < 9.2e18) {
            csm_buf_init(&b, 64);
            if (csm_jsonnum_format_integral(y->d, &b) != CSM_OK ||
                csm_jsonnum_set_text(n, csm_buf_str(&b)) != CSM_OK) {
                cJSON_Delete(n);
                n = NULL;
            }
            csm_buf_free(&b);
        }
        return n;
    }
    return NULL;
}

/* A mapping key as sigs.k8s.io/yaml turns it into a JSON key. */
static csm_err key_text(const yaml_node_t *k, csm_buf *out, char *why, size_t whylen)
{
    const char *text = (const char *)k->data.scalar.value;
    yscalar y;

    csm_buf_reset(out);
    if (k->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return csm_buf_puts(out, text);
    resolve_plain(text, &y);
    switch (y.kind) {
    case Y_STR:
        return csm_buf_puts(out, text);
    case Y_BOOL:
        return csm_buf_puts(out, y.b ? "true" : "false");
    case Y_INT:
        return csm_buf_printf(out, "%s%llu", y.neg && y.u ? "-" : "", y.u);
    case Y_FLOAT:
        /* strconv.FormatFloat(k, 'g', -1, 32), as sigs.k8s.io/yaml does. */
        if (isnan(y.d))
            return csm_buf_puts(out, ".nan");
        if (isinf(y.d))
            return csm_buf_puts(out, y.d > 0 ? ".inf" : "-.inf");
        return csm_jsonnum_format_float(y.d, 32, out);
    case Y_NULL:
    case Y_UINT:
        break;
    }
    snprintf(why, whylen, "map key \"%.40s\" has no JSON form (kubectl rejects it too)", text);
    return CSM_ERR_INVALID;
}

/* Aliases let a small document stand for a huge tree ("billion laughs");
 * no object has more nodes than this. */
#define OBJECT_NODES_MAX 1000000

typedef struct yconv {
    yaml_document_t *doc;
    size_t budget;
    csm_buf key;
    char *why;
    size_t whylen;
} yconv;

static cJSON *yaml_to_json(yconv *y, yaml_node_t *n, int depth)
{
    cJSON *out = NULL;
    yscalar ys;

    if (!n || depth > 64 || y->budget == 0) {
        snprintf(y->why, y->whylen, "empty, nested more than 64 deep or larger than %u nodes",
                 OBJECT_NODES_MAX);
        return NULL;
    }
    y->budget--;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
            return cJSON_CreateString((const char *)n->data.scalar.value);
        resolve_plain((const char *)n->data.scalar.value, &ys);
        return scalar_json((const char *)n->data.scalar.value, &ys, y->why, y->whylen);
    case YAML_SEQUENCE_NODE:
        out = cJSON_CreateArray();
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             out && i < n->data.sequence.items.top; i++) {
            cJSON *c = yaml_to_json(y, yaml_document_get_node(y->doc, *i), depth + 1);
            if (!c || !cJSON_AddItemToArray(out, c)) {
                cJSON_Delete(c);
                cJSON_Delete(out);
                return NULL;
            }
        }
        return out;
    case YAML_MAPPING_NODE:
        out = cJSON_CreateObject();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             out && p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
            cJSON *c;
            if (!k || k->type != YAML_SCALAR_NODE) {
                snprintf(y->why, y->whylen, "a map key that is not a scalar");
                cJSON_Delete(out);
                return NULL;
            }
            /* The value first: its own keys reuse y->key. */
            c = yaml_to_json(y, yaml_document_get_node(y->doc, p->value), depth + 1);
            if (c && key_text(k, &y->key, y->why, y->whylen) != CSM_OK) {
                cJSON_Delete(c);
                cJSON_Delete(out);
                return NULL;
            }
            /* go-yaml keeps the last of duplicate keys. */
            if (c && cJSON_GetObjectItemCaseSensitive(out, csm_buf_str(&y->key))) {
                if (cJSON_ReplaceItemInObjectCaseSensitive(out, csm_buf_str(&y->key), c))
                    continue;
            } else if (c && cJSON_AddItemToObject(out, csm_buf_str(&y->key), c)) {
                continue;
            }
            cJSON_Delete(c);
            cJSON_Delete(out);
            return NULL;
        }
        return out;
    default:
        snprintf(y->why, y->whylen, "an unexpected YAML node");
        return NULL;
    }
}

/* The object file as JSON, or else as YAML; NULL with a message in why. */
static cJSON *parse_object(const char *name, const csm_buf *text, char *why, size_t whylen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yconv conv;
    char what[256] = "";
    cJSON *obj = cJSON_ParseWithLength(text->ptr ? text->ptr : "", text->len);

    if (obj) {
        /* Integers above 2^53 keep their text for labels (jsonnum.h). */
        if (csm_jsonnum_annotate(obj, text->ptr, text->len) != CSM_OK) {
            snprintf(why, whylen, "%s: out of memory", name);
            cJSON_Delete(obj);
            return NULL;
        }
        return obj;
    }
    if (!yaml_parser_initialize(&parser)) {
        snprintf(why, whylen, "%s: out of memory", name);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text->ptr ? text->ptr : ""),
                                 text->len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(why, whylen, "%s:%zu:%zu: neither JSON nor YAML: %s", name,
                 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        return NULL;
    }
    conv.doc = &doc;
    conv.budget = OBJECT_NODES_MAX;
    conv.why = what;
    conv.whylen = sizeof(what);
    csm_buf_init(&conv.key, 1u << 20);
    obj = yaml_to_json(&conv, yaml_document_get_root_node(&doc), 0);
    if (!obj)
        snprintf(why, whylen, "%s: %s", name, what[0] ? what : "out of memory");
    csm_buf_free(&conv.key);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return obj;
}

/* ---- rendering ---------------------------------------------------------- */

/* The resource: --resource, else the object's apiVersion and kind. */
static int object_gvk(const args *a, const cJSON *obj, csm_gvk *gvk, FILE *err)
{
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    char text[1024];

    if (a->resource) {
        if (csm_gvk_parse(a->resource, gvk, NULL, 0) != CSM_OK) {
            fprintf(err, "check-config: --resource %s: expected GROUP/VERSION/KIND\n", a->resource);
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsString(av) || !cJSON_IsString(kind)) {
        fprintf(err,
                "check-config: %s has no apiVersion and kind; name the resource with "
                "--resource GROUP/VERSION/KIND\n",
                a->object);
        return -1;
    }
    snprintf(text, sizeof(text), "%s/%s", av->valuestring, kind->valuestring);
    if (csm_gvk_parse(text, gvk, NULL, 0) != CSM_OK) {
        fprintf(err, "check-config: %s: apiVersion \"%s\" and kind \"%s\" do not name a resource\n",
                a->object, av->valuestring, kind->valuestring);
        return -1;
    }
    return 0;
}

static csm_err make_set(const csm_generator *gen, const csm_crs *crs, const csm_gvk *gvk,
                        const cJSON *obj, csm_genset **out, char *errbuf, size_t errlen)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    char stem[256];
    char guess[300];
    csm_resource_desc d;
    csm_err err;

    err = csm_gen_stem(gvk->kind, stem, sizeof(stem));
    if (err)
        return err;
    d.group = gvk->group;
    d.version = gvk->version;
    d.kind = gvk->kind;
    /* Only built-in generators use the plural; the config does not. */
    d.plural = csm_crs_plural(crs, gvk->group, gvk->version, gvk->kind, stem, guess, sizeof(guess));
    d.namespaced = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
    d.stem = stem;
    err = csm_genset_new(&d, NULL, NULL, out);
    if (!err)
        err = csm_genset_add_ctx(*out, gen, NULL, (void *)crs, errbuf, errlen);
    return err;
}

/* Renders one object into *blk; returns 1 if something could not be read,
 * -1 on a hard error. */
static int render_one(csm_genset *gs, const cJSON *obj, csm_block **blk, FILE *err)
{
    const char *name = csm_object_name((const csm_object *)obj);
    size_t failures = 0;
    csm_buf diag;
    int rc = -1;

    csm_buf_init(&diag, 1u << 20);
    if (csm_genset_render_diag(gs, obj, blk, &failures, &diag) != CSM_OK) {
        fprintf(err, "check-config: out of memory\n");
        goto out;
    }
    for (const char *p = csm_buf_str(&diag); *p;) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(err, "check-config: %s: %.*s\n", name ? name : "(unnamed object)", n, p);
        p += n + (nl ? 1 : 0);
    }
    rc = failures ? 1 : 0;
out:
    csm_buf_free(&diag);
    return rc;
}

/* Counts item i, obj, in the config's Count metrics (cnt may be NULL).
 * An object file rarely has a metadata.uid; each item is its own object
 * then. Returns -1 on a hard error, else 0. */
static int count_one(csm_crscount *cnt, const cJSON *obj, size_t i, FILE *err)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON *copy = NULL;
    cJSON *m;
    char uid[64];
    csm_err e;

    if (!cnt)
        return 0;
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(meta, "uid"))) {
        snprintf(uid, sizeof(uid), "check-config-item-%zu", i);
        copy = cJSON_Duplicate(obj, 1);
        m = copy ? cJSON_GetObjectItemCaseSensitive(copy, "metadata") : NULL;
        if (copy && !m)
            m = cJSON_AddObjectToObject(copy, "metadata");
        if (!m || !cJSON_IsObject(m) || !cJSON_AddStringToObject(m, "uid", uid)) {
            cJSON_Delete(copy);
            fprintf(err, "check-config: item %zu: Count metrics: cannot read its metadata\n", i);
            return -1;
        }
        obj = copy;
    }
    e = csm_crscount_seen(cnt, 0, obj);
    cJSON_Delete(copy);
    if (e) {
        fprintf(err, "check-config: Count metrics: %s\n", csm_strerror(e));
        return -1;
    }
    return 0;
}

static int same_gvk(const csm_gvk *a, const csm_gvk *b)
{
    return strcmp(a->group, b->group) == 0 && strcmp(a->version, b->version) == 0 &&
           strcmp(a->kind, b->kind) == 0;
}

/* Renders the objects of objs[0..n) whose resource is gvk (kinds[i] is
 * object i's) and prints each family once. *none is set when the config
 * has no metrics for gvk. */
static int render_kind(const args *a, const csm_crs *crs, const csm_gvk *gvk,
                       const cJSON *const *objs, const csm_gvk *kinds, size_t n, int *none,
                       FILE *out, FILE *err)
{
    csm_genset *gs = NULL;
    csm_crscount *cnt = NULL;
    size_t omitted = 0;
    csm_block **blks = calloc(n ? n : 1, sizeof(*blks));
    const cJSON *first = NULL;
    char *text = NULL;
    csm_buf body;
    char errbuf[1024] = "";
    int rc = 2;
    int r;

    csm_buf_init(&body, 256u << 20);
    for (size_t i = 0; !first && i < n; i++)
        first = same_gvk(&kinds[i], gvk) ? objs[i] : NULL;
    if (!blks || !first)
        goto out;
    if (make_set(a->gen, crs, gvk, first, &gs, errbuf, sizeof(errbuf)) != CSM_OK) {
        fprintf(err, "check-config: %s\n", errbuf[0] ? errbuf : "cannot build the generator");
        goto out;
    }
    if (csm_crscount_new((csm_crs *)crs, csm_genset_resource(gs), &cnt) != CSM_OK) {
        fprintf(err, "check-config: out of memory\n");
        goto out;
    }
    *none = csm_genset_families(gs) == 0 && !csm_crscount_metrics(cnt);
    if (*none) {
        text = csm_gvk_text(gvk->group, gvk->version, gvk->kind);
        if (!text) {
            fprintf(err, "check-config: out of memory\n");
            goto out;
        }
        fprintf(err, "check-config: %s configures no metrics for %s\n", a->config, text);
        rc = 0;
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!same_gvk(&kinds[i], gvk))
            continue;
        r = render_one(gs, objs[i], &blks[i], err);
        if (r < 0) {
            rc = 2;
            goto out;
        }
        rc = r > rc ? r : rc;
        r = count_one(cnt, objs[i], i, err);
        if (r < 0) {
            rc = 2;
            goto out;
        }
        rc = r > rc ? r : rc;
    }
    for (size_t f = 0; f < csm_genset_families(gs); f++) {
        const csm_gen_family *fam = csm_genset_family(gs, f);
        csm_expo_family_header(&body, CSM_EXPO_TEXT, fam->name, fam->help, fam->type);
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *p = blks[i] ? csm_block_slice(blks[i], f, &len) : NULL;
            if (p)
                csm_buf_append(&body, p, len);
        }
    }
    /* The Count metrics after the others, as the exporter writes them. */
    if (cnt && csm_crscount_write(cnt, CSM_EXPO_TEXT, &body, &omitted) != CSM_OK) {
        fprintf(err, "check-config: out of memory\n");
        rc = 2;
        goto out;
    }
    if (omitted)
        fprintf(err,
                "check-config: Count metrics: %zu combinations beyond maxSeries are not "
                "exported\n",
                omitted);
    rc = omitted && !rc ? 1 : rc;
    if (body.len)
        fwrite(body.ptr, 1, body.len, out);
out:
    csm_crscount_free(cnt);
    for (size_t i = 0; blks && i < n; i++)
        csm_block_unref(blks[i]);
    free(blks);
    csm_genset_free(gs);
    csm_buf_free(&body);
    free(text);
    return rc;
}

/* Renders objs[0..n), each as its own resource (a List may mix kinds),
 * kind by kind in the order they first appear. */
static int render_all(const args *a, const csm_crs *crs, const cJSON *const *objs, size_t n,
                      FILE *out, FILE *err)
{
    csm_gvk *kinds = calloc(n ? n : 1, sizeof(*kinds));
    size_t got = 0;
    size_t kinds_without = 0;
    size_t distinct = 0;
    int rc = 2;
    int r;
    int none;

    if (!kinds || !n)
        goto out;
    for (; got < n; got++) {
        if (object_gvk(a, objs[got], &kinds[got], err))
            goto out;
    }
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; !seen && j < i; j++)
            seen = same_gvk(&kinds[j], &kinds[i]);
        if (seen)
            continue;
        distinct++;
        none = 0;
        r = render_kind(a, crs, &kinds[i], objs, kinds, n, &none, out, err);
        kinds_without += none;
        rc = r > rc ? r : rc;
        if (r == 2)
            break;
    }
    /* Nothing at all to show is a config that does not fit the object. */
    if (rc == 0 && kinds_without == distinct)
        rc = 2;
out:
    for (size_t i = 0; kinds && i < got; i++)
        csm_gvk_free(&kinds[i]);
    free(kinds);
    return rc;
}

int csm_checkcfg_main(int argc, char **argv, const csm_gen_table *builtins, FILE *out, FILE *err)
{
    args a;
    csm_crs *crs = NULL;
    csm_buf text;
    cJSON *obj = NULL;
    const cJSON **objs = NULL;
    const cJSON *items;
    const cJSON *kind;
    const cJSON *it;
    size_t n = 0;
    char errbuf[1024];
    int rc = 2;
    int r;

    csm_buf_init(&text, OBJECT_MAX);
    r = parse_args(argc, argv, &a, err);
    a.gen = builtins ? builtins->config : NULL;
    if (r) {
        fputs(usage, r > 0 ? out : err);
        rc = r > 0 ? 0 : 2;
        goto out;
    }
    if (csm_crs_load(a.config, &crs, errbuf, sizeof(errbuf)) != CSM_OK) {
        fprintf(err, "check-config: %s\n", errbuf);
        goto out;
    }
    if (csm_buf_read_file(&text, a.object) != CSM_OK) {
        fprintf(err, "check-config: %s: cannot read it\n", a.object);
        goto out;
    }
    obj = parse_object(a.object, &text, errbuf, sizeof(errbuf));
    if (!obj) {
        fprintf(err, "check-config: %s\n", errbuf);
        goto out;
    }
    kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    items = cJSON_GetObjectItemCaseSensitive(obj, "items");
    /* kubectl get -o json prints a List of the objects. */
    if (cJSON_IsArray(items) && cJSON_IsString(kind) && strlen(kind->valuestring) >= 4 &&
        strcmp(kind->valuestring + strlen(kind->valuestring) - 4, "List") == 0) {
        objs = calloc((size_t)cJSON_GetArraySize(items) + 1, sizeof(*objs));
        if (!objs)
            goto out;
        cJSON_ArrayForEach(it, items) objs[n++] = it;
        if (n == 0) {
            fprintf(err, "check-config: %s: the list is empty\n", a.object);
            goto out;
        }
    } else {
        objs = calloc(1, sizeof(*objs));
        if (!objs)
            goto out;
        objs[n++] = obj;
    }
    rc = render_all(&a, crs, objs, n, out, err);
out:
    free(objs);
    cJSON_Delete(obj);
    csm_crs_unref(crs);
    csm_buf_free(&text);
    return rc;
}
