#include "render/gen.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "render/expo.h"

/* The most text one object may contribute to one family. Objects are capped
 * at a few MiB by the API server, so this only stops a runaway generator. */
#define GEN_FAMILY_TEXT_MAX (16u * 1024u * 1024u)

const csm_generator *csm_gen_table_find(const csm_gen_table *t, const char *name)
{
    for (size_t i = 0; t && i < t->n; i++) {
        if (strcmp(t->gens[i]->name, name) == 0)
            return t->gens[i];
    }
    return NULL;
}

typedef struct gen_instance {
    const csm_generator *gen;
    void *state;
    size_t rejected; /* samples csm_emit() refused during the current render */
    /* Families this instance declared: local index i maps to map[i], an
     * index into the set's families, or SIZE_MAX when filtered out. */
    size_t *map;
    size_t nmap;
    void *ctx; /* csm_genset_add_ctx()'s ctx, kept for csm_genset_context() */
} gen_instance;

struct csm_genset {
    csm_resource_desc res;
    char *strings[5]; /* owned copies behind res */
    csm_gen_family_filter filter;
    void *filter_ctx;
    gen_instance *inst;
    size_t ninst;
    csm_gen_family *fam;
    size_t nfam;
    csm_buf *scratch; /* one per family, reused between renders */
    csm_gen_failure_fn on_failure;
    void *on_failure_ctx;
    size_t max_labels; /* per sample; 0: no cap */
    csm_gen_drop_fn on_drop;
    void *on_drop_ctx;
    size_t dropped;      /* samples dropped for their label count, ever */
    size_t series_limit; /* the resource's series budget; 0: not set */
};

/* What csm_families_add() appends to during one init() call. */
struct csm_families {
    csm_genset *gs;
    gen_instance *inst;
    size_t first_family; /* families at or past this index are this init's */
    void *ctx;           /* csm_genset_add_ctx()'s ctx */
};

struct csm_emitter {
    csm_genset *gs;
    gen_instance *inst;
    size_t failures;
    csm_buf *diag; /* NULL unless the caller collects diagnostics */
};

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

csm_err csm_genset_new(const csm_resource_desc *res, csm_gen_family_filter filter, void *filter_ctx,
                       csm_genset **out)
{
    csm_genset *gs = calloc(1, sizeof(*gs));
    csm_err err = CSM_ERR_NOMEM;

    if (!gs)
        return CSM_ERR_NOMEM;
    gs->strings[0] = dup_or_empty(res->group);
    gs->strings[1] = dup_or_empty(res->version);
    gs->strings[2] = dup_or_empty(res->kind);
    gs->strings[3] = dup_or_empty(res->plural);
    gs->strings[4] = dup_or_empty(res->stem);
    for (size_t i = 0; i < 5; i++) {
        if (!gs->strings[i])
            goto fail;
    }
    gs->res.group = gs->strings[0];
    gs->res.version = gs->strings[1];
    gs->res.kind = gs->strings[2];
    gs->res.plural = gs->strings[3];
    gs->res.stem = gs->strings[4];
    gs->res.namespaced = res->namespaced;
    gs->filter = filter;
    gs->filter_ctx = filter_ctx;
    *out = gs;
    return CSM_OK;
fail:
    csm_genset_free(gs);
    return err;
}

void csm_genset_free(csm_genset *gs)
{
    if (!gs)
        return;
    for (size_t i = 0; i < gs->ninst; i++) {
        if (gs->inst[i].gen->destroy)
            gs->inst[i].gen->destroy(gs->inst[i].state);
        free(gs->inst[i].map);
    }
    free(gs->inst);
    for (size_t i = 0; i < gs->nfam; i++) {
        free(gs->fam[i].name);
        free(gs->fam[i].help);
        csm_buf_free(&gs->scratch[i]);
    }
    free(gs->fam);
    free(gs->scratch);
    for (size_t i = 0; i < 5; i++)
        free(gs->strings[i]);
    free(gs);
}

const csm_resource_desc *csm_genset_resource(const csm_genset *gs)
{
    return &gs->res;
}

size_t csm_genset_families(const csm_genset *gs)
{
    return gs->nfam;
}

const csm_gen_family *csm_genset_family(const csm_genset *gs, size_t i)
{
    return i < gs->nfam ? &gs->fam[i] : NULL;
}

