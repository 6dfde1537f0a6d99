#include "base/jsonnum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The JSON text beside the tree cJSON built from it. */
typedef struct walker {
    const char *p;
    const char *end;
    csm_err err;
} walker;

/* cJSON skips every byte up to and including ' ' between tokens. */
static void skip_ws(walker *w)
{
    while (w->p < w->end && (unsigned char)*w->p <= 32)
        w->p++;
}

static int at(walker *w, char c)
{
    skip_ws(w);
    if (w->p < w->end && *w->p == c) {
        w->p++;
        return 1;
    }
    return 0;
}

static int skip_string(walker *w)
{
    if (!at(w, '"'))
        return 0;
    while (w->p < w->end && *w->p != '"')
        w->p += (*w->p == '\\' && w->p + 1 < w->end) ? 2 : 1;
    if (w->p >= w->end)
        return 0;
    w->p++;
    return 1;
}

/* Digits of an integer token ("-123" has 3), or 0 if it is not one. */
static size_t int_digits(const char *t, size_t len)
{
    size_t i = (len && t[0] == '-') ? 1 : 0;
    size_t digits = len - i;

    if (!digits)
        return 0;
    for (; i < len; i++) {
        if (t[i] < '0' || t[i] > '9')
            return 0;
    }
    return digits;
}

/* Whether a double's printing can differ from Go's for this token. */
static int worth_keeping(const char *t, size_t len, double d)
{
    if (int_digits(t, len))
        return int_digits(t, len) >= 16;
    return d == floor(d) && fabs(d) >= 1e6;
}

static void keep(walker *w, cJSON *n, const char *t, size_t len)
{
    char *s;

    if (!worth_keeping(t, len, n->valuedouble) || n->valuestring)
        return;
    s = malloc(len + 1);
    if (!s) {
        w->err = CSM_ERR_NOMEM;
        return;
    }
    memcpy(s, t, len);
    s[len] = '\0';
    n->valuestring = s;
}

/* Walks the value for n; 0 if the text does not match the tree (then the
 * walk stops and the numbers not reached keep their doubles). */
static int walk(walker *w, cJSON *n)
{
    const char *t;

    skip_ws(w);
    if (w->p >= w->end)
        return 0;
    if (cJSON_IsObject(n) || cJSON_IsArray(n)) {
        int obj = cJSON_IsObject(n);
        if (!at(w, obj ? '{' : '['))
            return 0;
        for (cJSON *c = n->child; c; c = c->next) {
            if (obj && (!skip_string(w) || !at(w, ':')))
                return 0;
            if (!walk(w, c))
                return 0;
            if (c->next && !at(w, ','))
                return 0;
        }
        return at(w, obj ? '}' : ']');
    }
    if (cJSON_IsString(n))
        return skip_string(w);
    if (cJSON_IsNumber(n)) {
        t = w->p;
        while (w->p < w->end && strchr("0123456789+-.eE", *w->p) && *w->p)
            w->p++;
        keep(w, n, t, (size_t)(w->p - t));
        return w->err == CSM_OK;
    }
    /* true, false, null */
    while (w->p < w->end && *w->p >= 'a' && *w->p <= 'z')
        w->p++;
    return 1;
}

/* A run of 16 digits, or a digit followed by an exponent: the only texts
 * with numbers worth keeping. */
static int may_need(const char *text, size_t len)
{
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c >= '0' && c <= '9') {
            if (++run >= 16)
                return 1;
            continue;
        }
        if (run && (c == 'e' || c == 'E' || c == '.'))
            return 1;
        run = 0;
    }
    return 0;
}

csm_err csm_jsonnum_annotate(cJSON *root, const char *text, size_t len)
{
    walker w = {text, text + len, CSM_OK};

    if (!root || !text || !may_need(text, len))
        return CSM_OK;
    walk(&w, root);
    return w.err;
}

const char *csm_jsonnum_text(const cJSON *n)
{
    return cJSON_IsNumber(n) ? n->valuestring : NULL;
}

