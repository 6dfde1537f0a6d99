#include "render/crspath.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "render/gen.h"
#include "base/jsonnum.h"
#include "render/quantity.h"

typedef enum seg_kind {
    SEG_KEY = 0, /* map key, array index, or "key=value" on a map */
    SEG_LOOKUP,  /* "[key=value]" on an array of maps */
} seg_kind;

typedef struct seg {
    seg_kind kind;
    char *text; /* as written */
    /* SEG_KEY: text split at its only '=' (eq_key NULL when there is not
     * exactly one); SEG_LOOKUP: the key and value between the brackets. */
    char *eq_key;
    char *eq_val;
    int is_index;
    long index;
    /* SEG_LOOKUP: the value read as a number and as a boolean. */
    int has_num;
    double num;
    int has_bool;
    int boolean;
} seg;

struct csm_crspath {
    seg *segs;
    size_t n;
    char *text;
};

void csm_crspath_free(csm_crspath *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->segs[i].text);
        free(p->segs[i].eq_key);
        free(p->segs[i].eq_val);
    }
    free(p->segs);
    free(p->text);
    free(p);
}

/* strconv.ParseBool's spellings. */
static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = 1;
            return 1;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

/* strconv.Atoi: optional sign, decimal digits, nothing else. */
static int parse_index(const char *s, long *out)
{
    const char *p = s;
    char *end;

    if (*p == '+' || *p == '-')
        p++;
    if (!*p || strlen(p) > 18)
        return 0;
    for (const char *q = p; *q; q++) {
        if (!isdigit((unsigned char)*q))
            return 0;
    }
    *out = strtol(s, &end, 10);
    return 1;
}

static csm_err split_eq(const char *s, size_t len, char **key, char **val)
{
    const char *eq = memchr(s, '=', len);
    *key = strndup(s, (size_t)(eq - s));
    *val = strndup(eq + 1, len - (size_t)(eq - s) - 1);
    if (!*key || !*val)
        return CSM_ERR_NOMEM;
    return CSM_OK;
}

static csm_err compile_seg(seg *sg, const char *text, char *why, size_t whylen)
{
    size_t len = strlen(text);
    const char *eq;
    csm_err err;

    sg->text = strdup(text);
    if (!sg->text)
        return CSM_ERR_NOMEM;
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        if (!memchr(text + 1, '=', len - 2)) {
            snprintf(why, whylen, "invalid list lookup \"%s\": expected \"[key=value]\"", text);
            return CSM_ERR_INVALID;
        }
        sg->kind = SEG_LOOKUP;
        err = split_eq(text + 1, len - 2, &sg->eq_key, &sg->eq_val);
        if (err)
            return err;
        sg->has_num = csm_crspath_string_number(sg->eq_val, &sg->num) == CSM_OK;
        sg->has_bool = parse_bool(sg->eq_val, &sg->boolean);
        return CSM_OK;
    }
    sg->kind = SEG_KEY;
    sg->is_index = parse_index(text, &sg->index);
    eq = strchr(text, '=');
    if (eq && !strchr(eq + 1, '='))
        return split_eq(text, len, &sg->eq_key, &sg->eq_val);
    return CSM_OK;
}

csm_err csm_crspath_compile(const char *const *segs, size_t n, csm_crspath **out, char *why,
                            size_t whylen)
{
    csm_crspath *p = calloc(1, sizeof(*p));
    csm_buf text;
    csm_err err = CSM_ERR_NOMEM;

    csm_buf_init(&text, 1u << 20);
    if (!p)
        goto out;
    p->segs = calloc(n ? n : 1, sizeof(*p->segs));
    if (!p->segs)
        goto out;
    err = csm_buf_putc(&text, '[');
    for (size_t i = 0; !err && i < n; i++) {
        err = compile_seg(&p->segs[i], segs[i], why, whylen);
        p->n = i + 1; /* so that csm_crspath_free() frees this segment too */
        if (!err)
            err = csm_buf_printf(&text, "%s%s", i ? "," : "", segs[i]);
    }
    if (!err)
        err = csm_buf_putc(&text, ']');
    if (!err) {
        p->text = csm_buf_steal(&text, NULL);
        if (!p->text)
            err = CSM_ERR_NOMEM;
    }
out:
    csm_buf_free(&text);
    if (err) {
        csm_crspath_free(p);
        return err;
    }
    *out = p;
    return CSM_OK;
}

