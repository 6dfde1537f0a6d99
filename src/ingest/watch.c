#include "ingest/watch.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jsonnum.h"

struct csm_watch {
    csm_buf line;   /* the unfinished line carried between chunks */
    int discarding; /* an over-long line is being skipped */
    size_t max_line;
    csm_watch_cbs cbs;
};

static const char *const type_names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

const char *csm_watch_type_name(csm_watch_type t)
{
    return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "UNKNOWN";
}

csm_watch *csm_watch_new(size_t max_line, const csm_watch_cbs *cbs)
{
    csm_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    csm_buf_init(&w->line, max_line);
    w->max_line = max_line;
    w->cbs = *cbs;
    return w;
}

void csm_watch_free(csm_watch *w)
{
    if (!w)
        return;
    csm_buf_free(&w->line);
    free(w);
}

size_t csm_watch_pending(const csm_watch *w)
{
    return w->line.len;
}

void csm_watch_reset(csm_watch *w)
{
    csm_buf_free(&w->line);
    w->discarding = 0;
}

csm_err csm_watch_decode(const char *line, size_t len, csm_watch_type *type, cJSON **doc,
                         const cJSON **object, const char **why)
{
    const char *end = NULL;
    cJSON *root;
    const cJSON *t;
    const cJSON *o;

    root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!root) {
        *why = "invalid JSON";
        return CSM_ERR_PARSE;
    }
    /* Integers above 2^53 keep their text for labels (jsonnum.h). */
    if (csm_jsonnum_annotate(root, line, (size_t)(end - line)) != CSM_OK) {
        *why = "out of memory";
        goto bad;
    }
    t = cJSON_GetObjectItemCaseSensitive(root, "type");
    o = cJSON_GetObjectItemCaseSensitive(root, "object");
    if (!cJSON_IsString(t)) {
        *why = "event without a type";
        goto bad;
    }
    if (!cJSON_IsObject(o)) {
        *why = "event without an object";
        goto bad;
    }
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (strcmp(t->valuestring, type_names[i]) == 0) {
            *type = (csm_watch_type)i;
            *doc = root;
            *object = o;
            return CSM_OK;
        }
    }
    *why = "unknown event type";
bad:
    cJSON_Delete(root);
    return CSM_ERR_PARSE;
}

/* ---- skim: a scan over JSON that builds nothing ---------------------- */

typedef struct skim {
    const char *p;
    const char *end;
} skim;

/* What csm_watch_skim() looks for, filled as the scan goes. */
typedef struct skim_out {
    const char *type;
    size_t type_len;
    const char *uid;
    size_t uid_len;
    const char *rv;
    size_t rv_len;
    int seen_type, seen_object, seen_meta, seen_uid, seen_rv;
} skim_out;

static void skim_ws(skim *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* At '"': skips the string; *str and *len span its raw contents and *esc says
 * whether it holds an escape. 0 at a string that does not end or holds a
 * raw control byte. */
static int skim_string(skim *s, const char **str, size_t *len, int *esc)
{
    const char *q = s->p + 1;

    *esc = 0;
    while (q < s->end && *q != '"') {
        /* A raw control byte (a NUL above all) is invalid JSON, which cJSON
         * reads differently (it ends the string at a NUL): not ours to
         * interpret. */
        if ((unsigned char)*q < 0x20)
            return 0;
        if (*q == '\\') {
            *esc = 1;
            if (s->end - q < 2)
                return 0;
            q += 2;
            continue;
        }
        q++;
    }
    if (q >= s->end)
        return 0;
    *str = s->p + 1;
    *len = (size_t)(q - s->p - 1);
    s->p = q + 1;
    return 1;
}

/* Skips one value of any kind. Containers are skipped by counting brackets
 * outside strings (iteratively: no recursion depth for hostile nesting);
 * mismatched bracket kinds are not noticed, which only matters for lines
 * that are dropped anyway. */
static int skim_value(skim *s)
{
    const char *str;
    size_t len;
    int esc;
    size_t depth = 0;

    skim_ws(s);
    if (s->p >= s->end)
        return 0;
    if (*s->p == '"')
        return skim_string(s, &str, &len, &esc);
    if (*s->p != '{' && *s->p != '[') {
        const char *start = s->p;
        while (s->p < s->end && !strchr(",}] \t\r\n", *s->p))
            s->p++;
        return s->p > start;
    }
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            if (!skim_string(s, &str, &len, &esc))
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0) {
            s->p++;
            return 1;
        }
        s->p++;
    }
    return 0;
}

typedef enum skim_step {
    SKIM_FAIL = 0,
    SKIM_NEXT, /* the value was consumed: next member */
    SKIM_STOP, /* everything wanted is known: stop scanning */
} skim_step;

/* One member of an object: s->p is at the value, which the callee consumes
 * (or it returns SKIM_STOP). */
typedef skim_step (*skim_member_fn)(skim *s, skim_out *o, const char *key, size_t klen);

