#include <stdlib.h>
#include <string.h>

#include "nn_kernels.h"
#include "nn_internal.h"

// An sgemm for the convolutions' and dense layers' shapes (one side 64 or K = 64, or a batch of
// rows against a 3136-wide weight), where OpenBLAS spends about a tenth of its time packing the
// large operand: here the large operand is read where it lies and only a transposed B is packed
// (B^T, one K block at a time), so on one thread with operands in cache it runs at 108-117 GFLOP/s
// where OpenBLAS runs at 97-101 (an AVX-512 Zen 4, whose FMA peak is 117); on a Zen 5 (FMA peak
// 266-274) at 235-262, and at 230-260 with the Haswell kernel's two chains, where that kernel
// itself runs at about 118.
//
// The same bits as OpenBLAS's AVX-512 kernels (Cooperlake, SkylakeX): each C element is a chain of
// FMAs in k order from zero within each of OpenBLAS's K blocks (`kblock`), and each block's chain
// is then added to C once (C = chain on the first block when beta = 0). So results do not depend
// on which of the two ran. Its Haswell kernel (VL_GEMM_HASWELL, forced on AVX-512 CPUs by
// OPENBLAS_CORETYPE=Haswell) does the same except in some 8 x 6 and 8 x 4 tiles, whose elements
// sum two chains: `haswell_run` gives those a second set of accumulators in their own tiles. Only
// the AVX-512 build exists; elsewhere `vl_sgemm` declines.
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define V4 __attribute__((target("arch=x86-64-v4")))
#define INLINE __attribute__((always_inline)) inline

/// OpenBLAS's level-3 driver splits K into blocks of its GEMM_Q while 2 Q remain, then the rest
/// into two halves rounded up to its GEMM_UNROLL_M `r` (16 on AVX-512, 8 on Haswell). Q = 320
/// (Cooperlake): K = 576 -> 288 + 288, K = 784 -> 320 + 240 + 224; Q = 448 (SkylakeX): K = 784 ->
/// 400 + 384. It splits M (C's columns here) the same way, by GEMM_P (`mblock`).
static long kblock(long rest, long q, long r) {
    if (rest >= 2 * q) return q;
    if (rest > q) return (rest / 2 + r - 1) / r * r;
    return rest;
}

/// The micro-kernel: C[i, 16 j ..< 16 j + 16] (=, or += when add) sum_k A(i, k) B(k, 16 j ..),
/// i < MR, j < NV, with A(i, k) = a[i ai + k ak] broadcast and B(k, :) = b[k ldb ..] loaded; the
/// last vector of each row takes the lanes in `tail`. MR x NV accumulators stay in registers.
#define UNROLL _Pragma("unroll")
#define MICRO_KERNEL(MR, NV)                                                                      \
    static V4 void micro_##MR##x##NV(__mmask16 tail, long kb, const float *a, long ai, long ak,   \
                                     const float *b, long ldb, float *c, long ldc, int add) {     \
        __m512 acc[MR][NV];                                                                       \
        UNROLL for (int i = 0; i < MR; i++) UNROLL for (int j = 0; j < NV; j++)                   \
            acc[i][j] = _mm512_setzero_ps();                                                      \
        for (long k = 0; k < kb; k++) {                                                           \
            const float *bk = b + k * ldb;                                                        \
            __m512 bv[NV];                                                                        \
            UNROLL for (int j = 0; j < NV - 1; j++) bv[j] = _mm512_loadu_ps(bk + 16 * j);         \
            bv[NV - 1] = _mm512_maskz_loadu_ps(tail, bk + 16 * (NV - 1));                         \
            UNROLL for (int i = 0; i < MR; i++) {                                                 \
                const __m512 av = _mm512_set1_ps(a[i * ai + k * ak]);                             \
                UNROLL for (int j = 0; j < NV; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]); \
            }                                                                                     \
        }                                                                                         \
        UNROLL for (int i = 0; i < MR; i++) UNROLL for (int j = 0; j < NV; j++) {                 \
            const __mmask16 lanes = j == NV - 1 ? tail : 0xFFFF;                                  \
            float *p = c + i * ldc + 16 * j;                                                      \
            const __m512 sum = add ? _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, p), acc[i][j]) : acc[i][j]; \
            _mm512_mask_storeu_ps(p, lanes, sum);                                                 \
        }                                                                                         \
    }
#define MICRO_ROW(MR) MICRO_KERNEL(MR, 1) MICRO_KERNEL(MR, 2) MICRO_KERNEL(MR, 3) MICRO_KERNEL(MR, 4)
MICRO_ROW(1) MICRO_ROW(2) MICRO_ROW(3) MICRO_ROW(4) MICRO_ROW(5) MICRO_ROW(6) MICRO_ROW(7) MICRO_ROW(8)