size_t csm_crspath_len(const csm_crspath *p)
{
    return p ? p->n : 0;
}

const char *csm_crspath_segment(const csm_crspath *p, size_t i)
{
    return p && i < p->n ? p->segs[i].text : NULL;
}

const char *csm_crspath_text(const csm_crspath *p)
{
    return p ? p->text : "[]";
}

/* Does candidate match a "[key=value]" lookup? */
static int lookup_matches(const seg *sg, const csm_value *cand)
{
    const char *s;
    double d;
    int b;

    if (csm_value_string(cand, &s) == CSM_OK && strcmp(s, sg->eq_val) == 0)
        return 1;
    if (sg->has_num && csm_crspath_number(cand, 0, CSM_CRSPATH_AUTO, &d, NULL, 0) == CSM_OK &&
        d == sg->num)
        return 1;
    return sg->has_bool && csm_value_bool(cand, &b) == CSM_OK && b == sg->boolean;
}

static const csm_value *step(const seg *sg, const csm_value *v)
{
    csm_value_kind k = csm_value_kind_of(v);

    if (sg->kind == SEG_LOOKUP) {
        if (k != CSM_VALUE_ARRAY)
            return NULL;
        for (const csm_value *e = csm_value_first(v); e; e = csm_value_next(e)) {
            const csm_value *cand = csm_value_key(e, sg->eq_key);
            if (cand && lookup_matches(sg, cand))
                return e;
        }
        return NULL;
    }
    if (k == CSM_VALUE_MAP) {
        if (sg->eq_key) {
            const csm_value *c = csm_value_key(v, sg->eq_key);
            const char *s;
            if (csm_value_string(c, &s) == CSM_OK && strcmp(s, sg->eq_val) == 0)
                return c;
        }
        return csm_value_key(v, sg->text);
    }
    if (k == CSM_VALUE_ARRAY && sg->is_index) {
        long n = (long)csm_value_size(v);
        long i = sg->index < 0 ? sg->index + n : sg->index;
        /* kube-state-metrics turns an index out of range into an error value
         * that then prints as a label; a missing value is more useful. */
        return i >= 0 && i < n ? csm_value_index(v, (size_t)i) : NULL;
    }
    return NULL;
}

const csm_value *csm_crspath_get_part(const csm_crspath *p, size_t from, size_t to,
                                      const csm_value *v)
{
    for (size_t i = from; p && i < to && i < p->n && v; i++)
        v = step(&p->segs[i], v);
    return csm_value_kind_of(v) == CSM_VALUE_NULL ? NULL : v;
}

const csm_value *csm_crspath_get(const csm_crspath *p, const csm_value *v)
{
    return csm_crspath_get_part(p, 0, p ? p->n : 0, v);
}

/* "50%" and "12.5%": digits with at most one point, then '%'. */
static int parse_percent(const char *s, double *out)
{
    size_t n = strlen(s);
    size_t digits = 0;
    size_t points = 0;
    char *end;

    if (n < 2 || s[n - 1] != '%')
        return 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (isdigit((unsigned char)s[i]))
            digits++;
        else if (s[i] == '.')
            points++;
        else
            return 0;
    }
    if (!digits || points > 1)
        return 0;
    *out = strtod(s, &end) / 100;
    return end == s + n - 1;
}

/* strconv.ParseFloat, near enough: the whole string, no blanks, and none of
 * strtod's extras Go does not take ("nan(...)", hex without exponent). */
static int parse_float(const char *s, double *out)
{
    char *end;

    if (!*s || isspace((unsigned char)*s) || strchr(s, '(') || strchr(s, '_'))
        return 0;
    if ((strchr(s, 'x') || strchr(s, 'X')) && !strchr(s, 'p') && !strchr(s, 'P'))
        return 0;
    *out = strtod(s, &end);
    return *end == '\0';
}

csm_err csm_crspath_string_number(const char *s, double *out)
{
    double t;

    if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0) {
        *out = 1;
        return CSM_OK;
    }
    if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 || strcasecmp(s, "unknown") == 0) {
        *out = 0;
        return CSM_OK;
    }
    /* time.Time.Unix(): whole seconds, rounded down. */
    if (strchr(s, 'T') && csm_gen_parse_rfc3339(s, &t) == CSM_OK) {
        *out = floor(t);
        return CSM_OK;
    }
    if (csm_quantity_parse(s, out) == CSM_OK || parse_percent(s, out) || parse_float(s, out))
        return CSM_OK;
    return CSM_ERR_PARSE;
}

