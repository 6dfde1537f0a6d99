/*
 * Prometheus exposition helpers: escaping, canonical values, family headers
 * and the Accept / Accept-Encoding negotiation.
 *
 * Nothing here allocates except through the caller's csm_buf, and the header
 * parsers work in place on the borrowed string, so negotiation costs a single
 * pass over the header per scrape.
 */
#include "render/expo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CT_TEXT        "text/plain; version=0.0.4; charset=utf-8"
#define CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* 2^53: every integer below it in magnitude is exactly representable. */
#define EXACT_INT_LIMIT 9007199254740992.0

/* A q-value in thousandths, so comparisons are exact integer compares. */
#define Q_MAX 1000

const char *csm_expo_content_type(csm_expo_format fmt)
{
    return fmt == CSM_EXPO_OPENMETRICS ? CT_OPENMETRICS : CT_TEXT;
}

/* ---- Names. -------------------------------------------------------------- */

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_metric_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '_' || c == ':';
}

int csm_expo_valid_metric_name(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;

    if (!p || !*p || is_digit(*p))
        return 0;
    for (; *p; p++) {
        if (!is_metric_char(*p))
            return 0;
    }
    return 1;
}

int csm_expo_valid_label_name(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;

    if (!p || !*p || is_digit(*p))
        return 0;
    if (p[0] == '_' && p[1] == '_')
        return 0;
    for (; *p; p++) {
        if (!is_alpha(*p) && !is_digit(*p) && *p != '_')
            return 0;
    }
    return 1;
}

/*
 * Declared in csm/generator.h; lives here because it is the exposition
 * rule. A multi-byte UTF-8 character becomes a single '_' (continuation
 * bytes are dropped) so "café" gives "caf_", not "caf__". An empty or NULL
 * input has no valid sanitized form and is CSM_ERR_INVALID.
 */
csm_err csm_name_sanitize(const char *in, char *dst, size_t dstlen)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t n = 0;
    csm_err err = CSM_OK;

    if (!dst || dstlen == 0)
        return in && *in ? CSM_ERR_TOO_LARGE : CSM_ERR_INVALID;
    if (!in || !*in) {
        err = CSM_ERR_INVALID;
        goto out;
    }
    for (; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue; /* UTF-8 continuation: its lead byte already gave a '_' */
        /* The first byte kept decides, also after stray continuation bytes. */
        if (n == 0 && is_digit(*p)) {
            if (n + 1 >= dstlen) {
                err = CSM_ERR_TOO_LARGE;
                goto out;
            }
            dst[n++] = '_';
        }
        if (n + 1 >= dstlen) {
            err = CSM_ERR_TOO_LARGE;
            goto out;
        }
        dst[n++] = is_metric_char(*p) ? (char)*p : '_';
    }
    if (n == 0)
        err = CSM_ERR_INVALID; /* nothing but stray continuation bytes */
out:
    dst[err ? 0 : n] = '\0';
    return err;
}

/* ---- Escaping and values. ------------------------------------------------ */

/* Appends s, escaping backslash and newline, and the double quote when
 * `quote` is set. Runs of plain bytes are appended in one call. */
static csm_err escape(csm_buf *b, const char *s, int quote)
{
    const char *run = s;
    const char *p = s;
    const char *rep;
    csm_err err = CSM_OK;

    if (!s)
        return CSM_OK;
    for (; *p; p++) {
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (quote && *p == '"')
            rep = "\\\"";
        else
            continue;
        err = csm_buf_append(b, run, (size_t)(p - run));
        if (err)
            return err;
        err = csm_buf_append(b, rep, 2);
        if (err)
            return err;
        run = p + 1;
    }
    return csm_buf_append(b, run, (size_t)(p - run));
}

csm_err csm_expo_escape_label_value(csm_buf *b, const char *v)
{
    return escape(b, v, 1);
}

csm_err csm_expo_escape_help(csm_buf *b, const char *s)
{
    return escape(b, s, 0);
}

/*
 * Integers below 2^53 print with %.0f (no exponent, no point: Go prints
 * 1700000000 as "1.7e+09", which is correct but hard to read and diffs badly).
 * Everything else gets the shortest %.Ng that strtod() maps back to the
 * same double; at most 17 digits are ever needed. -0 compares equal to 0 and
 * so prints "0".
 */
csm_err csm_expo_format_value(csm_buf *b, double v)
{
    char tmp[40];

    if (isnan(v))
        return csm_buf_puts(b, "NaN");
    if (isinf(v))
        return csm_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    if (v == 0)
        return csm_buf_putc(b, '0');
    if (fabs(v) < EXACT_INT_LIMIT && v == floor(v)) {
        snprintf(tmp, sizeof(tmp), "%.0f", v);
        return csm_buf_puts(b, tmp);
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return csm_buf_puts(b, tmp);
}

/* ---- Family headers and samples. ----------------------------------------- */

static int has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);
    return len > sl && memcmp(s + len - sl, suffix, sl) == 0;
}