csm_err csm_families_add(csm_families *fams, const char *name, const char *help,
                         csm_metric_type type, size_t *index)
{
    csm_genset *gs;
    gen_instance *inst;
    size_t *nmap;
    csm_gen_family *nfam;
    csm_buf *nscratch;
    size_t global = SIZE_MAX;

    if (!fams || !name || !index || type > CSM_METRIC_STATESET)
        return CSM_ERR_INVALID;
    if (!csm_expo_valid_metric_name(name))
        return CSM_ERR_INVALID;
    gs = fams->gs;
    inst = fams->inst;
    for (size_t i = 0; i < gs->nfam; i++) {
        if (strcmp(gs->fam[i].name, name) == 0)
            return CSM_ERR_INVALID;
    }
    nmap = realloc(inst->map, (inst->nmap + 1) * sizeof(*nmap));
    if (!nmap)
        return CSM_ERR_NOMEM;
    inst->map = nmap;

    if (!gs->filter || gs->filter(gs->filter_ctx, name)) {
        nfam = realloc(gs->fam, (gs->nfam + 1) * sizeof(*nfam));
        if (!nfam)
            return CSM_ERR_NOMEM;
        gs->fam = nfam;
        nscratch = realloc(gs->scratch, (gs->nfam + 1) * sizeof(*nscratch));
        if (!nscratch)
            return CSM_ERR_NOMEM;
        gs->scratch = nscratch;
        nfam[gs->nfam].name = strdup(name);
        nfam[gs->nfam].help = strdup(help ? help : "");
        nfam[gs->nfam].type = type;
        if (!nfam[gs->nfam].name || !nfam[gs->nfam].help) {
            free(nfam[gs->nfam].name);
            free(nfam[gs->nfam].help);
            return CSM_ERR_NOMEM;
        }
        csm_buf_init(&gs->scratch[gs->nfam], GEN_FAMILY_TEXT_MAX);
        global = gs->nfam++;
    }
    inst->map[inst->nmap] = global;
    *index = inst->nmap++;
    return CSM_OK;
}

/* Drops the families declared by a failed init(). */
static void families_rollback(csm_genset *gs, size_t first)
{
    while (gs->nfam > first) {
        gs->nfam--;
        free(gs->fam[gs->nfam].name);
        free(gs->fam[gs->nfam].help);
        csm_buf_free(&gs->scratch[gs->nfam]);
    }
}

void csm_genset_limit_labels(csm_genset *gs, size_t max, csm_gen_drop_fn fn, void *ctx)
{
    gs->max_labels = max;
    gs->on_drop = fn;
    gs->on_drop_ctx = ctx;
}

void csm_genset_set_series_limit(csm_genset *gs, size_t limit)
{
    gs->series_limit = limit;
}

size_t csm_genset_series_limit(const csm_genset *gs)
{
    return gs->series_limit;
}

size_t csm_genset_dropped(const csm_genset *gs)
{
    return gs->dropped;
}

void csm_genset_on_failure(csm_genset *gs, csm_gen_failure_fn fn, void *ctx)
{
    gs->on_failure = fn;
    gs->on_failure_ctx = ctx;
}

void *csm_families_context(const csm_families *fams)
{
    return fams ? fams->ctx : NULL;
}

csm_err csm_genset_add(csm_genset *gs, const csm_generator *g, const char *arg, char *errbuf,
                       size_t errlen)
{
    return csm_genset_add_ctx(gs, g, arg, NULL, errbuf, errlen);
}

csm_err csm_genset_add_ctx(csm_genset *gs, const csm_generator *g, const char *arg, void *ctx,
                           char *errbuf, size_t errlen)
{
    gen_instance *ninst;
    csm_families fams;
    csm_err err;

    if (g->abi_version != CSM_GENERATOR_ABI_VERSION) {
        snprintf(errbuf, errlen, "generator %s: ABI version %u, exporter speaks %u",
                 g->name ? g->name : "(unnamed)", g->abi_version, CSM_GENERATOR_ABI_VERSION);
        return CSM_ERR_ABI;
    }
    if (!g->name || !g->init || !g->generate) {
        snprintf(errbuf, errlen, "generator %s: descriptor lacks name, init or generate",
                 g->name ? g->name : "(unnamed)");
        return CSM_ERR_ABI;
    }
    ninst = realloc(gs->inst, (gs->ninst + 1) * sizeof(*ninst));
    if (!ninst)
        return CSM_ERR_NOMEM;
    gs->inst = ninst;
    memset(&ninst[gs->ninst], 0, sizeof(ninst[0]));
    ninst[gs->ninst].gen = g;
    ninst[gs->ninst].ctx = ctx;
    fams.gs = gs;
    fams.inst = &ninst[gs->ninst];
    fams.first_family = gs->nfam;
    fams.ctx = ctx;
    err = g->init(&gs->res, arg, &fams, &ninst[gs->ninst].state);
    if (err) {
        snprintf(errbuf, errlen, "generator %s for %s: %s", g->name, gs->res.kind,
                 csm_strerror(err));
        families_rollback(gs, fams.first_family);
        free(ninst[gs->ninst].map);
        return err;
    }
    gs->ninst++;
    return CSM_OK;
}

