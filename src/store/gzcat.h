/*
 * One gzip stream stitched from pieces compressed at different times (the
 * way pigz joins its blocks).
 *
 * A piece is raw deflate data (no zlib or gzip wrapper) compressed from an
 * empty window and ended with a sync flush: it ends on a byte boundary, is
 * not marked final and refers to nothing before its own start, so pieces
 * concatenate into a valid deflate stream in any order. A stream is
 *
 *     csm_gz_header() | piece | stored block | piece | ... | csm_gz_trailer()
 *
 * where the trailer adds the final empty block and the CRC-32 and length of
 * the whole uncompressed text, which csm_gzcat tracks with crc32_combine()
 * from each piece's own CRC, so no piece is read again. Small text that is
 * not worth compressing goes in as stored blocks (csm_gz_stored_header()),
 * which costs no compression at all.
 *
 * Pure functions over caller memory; no I/O.
 */
#ifndef CSM_GZCAT_H
#define CSM_GZCAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "csm/error.h"

/* Bytes of csm_gz_header(), csm_gz_stored_header() and csm_gz_trailer(). */
#define CSM_GZ_HEADER_LEN  10
#define CSM_GZ_STORED_LEN  5
#define CSM_GZ_TRAILER_LEN 10
/* Most bytes one stored block holds. */
#define CSM_GZ_STORED_MAX 65535u

/* A compressed piece; data is malloc'ed and freed by csm_gz_piece_free(). */
typedef struct csm_gzpiece {
    unsigned char *data;
    size_t len;     /* compressed bytes */
    uint32_t crc;   /* CRC-32 of the uncompressed text */
    size_t raw_len; /* uncompressed bytes */
} csm_gzpiece;

/*
 * Compresses [p, p+n) into *out as a piece (see above) at zlib `level`.
 * On failure *out is left empty. Costs one deflateInit2/deflateEnd (about
 * 270 KB of transient zlib state) plus the compression itself.
 */
csm_err csm_gz_piece_deflate(const char *p, size_t n, int level, csm_gzpiece *out);
/* Frees the piece's data and empties it. Accepts NULL and empty pieces. */
void csm_gz_piece_free(csm_gzpiece *pc);

/* Running CRC and length of the uncompressed text of one stream. */
typedef struct csm_gzcat {
    uint32_t crc;
    uint64_t len;
} csm_gzcat;

void csm_gzcat_init(csm_gzcat *g);
/* Accounts for a piece appended to the stream. */
void csm_gzcat_add_piece(csm_gzcat *g, const csm_gzpiece *pc);
/* Accounts for text appended as stored blocks (or any other framing). */
void csm_gzcat_add_text(csm_gzcat *g, const char *p, size_t n);

/* The 10-byte gzip member header (no name, no time). */
void csm_gz_header(unsigned char out[CSM_GZ_HEADER_LEN]);
/* The 5-byte header of a non-final stored block of n bytes (n at most
 * CSM_GZ_STORED_MAX); the n bytes follow it verbatim. The stream must be on
 * a byte boundary, which every piece and stored block leaves it on. */
void csm_gz_stored_header(unsigned char out[CSM_GZ_STORED_LEN], size_t n);
/* The final empty block and the gzip trailer for what g accounted. */
void csm_gz_trailer(const csm_gzcat *g, unsigned char out[CSM_GZ_TRAILER_LEN]);

/* Appends [p, p+n) to b as stored blocks and accounts for it in g: what a
 * caller without its own output buffer type uses (tests, small text). */
csm_err csm_gz_append_stored(csm_buf *b, csm_gzcat *g, const char *p, size_t n);

#endif
