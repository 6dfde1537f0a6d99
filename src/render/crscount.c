#include "render/crscount.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "render/gen.h"

/* What chains an entry into a table (the first member of each entry). */
typedef struct cc_link {
    struct cc_link *next;
    uint64_t hash;
} cc_link;

/* One live combination of one metric: its label set ("name\0value\0"
 * pairs, sorted by name) and how many objects have it. Chained in the
 * metric's table; freed when the last object leaves it. */
typedef struct cc_combo {
    cc_link link;
    char *key;
    size_t len;
    size_t count;
} cc_combo;

typedef struct cc_metric {
    const csm_crs_metric *m; /* borrowed from the crs the count references */
    int enabled;
    cc_link **tab; /* of cc_combo */
    size_t cap;    /* power of two, or 0 */
    size_t ncombo;
    size_t uncounted;
} cc_metric;

/* One followed object: per metric, the combination it is counted in (NULL
 * when its key was too long). */
typedef struct cc_obj {
    cc_link link;
    char *uid;
    uint32_t source;
    uint32_t mark;     /* the source's sync generation when last seen */
    cc_combo *combo[]; /* nmet entries */
} cc_obj;

struct csm_crscount {
    csm_crs *crs;
    char *gvk[3];
    cc_metric *met;
    size_t nmet;
    cc_link **otab; /* of cc_obj */
    size_t ocap;    /* power of two, or 0 */
    size_t nobj;
    uint32_t *gen; /* per source: generation of the current sync */
    size_t nsource;
    csm_buf key; /* scratch */
};

/* Doubles a chained table (power-of-two slots, or none yet). Cost
 * O(entries). */
static csm_err grow(cc_link ***tabp, size_t *capp, size_t first)
{
    size_t cap = *capp ? *capp * 2 : first;
    cc_link **tab = calloc(cap, sizeof(*tab));

    if (!tab)
        return CSM_ERR_NOMEM;
    for (size_t i = 0; i < *capp; i++) {
        for (cc_link *e = (*tabp)[i], *next; e; e = next) {
            next = e->next;
            e->next = tab[e->hash & (cap - 1)];
            tab[e->hash & (cap - 1)] = e;
        }
    }
    free(*tabp);
    *tabp = tab;
    *capp = cap;
    return CSM_OK;
}

/* The combination of key in mt, created with count 0 if new. */
static csm_err combo_get(cc_metric *mt, const char *key, size_t len, cc_combo **out)
{
    uint64_t h = csm_hash_fnv1a64(key, len);
    cc_combo *e;
    csm_err err;

    for (cc_link *l = mt->cap ? mt->tab[h & (mt->cap - 1)] : NULL; l; l = l->next) {
        e = (cc_combo *)l;
        if (l->hash == h && e->len == len && memcmp(e->key, key, len) == 0) {
            *out = e;
            return CSM_OK;
        }
    }
    if (mt->ncombo >= mt->cap) {
        err = grow(&mt->tab, &mt->cap, 16);
        if (err)
            return err;
    }
    e = calloc(1, sizeof(*e));
    if (!e)
        return CSM_ERR_NOMEM;
    e->key = malloc(len ? len : 1);
    if (!e->key) {
        free(e);
        return CSM_ERR_NOMEM;
    }
    memcpy(e->key, key, len);
    e->len = len;
    e->link.hash = h;
    e->link.next = mt->tab[h & (mt->cap - 1)];
    mt->tab[h & (mt->cap - 1)] = &e->link;
    mt->ncombo++;
    *out = e;
    return CSM_OK;
}

/* One object fewer in e; the combination goes with its last object. */
static void combo_drop(cc_metric *mt, cc_combo *e)
{
    cc_link **p;

    if (!e || --e->count)
        return;
    for (p = &mt->tab[e->link.hash & (mt->cap - 1)]; *p != &e->link; p = &(*p)->next)
        ;
    *p = e->link.next;
    free(e->key);
    free(e);
    mt->ncombo--;
}