csm_err csm_expo_family_header(csm_buf *b, csm_expo_format fmt, const char *name, const char *help,
                               csm_metric_type type)
{
    size_t len;
    const char *tname;
    csm_err err;

    if (!csm_expo_valid_metric_name(name))
        return CSM_ERR_INVALID;
    len = strlen(name);
    switch (type) {
    case CSM_METRIC_GAUGE:
        tname = "gauge";
        break;
    case CSM_METRIC_COUNTER:
        tname = "counter";
        /* OpenMetrics names the family without the sample suffix. A name
         * without "_total" is taken to be the family name already. */
        if (fmt == CSM_EXPO_OPENMETRICS && has_suffix(name, len, "_total"))
            len -= strlen("_total");
        break;
    case CSM_METRIC_INFO:
        tname = fmt == CSM_EXPO_OPENMETRICS ? "info" : "gauge";
        if (fmt == CSM_EXPO_OPENMETRICS && has_suffix(name, len, "_info"))
            len -= strlen("_info");
        break;
    case CSM_METRIC_STATESET:
        tname = fmt == CSM_EXPO_OPENMETRICS ? "stateset" : "gauge";
        break;
    default:
        return CSM_ERR_INVALID;
    }

    /* "# HELP name " with an empty text is valid in both formats. */
    err = csm_buf_puts(b, "# HELP ");
    if (!err)
        err = csm_buf_append(b, name, len);
    if (!err)
        err = csm_buf_putc(b, ' ');
    if (!err)
        err = csm_expo_escape_help(b, help);
    if (!err)
        err = csm_buf_puts(b, "\n# TYPE ");
    if (!err)
        err = csm_buf_append(b, name, len);
    if (!err)
        err = csm_buf_printf(b, " %s\n", tname);
    return err;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Label sets at most this long are checked pairwise: cheaper than sorting. */
#define EXPO_PAIRWISE_MAX 8

/* CSM_OK if the n names (non-NULL) are pairwise distinct, CSM_ERR_INVALID
 * if two are equal, CSM_ERR_NOMEM. O(n log n): a tenant's object can carry
 * tens of thousands of labels. */
static csm_err names_unique(size_t n, const char *const *names)
{
    const char **sorted;
    csm_err err = CSM_OK;

    if (n <= EXPO_PAIRWISE_MAX) {
        for (size_t i = 1; i < n; i++) {
            for (size_t j = 0; j < i; j++) {
                if (strcmp(names[i], names[j]) == 0)
                    return CSM_ERR_INVALID;
            }
        }
        return CSM_OK;
    }
    /* O(n log n): sort a copy of the pointers, then compare neighbours. */
    sorted = malloc(n * sizeof(*sorted));
    if (!sorted)
        return CSM_ERR_NOMEM;
    memcpy(sorted, names, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_names);
    for (size_t i = 1; i < n && !err; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            err = CSM_ERR_INVALID;
    }
    free(sorted);
    return err;
}

csm_err csm_expo_sample(csm_buf *b, const char *name, size_t nlabels, const char *const *names,
                        const char *const *values, double value)
{
    csm_err err;

    /* Validate everything before appending, so an invalid sample leaves the
     * buffer as it was. */
    if (!csm_expo_valid_metric_name(name))
        return CSM_ERR_INVALID;
    if (nlabels && (!names || !values))
        return CSM_ERR_INVALID;
    for (size_t i = 0; i < nlabels; i++) {
        if (!csm_expo_valid_label_name(names[i]) || !values[i])
            return CSM_ERR_INVALID;
    }
    err = names_unique(nlabels, names);
    if (err)
        return err;

    err = csm_buf_puts(b, name);
    for (size_t i = 0; !err && i < nlabels; i++) {
        err = csm_buf_putc(b, i ? ',' : '{');
        if (!err)
            err = csm_buf_puts(b, names[i]);
        if (!err)
            err = csm_buf_append(b, "=\"", 2);
        if (!err)
            err = csm_expo_escape_label_value(b, values[i]);
        if (!err)
            err = csm_buf_putc(b, '"');
    }
    if (!err && nlabels)
        err = csm_buf_putc(b, '}');
    if (!err)
        err = csm_buf_putc(b, ' ');
    if (!err)
        err = csm_expo_format_value(b, value);
    if (!err)
        err = csm_buf_putc(b, '\n');
    return err;
}

/* ---- Header list parsing (RFC 9110 section 5.6). ------------------------- */

/* A span of the borrowed header string. */
typedef struct span {
    const char *p;
    size_t n;
} span;

/* One list element: "token[/token] *( ; name=value )". */
typedef struct element {
    span token;
    span version; /* the "version" parameter, unquoted; n == 0 if absent */
    int q;        /* thousandths; Q_MAX when absent */
    int valid;    /* 0 if the element was malformed (it is then ignored) */
} element;

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_token_end(char c)
{
    return c == '\0' || c == ',' || c == ';' || c == '=' || c == '"' || is_ows(c);
}

static const char *skip_ows(const char *p)
{
    while (is_ows(*p))
        p++;
    return p;
}

static int span_ieq(span s, const char *lit)
{
    return strlen(lit) == s.n && strncasecmp(s.p, lit, s.n) == 0;
}

/* Parses a qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"]. -1 if malformed. */
static int parse_q(span s)
{
    int q;
    int scale = 100;
    size_t i = 2;

    if (s.n == 0 || (s.p[0] != '0' && s.p[0] != '1'))
        return -1;
    q = (s.p[0] - '0') * Q_MAX;
    if (s.n == 1)
        return q;
    if (s.p[1] != '.' || s.n > 5)
        return -1;
    for (; i < s.n; i++, scale /= 10) {
        if (!is_digit((unsigned char)s.p[i]))
            return -1;
        q += (s.p[i] - '0') * scale;
    }
    return q > Q_MAX ? -1 : q;
}

/*
 * Parses the element starting at p into *el and returns where the next one
 * starts (after the comma) or the terminating NUL. A malformed element is
 * skipped up to the next comma outside a quoted string.
 */
static const char *next_element(const char *p, element *el)
{
    span name;
    span value;

    memset(el, 0, sizeof(*el));
    el->q = Q_MAX;
    el->valid = 1;

    p = skip_ows(p);
    el->token.p = p;
    while (!is_token_end(*p))
        p++;
    el->token.n = (size_t)(p - el->token.p);
    if (el->token.n == 0)
        el->valid = 0;
    p = skip_ows(p);

    while (el->valid && *p == ';') {
        p = skip_ows(p + 1);
        name.p = p;
        while (!is_token_end(*p))
            p++;
        name.n = (size_t)(p - name.p);
        p = skip_ows(p);
        if (name.n == 0 || *p != '=') {
            el->valid = 0;
            break;
        }
        p = skip_ows(p + 1);
        if (*p == '"') {
            value.p = ++p;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            value.n = (size_t)(p - value.p);
            if (*p != '"') {
                el->valid = 0;
                break;
            }
            p++;
        } else {
            value.p = p;
            while (!is_token_end(*p))
                p++;
            value.n = (size_t)(p - value.p);
        }
        p = skip_ows(p);
        if (span_ieq(name, "q")) {
            el->q = parse_q(value);
            if (el->q < 0)
                el->valid = 0;
        } else if (span_ieq(name, "version")) {
            el->version = value;
        }
    }
    if (*p != ',' && *p != '\0')
        el->valid = 0;

    /* Resynchronise on the next comma that is not inside a quoted string. */
    while (*p && *p != ',') {
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (!*p)
                break;
        }
        p++;
    }
    return *p == ',' ? p + 1 : p;
}