typedef void (*micro_kernel)(__mmask16, long, const float *, long, long, const float *, long, float *, long, int);
#define MICRO_ENTRY(MR) {micro_##MR##x1, micro_##MR##x2, micro_##MR##x3, micro_##MR##x4}
/// micro[MR - 1][NV - 1]: every edge tile has its own fully unrolled kernel.
static const micro_kernel micro[8][4] = {MICRO_ENTRY(1), MICRO_ENTRY(2), MICRO_ENTRY(3), MICRO_ENTRY(4),
                                         MICRO_ENTRY(5), MICRO_ENTRY(6), MICRO_ENTRY(7), MICRO_ENTRY(8)};

/// The columns of the next panel of up to 16 NV when `left` remain: one vector fewer where a
/// last panel of one vector would follow, so that it gets two (a lone vector's tile is bound by
/// its broadcasts of A).
static long panel_width(long left, int NV) {
    const long full = 16 * NV;
    if (left <= full) return left;
    return left - full <= 16 && NV > 1 ? full - 16 : full;
}

/// The lanes of a panel's last vector: `cols` % 16 of them, or all.
static __mmask16 lanes_of(long cols) { return (__mmask16)(cols % 16 ? (1u << cols % 16) - 1 : 0xFFFF); }

/// dst[p ldd + j] = src[j lds + p] for a 16 x 16 block, in three rounds of lane shuffles.
static V4 INLINE void transpose16(const float *src, long lds, float *dst, long ldd) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {  // r[4 g + q], 128-bit lane l: column 4 l + q of rows 4 g ..< 4 g + 4
        r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int q = 0; q < 4; q++) {
        const __m512 e = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88), f = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xDD);
        const __m512 g = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
        const __m512 h = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xDD);
        _mm512_storeu_ps(dst + q * ldd, _mm512_shuffle_f32x4(e, g, 0x88));
        _mm512_storeu_ps(dst + (4 + q) * ldd, _mm512_shuffle_f32x4(f, h, 0x88));
        _mm512_storeu_ps(dst + (8 + q) * ldd, _mm512_shuffle_f32x4(e, g, 0xDD));
        _mm512_storeu_ps(dst + (12 + q) * ldd, _mm512_shuffle_f32x4(f, h, 0xDD));
    }
}

/// out [k, n] (row stride ldo) = b^T for b [n, k] (row stride ldb).
static V4 void transpose(const float *b, long ldb, long n, long k, float *out, long ldo) {
    const long n16 = n & ~15L, k16 = k & ~15L;
    for (long j = 0; j < n16; j += 16)
        for (long p = 0; p < k16; p += 16) transpose16(b + j * ldb + p, ldb, out + p * ldo + j, ldo);
    for (long j = 0; j < n; j++)
        for (long p = j < n16 ? k16 : 0; p < k; p++) out[p * ldo + j] = b[j * ldb + p];
}

/// A buffer of this thread's, grown as needed and kept for the next call (NULL when out of memory).
typedef struct {
    float *data;
    size_t floats;
} scratch;
static float *scratch_for(scratch *s, size_t floats) {
    if (floats > s->floats) {
        float *grown = realloc(s->data, floats * sizeof(float));
        if (!grown) return NULL;
        s->data = grown, s->floats = floats;
    }
    return s->data;
}
// --- OpenBLAS's Haswell kernel (sgemm_kernel_8x4_haswell_2.c, OpenBLAS 0.3.21) ------------------
//
// Row-major C [m, n] is its column-major C^T: its kernel's M runs along C's columns j, its N along
// C's rows i. The driver splits the columns into blocks of GEMM_P = 320 (`mblock`) and hands the
// kernel panels of 12 rows; in a block of at least 16 columns the kernel's 8 x 6 tiles at the
// block's first 8 columns (rows 0-5 of each panel) and at its last whole 8 (rows 0-5 when the block
// has an even number of 8s, else rows 6-11) sum two chains: k even and k odd in K's first multiple
// of 8 (the rest joins the even chain), then even + odd. So do its 8 x 4 tiles: the rows past the
// last panel in chunks of 4 (the first block: all whole chunks; the later ones, which get every row
// at once: 4 rows when 4 to 7 remain), in the block's whole 8s. Every other element is one chain.
// Checked against OpenBLAS on every shape of the models and on odd ones (GEMMTests).

static long mblock(long rest) {
    if (rest >= 640) return 320;
    if (rest > 320) return (rest / 2 + 7) / 8 * 8;
    return rest;
}