static int key_is(const char *key, size_t klen, const char *want)
{
    return strlen(want) == klen && memcmp(key, want, klen) == 0;
}

/* At '{': walks the members of an object. */
static skim_step skim_object(skim *s, skim_out *o, skim_member_fn member)
{
    const char *key;
    size_t klen;
    int esc;
    skim_step st;

    skim_ws(s);
    if (s->p >= s->end || *s->p != '{')
        return SKIM_FAIL;
    s->p++;
    for (;;) {
        skim_ws(s);
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            return SKIM_NEXT;
        }
        /* An escaped key could spell "uid" in a way only a real parser
         * reads: give up and let the parse decide, rather than disagree
         * with it on which member is the UID. */
        if (s->p >= s->end || *s->p != '"' || !skim_string(s, &key, &klen, &esc) || esc)
            return SKIM_FAIL;
        skim_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return SKIM_FAIL;
        s->p++;
        skim_ws(s);
        if (s->p >= s->end)
            return SKIM_FAIL;
        st = member(s, o, key, klen);
        if (st != SKIM_NEXT)
            return st;
        skim_ws(s);
        if (s->p < s->end && *s->p == ',')
            s->p++;
        else if (s->p >= s->end || *s->p != '}')
            return SKIM_FAIL;
    }
}

/* A string member wanted once: the first occurrence wins; escaped
 * contents count as absent. */
static skim_step skim_want_string(skim *s, int *seen, const char **str, size_t *len)
{
    const char *v;
    size_t n;
    int esc;

    if (*seen || *s->p != '"')
        return skim_value(s) ? SKIM_NEXT : SKIM_FAIL;
    *seen = 1;
    if (!skim_string(s, &v, &n, &esc))
        return SKIM_FAIL;
    if (!esc) {
        *str = v;
        *len = n;
    }
    return SKIM_NEXT;
}

static skim_step skim_meta_member(skim *s, skim_out *o, const char *key, size_t klen)
{
    if (key_is(key, klen, "uid"))
        return skim_want_string(s, &o->seen_uid, &o->uid, &o->uid_len);
    if (key_is(key, klen, "resourceVersion"))
        return skim_want_string(s, &o->seen_rv, &o->rv, &o->rv_len);
    return skim_value(s) ? SKIM_NEXT : SKIM_FAIL;
}

static skim_step skim_object_member(skim *s, skim_out *o, const char *key, size_t klen)
{
    skim_step st;

    if (!key_is(key, klen, "metadata") || o->seen_meta)
        return skim_value(s) ? SKIM_NEXT : SKIM_FAIL;
    o->seen_meta = 1;
    st = skim_object(s, o, skim_meta_member);
    /* The type came first (as the API server writes it): nothing after
     * the metadata matters. */
    return st == SKIM_NEXT && o->seen_type ? SKIM_STOP : st;
}

static skim_step skim_top_member(skim *s, skim_out *o, const char *key, size_t klen)
{
    if (key_is(key, klen, "type"))
        return skim_want_string(s, &o->seen_type, &o->type, &o->type_len);
    if (key_is(key, klen, "object") && !o->seen_object) {
        o->seen_object = 1;
        return skim_object(s, o, skim_object_member);
    }
    return skim_value(s) ? SKIM_NEXT : SKIM_FAIL;
}

csm_err csm_watch_skim(const char *line, size_t len, csm_watch_type *type, const char **uid,
                       size_t *uid_len, const char **rv, size_t *rv_len)
{
    skim s = {line, line + len};
    skim_out o;

    memset(&o, 0, sizeof(o));
    if (skim_object(&s, &o, skim_top_member) == SKIM_FAIL || !o.type || !o.uid)
        return CSM_ERR_PARSE;
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (key_is(o.type, o.type_len, type_names[i])) {
            *type = (csm_watch_type)i;
            *uid = o.uid;
            *uid_len = o.uid_len;
            *rv = o.rv;
            *rv_len = o.rv ? o.rv_len : 0;
            return CSM_OK;
        }
    }
    return CSM_ERR_PARSE;
}

/* State of csm_watch_skim_list(): the top-level members it wants. */
typedef struct skim_list {
    skim_out o; /* what skim_object() passes around; .uid for the item */
    const char *meta;
    size_t meta_len;
    int seen_meta, seen_items;
    csm_watch_list_item *items;
    size_t n, cap;
    int nomem;
} skim_list;

/* The member callbacks take a skim_out; the list state embeds one first. */
static skim_list *list_of(skim_out *o)
{
    return (skim_list *)(void *)o;
}

/* One item: its metadata.uid, scanning the whole element (no early stop:
 * the element's end is needed). */
static skim_step skim_item(skim *s, skim_list *l)
{
    skim_out o;
    const char *start;
    csm_watch_list_item *it;

    skim_ws(s);
    start = s->p;
    memset(&o, 0, sizeof(o));
    if (skim_object(s, &o, skim_object_member) != SKIM_NEXT)
        return SKIM_FAIL;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        csm_watch_list_item *ni = realloc(l->items, ncap * sizeof(*ni));
        if (!ni) {
            l->nomem = 1;
            return SKIM_FAIL;
        }
        l->items = ni;
        l->cap = ncap;
    }
    it = &l->items[l->n++];
    it->p = start;
    it->len = (size_t)(s->p - start);
    it->uid = o.uid;
    it->uid_len = o.uid ? o.uid_len : 0;
    return SKIM_NEXT;
}

