#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check_main.h"
#include "store/gzcat.h"

/* Inflates a whole gzip stream with zlib (which checks the CRC and the
 * length in the trailer) into *out; returns zlib's final code. */
static int gunzip(const char *p, size_t n, csm_buf *out)
{
    z_stream zs;
    char chunk[16384];
    int rc;

    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)n;
    do {
        zs.next_out = (Bytef *)chunk;
        zs.avail_out = sizeof(chunk);
        rc = inflate(&zs, Z_NO_FLUSH);
        ck_assert_int_eq(csm_buf_append(out, chunk, sizeof(chunk) - zs.avail_out), CSM_OK);
    } while (rc == Z_OK);
    /* Nothing may follow the member. */
    if (rc == Z_STREAM_END && zs.avail_in != 0)
        rc = Z_DATA_ERROR;
    inflateEnd(&zs);
    return rc;
}

/* Metric-like text of n bytes. */
static void fill(char *p, size_t n, unsigned *seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (rand_r(seed) % 23 == 0) ? '\n' : (char)('a' + rand_r(seed) % 8);
}

START_TEST(test_empty_stream)
{
    csm_gzcat g;
    unsigned char h[CSM_GZ_HEADER_LEN];
    unsigned char t[CSM_GZ_TRAILER_LEN];
    csm_buf s;
    csm_buf out;

    csm_buf_init(&s, 1024);
    csm_buf_init(&out, 1024);
    csm_gzcat_init(&g);
    csm_gz_header(h);
    csm_gz_trailer(&g, t);
    csm_buf_append(&s, h, sizeof(h));
    csm_buf_append(&s, t, sizeof(t));
    ck_assert_int_eq(gunzip(s.ptr, s.len, &out), Z_STREAM_END);
    ck_assert_uint_eq(out.len, 0);
    csm_buf_free(&s);
    csm_buf_free(&out);
}
END_TEST

/*
 * Random sequences of deflated pieces (empty ones too) and stored runs
 * (beyond one stored block's 65,535 bytes too), stitched into one stream:
 * zlib inflates it to exactly the concatenated text and accepts the CRC and
 * length of the trailer. A wrong CRC combination, a final bit set in a
 * piece, or a piece that refers before its start would fail here.
 */
START_TEST(test_stitched_equals_plain)
{
    unsigned seed = 777;
    char *text = malloc(300000);

    ck_assert_ptr_nonnull(text);
    for (int round = 0; round < 40; round++) {
        csm_buf plain;
        csm_buf stream;
        csm_buf out;
        csm_gzcat g;
        unsigned char h[CSM_GZ_HEADER_LEN];
        unsigned char t[CSM_GZ_TRAILER_LEN];
        int parts = 1 + (int)(rand_r(&seed) % 12);

        csm_buf_init(&plain, 64u << 20);
        csm_buf_init(&stream, 64u << 20);
        csm_buf_init(&out, 64u << 20);
        csm_gzcat_init(&g);
        csm_gz_header(h);
        csm_buf_append(&stream, h, sizeof(h));
        for (int i = 0; i < parts; i++) {
            size_t n = (size_t)rand_r(&seed) % (rand_r(&seed) % 4 == 0 ? 300000 : 2000);
            fill(text, n, &seed);
            csm_buf_append(&plain, text, n);
            if (rand_r(&seed) % 2) {
                csm_gzpiece pc;
                ck_assert_int_eq(csm_gz_piece_deflate(text, n, 1 + rand_r(&seed) % 9, &pc), CSM_OK);
                ck_assert_uint_eq(pc.raw_len, n);
                ck_assert_uint_eq(pc.crc, (uint32_t)crc32(0, (const Bytef *)text, (uInt)n));
                csm_gzcat_add_piece(&g, &pc);
                ck_assert_int_eq(csm_buf_append(&stream, pc.data, pc.len), CSM_OK);
                csm_gz_piece_free(&pc);
                ck_assert_ptr_null(pc.data);
            } else {
                ck_assert_int_eq(csm_gz_append_stored(&stream, &g, text, n), CSM_OK);
            }
        }
        csm_gz_trailer(&g, t);
        csm_buf_append(&stream, t, sizeof(t));
        ck_assert_uint_eq(g.len, plain.len);
        ck_assert_int_eq(gunzip(stream.ptr, stream.len, &out), Z_STREAM_END);
        ck_assert_uint_eq(out.len, plain.len);
        ck_assert_int_eq(memcmp(out.ptr ? out.ptr : "", plain.ptr ? plain.ptr : "", plain.len), 0);
        csm_buf_free(&plain);
        csm_buf_free(&stream);
        csm_buf_free(&out);
    }
    free(text);
    csm_gz_piece_free(NULL);
}
END_TEST

/* A corrupted trailer CRC is refused: the test above would notice a wrong
 * combination. */
START_TEST(test_bad_crc_detected)
{
    csm_gzcat g;
    csm_gzpiece pc;
    unsigned char h[CSM_GZ_HEADER_LEN];
    unsigned char t[CSM_GZ_TRAILER_LEN];
    csm_buf s;
    csm_buf out;

    csm_buf_init(&s, 1 << 20);
    csm_buf_init(&out, 1 << 20);
    csm_gzcat_init(&g);
    csm_gz_header(h);
    csm_buf_append(&s, h, sizeof(h));
    ck_assert_int_eq(csm_gz_piece_deflate("x 1\ny 2\n", 8, 1, &pc), CSM_OK);
    csm_gzcat_add_piece(&g, &pc);
    csm_buf_append(&s, pc.data, pc.len);
    csm_gz_piece_free(&pc);
    csm_gz_trailer(&g, t);
    t[2] ^= 1;
    csm_buf_append(&s, t, sizeof(t));
    ck_assert_int_eq(gunzip(s.ptr, s.len, &out), Z_DATA_ERROR);
    csm_buf_free(&s);
    csm_buf_free(&out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gzcat");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_empty_stream);
    tcase_add_test(tc, test_stitched_equals_plain);
    tcase_add_test(tc, test_bad_crc_detected);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}
