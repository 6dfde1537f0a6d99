/*
 * What the exposition code does with bytes it does not control: the Accept
 * and Accept-Encoding headers of a scrape, label values and HELP text from
 * objects, names derived from keys, sample values.
 *
 * Input: the bytes as a string (up to the first NUL); the first eight
 * bytes, when there are eight, are also read as a sample value.
 *
 * Checked beyond memory safety:
 *   - adding a list element with q=0 never changes a negotiation, nor does
 *     adding an encoding the server ignores;
 *   - escaped label values and HELP text unescape to the input and hold no
 *     raw newline (nor, for label values, an unescaped quote);
 *   - a sanitized name is valid; a family header is exactly two lines;
 *   - a formatted value reads back as the same double.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "render/expo.h"

static void check_negotiation(const char *s, size_t n)
{
    static const char *const om_zero = ",application/openmetrics-text;q=0";
    static const char *const any_zero = ",*/*;q=0";
    static const char *const ignored = ",identity;q=0.5";
    char *t = malloc(n + strlen(om_zero) + 1);
    csm_expo_format fmt = csm_expo_negotiate(s);
    int gz = csm_expo_accepts_gzip(s);

    if (!t)
        abort();
    if (fmt != CSM_EXPO_TEXT && fmt != CSM_EXPO_OPENMETRICS)
        abort();
    if (gz != 0 && gz != 1)
        abort();
    memcpy(t, s, n);
    strcpy(t + n, om_zero);
    if (csm_expo_negotiate(t) != fmt)
        abort();
    strcpy(t + n, any_zero);
    if (csm_expo_negotiate(t) != fmt)
        abort();
    strcpy(t + n, ignored);
    if (csm_expo_accepts_gzip(t) != gz)
        abort();
    free(t);
}

/* Undoes the escaping into out (room for strlen(p) + 1); 0 if p holds
 * anything the escaping cannot have produced. */
static int unescape(const char *p, size_t n, int quote, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' || (quote && p[i] == '"'))
            return 0;
        if (p[i] != '\\') {
            out[o++] = p[i];
            continue;
        }
        if (++i == n)
            return 0;
        if (p[i] == '\\')
            out[o++] = '\\';
        else if (p[i] == 'n')
            out[o++] = '\n';
        else if (quote && p[i] == '"')
            out[o++] = '"';
        else
            return 0;
    }
    out[o] = '\0';
    return 1;
}

static void check_escaping(const char *s, size_t n)
{
    char *back = malloc(2 * n + 1);
    csm_buf b;

    if (!back)
        abort();
    for (int quote = 0; quote <= 1; quote++) {
        csm_buf_init(&b, 4 * n + 16);
        if ((quote ? csm_expo_escape_label_value(&b, s) : csm_expo_escape_help(&b, s)) != CSM_OK)
            abort();
        if (!unescape(csm_buf_str(&b), b.len, quote, back) || strcmp(back, s) != 0)
            abort();
        csm_buf_free(&b);
    }
    free(back);
}

static void check_names(const char *s, size_t n)
{
    char out[128];
    csm_buf b;

    if (csm_name_sanitize(s, out, sizeof(out)) == CSM_OK && !csm_expo_valid_metric_name(out))
        abort();
    /* The label form may keep a leading "__", which csm_emit() refuses. */
    if (csm_label_sanitize(s, out, sizeof(out)) == CSM_OK &&
        !(csm_expo_valid_label_name(out) || strncmp(out, "__", 2) == 0))
        abort();
    if (csm_expo_valid_metric_name(s)) {
        csm_buf_init(&b, 4 * n + 256);
        if (csm_expo_family_header(&b, CSM_EXPO_OPENMETRICS, s, s, CSM_METRIC_INFO) != CSM_OK)
            abort();
        size_t lines = 0;
        for (size_t i = 0; i < b.len; i++)
            lines += b.ptr[i] == '\n';
        if (lines != 2 || b.ptr[b.len - 1] != '\n')
            abort();
        csm_buf_free(&b);
    }
}

static void check_value(double v)
{
    csm_buf b;
    double back;
    char *end;

    csm_buf_init(&b, 64);
    if (csm_expo_format_value(&b, v) != CSM_OK)
        abort();
    if (isnan(v)) {
        if (strcmp(csm_buf_str(&b), "NaN") != 0)
            abort();
    } else if (isinf(v)) {
        if (strcmp(csm_buf_str(&b), v > 0 ? "+Inf" : "-Inf") != 0)
            abort();
    } else {
        back = strtod(csm_buf_str(&b), &end);
        if (*end != '\0' || back != v || strpbrk(csm_buf_str(&b), " \n"))
            abort();
    }
    csm_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    size_t n;

    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    n = strlen(s);
    check_negotiation(s, n);
    check_escaping(s, n);
    check_names(s, n);
    if (size >= sizeof(double)) {
        double v;
        memcpy(&v, data, sizeof(v));
        check_value(v);
    }
    free(s);
    return 0;
}