static skim_step skim_items(skim *s, skim_list *l)
{
    if (*s->p == 'n' && s->end - s->p >= 4 && memcmp(s->p, "null", 4) == 0) {
        s->p += 4;
        return SKIM_NEXT;
    }
    if (*s->p != '[')
        return SKIM_FAIL;
    s->p++;
    skim_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return SKIM_NEXT;
    }
    for (;;) {
        if (skim_item(s, l) != SKIM_NEXT)
            return SKIM_FAIL;
        skim_ws(s);
        if (s->p >= s->end)
            return SKIM_FAIL;
        if (*s->p == ']') {
            s->p++;
            return SKIM_NEXT;
        }
        if (*s->p != ',')
            return SKIM_FAIL;
        s->p++;
    }
}

static skim_step skim_list_member(skim *s, skim_out *o, const char *key, size_t klen)
{
    skim_list *l = list_of(o);
    const char *start = s->p;

    if (key_is(key, klen, "items") && !l->seen_items) {
        l->seen_items = 1;
        return skim_items(s, l);
    }
    if (!skim_value(s))
        return SKIM_FAIL;
    if (key_is(key, klen, "metadata") && !l->seen_meta && *start == '{') {
        l->seen_meta = 1;
        l->meta = start;
        l->meta_len = (size_t)(s->p - start);
    }
    return SKIM_NEXT;
}

csm_err csm_watch_skim_list(const char *body, size_t len, const char **meta, size_t *meta_len,
                            csm_watch_list_item **items, size_t *nitems)
{
    skim s = {body, body + len};
    skim_list l;

    memset(&l, 0, sizeof(l));
    if (skim_object(&s, &l.o, skim_list_member) != SKIM_NEXT) {
        free(l.items);
        return l.nomem ? CSM_ERR_NOMEM : CSM_ERR_PARSE;
    }
    skim_ws(&s);
    if (s.p != s.end) {
        free(l.items);
        return CSM_ERR_PARSE;
    }
    *meta = l.meta;
    *meta_len = l.meta_len;
    *items = l.items;
    *nitems = l.n;
    return CSM_OK;
}

static int blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    }
    return 1;
}

/* 1 if the prefilter drops the line before it is parsed. */
static int skip_unparsed(csm_watch *w, const char *line, size_t len)
{
    csm_watch_type type;
    const char *uid;
    const char *rv;
    size_t uid_len;
    size_t rv_len;

    if (csm_watch_skim(line, len, &type, &uid, &uid_len, &rv, &rv_len) != CSM_OK)
        return 0;
    if (type != CSM_WATCH_ADDED && type != CSM_WATCH_MODIFIED && type != CSM_WATCH_DELETED)
        return 0;
    return w->cbs.prefilter(w->cbs.ctx, type, uid, uid_len, rv, rv_len) != 0;
}

static csm_err dispatch(csm_watch *w, const char *line, size_t len)
{
    csm_watch_type type;
    cJSON *doc = NULL;
    const cJSON *obj = NULL;
    const char *why = NULL;
    csm_err err;

    if (blank(line, len))
        return CSM_OK;
    if (w->cbs.prefilter && skip_unparsed(w, line, len))
        return CSM_OK;
    if (csm_watch_decode(line, len, &type, &doc, &obj, &why)) {
        if (w->cbs.malformed)
            w->cbs.malformed(w->cbs.ctx, why);
        return CSM_OK;
    }
    err = w->cbs.event ? w->cbs.event(w->cbs.ctx, type, obj) : CSM_OK;
    cJSON_Delete(doc);
    return err;
}

csm_err csm_watch_feed(csm_watch *w, const char *p, size_t n)
{
    const char *end = p + n;
    csm_err err;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t seg = nl ? (size_t)(nl - p) : (size_t)(end - p);

        if (w->discarding) {
            if (nl)
                w->discarding = 0;
        } else if (nl && w->line.len == 0 && seg <= w->max_line) {
            /* The common case: a whole line inside this chunk, no copy. */
            err = dispatch(w, p, seg);
            if (err)
                return err;
        } else if (csm_buf_append(&w->line, p, seg) != CSM_OK) {
            /* Over the cap (the buffer freed itself): skip to the newline. */
            if (w->cbs.malformed)
                w->cbs.malformed(w->cbs.ctx, "event larger than the line limit");
            w->discarding = nl == NULL;
        } else if (nl) {
            err = dispatch(w, w->line.ptr, w->line.len);
            csm_buf_reset(&w->line);
            if (err)
                return err;
        }
        p += seg + (nl ? 1 : 0);
    }
    return CSM_OK;
}