/* csm_emit() without the bookkeeping of rejected samples. */
static csm_err emit_sample(csm_emitter *em, size_t family, size_t nlabels, const char *const *names,
                           const char *const *values, double value)
{
    size_t global;
    csm_buf *b;
    size_t mark;
    csm_err err;

    if (family >= em->inst->nmap || (nlabels && (!names || !values)))
        return CSM_ERR_INVALID;
    global = em->inst->map[family];
    if (global == SIZE_MAX)
        return CSM_OK; /* filtered out: emitting costs nothing */
    if (em->gs->max_labels && nlabels > em->gs->max_labels) {
        /* The exporter's policy, not the generator's fault: the sample is
         * dropped whole (a truncated label set would be another series),
         * counted, and csm_emit() reports success. */
        em->gs->dropped++;
        if (em->gs->on_drop)
            em->gs->on_drop(em->gs->on_drop_ctx, &em->gs->res, em->inst->gen->name, nlabels,
                            em->gs->max_labels, em->gs->dropped == 1);
        return CSM_OK;
    }
    for (size_t i = 0; i < nlabels; i++) {
        if (!names[i] || !values[i])
            return CSM_ERR_INVALID;
    }
    /* Duplicate names are csm_expo_sample()'s to find, in O(n log n). */
    b = &em->gs->scratch[global];
    mark = b->len;
    err = csm_expo_sample(b, em->gs->fam[global].name, nlabels, names, values, value);
    if (err == CSM_ERR_INVALID && b->len > mark) {
        /* A bad label name detected mid-line: cut the partial line. */
        b->len = mark;
        if (b->ptr)
            b->ptr[mark] = '\0';
    }
    return err;
}

csm_err csm_emit(csm_emitter *em, size_t family, size_t nlabels, const char *const *names,
                 const char *const *values, double value)
{
    csm_err err;

    if (!em)
        return CSM_ERR_INVALID;
    err = emit_sample(em, family, nlabels, names, values, value);
    if (!err)
        return CSM_OK;
    /* Counted even when the generator ignores the error. */
    em->inst->rejected++;
    if (em->diag && family < em->inst->nmap && em->inst->map[family] != SIZE_MAX)
        csm_emitter_note(em, "sample of %s rejected: %s", em->gs->fam[em->inst->map[family]].name,
                         err == CSM_ERR_INVALID ? "invalid label name or duplicate label"
                                                : csm_strerror(err));
    else if (em->diag)
        csm_emitter_note(em, "sample rejected: %s",
                         family < em->inst->nmap ? csm_strerror(err) : "no such family");
    return err;
}

void csm_emitter_note(csm_emitter *em, const char *fmt, ...)
{
    va_list ap;

    if (!em || !em->diag)
        return;
    csm_buf_printf(em->diag, "%s: ", em->inst->gen->name);
    va_start(ap, fmt);
    csm_buf_vprintf(em->diag, fmt, ap);
    va_end(ap);
    csm_buf_putc(em->diag, '\n');
}

csm_err csm_genset_render(csm_genset *gs, const cJSON *obj, csm_block **out, size_t *failures)
{
    return csm_genset_render_diag(gs, obj, out, failures, NULL);
}

csm_err csm_genset_render_diag(csm_genset *gs, const cJSON *obj, csm_block **out, size_t *failures,
                               csm_buf *diag)
{
    csm_emitter em;
    csm_err err = CSM_OK;
    csm_err gerr;

    em.gs = gs;
    em.failures = 0;
    em.diag = diag;
    for (size_t i = 0; i < gs->nfam; i++)
        csm_buf_reset(&gs->scratch[i]);
    for (size_t i = 0; i < gs->ninst; i++) {
        em.inst = &gs->inst[i];
        size_t noted = diag ? diag->len : 0;
        gs->inst[i].rejected = 0;
        gerr = gs->inst[i].gen->generate(gs->inst[i].state, (const csm_object *)obj, &em);
        /* Say something for a failure the generator did not explain. */
        if (gerr && diag && diag->len == noted)
            csm_emitter_note(&em, "%s", csm_strerror(gerr));
        if (gerr || gs->inst[i].rejected) {
            em.failures++;
            if (gs->on_failure)
                gs->on_failure(gs->on_failure_ctx, &gs->res, gs->inst[i].gen->name);
        }
    }
    *out = csm_block_from_bufs(gs->nfam, gs->scratch);
    if (!*out)
        err = CSM_ERR_NOMEM;
    if (failures)
        *failures = em.failures;
    return err;
}