csm_err csm_crspath_number(const csm_value *v, int nil_is_zero, csm_crspath_vtype type, double *out,
                           char *why, size_t whylen)
{
    const char *s;
    int b;
    csm_err err = CSM_OK;
    csm_buf shown;

    switch (csm_value_kind_of(v)) {
    case CSM_VALUE_NULL:
        if (nil_is_zero) {
            *out = 0;
            return CSM_OK;
        }
        if (why)
            snprintf(why, whylen, "expected a number but found nil");
        return CSM_ERR_NOT_FOUND;
    case CSM_VALUE_BOOL:
        csm_value_bool(v, &b);
        *out = b;
        return CSM_OK;
    case CSM_VALUE_NUMBER:
        return csm_value_number(v, out);
    case CSM_VALUE_STRING:
        csm_value_string(v, &s);
        if (type == CSM_CRSPATH_QUANTITY)
            err = csm_quantity_parse(s, out);
        else if (type == CSM_CRSPATH_DURATION)
            err = csm_quantity_duration(s, out);
        else
            err = csm_crspath_string_number(s, out);
        if (err && why)
            snprintf(why, whylen, "cannot read \"%.80s\" as %s", s,
                     type == CSM_CRSPATH_QUANTITY   ? "a quantity"
                     : type == CSM_CRSPATH_DURATION ? "a duration"
                                                    : "a number");
        return err ? CSM_ERR_PARSE : CSM_OK;
    case CSM_VALUE_ARRAY:
    case CSM_VALUE_MAP:
        break;
    }
    if (why) {
        csm_buf_init(&shown, 4096);
        csm_crspath_format(v, &shown);
        snprintf(why, whylen, "expected a number but found %.80s%s", csm_buf_str(&shown),
                 shown.len > 80 ? "..." : "");
        csm_buf_free(&shown);
    }
    return CSM_ERR_TYPE;
}

static int cmp_entries(const void *a, const void *b)
{
    return strcmp(csm_value_name(*(const csm_value *const *)a),
                  csm_value_name(*(const csm_value *const *)b));
}

/* Go's fmt prints a map's entries sorted by key. The entries themselves are
 * sorted (not the keys, then looked up again: a lookup is linear, so that
 * was quadratic in the size of the map). */
static csm_err format_map(const csm_value *v, csm_buf *out)
{
    size_t n = csm_value_size(v);
    const csm_value **ents = calloc(n ? n : 1, sizeof(*ents));
    size_t i = 0;
    csm_err err;

    if (!ents)
        return CSM_ERR_NOMEM;
    for (const csm_value *e = csm_value_first(v); e && i < n; e = csm_value_next(e))
        ents[i++] = e;
    qsort(ents, i, sizeof(*ents), cmp_entries);
    err = csm_buf_puts(out, "map[");
    for (size_t j = 0; !err && j < i; j++) {
        err = csm_buf_printf(out, "%s%s:", j ? " " : "", csm_value_name(ents[j]));
        if (!err)
            err = csm_crspath_format(ents[j], out);
    }
    if (!err)
        err = csm_buf_putc(out, ']');
    free(ents);
    return err;
}

csm_err csm_crspath_format(const csm_value *v, csm_buf *out)
{
    const char *s;
    int b;
    csm_err err = CSM_OK;
    int first = 1;

    switch (csm_value_kind_of(v)) {
    case CSM_VALUE_NULL:
        return csm_buf_puts(out, "<nil>");
    case CSM_VALUE_BOOL:
        csm_value_bool(v, &b);
        return csm_buf_puts(out, b ? "true" : "false");
    case CSM_VALUE_STRING:
        csm_value_string(v, &s);
        return csm_buf_puts(out, s);
    case CSM_VALUE_NUMBER:
        /* JSON integers decode to int64 in Go and print in full. */
        return csm_jsonnum_format((const cJSON *)v, out);
    case CSM_VALUE_MAP:
        return format_map(v, out);
    case CSM_VALUE_ARRAY:
        err = csm_buf_putc(out, '[');
        for (const csm_value *e = csm_value_first(v); !err && e; e = csm_value_next(e)) {
            if (!first)
                err = csm_buf_putc(out, ' ');
            if (!err)
                err = csm_crspath_format(e, out);
            first = 0;
        }
        return err ? err : csm_buf_putc(out, ']');
    }
    return CSM_ERR_INTERNAL;
}