/// The last whole 8 columns of the column block [j0, j0 + mi) (mi >= 16), whose 8 x 6 tile sums two
/// chains in the panel half *side (0: rows 0-5, 1: rows 6-11; the block's first 8 are in half 0).
static long last_eight(long j0, long mi, long *side) {
    *side = mi / 8 % 2;
    return j0 + mi / 8 * 8 - 8;
}

/// Of the `rest` rows past the panels, how many pair in the column block at j0 (its whole 8s).
static long paired_rest_rows(long j0, long rest) {
    if (j0 == 0) return rest / 4 * 4;  // the driver's chunks of 4 rows
    return rest >= 4 && rest < 8 ? 4 : 0;  // the kernel's own 8 x 4 tiles
}

/// A product as the tiles compute it: C(i, j) += A(i, k) B(k, j), A(i, k) = a[i ai + k ak],
/// B(k, j) = b[k ldb + j], C(i, j) = c[i ldc + j], in OpenBLAS's K blocks (`kblock` with its Q,
/// kq, and its rounding, kr: 16 on AVX-512, 8 on Haswell).
typedef struct {
    const float *a, *b;
    float *c;
    long ai, ak, ldb, ldc, k, kq, kr;
    int add;
} product;

/// Tiles at rows first + t step (t < count) of C, `rows` rows each but the last, which has `last`:
/// a range of rows, or one class of the Haswell walk's tiles.
typedef struct {
    long first, step, count;
    int rows, last;
} row_set;

/// Rows [first, end) in tiles of MR.
static row_set rows_of(long first, long end, int MR) {
    const long count = (end - first + MR - 1) / MR;
    return (row_set){first, MR, count, MR, (int)(end - first - (count - 1) * MR)};
}

/// Where a tile's vectors lie, from its first column: the two-chain vector's halves of 8 lanes at
/// `pair` and `pair + gap` (its lanes `pairs`: 0xFF for one group of 8, 0xFFFF for two, gap 8
/// where they meet), then vectors of one chain from `plain` (the last one's lanes `tail`).
typedef struct {
    long pair, gap, plain;
    __mmask16 pairs, tail;
} tile_layout;

typedef void (*pair_kernel)(const tile_layout *, long, const float *, long, long, const float *, long, float *, long,
                            int);

/// The tiles of r's rows at columns j0 ..< j0 + 16 nv, over every K block: `f` with its layout t,
/// or where f is NULL the micro-kernel (the last vector's lanes in t->tail).
static V4 void row_tiles(const product *p, row_set r, long j0, int nv, pair_kernel f, const tile_layout *t) {
    for (long i = 0; i < r.count; i++) {
        const long i0 = r.first + i * r.step;
        const int rows = i == r.count - 1 ? r.last : r.rows;
        for (long k0 = 0, kb; k0 < p->k; k0 += kb) {
            kb = kblock(p->k - k0, p->kq, p->kr);
            const float *a = p->a + i0 * p->ai + k0 * p->ak, *b = p->b + k0 * p->ldb + j0;
            float *c = p->c + i0 * p->ldc + j0;
            const int add = p->add || k0 > 0;
            if (f) f(t, kb, a, p->ai, p->ak, b, p->ldb, c, p->ldc, add);
            else micro[rows - 1][nv - 1](t->tail, kb, a, p->ai, p->ak, b, p->ldb, c, p->ldc, add);
        }
    }
}

/// r's rows over columns [from, to) in panels of up to 16 NV columns (column panels outside: a
/// panel of B stays in cache across the rows): the micro-kernels, one chain per element, or
/// `kernels[nv - 1]` for panels of nv vectors.
static V4 void column_tiles(const product *p, row_set r, long from, long to, int NV, const pair_kernel *kernels) {
    for (long j = from, cols; j < to; j += cols) {
        cols = panel_width(to - j, NV);
        const int nv = (int)(cols + 15) / 16;
        const tile_layout t = {0, 0, 0, 0, lanes_of(cols)};
        row_tiles(p, r, j, nv, kernels ? kernels[nv - 1] : NULL, &t);
    }
}

/// One chain per element over r's rows and columns [from, to), in tiles of 64 columns.
static V4 void one_chain(const product *p, row_set r, long from, long to) { column_tiles(p, r, from, to, 4, NULL); }