/*
 * OpenMetrics wins when its best q is positive and not below the best q of
 * anything text/plain 0.0.4 could satisfy (text/plain without a version or
 * with 0.0.4, "text/ *", "* / *"). Types this exporter cannot produce (protobuf,
 * OpenMetrics versions it does not speak) are ignored rather than counted
 * against OpenMetrics. Ties go to OpenMetrics, as in Prometheus' clients.
 */
csm_expo_format csm_expo_negotiate(const char *accept)
{
    const char *p = accept;
    element el;
    int om_q = 0;
    int text_q = 0;

    if (!accept)
        return CSM_EXPO_TEXT;
    while (*p) {
        p = next_element(p, &el);
        if (!el.valid)
            continue;
        if (span_ieq(el.token, "application/openmetrics-text")) {
            if (el.version.n == 0 || span_ieq(el.version, "1.0.0") ||
                span_ieq(el.version, "0.0.1")) {
                if (el.q > om_q)
                    om_q = el.q;
            }
        } else if (span_ieq(el.token, "text/plain")) {
            if (el.version.n == 0 || span_ieq(el.version, "0.0.4")) {
                if (el.q > text_q)
                    text_q = el.q;
            }
        } else if (span_ieq(el.token, "text/*") || span_ieq(el.token, "*/*")) {
            if (el.q > text_q)
                text_q = el.q;
        }
    }
    return om_q > 0 && om_q >= text_q ? CSM_EXPO_OPENMETRICS : CSM_EXPO_TEXT;
}

/* An explicit gzip (or its alias x-gzip) decides; otherwise "*" does. */
int csm_expo_accepts_gzip(const char *accept_encoding)
{
    const char *p = accept_encoding;
    element el;
    int gzip_q = -1;
    int star_q = -1;

    if (!accept_encoding)
        return 0;
    while (*p) {
        p = next_element(p, &el);
        if (!el.valid)
            continue;
        if (span_ieq(el.token, "gzip") || span_ieq(el.token, "x-gzip")) {
            if (el.q > gzip_q)
                gzip_q = el.q;
        } else if (span_ieq(el.token, "*")) {
            if (el.q > star_q)
                star_q = el.q;
        }
    }
    if (gzip_q >= 0)
        return gzip_q > 0;
    return star_q > 0;
}
