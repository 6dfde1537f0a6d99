/*
 * Growable byte buffer with a hard size cap (after curl's dynbuf).
 *
 * Invariants: ptr is NUL-terminated whenever len > 0, so text appended to
 * it can be used as a C string; len + 1 <= cap <= max + 1. Any failed append
 * (allocation failure or the cap) frees the contents and leaves the buffer
 * empty but usable, so callers never carry a half-written buffer on.
 *
 * The struct is public so buffers can live on the stack; treat the fields as
 * read-only outside buf.c.
 */
#ifndef CSM_BUF_H
#define CSM_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "csm/error.h"

typedef struct csm_buf {
    char *ptr;
    size_t len;
    size_t cap;
    size_t max; /* the most bytes it will ever hold */
} csm_buf;

void csm_buf_init(csm_buf *b, size_t max);
/* Frees the contents; the buffer stays initialised and empty. */
void csm_buf_free(csm_buf *b);
/* Empties the buffer but keeps its allocation for reuse. */
void csm_buf_reset(csm_buf *b);

csm_err csm_buf_append(csm_buf *b, const void *p, size_t n);
csm_err csm_buf_puts(csm_buf *b, const char *s);
csm_err csm_buf_putc(csm_buf *b, char c);
csm_err csm_buf_printf(csm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
csm_err csm_buf_vprintf(csm_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Drops the first n bytes, moving the rest to the front. O(len - n). */
void csm_buf_consume(csm_buf *b, size_t n);

/* Hands the contents to the caller (free() them) and empties the buffer.
 * Returns NULL for an empty buffer; *len (if given) receives the length. */
char *csm_buf_steal(csm_buf *b, size_t *len);

/*
 * Appends the whole file at `path` (CSM_ERR_TOO_LARGE past the buffer's
 * cap, which empties it). CSM_ERR_NOT_FOUND or CSM_ERR_IO leave errno
 * set. Not for secrets: kubeconfig.c wipes what it reads instead.
 */
csm_err csm_buf_read_file(csm_buf *b, const char *path);

/* NUL-terminated contents; "" for an empty buffer. Borrowed. */
const char *csm_buf_str(const csm_buf *b);

#endif