static V4 INLINE __m512 halves_load(const float *row, const tile_layout *t) {
    const __m256 lo = _mm256_maskz_loadu_ps((__mmask8)t->pairs, row + t->pair);
    const __m256 hi = _mm256_maskz_loadu_ps((__mmask8)(t->pairs >> 8), row + t->pair + t->gap);
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

static V4 INLINE void halves_store(float *row, const tile_layout *t, __m512 v) {
    _mm256_mask_storeu_ps(row + t->pair, (__mmask8)t->pairs, _mm512_castps512_ps256(v));
    _mm256_mask_storeu_ps(row + t->pair + t->gap, (__mmask8)(t->pairs >> 8), _mm512_extractf32x8_ps(v, 1));
}

/// One k of the kernels below: B's row k times A(i, k) into acc, or, when ODD, into odd for the
/// vectors that sum two chains.
#define TWO_CHAIN_STEP(MR, NV, HALVES, K, ODD)                                                    \
    {                                                                                             \
        const float *bk = b + (K) * ldb;                                                          \
        __m512 bv[NV];                                                                            \
        UNROLL for (int j = 0; j < NV; j++) bv[j] = HALVES && j == 0 ? halves_load(bk, t)         \
                                                    : _mm512_maskz_loadu_ps(j == NV - 1 ? t->tail : 0xFFFF, \
                                                                            bk + t->plain + 16 * (j - HALVES)); \
        UNROLL for (int i = 0; i < MR; i++) {                                                     \
            const __m512 av = _mm512_set1_ps(a[i * ai + (K) * ak]);                               \
            UNROLL for (int j = 0; j < NV; j++) {                                                 \
                if ((ODD) && (!HALVES || j == 0)) odd[i][j] = _mm512_fmadd_ps(av, bv[j], odd[i][j]); \
                else acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);                           \
            }                                                                                     \
        }                                                                                         \
    }

/// A tile of MR rows and NV vectors laid out as t says, whose two-chain vectors (HALVES: the first,
/// from its halves, the others one chain; else all of them, side by side from t.plain) sum k even
/// and k odd on two chains in K's first multiple of 8, the rest on the even chain, then even + odd.
#define TWO_CHAIN_KERNEL(NAME, MR, NV, HALVES)                                                    \
    static V4 void NAME(const tile_layout *t, long kb, const float *a, long ai, long ak, const float *b, long ldb, \
                        float *c, long ldc, int add) {                                            \
        __m512 acc[MR][NV], odd[MR][NV];                                                          \
        UNROLL for (int i = 0; i < MR; i++) UNROLL for (int j = 0; j < NV; j++)                   \
            acc[i][j] = odd[i][j] = _mm512_setzero_ps();                                          \
        const long paired = kb >= 8 ? kb / 8 * 8 : 0;                                             \
        long k = 0;                                                                               \
        for (; k < paired; k += 2) {                                                              \
            TWO_CHAIN_STEP(MR, NV, HALVES, k, 0)                                                  \
            TWO_CHAIN_STEP(MR, NV, HALVES, k + 1, 1)                                              \
        }                                                                                         \
        for (; k < kb; k++) TWO_CHAIN_STEP(MR, NV, HALVES, k, 0)                                  \
        UNROLL for (int i = 0; i < MR; i++) UNROLL for (int j = 0; j < NV; j++) {                 \
            float *row = c + i * ldc;                                                             \
            if (HALVES && j == 0) {                                                               \
                const __m512 sum = _mm512_add_ps(acc[i][0], odd[i][0]);                           \
                halves_store(row, t, add ? _mm512_add_ps(halves_load(row, t), sum) : sum);        \
                continue;                                                                         \
            }                                                                                     \
            const __m512 sum = HALVES ? acc[i][j] : _mm512_add_ps(acc[i][j], odd[i][j]);          \
            const __mmask16 lanes = j == NV - 1 ? t->tail : 0xFFFF;                               \
            float *q = row + t->plain + 16 * (j - HALVES);                                        \
            _mm512_mask_storeu_ps(q, lanes, add ? _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, q), sum) : sum); \
        }                                                                                         \
    }
// A panel half's two-chain vector and up to two of one chain: 6 (2 + NV - 1) accumulators.
TWO_CHAIN_KERNEL(halves_6x1, 6, 1, 1) TWO_CHAIN_KERNEL(halves_6x2, 6, 2, 1) TWO_CHAIN_KERNEL(halves_6x3, 6, 3, 1)
// The rows past the panels: 4 rows whose every vector sums two chains.
TWO_CHAIN_KERNEL(whole_4x1, 4, 1, 0) TWO_CHAIN_KERNEL(whole_4x2, 4, 2, 0) TWO_CHAIN_KERNEL(whole_4x3, 4, 3, 0)