size_t csm_gen_object_labels(const csm_object *obj, const char *stem, const char **names,
                             const char **values)
{
    const char *ns = csm_object_namespace(obj);
    const char *name = csm_object_name(obj);
    size_t n = 0;

    if (!name)
        return 0;
    if (ns) {
        names[n] = "namespace";
        values[n++] = ns;
    }
    names[n] = stem;
    values[n++] = name;
    return n;
}

csm_err csm_gen_stem(const char *kind, char *out, size_t outlen)
{
    size_t n = strlen(kind);
    char *lower;
    csm_err err;

    lower = malloc(n + 1);
    if (!lower)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)kind[i]);
    /* The stem is used as a metric-name part and as a label name. */
    err = csm_label_sanitize(lower, out, outlen);
    free(lower);
    return err;
}

csm_err csm_label_sanitize(const char *in, char *out, size_t outlen)
{
    csm_err err = csm_name_sanitize(in, out, outlen);
    /* The metric-name rules differ from the label-name rules only in ':'. */
    for (char *p = out; !err && *p; p++) {
        if (*p == ':')
            *p = '_';
    }
    return err;
}

/* ---- Object access: csm_object and csm_value are cJSON nodes. ---------- */

static const cJSON *as_json(const csm_value *v)
{
    return (const cJSON *)v;
}

const csm_value *csm_object_root(const csm_object *obj)
{
    return (const csm_value *)obj;
}

static const char *meta_string(const csm_object *obj, const char *key)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive((const cJSON *)obj, "metadata");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *csm_object_name(const csm_object *obj)
{
    return meta_string(obj, "name");
}

const char *csm_object_namespace(const csm_object *obj)
{
    return meta_string(obj, "namespace");
}

const char *csm_object_uid(const csm_object *obj)
{
    return meta_string(obj, "uid");
}

csm_value_kind csm_value_kind_of(const csm_value *v)
{
    const cJSON *j = as_json(v);
    if (!j || cJSON_IsNull(j))
        return CSM_VALUE_NULL;
    if (cJSON_IsBool(j))
        return CSM_VALUE_BOOL;
    if (cJSON_IsNumber(j))
        return CSM_VALUE_NUMBER;
    if (cJSON_IsString(j))
        return CSM_VALUE_STRING;
    if (cJSON_IsArray(j))
        return CSM_VALUE_ARRAY;
    if (cJSON_IsObject(j))
        return CSM_VALUE_MAP;
    return CSM_VALUE_NULL;
}

const csm_value *csm_value_key(const csm_value *v, const char *key)
{
    if (!cJSON_IsObject(as_json(v)) || !key)
        return NULL;
    return (const csm_value *)cJSON_GetObjectItemCaseSensitive(as_json(v), key);
}

const csm_value *csm_value_index(const csm_value *v, size_t i)
{
    const cJSON *c;
    if (!cJSON_IsArray(as_json(v)))
        return NULL;
    for (c = as_json(v)->child; c && i; c = c->next)
        i--;
    return (const csm_value *)c;
}

size_t csm_value_size(const csm_value *v)
{
    const cJSON *j = as_json(v);
    size_t n = 0;
    if (!cJSON_IsArray(j) && !cJSON_IsObject(j))
        return 0;
    for (const cJSON *c = j->child; c; c = c->next)
        n++;
    return n;
}

const csm_value *csm_value_first(const csm_value *v)
{
    const cJSON *j = as_json(v);
    if (!cJSON_IsArray(j) && !cJSON_IsObject(j))
        return NULL;
    return (const csm_value *)j->child;
}

const csm_value *csm_value_next(const csm_value *v)
{
    return v ? (const csm_value *)as_json(v)->next : NULL;
}

const char *csm_value_name(const csm_value *v)
{
    return v ? as_json(v)->string : NULL;
}

const csm_value *csm_value_entry(const csm_value *v, size_t i, const char **key)
{
    const cJSON *c;
    if (!cJSON_IsObject(as_json(v)))
        return NULL;
    for (c = as_json(v)->child; c && i; c = c->next)
        i--;
    if (c && key)
        *key = c->string;
    return (const csm_value *)c;
}

