#include "checkcfg.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "buf.h"
#include "crs.h"
#include "expo.h"
#include "flags.h"
#include "gen.h"

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

/* YAML's core schema for plain scalars: null, booleans, numbers. */
static cJSON *plain_scalar(const char *s)
{
    char *end;
    double d;

    if (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return cJSON_CreateNull();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return cJSON_CreateTrue();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return cJSON_CreateFalse();
    if (isdigit((unsigned char)s[0]) ||
        ((s[0] == '-' || s[0] == '+' || s[0] == '.') && isdigit((unsigned char)s[1]))) {
        d = strtod(s, &end);
        if (*end == '\0' && !strchr(s, 'x') && !strchr(s, 'X'))
            return cJSON_CreateNumber(d);
    }
    return cJSON_CreateString(s);
}

/* Aliases let a small document stand for a huge tree ("billion laughs");
 * no object has more nodes than this. */
#define OBJECT_NODES_MAX 1000000

static cJSON *yaml_to_json(yaml_document_t *doc, yaml_node_t *n, int depth, size_t *budget)
{
    cJSON *out = NULL;

    if (!n || depth > 64 || *budget == 0)
        return NULL;
    (*budget)--;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            return plain_scalar((const char *)n->data.scalar.value);
        return cJSON_CreateString((const char *)n->data.scalar.value);
    case YAML_SEQUENCE_NODE:
        out = cJSON_CreateArray();
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             out && i < n->data.sequence.items.top; i++) {
            cJSON *c = yaml_to_json(doc, yaml_document_get_node(doc, *i), depth + 1, budget);
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
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            cJSON *c;
            if (!k || k->type != YAML_SCALAR_NODE) {
                cJSON_Delete(out);
                return NULL;
            }
            c = yaml_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1, budget);
            if (!c || !cJSON_AddItemToObject(out, (const char *)k->data.scalar.value, c)) {
                cJSON_Delete(c);
                cJSON_Delete(out);
                return NULL;
            }
        }
        return out;
    default:
        return NULL;
    }
}

/* The object file as JSON, or else as YAML; NULL with a message in why. */
static cJSON *parse_object(const char *name, const csm_buf *text, char *why, size_t whylen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    size_t budget = OBJECT_NODES_MAX;
    cJSON *obj = cJSON_ParseWithLength(text->ptr ? text->ptr : "", text->len);

    if (obj)
        return obj;
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
    obj = yaml_to_json(&doc, yaml_document_get_root_node(&doc), 0, &budget);
    if (!obj)
        snprintf(why, whylen, "%s: empty, nested more than 64 deep or larger than %u nodes", name,
                 OBJECT_NODES_MAX);
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
        if (csm_gvk_parse(a->resource, gvk) != CSM_OK) {
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
    if (csm_gvk_parse(text, gvk) != CSM_OK) {
        fprintf(err, "check-config: %s: apiVersion \"%s\" and kind \"%s\" do not name a resource\n",
                a->object, av->valuestring, kind->valuestring);
        return -1;
    }
    return 0;
}

static csm_err make_set(const csm_crs *crs, const csm_gvk *gvk, const cJSON *obj, csm_genset **out,
                        char *errbuf, size_t errlen)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *plural = NULL;
    char stem[256];
    char guess[300];
    csm_resource_desc d;
    csm_err err;

    for (size_t i = 0; i < csm_crs_resources(crs); i++) {
        const csm_crs_resource *r = csm_crs_resource_at(crs, i);
        if (csm_crs_matches(r, gvk->group, gvk->version, gvk->kind) && r->plural)
            plural = r->plural;
    }
    err = csm_gen_stem(gvk->kind, stem, sizeof(stem));
    if (err)
        return err;
    /* Only built-in generators use the plural; the config does not. */
    snprintf(guess, sizeof(guess), "%ss", stem);
    d.group = gvk->group;
    d.version = gvk->version;
    d.kind = gvk->kind;
    d.plural = plural ? plural : guess;
    d.namespaced = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
    d.stem = stem;
    err = csm_genset_new(&d, NULL, NULL, out);
    if (!err)
        err = csm_genset_add_ctx(*out, &csm_generator_config, NULL, (void *)crs, errbuf, errlen);
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

/* Renders objs[0..n) (all of one resource) and prints each family once. */
static int render_all(const args *a, const csm_crs *crs, const cJSON *const *objs, size_t n,
                      FILE *out, FILE *err)
{
    csm_gvk gvk = {0};
    csm_genset *gs = NULL;
    csm_block **blks = calloc(n ? n : 1, sizeof(*blks));
    csm_buf body;
    char errbuf[1024] = "";
    int rc = 2;
    int r;

    csm_buf_init(&body, 256u << 20);
    if (!blks || !n || object_gvk(a, objs[0], &gvk, err))
        goto out;
    if (make_set(crs, &gvk, objs[0], &gs, errbuf, sizeof(errbuf)) != CSM_OK) {
        fprintf(err, "check-config: %s\n", errbuf[0] ? errbuf : "cannot build the generator");
        goto out;
    }
    if (csm_genset_families(gs) == 0) {
        fprintf(err, "check-config: %s configures no metrics for %s%s%s/%s\n", a->config, gvk.group,
                gvk.group[0] ? "/" : "", gvk.version, gvk.kind);
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        r = render_one(gs, objs[i], &blks[i], err);
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
            const char *p = csm_block_slice(blks[i], f, &len);
            csm_buf_append(&body, p, len);
        }
    }
    if (body.len)
        fwrite(body.ptr, 1, body.len, out);
out:
    for (size_t i = 0; blks && i < n; i++)
        csm_block_unref(blks[i]);
    free(blks);
    csm_genset_free(gs);
    csm_gvk_free(&gvk);
    csm_buf_free(&body);
    return rc;
}

int csm_checkcfg_main(int argc, char **argv, FILE *out, FILE *err)
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