csm_err csm_jsonnum_set_text(cJSON *n, const char *text)
{
    char *s;

    if (!cJSON_IsNumber(n))
        return CSM_ERR_TYPE;
    s = strdup(text);
    if (!s)
        return CSM_ERR_NOMEM;
    free(n->valuestring);
    n->valuestring = s;
    return CSM_OK;
}

/* The shortest decimal digits that read back as v (as a float when bits
 * is 32), without trailing zeros; v finite. *exp10 is the exponent of the
 * first digit. */
static size_t shortest(double v, int bits, char digits[24], int *exp10, int *neg)
{
    char e[40];
    size_t nd = 0;
    const char *p;

    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, v);
        if (bits == 32 ? (float)strtod(e, NULL) == (float)v : strtod(e, NULL) == v)
            break;
    }
    p = e;
    *neg = *p == '-';
    if (*neg)
        p++;
    for (; *p && *p != 'e'; p++) {
        if (*p != '.')
            digits[nd++] = *p;
    }
    *exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    return nd;
}

csm_err csm_jsonnum_format_float(double v, int bits, csm_buf *b)
{
    char digits[24];
    int exp10;
    int neg;
    size_t nd;
    csm_err err;

    if (isnan(v))
        return csm_buf_puts(b, "NaN");
    if (isinf(v))
        return csm_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    nd = shortest(v, bits, digits, &exp10, &neg);
    err = neg ? csm_buf_putc(b, '-') : CSM_OK;
    if (err)
        return err;
    /* Exponent form below 1e-4 and from 1e6 up (the shortest 'g' rule). */
    if (exp10 < -4 || exp10 >= 6) {
        err = csm_buf_printf(b, "%c%s%s", digits[0], nd > 1 ? "." : "", digits + 1);
        if (!err)
            err = csm_buf_printf(b, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
        return err;
    }
    if (exp10 < 0)
        return csm_buf_printf(b, "0.%.*s%s", -exp10 - 1, "0000", digits);
    if ((size_t)exp10 + 1 >= nd)
        return csm_buf_printf(b, "%s%.*s", digits, (int)((size_t)exp10 + 1 - nd), "000000");
    return csm_buf_printf(b, "%.*s.%s", exp10 + 1, digits, digits + exp10 + 1);
}

csm_err csm_jsonnum_format_integral(double v, csm_buf *b)
{
    char digits[24];
    int exp10;
    int neg;
    size_t nd;
    csm_err err;

    if (!isfinite(v) || v != floor(v))
        return CSM_ERR_INVALID;
    if (v == 0)
        return csm_buf_putc(b, '0');
    nd = shortest(v, 64, digits, &exp10, &neg);
    err = csm_buf_printf(b, "%s%s", neg ? "-" : "", digits);
    for (size_t i = nd; !err && i < (size_t)exp10 + 1; i++)
        err = csm_buf_putc(b, '0');
    return err;
}

/* Does a decimal integer token fit int64? */
static int fits_int64(const char *t, size_t digits)
{
    const char *d = t[0] == '-' ? t + 1 : t;
    const char *max = t[0] == '-' ? "9223372036854775808" : "9223372036854775807";

    if (digits != 19)
        return digits < 19;
    return strcmp(d, max) <= 0;
}

csm_err csm_jsonnum_format(const cJSON *n, csm_buf *out)
{
    const char *t = csm_jsonnum_text(n);
    double d = n ? n->valuedouble : 0;
    size_t digits;

    if (t) {
        digits = int_digits(t, strlen(t));
        if (digits && fits_int64(t, digits))
            return csm_buf_puts(out, t);
        return csm_jsonnum_format_float(d, 64, out);
    }
    /* A short integer token is exact in a double, and a float Go's JSON
     * encoder wrote in full (a YAML file's 1.5e10) decodes as int64. */
    if (d == floor(d) && fabs(d) < 9.2e18)
        return csm_buf_printf(out, "%.0f", d == 0 ? 0.0 : d);
    return csm_jsonnum_format_float(d, 64, out);
}