/* One step of a path: a decimal index when v is an array, else a key. */
static const csm_value *path_step(const csm_value *v, const char *seg, size_t len)
{
    char key[512];
    int digits = len > 0;

    if (len >= sizeof(key))
        return NULL;
    memcpy(key, seg, len);
    key[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)key[i]))
            digits = 0;
    }
    if (digits && cJSON_IsArray(as_json(v)))
        return csm_value_index(v, (size_t)strtoull(key, NULL, 10));
    return csm_value_key(v, key);
}

const csm_value *csm_value_path(const csm_value *v, const char *path)
{
    const char *p = path;

    if (!path)
        return NULL;
    while (v && *p) {
        if (*p == '.') {
            p++;
            continue;
        }
        if (*p == '[') {
            const char *end = strchr(p + 1, ']');
            if (!end)
                return NULL;
            v = path_step(v, p + 1, (size_t)(end - p - 1));
            p = end + 1;
            continue;
        }
        size_t len = strcspn(p, ".[");
        v = path_step(v, p, len);
        p += len;
    }
    return v;
}

csm_err csm_value_string(const csm_value *v, const char **out)
{
    if (!v)
        return CSM_ERR_NOT_FOUND;
    if (!cJSON_IsString(as_json(v)))
        return CSM_ERR_TYPE;
    *out = as_json(v)->valuestring;
    return CSM_OK;
}

csm_err csm_value_number(const csm_value *v, double *out)
{
    if (!v)
        return CSM_ERR_NOT_FOUND;
    if (!cJSON_IsNumber(as_json(v)))
        return CSM_ERR_TYPE;
    *out = as_json(v)->valuedouble;
    return CSM_OK;
}

csm_err csm_value_bool(const csm_value *v, int *out)
{
    if (!v)
        return CSM_ERR_NOT_FOUND;
    if (!cJSON_IsBool(as_json(v)))
        return CSM_ERR_TYPE;
    *out = cJSON_IsTrue(as_json(v)) ? 1 : 0;
    return CSM_OK;
}

/* Reads exactly n digits. */
static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return 0;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

csm_err csm_gen_parse_rfc3339(const char *s, double *out)
{
    struct tm tm;
    int year, mon, day, hour, min, sec, oh, om;
    double frac = 0;
    int sign;
    time_t t;
    const char *p = s;

    memset(&tm, 0, sizeof(tm));
    if (!read_digits(&p, 4, &year) || *p++ != '-' || !read_digits(&p, 2, &mon) || *p++ != '-' ||
        !read_digits(&p, 2, &day))
        return CSM_ERR_PARSE;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return CSM_ERR_PARSE;
    p++;
    if (!read_digits(&p, 2, &hour) || *p++ != ':' || !read_digits(&p, 2, &min) || *p++ != ':' ||
        !read_digits(&p, 2, &sec))
        return CSM_ERR_PARSE;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return CSM_ERR_PARSE;
    if (*p == '.') {
        double scale = 0.1;
        p++;
        if (!isdigit((unsigned char)*p))
            return CSM_ERR_PARSE;
        while (isdigit((unsigned char)*p)) {
            frac += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (!read_digits(&p, 2, &oh) || *p++ != ':' || !read_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return CSM_ERR_PARSE;
        t -= sign * (oh * 3600 + om * 60);
    } else {
        return CSM_ERR_PARSE;
    }
    if (*p)
        return CSM_ERR_PARSE;
    *out = (double)t + frac;
    return CSM_OK;
}

csm_err csm_value_timestamp(const csm_value *v, double *out)
{
    const char *s;
    csm_err err = csm_value_string(v, &s);
    if (err)
        return err;
    return csm_gen_parse_rfc3339(s, out);
}

/* ---- queries for generators served outside the blocks (lifecycle) ----- */

int csm_genset_uses(const csm_genset *gs, const csm_generator *g)
{
    for (size_t i = 0; gs && i < gs->ninst; i++) {
        if (gs->inst[i].gen == g)
            return 1;
    }
    return 0;
}

void *csm_genset_context(const csm_genset *gs, const csm_generator *g)
{
    for (size_t i = 0; gs && i < gs->ninst; i++) {
        if (gs->inst[i].gen == g)
            return gs->inst[i].ctx;
    }
    return NULL;
}

int csm_genset_admits(const csm_genset *gs, const char *name)
{
    return !gs->filter || gs->filter(gs->filter_ctx, name);
}
