#include "render/quantity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Scans [+-]?(D+|D+.|D+.D+|.D+) and returns its length, 0 if there is none. */
static size_t scan_number(const char *s)
{
    size_t i = 0;
    size_t digits = 0;

    if (s[i] == '+' || s[i] == '-')
        i++;
    while (is_digit(s[i])) {
        i++;
        digits++;
    }
    if (s[i] == '.') {
        i++;
        while (is_digit(s[i])) {
            i++;
            digits++;
        }
    }
    return digits ? i : 0;
}

typedef struct suffix {
    const char *text;
    int base2;    /* 1: power of 1024, 0: power of ten */
    int exponent; /* of 1024 or of ten */
} suffix;

static const suffix suffixes[] = {
    {"Ki", 1, 1}, {"Mi", 1, 2}, {"Gi", 1, 3}, {"Ti", 1, 4}, {"Pi", 1, 5}, {"Ei", 1, 6},
    {"n", 0, -9}, {"u", 0, -6}, {"m", 0, -3}, {"", 0, 0},   {"k", 0, 3},  {"M", 0, 6},
    {"G", 0, 9},  {"T", 0, 12}, {"P", 0, 15}, {"E", 0, 18},
};

csm_err csm_quantity_parse(const char *s, double *out)
{
    char text[128];
    size_t n;
    const char *suf;
    int exp10 = 0;
    double v;
    char *end;
    size_t i;

    if (!s)
        return CSM_ERR_PARSE;
    n = scan_number(s);
    if (n == 0 || n >= 64)
        return CSM_ERR_PARSE;
    suf = s + n;
    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strcmp(suf, suffixes[i].text) == 0)
            break;
    }
    if (i < sizeof(suffixes) / sizeof(suffixes[0]) && suffixes[i].base2) {
        memcpy(text, s, n);
        text[n] = '\0';
        /* Scaling by a power of two is exact. */
        *out = ldexp(strtod(text, NULL), 10 * suffixes[i].exponent);
        return CSM_OK;
    }
    if (i < sizeof(suffixes) / sizeof(suffixes[0])) {
        exp10 = suffixes[i].exponent;
    } else {
        /* A decimal exponent, "e3" or "E-3" ("E" alone is exa, above). */
        const char *p = suf + 1;
        size_t d = 0;
        if (suf[0] != 'e' && suf[0] != 'E')
            return CSM_ERR_PARSE;
        if (*p == '+' || *p == '-')
            p++;
        while (is_digit(p[d]))
            d++;
        if (d == 0 || d > 6 || p[d] != '\0')
            return CSM_ERR_PARSE;
        exp10 = (int)strtol(suf + 1, NULL, 10);
    }
    /* Let strtod apply the decimal exponent so the result is correctly
     * rounded: 100m is exactly the double nearest 0.1. */
    if (snprintf(text, sizeof(text), "%.*se%d", (int)n, s, exp10) >= (int)sizeof(text))
        return CSM_ERR_PARSE;
    v = strtod(text, &end);
    if (*end != '\0')
        return CSM_ERR_PARSE;
    *out = v;
    return CSM_OK;
}

typedef struct unit {
    const char *text;
    double seconds;
} unit;

static const unit units[] = {
    {"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"\xce\xbcs", 1e-6},
    {"ms", 1e-3}, {"s", 1},     {"m", 60},           {"h", 3600},
};

csm_err csm_quantity_duration(const char *s, double *out)
{
    const char *p = s;
    double total = 0;
    int neg = 0;

    if (!s || !*s)
        return CSM_ERR_PARSE;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (strcmp(p, "0") == 0) {
        *out = 0;
        return CSM_OK;
    }
    if (!*p)
        return CSM_ERR_PARSE;
    while (*p) {
        char num[64];
        size_t n = 0;
        size_t digits = 0;
        size_t best = 0;
        double scale = 0;

        while (is_digit(p[n]) || p[n] == '.') {
            digits += is_digit(p[n]) ? 1 : 0;
            n++;
        }
        if (digits == 0 || n >= sizeof(num) || memchr(p, '.', n) != memrchr(p, '.', n))
            return CSM_ERR_PARSE;
        memcpy(num, p, n);
        num[n] = '\0';
        p += n;
        /* Longest unit that matches, so "ms" wins over "m". */
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t len = strlen(units[i].text);
            if (len > best && strncmp(p, units[i].text, len) == 0) {
                best = len;
                scale = units[i].seconds;
            }
        }
        if (best == 0)
            return CSM_ERR_PARSE;
        p += best;
        total += strtod(num, NULL) * scale;
    }
    *out = neg ? -total : total;
    return CSM_OK;
}