/// The first two-chain 8 columns of panel half h at or after column `from` (n if none): a
/// block's first 8 (half 0) or its last whole 8 (half `side`), in blocks of 16 columns or more.
static long next_pair(long n, int h, long from) {
    long at = n;
    for (long j0 = 0, mi; j0 < n && j0 < at; j0 += mi) {
        mi = mblock(n - j0);
        if (mi < 16) continue;
        long side;
        const long last = last_eight(j0, mi, &side);
        if (h == 0 && j0 >= from) at = j0 < at ? j0 : at;
        if (h == side && last >= from) at = last < at ? last : at;
    }
    return at;
}

/// The columns of the two-chain group at `at`: 8, or 16 where the next 8 pair too.
static long pair_width(long n, int h, long at) { return at + 8 < n && next_pair(n, h, at + 8) == at + 8 ? 16 : 8; }

/// Panel half h's tiles (rows r) over C's n columns: one chain, but for each two-chain group (8
/// columns, 16 where two meet; a group of 8 shares its vector with the next such group) a tile with
/// up to two vectors of one chain on its right, or two on its left where it has less room on its
/// right: so three vectors stay in registers with it.
static V4 void half_tiles(const product *p, long n, row_set r, int h) {
    long shared = -1;  // a group computed in the vector of the one before it
    for (long done = 0; done < n;) {
        const long at = next_pair(n, h, done);
        if (at == shared) {
            one_chain(p, r, done, at);
            done = at + 8;
            continue;
        }
        if (at >= n) return one_chain(p, r, done, n);
        const long w = pair_width(n, h, at), next = next_pair(n, h, at + w), room = next - (at + w);
        tile_layout t = {0, 8, 0, w == 16 ? 0xFFFF : 0xFF, 0xFFFF};
        if (w == 8 && next < n && pair_width(n, h, next) == 8) t.pairs = 0xFFFF, t.gap = next - at, shared = next;
        if (room < 32 && at - done >= 32) {
            one_chain(p, r, done, at - 32);
            t.pair = 32;
            row_tiles(p, r, at - 32, 3, halves_6x3, &t);
            done = at + w;
            continue;
        }
        one_chain(p, r, done, at);
        long cols = room < 32 ? room : 32;
        // Leave a next group 32 columns on its left when it has fewer on its right.
        if (next < n && next != shared && room >= 32 && room < 64) {
            const long w2 = pair_width(n, h, next);
            if (next_pair(n, h, next + w2) - (next + w2) < 32) cols = room - 32;
        }
        if (cols == 32 && (room - cols) % 64 == 16) cols = 16;  // two vectors after it, not one alone
        t.plain = w, t.tail = cols ? lanes_of(cols) : 0xFFFF;
        row_tiles(p, r, at, 0, cols == 0 ? halves_6x1 : cols <= 16 ? halves_6x2 : halves_6x3, &t);
        done = at + w + cols;
    }
}

/// A Haswell product C [m, n] (the comment above): the panels' halves, then the rows past them
/// block by block, in chunks of 4 where they pair over the block's whole 8s.
static V4 void haswell_run(const product *p, long m, long n) {
    static const pair_kernel whole[3] = {whole_4x1, whole_4x2, whole_4x3};
    const long panels = m / 12 * 12, rest = m - panels;
    for (int h = 0; h < 2 && panels > 0; h++) half_tiles(p, n, (row_set){6 * h, 12, panels / 12, 6, 6}, h);
    for (long j0 = 0, mi; j0 < n && rest > 0; j0 += mi) {
        mi = mblock(n - j0);
        const long chunked = mi >= 8 ? paired_rest_rows(j0, rest) : 0, eights = j0 + mi / 8 * 8;
        const row_set chunks = {panels, 4, chunked / 4, 4, 4};
        column_tiles(p, chunks, j0, eights, 3, whole);
        one_chain(p, chunks, eights, j0 + mi);
        one_chain(p, rows_of(panels + chunked, m, 6), j0, j0 + mi);
    }
}

static _Thread_local scratch packed;

/// The product p (m x n): in tiles of MR x 16 NV, or Haswell's walk.
static V4 void run(int MR, int NV, long m, long n, product p, vl_gemm_kernel kernel) {
    if (kernel == VL_GEMM_HASWELL) haswell_run(&p, m, n);
    else column_tiles(&p, rows_of(0, m, MR), 0, n, NV, NULL);
}

