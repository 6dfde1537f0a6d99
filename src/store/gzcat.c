#include "store/gzcat.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Largest slice handed to deflate() at once (avail_in is a uInt). */
#define GZ_MAX_IN (1u << 30)

csm_err csm_gz_piece_deflate(const char *p, size_t n, int level, csm_gzpiece *out)
{
    z_stream zs;
    size_t cap;
    unsigned char *data = NULL;
    size_t done = 0;
    csm_err err = CSM_ERR_NOMEM;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&zs, 0, sizeof(zs));
    /* Negative window bits: raw deflate, no wrapper; pieces get one shared
     * gzip header and trailer when they are stitched together. */
    if (deflateInit2(&zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return CSM_ERR_NOMEM;
    /* deflateBound() covers Z_FINISH; a sync flush adds at most the empty
     * stored block (5 bytes) plus the bits to reach a byte boundary. */
    cap = deflateBound(&zs, n > ULONG_MAX ? ULONG_MAX : (uLong)n) + 16;
    data = malloc(cap);
    if (!data)
        goto out;
    zs.next_out = data;
    zs.avail_out = cap > UINT_MAX ? UINT_MAX : (uInt)cap;
    do {
        size_t slice = n - done < GZ_MAX_IN ? n - done : GZ_MAX_IN;
        zs.next_in = (Bytef *)(uintptr_t)(p + done);
        zs.avail_in = (uInt)slice;
        done += slice;
        rc = deflate(&zs, done == n ? Z_SYNC_FLUSH : Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            err = CSM_ERR_INTERNAL;
            goto out;
        }
        if (zs.avail_in != 0 || zs.avail_out == 0) {
            /* The bound was wrong: never expected, but never overrun. */
            err = CSM_ERR_INTERNAL;
            goto out;
        }
    } while (done < n);
    out->len = (size_t)((unsigned char *)zs.next_out - data);
    out->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < n;) {
        size_t slice = n - off < GZ_MAX_IN ? n - off : GZ_MAX_IN;
        out->crc = (uint32_t)crc32(out->crc, (const Bytef *)p + off, (uInt)slice);
        off += slice;
    }
    out->raw_len = n;
    out->data = data;
    data = NULL;
    err = CSM_OK;
out:
    deflateEnd(&zs);
    free(data);
    return err;
}

void csm_gz_piece_free(csm_gzpiece *pc)
{
    if (!pc)
        return;
    free(pc->data);
    memset(pc, 0, sizeof(*pc));
}

void csm_gzcat_init(csm_gzcat *g)
{
    g->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    g->len = 0;
}

void csm_gzcat_add_piece(csm_gzcat *g, const csm_gzpiece *pc)
{
    g->crc = (uint32_t)crc32_combine(g->crc, pc->crc, (z_off_t)pc->raw_len);
    g->len += pc->raw_len;
}

void csm_gzcat_add_text(csm_gzcat *g, const char *p, size_t n)
{
    while (n) {
        size_t slice = n < GZ_MAX_IN ? n : GZ_MAX_IN;
        g->crc = (uint32_t)crc32(g->crc, (const Bytef *)p, (uInt)slice);
        g->len += slice;
        p += slice;
        n -= slice;
    }
}

void csm_gz_header(unsigned char out[CSM_GZ_HEADER_LEN])
{
    /* ID1 ID2, CM deflate, no flags, MTIME 0, XFL 0, OS 255 (unknown). */
    static const unsigned char h[CSM_GZ_HEADER_LEN] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    memcpy(out, h, sizeof(h));
}

void csm_gz_stored_header(unsigned char out[CSM_GZ_STORED_LEN], size_t n)
{
    unsigned len = (unsigned)n & 0xffffu;
    unsigned nlen = ~len & 0xffffu;

    /* BFINAL 0, BTYPE 00, then padding to the byte boundary. */
    out[0] = 0;
    out[1] = (unsigned char)(len & 0xff);
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)(nlen & 0xff);
    out[4] = (unsigned char)(nlen >> 8);
}

void csm_gz_trailer(const csm_gzcat *g, unsigned char out[CSM_GZ_TRAILER_LEN])
{
    uint32_t isize = (uint32_t)(g->len & 0xffffffffu);

    /* A final, empty block with fixed codes: BFINAL 1, BTYPE 01, then the
     * 7-bit end-of-block code 0: the bits 1,1,0 and seven zeros. */
    out[0] = 0x03;
    out[1] = 0x00;
    for (int i = 0; i < 4; i++) {
        out[2 + i] = (unsigned char)(g->crc >> (8 * i));
        out[6 + i] = (unsigned char)(isize >> (8 * i));
    }
}

csm_err csm_gz_append_stored(csm_buf *b, csm_gzcat *g, const char *p, size_t n)
{
    unsigned char hdr[CSM_GZ_STORED_LEN];
    csm_err err = CSM_OK;

    csm_gzcat_add_text(g, p, n);
    while (!err && n) {
        size_t slice = n < CSM_GZ_STORED_MAX ? n : CSM_GZ_STORED_MAX;
        csm_gz_stored_header(hdr, slice);
        err = csm_buf_append(b, hdr, sizeof(hdr));
        if (!err)
            err = csm_buf_append(b, p, slice);
        p += slice;
        n -= slice;
    }
    return err;
}