csm_err csm_crscount_new(csm_crs *crs, const csm_resource_desc *res, csm_crscount **out)
{
    csm_crscount *c = NULL;
    size_t n = 0;
    csm_err err = CSM_ERR_NOMEM;

    *out = NULL;
    for (size_t i = 0; i < csm_crs_resources(crs); i++) {
        const csm_crs_resource *r = csm_crs_resource_at(crs, i);
        if (!csm_crs_matches(r, res->group, res->version, res->kind))
            continue;
        for (size_t j = 0; j < r->nmetrics; j++)
            n += r->metrics[j].type == CSM_CRS_COUNT;
    }
    if (!n)
        return CSM_OK;
    c = calloc(1, sizeof(*c));
    if (!c)
        return CSM_ERR_NOMEM;
    csm_buf_init(&c->key, CSM_CRSCOUNT_KEY_MAX);
    c->crs = csm_crs_ref(crs);
    c->met = calloc(n, sizeof(*c->met));
    c->gvk[0] = strdup(res->group);
    c->gvk[1] = strdup(res->version);
    c->gvk[2] = strdup(res->kind);
    if (!c->met || !c->gvk[0] || !c->gvk[1] || !c->gvk[2])
        goto out;
    for (size_t i = 0; i < csm_crs_resources(crs); i++) {
        const csm_crs_resource *r = csm_crs_resource_at(crs, i);
        if (!csm_crs_matches(r, res->group, res->version, res->kind))
            continue;
        for (size_t j = 0; j < r->nmetrics; j++) {
            if (r->metrics[j].type != CSM_CRS_COUNT)
                continue;
            c->met[c->nmet].m = &r->metrics[j];
            c->met[c->nmet++].enabled = 1;
        }
    }
    *out = c;
    c = NULL;
    err = CSM_OK;
out:
    csm_crscount_free(c);
    return err;
}

static void obj_free(csm_crscount *c, cc_obj *o)
{
    for (size_t i = 0; i < c->nmet; i++)
        combo_drop(&c->met[i], o->combo[i]);
    free(o->uid);
    free(o);
}

void csm_crscount_clear(csm_crscount *c)
{
    for (size_t i = 0; i < c->ocap; i++) {
        for (cc_link *l = c->otab[i], *next; l; l = next) {
            next = l->next;
            obj_free(c, (cc_obj *)l);
        }
        c->otab[i] = NULL;
    }
    c->nobj = 0;
}

void csm_crscount_free(csm_crscount *c)
{
    if (!c)
        return;
    if (c->met)
        csm_crscount_clear(c);
    for (size_t i = 0; c->met && i < c->nmet; i++)
        free(c->met[i].tab);
    free(c->met);
    free(c->otab);
    free(c->gen);
    for (size_t i = 0; i < 3; i++)
        free(c->gvk[i]);
    csm_buf_free(&c->key);
    csm_crs_unref(c->crs);
    free(c);
}

size_t csm_crscount_metrics(const csm_crscount *c)
{
    return c ? c->nmet : 0;
}

const char *csm_crscount_name(const csm_crscount *c, size_t i)
{
    return c->met[i].m->name;
}

void csm_crscount_enable(csm_crscount *c, size_t i, int on)
{
    c->met[i].enabled = on;
}

/* Where the object of uid is linked (*slot NULL if it is not there), or
 * NULL for an empty table. */
static cc_link **obj_slot(csm_crscount *c, const char *uid, uint64_t h)
{
    cc_link **p;

    if (!c->ocap)
        return NULL;
    for (p = &c->otab[h & (c->ocap - 1)]; *p; p = &(*p)->next) {
        if ((*p)->hash == h && strcmp(((cc_obj *)*p)->uid, uid) == 0)
            return p;
    }
    return p;
}