/// C (+)= A B^T one K block at a time, each block's B^T [kb, n] read where it lies when `given`
/// (b is then B^T [k, n], row stride ldb) or else transposed from B [n, k] into a buffer (in L2
/// for the encoder's dense x W^T, whose W^T is 3.2 MB at H = 256), and run as a product of one
/// block, added to C after the first: the chains and sums of OpenBLAS's blocks. The buffer, for
/// the largest block (the last of two halves can be one longer than the first), is the only
/// allocation, before C is touched.
static V4 int blocks_bt(long m, long n, long k, const float *a, long lda, const float *b, long ldb, int given,
                        int add, float *c, long ldc, long kq, long r, vl_gemm_kernel kernel) {
    float *bt = NULL;
    if (!given) {
        long largest = 0;
        for (long k0 = 0, kb; k0 < k; k0 += kb) largest = (kb = kblock(k - k0, kq, r)) > largest ? kb : largest;
        if (!(bt = scratch_for(&packed, (size_t)n * (size_t)largest))) return 0;
    }
    const long ld = given ? ldb : n;  // the blocks' row stride
    for (long k0 = 0, kb; k0 < k; k0 += kb) {
        kb = kblock(k - k0, kq, r);
        if (!given) transpose(b + k0, ldb, n, kb, bt, n);  // tiles of 6 x 64
        const float *block = given ? b + k0 * ldb : bt;
        run(6, 4, m, n, (product){a + k0, block, c, lda, 1, ld, ldc, kb, kb, r, add || k0 > 0}, kernel);
    }
    return 1;
}

/// Whether vl_sgemm's arguments are ones it computes (the header says which).
static int applies(long m, long n, long k, float beta, long kq, vl_gemm_kernel kernel) {
    if (m < 1 || n < 1 || k < 1 || (beta != 0 && beta != 1) || kq < 16) return 0;
    return (kernel == VL_GEMM_AVX512 || kernel == VL_GEMM_HASWELL) && VL_AVX512();
}

/// OpenBLAS's K-block rounding for `kernel`: its GEMM_UNROLL_M.
static long k_rounding(vl_gemm_kernel kernel) { return kernel == VL_GEMM_HASWELL ? 8 : 16; }

int vl_sgemm(int trans_a, int trans_b, long m, long n, long k, const float *a, long lda, const float *b, long ldb,
             float beta, float *c, long ldc, long kq, vl_gemm_kernel kernel) {
    if ((trans_a && trans_b) || !applies(m, n, k, beta, kq, kernel)) return 0;
    const int add = beta != 0;
    const long r = k_rounding(kernel);
    if (trans_b) return blocks_bt(m, n, k, a, lda, b, ldb, 0, add, c, ldc, kq, r, kernel);
    // tiles of 8 x 48: 24 accumulators, 3 loads of B and 8 broadcasts of A per k
    run(8, 3, m, n, (product){a, b, c, trans_a ? 1 : lda, trans_a ? lda : 1, ldb, ldc, k, kq, r, add}, kernel);
    return 1;
}

int vl_sgemm_bt(long m, long n, long k, const float *a, long lda, const float *bt, long ldbt, float beta, float *c,
                long ldc, long kq, vl_gemm_kernel kernel) {
    if (!applies(m, n, k, beta, kq, kernel)) return 0;
    return blocks_bt(m, n, k, a, lda, bt, ldbt, 1, beta != 0, c, ldc, kq, k_rounding(kernel), kernel);
}

// --- the stride-2 transposed convolution's forward pass: GEMM and col2im in one sweep ----------
//
// col2im reads col row (ki, kj) = W^T X's row (co, ki, kj) at input pixel (m - ki / 2, q - kj / 2)
// for output pixel (2 m + p, 2 q + r), p = ki % 2, r = kj % 2. Here each of those nine values is
// its own FMA chain over the input channels in order from zero, reading X at that shifted pixel:
// the very chain `vl_sgemm` runs for the element (K = c within one K block), so col2im's sums,
// from zero in tap order with +0 where a source lies outside the image, give the same bits with
// no col written or read back. One vector holds 16 consecutive pixels of the tile (j = b P +
// m ow + q), a whole row or not: lanes without a row above or a left neighbour are masked.

/// The lanes of one vector of pixels j0 ..< j0 + 16 and where its outputs go. A half-vector's 8
/// pixels become 16 interleaved output floats per output row; the pixels of a half that share an
/// input row (image b, row m) are stored by one masked store at y + at + co channel + p 2 ow
/// (output row 2 m + p), `at` backed up by the run's first lane so that lanes land where the mask
/// lets them. At most 8 runs per half (rows of one pixel), two for rows of 8 or more.
typedef struct {
    __mmask16 valid, left, up, both;  // in the tile; q > 0; m > 0; both
    int runs[2];
    struct {
        long at;
        __mmask16 lanes;
    } run[2][8];
} deconv_lanes;

