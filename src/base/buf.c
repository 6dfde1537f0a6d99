#include "base/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csm_buf_init(csm_buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void csm_buf_free(csm_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
}

void csm_buf_reset(csm_buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

/* Ensures room for n more bytes plus the terminator. */
static csm_err buf_reserve(csm_buf *b, size_t n)
{
    size_t need;
    size_t ncap;
    char *p;

    if (n > b->max - b->len) {
        csm_buf_free(b);
        return CSM_ERR_TOO_LARGE;
    }
    need = b->len + n + 1;
    if (need <= b->cap)
        return CSM_OK;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > (b->max + 1) / 2 ? b->max + 1 : ncap * 2;
    p = realloc(b->ptr, ncap);
    if (!p) {
        csm_buf_free(b);
        return CSM_ERR_NOMEM;
    }
    b->ptr = p;
    b->cap = ncap;
    return CSM_OK;
}

csm_err csm_buf_append(csm_buf *b, const void *p, size_t n)
{
    csm_err err = buf_reserve(b, n);
    if (err)
        return err;
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return CSM_OK;
}

csm_err csm_buf_puts(csm_buf *b, const char *s)
{
    return csm_buf_append(b, s, strlen(s));
}

csm_err csm_buf_putc(csm_buf *b, char c)
{
    return csm_buf_append(b, &c, 1);
}

csm_err csm_buf_vprintf(csm_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    csm_err err;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        csm_buf_free(b);
        return CSM_ERR_INVALID;
    }
    err = buf_reserve(b, (size_t)n);
    if (err)
        return err;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return CSM_OK;
}

csm_err csm_buf_printf(csm_buf *b, const char *fmt, ...)
{
    va_list ap;
    csm_err err;

    va_start(ap, fmt);
    err = csm_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return err;
}

void csm_buf_consume(csm_buf *b, size_t n)
{
    if (n >= b->len) {
        csm_buf_reset(b);
        return;
    }
    memmove(b->ptr, b->ptr + n, b->len - n);
    b->len -= n;
    b->ptr[b->len] = '\0';
}

char *csm_buf_steal(csm_buf *b, size_t *len)
{
    char *p = b->len ? b->ptr : NULL;
    if (len)
        *len = b->len;
    if (!p)
        free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

const char *csm_buf_str(const csm_buf *b)
{
    return b->len ? b->ptr : "";
}

csm_err csm_buf_read_file(csm_buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;
    int saved;
    csm_err err = CSM_OK;

    if (!f)
        return errno == ENOENT ? CSM_ERR_NOT_FOUND : CSM_ERR_IO;
    for (;;) {
        n = fread(chunk, 1, sizeof(chunk), f);
        if (n == 0 || err)
            break;
        err = csm_buf_append(b, chunk, n);
    }
    if (!err && ferror(f))
        err = CSM_ERR_IO;
    saved = errno;
    fclose(f);
    errno = saved;
    return err;
}