static csm_err source_gen(csm_crscount *c, uint32_t source, uint32_t **out)
{
    uint32_t *ng;

    if (source >= c->nsource) {
        ng = realloc(c->gen, ((size_t)source + 1) * sizeof(*ng));
        if (!ng)
            return CSM_ERR_NOMEM;
        memset(ng + c->nsource, 0, ((size_t)source + 1 - c->nsource) * sizeof(*ng));
        c->gen = ng;
        c->nsource = (size_t)source + 1;
    }
    *out = &c->gen[source];
    return CSM_OK;
}

/* Puts o in metric i's combination for obj (moving it from its old one). */
static csm_err count_in(csm_crscount *c, size_t i, cc_obj *o, const cJSON *obj)
{
    cc_metric *mt = &c->met[i];
    cc_combo *e = NULL;
    csm_err err;

    csm_buf_reset(&c->key);
    err = csm_gen_config_count_key(mt->m, (const char *const *)c->gvk, obj, &c->key);
    if (err == CSM_ERR_TOO_LARGE) {
        combo_drop(mt, o->combo[i]);
        o->combo[i] = NULL;
        return CSM_OK;
    }
    if (!err)
        err = combo_get(mt, c->key.len ? c->key.ptr : "", c->key.len, &e);
    if (err)
        return err;
    e->count++;
    combo_drop(mt, o->combo[i]);
    o->combo[i] = e;
    return CSM_OK;
}

csm_err csm_crscount_seen(csm_crscount *c, uint32_t source, const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
    uint32_t *gen;
    cc_link **p;
    cc_obj *o;
    uint64_t h;
    int fresh = 0;
    csm_err err;

    if (!cJSON_IsString(uid))
        return CSM_ERR_NOT_FOUND;
    err = source_gen(c, source, &gen);
    if (err)
        return err;
    h = csm_hash_fnv1a64(uid->valuestring, strlen(uid->valuestring));
    p = obj_slot(c, uid->valuestring, h);
    if (!p || !*p) {
        if (c->nobj >= c->ocap) {
            err = grow(&c->otab, &c->ocap, 64);
            if (err)
                return err;
        }
        o = calloc(1, sizeof(*o) + c->nmet * sizeof(o->combo[0]));
        if (!o)
            return CSM_ERR_NOMEM;
        o->uid = strdup(uid->valuestring);
        if (!o->uid) {
            free(o);
            return CSM_ERR_NOMEM;
        }
        o->link.hash = h;
        o->link.next = c->otab[h & (c->ocap - 1)];
        c->otab[h & (c->ocap - 1)] = &o->link;
        c->nobj++;
        fresh = 1;
    } else {
        o = (cc_obj *)*p;
    }
    o->source = source;
    o->mark = *gen;
    /* uncounted is the number of followed objects with no combination. */
    for (size_t i = 0; !err && i < c->nmet; i++) {
        int before = fresh || o->combo[i] != NULL;
        err = count_in(c, i, o, obj);
        if (before && !o->combo[i])
            c->met[i].uncounted++;
        else if (!before && o->combo[i])
            c->met[i].uncounted--;
    }
    return err;
}

/* Unlinks and frees the object at *p (which then holds the next one). */
static void obj_remove(csm_crscount *c, cc_link **p)
{
    cc_obj *o = (cc_obj *)*p;

    *p = o->link.next;
    for (size_t i = 0; i < c->nmet; i++)
        c->met[i].uncounted -= o->combo[i] ? 0 : 1;
    obj_free(c, o);
    c->nobj--;
}

csm_err csm_crscount_forget(csm_crscount *c, const char *uid)
{
    cc_link **p = obj_slot(c, uid, csm_hash_fnv1a64(uid, strlen(uid)));

    if (!p || !*p)
        return CSM_ERR_NOT_FOUND;
    obj_remove(c, p);
    return CSM_OK;
}