static void deconv_lanes_at(long j0, long cols, long oh, long ow, vl_planes planes, deconv_lanes *d) {
    const long plane = oh * ow;
    *d = (deconv_lanes){0};
    for (int l = 0; l < 16 && j0 + l < cols; l++) {
        const long j = j0 + l, b = j / plane, m = j % plane / ow, q = j % ow;
        const __mmask16 bit = (__mmask16)(1u << l);
        d->valid |= bit;
        if (q > 0) d->left |= bit;
        if (m > 0) d->up |= bit;
        if (q > 0 && m > 0) d->both |= bit;
        const int h = l / 8, i = l % 8;
        if (i == 0 || q == 0) d->run[h][d->runs[h]++].at = b * planes.image + 4 * m * ow + 2 * q - 2 * i;
        d->run[h][d->runs[h] - 1].lanes |= (__mmask16)(3u << (2 * i));
    }
}

/// Output rows 2 m + p of one channel for a vector of pixels (row = p 2 ow): the even (e) and odd
/// (o) output columns interleaved, bias added, ReLU (NaN -> 0, as col2im), each run stored.
static V4 INLINE void deconv_store(__m512 e, __m512 o, const deconv_lanes *d, float *y, long row, float bias,
                                   int relu) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int h = 0; h < 2; h++) {
        __m512 u = _mm512_add_ps(_mm512_permutex2var_ps(e, h ? hi : lo, o), _mm512_set1_ps(bias));
        if (relu) u = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(u, _mm512_setzero_ps(), _CMP_GT_OQ), u);
        for (int r = 0; r < d->runs[h]; r++) _mm512_mask_storeu_ps(y + d->run[h][r].at + row, d->run[h][r].lanes, u);
    }
}

/// CO (1 or 2) output channels from co for the 16 pixels from j0: nine tap chains each (per input
/// channel k: four loads of X, at shifts 0, 1, ow and ow + 1, and 9 CO broadcast weights of
/// `w` [o, c, 9]), then col2im's sums. `edge`: masked loads, for vectors that would read before
/// the tile or past its end.
static V4 INLINE void deconv_block(int CO, int edge, const float *x, long ldx, long c, long j0, const float *w,
                                   long co, long ow, const deconv_lanes *d, float *y, vl_planes planes,
                                   const float *bias, int relu) {
    __m512 acc[2][9];
    UNROLL for (int g = 0; g < CO; g++) UNROLL for (int t = 0; t < 9; t++) acc[g][t] = _mm512_setzero_ps();
    const float *wc = w + co * c * 9;
    for (long k = 0; k < c; k++) {
        const float *xk = x + k * ldx + j0, *wk = wc + k * 9;
#define TAPS(SHIFT, MASK, ...)                                                                          \
    {                                                                                                   \
        const __m512 b = edge ? _mm512_maskz_loadu_ps(d->MASK, xk - (SHIFT)) : _mm512_loadu_ps(xk - (SHIFT)); \
        const int taps[] = {__VA_ARGS__};                                                               \
        UNROLL for (int g = 0; g < CO; g++) UNROLL for (unsigned i = 0; i < sizeof taps / sizeof *taps; i++) \
            acc[g][taps[i]] = _mm512_fmadd_ps(_mm512_set1_ps(wk[g * c * 9 + taps[i]]), b, acc[g][taps[i]]); \
    }
        TAPS(0, valid, 0, 1, 3, 4)
        TAPS(1, left, 2, 5)
        TAPS(ow, up, 6, 7)
        TAPS(ow + 1, both, 8)
#undef TAPS
    }
    const __m512 z = _mm512_setzero_ps();
    UNROLL for (int g = 0; g < CO; g++) {
        const __m512 *t = acc[g];
        const __m512 ee = _mm512_add_ps(
            _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(z, t[0]), _mm512_maskz_mov_ps(d->left, t[2])),
                          _mm512_maskz_mov_ps(d->up, t[6])),
            _mm512_maskz_mov_ps(d->both, t[8]));
        const __m512 eo = _mm512_add_ps(_mm512_add_ps(z, t[1]), _mm512_maskz_mov_ps(d->up, t[7]));
        const __m512 oe = _mm512_add_ps(_mm512_add_ps(z, t[3]), _mm512_maskz_mov_ps(d->left, t[5]));
        const __m512 oo = _mm512_add_ps(z, t[4]);
        float *yc = y + (co + g) * planes.channel;
        const float bv = bias ? bias[co + g] : 0.0f;
        deconv_store(ee, eo, d, yc, 0, bv, relu);
        deconv_store(oe, oo, d, yc, 2 * ow, bv, relu);
    }
}