csm_err csm_crscount_sync_begin(csm_crscount *c, uint32_t source)
{
    uint32_t *gen;
    csm_err err = source_gen(c, source, &gen);

    if (!err)
        ++*gen;
    return err;
}

size_t csm_crscount_sync_end(csm_crscount *c, uint32_t source)
{
    size_t n = 0;

    if (source >= c->nsource)
        return 0;
    for (size_t i = 0; i < c->ocap; i++) {
        for (cc_link **p = &c->otab[i]; *p;) {
            const cc_obj *o = (const cc_obj *)*p;
            if (o->source == source && o->mark != c->gen[source]) {
                obj_remove(c, p);
                n++;
            } else {
                p = &(*p)->next;
            }
        }
    }
    return n;
}

size_t csm_crscount_objects(const csm_crscount *c)
{
    return c->nobj;
}

size_t csm_crscount_combinations(const csm_crscount *c, size_t i)
{
    return c->met[i].ncombo;
}

size_t csm_crscount_uncounted(const csm_crscount *c, size_t i)
{
    return c->met[i].uncounted;
}

size_t csm_crscount_series(const csm_crscount *c)
{
    size_t n = 0;

    for (size_t i = 0; c && i < c->nmet; i++) {
        if (c->met[i].enabled)
            n += c->met[i].ncombo < c->met[i].m->max_series ? c->met[i].ncombo
                                                            : c->met[i].m->max_series;
    }
    return n;
}

static int cmp_combo(const void *a, const void *b)
{
    const cc_combo *x = *(const cc_combo *const *)a;
    const cc_combo *y = *(const cc_combo *const *)b;
    int r = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

    return r ? r : (x->len > y->len) - (x->len < y->len);
}

/* One sample of metric mt for combination e. */
static csm_err write_combo(const cc_metric *mt, const cc_combo *e, const char **names,
                           const char **values, csm_buf *out)
{
    size_t n = 0;

    for (size_t at = 0; at < e->len; n++) {
        names[n] = e->key + at;
        at += strlen(names[n]) + 1;
        values[n] = e->key + at;
        at += strlen(values[n]) + 1;
    }
    return csm_expo_sample(out, mt->m->name, n, names, values, (double)e->count);
}

csm_err csm_crscount_write(const csm_crscount *c, csm_expo_format fmt, csm_buf *out,
                           size_t *omitted)
{
    cc_combo **all = NULL;
    const char **names = NULL;
    const char **values = NULL;
    size_t skipped = 0;
    csm_err err = CSM_OK;

    for (size_t i = 0; !err && i < c->nmet; i++) {
        const cc_metric *mt = &c->met[i];
        size_t n = 0;
        size_t most = 0;
        if (!mt->enabled || !mt->ncombo)
            continue;
        free(all);
        free(names);
        free(values);
        all = calloc(mt->ncombo, sizeof(*all));
        /* A key holds at most len/2 labels (each is two terminated strings). */
        for (size_t s = 0; all && s < mt->cap; s++) {
            for (cc_link *l = mt->tab[s]; l; l = l->next) {
                const cc_combo *e = (const cc_combo *)l;
                all[n++] = (cc_combo *)l;
                most = e->len > most ? e->len : most;
            }
        }
        names = calloc(most / 2 + 1, sizeof(*names));
        values = calloc(most / 2 + 1, sizeof(*values));
        if (!all || !names || !values) {
            err = CSM_ERR_NOMEM;
            break;
        }
        qsort(all, n, sizeof(*all), cmp_combo);
        if (n > mt->m->max_series) {
            skipped += n - mt->m->max_series;
            n = mt->m->max_series;
        }
        err = csm_expo_family_header(out, fmt, mt->m->name, mt->m->help, CSM_METRIC_GAUGE);
        for (size_t k = 0; !err && k < n; k++)
            err = write_combo(mt, all[k], names, values, out);
    }
    free(all);
    free(names);
    free(values);
    if (omitted)
        *omitted = skipped;
    return err;
}