/// Vectors of 16 pixels outside (their 4 shifted rows of every input channel stay in L1), pairs
/// of output channels inside: 18 accumulators, 4 loads and 18 broadcasts per 18 FMAs.
static V4 void deconv_sweep(const float *x, long ldx, long n, long c, long o, long oh, long ow, const float *w,
                            const float *bias, int relu, float *y, vl_planes planes) {
    const long cols = n * oh * ow;
    deconv_lanes d;
    for (long j0 = 0; j0 < cols; j0 += 16) {
        deconv_lanes_at(j0, cols, oh, ow, planes, &d);
        const int edge = j0 < ow + 1 || cols - j0 < 16;
        long co = 0;
        for (; co + 2 <= o; co += 2) {
            if (edge) deconv_block(2, 1, x, ldx, c, j0, w, co, ow, &d, y, planes, bias, relu);
            else deconv_block(2, 0, x, ldx, c, j0, w, co, ow, &d, y, planes, bias, relu);
        }
        if (co < o) deconv_block(1, 1, x, ldx, c, j0, w, co, ow, &d, y, planes, bias, relu);
    }
}

int vl_deconv3x3s2_forward(const float *x, long ldx, long n, long c, long o, long oh, long ow, const float *packed,
                           const float *bias, int relu, float *y, vl_planes planes, long kq) {
    if (n < 1 || c < 1 || o < 1 || oh < 1 || ow < 1 || c > kq || !VL_AVX512()) return 0;
    deconv_sweep(x, ldx, n, c, o, oh, ow, packed, bias, relu, y, planes);
    return 1;
}

/// NAME(rounds): rounds x 12 FMAs of VEC (SET1, FMADD: its intrinsics) in 12 independent chains,
/// enough to fill both FMA pipes through their latency: the FLOPs one core can do, for
/// `vl_fma_peak_flops`. Returns lane 0 of the chains' sum, which keeps them all live.
#define FMA_CHAINS(NAME, TARGET, VEC, SET1, FMADD)                                         \
    static TARGET float NAME(long rounds) {                                                \
        VEC acc[12];                                                                       \
        const VEC x = SET1(0.999f), y = SET1(1e-3f);                                       \
        for (int i = 0; i < 12; i++) acc[i] = SET1((float)i);                              \
        for (long r = 0; r < rounds; r++)                                                  \
            for (int i = 0; i < 12; i++) {                                                 \
                acc[i] = FMADD(acc[i], x, y);                                              \
                __asm__("" : "+v"(acc[i])); /* twelve chains in twelve registers, none merged */ \
            }                                                                              \
        float sum = 0;                                                                     \
        for (int i = 0; i < 12; i++) sum += acc[i][0];                                     \
        return sum;                                                                        \
    }
FMA_CHAINS(fma_chains_512, V4, __m512, _mm512_set1_ps, _mm512_fmadd_ps)
FMA_CHAINS(fma_chains_256, __attribute__((target("avx2,fma"))), __m256, _mm256_set1_ps, _mm256_fmadd_ps)

int vl_vector_bits(void) {
    if (VL_AVX512()) return 512;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 256 : 128;
}

double vl_fma_peak_flops(long rounds, float *sink) {
    switch (vl_vector_bits()) {
    case 512: return *sink = fma_chains_512(rounds), 12.0 * 32 * rounds;
    case 256: return *sink = fma_chains_256(rounds), 12.0 * 16 * rounds;
    default: return 0;
    }
}
#else
int vl_sgemm(int trans_a, int trans_b, long m, long n, long k, const float *a, long lda, const float *b, long ldb,
             float beta, float *c, long ldc, long kq, vl_gemm_kernel kernel) {
    (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb;
    (void)beta, (void)c, (void)ldc, (void)kq, (void)kernel;
    return 0;
}

int vl_sgemm_bt(long m, long n, long k, const float *a, long lda, const float *bt, long ldbt, float beta, float *c,
                long ldc, long kq, vl_gemm_kernel kernel) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)bt, (void)ldbt, (void)beta, (void)c, (void)ldc, (void)kq;
    (void)kernel;
    return 0;
}

int vl_deconv3x3s2_forward(const float *x, long ldx, long n, long c, long o, long oh, long ow, const float *packed,
                           const float *bias, int relu, float *y, vl_planes planes, long kq) {
    (void)x, (void)ldx, (void)n, (void)c, (void)o, (void)oh, (void)ow, (void)packed, (void)bias, (void)relu;
    (void)y, (void)planes, (void)kq;
    return 0;
}

double vl_fma_peak_flops(long rounds, float *sink) {
    (void)rounds, (void)sink;
    return 0;
}

int vl_vector_bits(void) { return 0; }
#endif

void vl_deconv3x3s2_pack(const float *weight, long c, long o, float *packed) {
    for (long co = 0; co < o; co++)
        for (long k = 0; k < c; k++) memcpy(packed + (co * c + k) * 9, weight + (k * o + co) * 9, 9 * sizeof(float));
}
