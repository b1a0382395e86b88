#include "nn_kernels.h"
#include <stdint.h>
#include <string.h>

#include "nn_internal.h"

// The nine taps of a 3x3 "same" kernel move a plane by d = (ki - 1) * w + (kj - 1) in flat
// (row-major) index. A shift by kj - 1 = +-1 also wraps the last column of one row onto the first
// of the next: those positions are masked off.
//
// Both passes are small GEMMs over one image's planes with the nine taps as one side, kept in
// registers, and every vector load aligned to its plane (a load across two cache lines costs two):
// - forward: T [9, hw] = W^T [9, c] * X [c, hw] for each output channel (27 accumulators: nine taps
//   x three vectors), then y = b + sum_k shift_k(T_k), the nine shifted reads in one short pass;
// - backward: dy is copied once per image into nine planes, one per tap, already shifted and
//   masked (the im2col of dy, dcol [9, hw]); dW [c, 9] += X * dcol^T takes two input channels at
//   a time, and dX [c, hw] = W [c, 9] * dcol holds two vectors of all nine taps in registers
//   while it sweeps the c channels.

/// The four phases of a plane of 2 oh x 2 ow floats: phases[(2p + q) * phase_stride + m * ow + l]
/// = src[(2m + p) * 2 ow + 2l + q], the stride-2 sampling grids of a 3x3 stride-2 kernel.
VL_INLINE void split_phases(const float *restrict src, long oh, long ow, float *restrict phases,
                            long phase_stride) {
    const long iw = 2 * ow;
    for (long m = 0; m < oh; m++) {
        for (long p = 0; p < 2; p++) {
            const float *row = src + (2 * m + p) * iw;
            float *e = phases + (2 * p) * phase_stride + m * ow, *od = e + phase_stride;
            for (long q = 0; q < ow; q++) { e[q] = row[2 * q]; od[q] = row[2 * q + 1]; }
        }
    }
}

/// p rounded up to a 64-byte boundary (scratch sizes include the 16 floats this may skip).
VL_INLINE float *align64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

VL_INLINE long round16(long n) { return (n + 15) / 16 * 16; }

/// Nine 16-lane partial sums of a weight gradient's taps, to and from their lanes in scratch
/// (the weight-gradient kernels keep two output or input channels' nine in registers at once).
#define LOAD_TAP_LANES(acc, lane) for (int k_ = 0; k_ < 9; k_++) (acc)[k_] = load16((lane) + 16 * k_)
#define STORE_TAP_LANES(lane, acc) for (int k_ = 0; k_ < 9; k_++) store16((lane) + 16 * k_, (acc)[k_])

/// dst[i] += the sum of the 16 lanes of lanes[i], for i < count (a fixed order: the same bits on every clone).
VL_INLINE void add_lane_sums(const float *lanes, long count, float *dst) {
    for (long i = 0; i < count; i++) {
        float s = 0;
        for (int k = 0; k < 16; k++) s += lanes[i * 16 + k];
        dst[i] += s;
    }
}

/// Column masks over n positions of planes w wide: all ones except at column `drop` (and past hw).
VL_INLINE void column_mask(int *mask, long n, long hw, long w, long drop) {
    for (long f = 0, q = 0; f < n; f++, q = q + 1 == w ? 0 : q + 1) mask[f] = (f < hw && q != drop) ? -1 : 0;
}

// The register blocks below keep 16 floats of all nine taps in flight: 18 to 31 vectors, which
// AVX-512's 32 registers hold. AVX2 has 16 registers of 8 floats: there those blocks spill to the
// stack. So without AVX-512 the kernels take narrow blocks (the *8 helpers): 8 floats, and the
// weight gradients five or four taps at a time. Each sum is the same chain of FMAs in the same
// order either way: the same bits.
static _Thread_local int narrow_forced;
void vl_force_narrow_blocks(int on) { narrow_forced = on; }
VL_INLINE int wide_blocks(void) { return VL_AVX512() && !narrow_forced; }

/// A narrow weight-gradient block: lanes[k0 ..< k0 + K] (16 floats each; the pointers offset to
/// the 8 lanes summed here) of two planes, lane0 (stored) and lane1 (stored when pair), += over f <
/// rounded in steps of 16 of a * t_k and b * t_k, with t_k = t[k rounded + f], and a = a2[f] for the
/// taps of kernel column 2 (k % 3 = 2), else a0[f] (b likewise). pf0 and pf1, unless NULL: planes
/// to fetch into the cache meanwhile, a line per step.
VL_INLINE void tap_lanes8(const float *a0, const float *a2, const float *b0, const float *b2, const float *t,
                          long rounded, const int k0, const int K, float *lane0, float *lane1, int pair,
                          const float *pf0, const float *pf1) {
    v8 acc0[5], acc1[5];
    for (int k = 0; k < K; k++) acc0[k] = load8(lane0 + 16 * (k0 + k)), acc1[k] = load8(lane1 + 16 * (k0 + k));
    for (long f = 0; f < rounded; f += 16) {
        if (pf0) __builtin_prefetch(pf0 + f), __builtin_prefetch(pf1 + f);
        const v8 pa0 = load8(a0 + f), pa2 = load8(a2 + f), pb0 = load8(b0 + f), pb2 = load8(b2 + f);
        for (int k = 0; k < K; k++) {
            const v8 tv = load8(t + (k0 + k) * rounded + f);
            acc0[k] += ((k0 + k) % 3 == 2 ? pa2 : pa0) * tv;
            acc1[k] += ((k0 + k) % 3 == 2 ? pb2 : pb0) * tv;
        }
    }
    for (int k = 0; k < K; k++) {
        store8(lane0 + 16 * (k0 + k), acc0[k]);
        if (pair) store8(lane1 + 16 * (k0 + k), acc1[k]);
    }
}

/// tap_lanes8 over all nine taps and both halves of each 16-lane sum (fetching pf0 and pf1 in the first).
VL_INLINE void tap_lanes_narrow(const float *a0, const float *a2, const float *b0, const float *b2, const float *t,
                                long rounded, float *lane0, float *lane1, int pair, const float *pf0,
                                const float *pf1) {
    for (long h = 0; h < 16; h += 8) {
        const float *a0h = a0 + h, *a2h = a2 + h, *b0h = b0 + h, *b2h = b2 + h, *th = t + h;
        tap_lanes8(a0h, a2h, b0h, b2h, th, rounded, 0, 5, lane0 + h, lane1 + h, pair, h ? NULL : pf0, pf1);
        tap_lanes8(a0h, a2h, b0h, b2h, th, rounded, 5, 4, lane0 + h, lane1 + h, pair, NULL, NULL);
    }
}

/// tap_block (below) for one vector of 8 floats: the narrow block.
VL_INLINE void tap_block8(const float *x, long xs, long c, const float *w, long ws, float *t, long ts) {
    v8 acc[9];
    for (int k = 0; k < 9; k++) acc[k] = splat8(0);
    for (long cc = 0; cc < c; cc++) {
        const v8 xv = load8(x + cc * xs);
        const float *wp = w + cc * ws;
        for (int k = 0; k < 9; k++) acc[k] += splat8(wp[k]) * xv;
    }
    for (int k = 0; k < 9; k++) store8(t + k * ts, acc[k]);
}

/// Rows c0 ..< c0 + R (R <= 4) of row_block8: row_block_rows (below) for one vector of 8 floats.
VL_INLINE void row_block_rows8(const v8 gv[9], long c0, const int R, const float *w, long ws, float *out, long os,
                               int accumulate, const float *mask) {
    v8 acc[4];
    for (int r = 0; r < R; r++) acc[r] = accumulate ? load8(out + (c0 + r) * os) : splat8(0);
    for (int k = 0; k < 9; k++)
        for (int r = 0; r < R; r++) acc[r] += gv[k] * w[(c0 + r) * ws + k];
    for (int r = 0; r < R; r++) {
        const long at = (c0 + r) * os;
        if (mask) acc[r] = (v8)((v8i)acc[r] & (load8(mask + at) > splat8(0)));
        store8(out + at, acc[r]);
    }
}

/// row_block (below) for one vector of 8 floats: the narrow block.
VL_INLINE void row_block8(const float *g, long gs, long c, const float *w, long ws, float *out, long os,
                          int accumulate, const float *mask) {
    v8 gv[9];
    for (int k = 0; k < 9; k++) gv[k] = load8(g + k * gs);
    long c0 = 0;
    for (; c0 + 4 <= c; c0 += 4) row_block_rows8(gv, c0, 4, w, ws, out, os, accumulate, mask);
    for (; c0 < c; c0++) row_block_rows8(gv, c0, 1, w, ws, out, os, accumulate, mask);
}

/// t[k * ts + 16 v] = sum over cc < c of w[cc * ws + k] * x[cc * xs + 16 v], for the nine taps k
/// and V (1 to 3) vectors: a 9 x 16V register block of T = W^T X.
VL_INLINE void tap_block(const float *x, long xs, long c, const float *w, long ws, float *t, long ts,
                         const int V) {
    v16 acc[9][3];
    for (int k = 0; k < 9; k++)
        for (int v = 0; v < V; v++) acc[k][v] = splat16(0);
    for (long cc = 0; cc < c; cc++) {
        const float *xp = x + cc * xs, *wp = w + cc * ws;
        v16 xv[3];
        for (int v = 0; v < V; v++) xv[v] = load16(xp + 16 * v);
        for (int k = 0; k < 9; k++) {
            const v16 wk = splat16(wp[k]);
            for (int v = 0; v < V; v++) acc[k][v] += wk * xv[v];
        }
    }
    for (int k = 0; k < 9; k++)
        for (int v = 0; v < V; v++) store16(t + k * ts + 16 * v, acc[k][v]);
}

/// Rows c0 ..< c0 + R (R <= 4) of row_block below, from the nine taps' V vectors gv: R V sums in
/// flight (one alone would wait on each FMA's latency), each summing its nine taps in order. Each
/// weight is broadcast as it is (splat16's add would turn a -0.0 weight into +0.0: a separate uop).
VL_INLINE void row_block_rows(const v16 gv[9][2], long c0, const int R, const float *w, long ws, float *out,
                              long os, int accumulate, const float *mask, const int V) {
    v16 acc[4][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = accumulate ? load16(out + (c0 + r) * os + 16 * v) : splat16(0);
    for (int k = 0; k < 9; k++) {
        for (int r = 0; r < R; r++) {
            const float wk = w[(c0 + r) * ws + k];
            for (int v = 0; v < V; v++) acc[r][v] += gv[k][v] * wk;
        }
    }
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < V; v++) {
            const long at = (c0 + r) * os + 16 * v;
            if (mask) acc[r][v] = (v16)((v16i)acc[r][v] & (load16(mask + at) > splat16(0)));
            store16(out + at, acc[r][v]);
        }
    }
}

/// out[cc * os + 16 v] (+= when accumulate) = sum over k of w[cc * ws + k] * g[k * gs + 16 v], for
/// cc < c and V (1 or 2) vectors: the nine taps' V vectors of g stay in registers for all c rows,
/// four at a time. With mask, each result is then multiplied by (mask[cc * os + 16 v] > 0).
VL_INLINE void row_block(const float *g, long gs, long c, const float *w, long ws, float *out, long os,
                         int accumulate, const float *mask, const int V) {
    v16 gv[9][2];
    for (int k = 0; k < 9; k++)
        for (int v = 0; v < V; v++) gv[k][v] = load16(g + k * gs + 16 * v);
    long c0 = 0;
    for (; c0 + 4 <= c; c0 += 4) row_block_rows(gv, c0, 4, w, ws, out, os, accumulate, mask, V);
    for (; c0 < c; c0++) row_block_rows(gv, c0, 1, w, ws, out, os, accumulate, mask, V);
}

/// The forward pass's scratch: nine zero-guarded tap planes, two column masks, a tail block.
typedef struct { long hw, full, rounded, guard, stride; } tap_layout;

VL_INLINE tap_layout tap_planes_layout(long h, long w) {
    tap_layout l;
    l.hw = h * w;
    l.full = l.hw / 16 * 16;  // positions in whole vectors; the rest go through a zero-padded tail
    l.rounded = round16(l.hw);
    l.guard = round16(w + 1);
    l.stride = l.guard + l.rounded + l.guard;
    return l;
}

size_t vl_deconv3x3s1_scratch(long c, long o, long h, long w) {
    const tap_layout t = tap_planes_layout(h, w);
    const long forward = 9 * t.stride + 2 * t.rounded + 16 * c + 16;
    const long backward = 9 * o * t.rounded + 4 * t.rounded + 16 * c + c * o * 9 * 16;
    return (size_t)(16 + (forward > backward ? forward : backward));
}

VL_CLONES
void vl_deconv3x3s1_forward(const float *x, long n, long c, long o, long h, long w,
                            const float *weight, const float *bias, int relu, float *y, float *scratch) {
    const tap_layout l = tap_planes_layout(h, w);
    const int wide = wide_blocks();
    float *taps = align64(scratch), *tail = taps + 9 * l.stride, *tmp = tail + 16 * c;
    int *m0 = (int *)(tmp + 16), *m2 = m0 + l.rounded;
    column_mask(m0, l.rounded, l.hw, w, w - 1);  // T(ki, 0) lands one column left: wrapped at Q = w - 1
    column_mask(m2, l.rounded, l.hw, w, 0);      // T(ki, 2) lands one column right: wrapped at Q = 0
    memset(taps, 0, (size_t)(9 * l.stride) * sizeof(float));  // the guards stay zero
    memset(tail, 0, (size_t)(16 * c) * sizeof(float));
    for (long b = 0; b < n; b++) {
        const float *xb = x + b * c * l.hw;
        for (long cc = 0; cc < c && l.full < l.hw; cc++)
            memcpy(tail + 16 * cc, xb + cc * l.hw + l.full, (size_t)(l.hw - l.full) * sizeof(float));
        for (long oo = 0; oo < o; oo++) {
            // T [9, hw] = W^T X, where W^T [k, cc] = weight[(cc * o + oo) * 9 + k]
            const float *wo = weight + oo * 9;
            float *t = taps + l.guard;
            long f = 0;
            if (wide) {
                for (; f + 48 <= l.full; f += 48) tap_block(xb + f, l.hw, c, wo, 9 * o, t + f, l.stride, 3);
                for (; f < l.full; f += 16) tap_block(xb + f, l.hw, c, wo, 9 * o, t + f, l.stride, 1);
                if (f < l.hw) tap_block(tail, 16, c, wo, 9 * o, t + f, l.stride, 1);
            } else {
                for (; f < l.full; f += 8) tap_block8(xb + f, l.hw, c, wo, 9 * o, t + f, l.stride);
                for (long h = 0; f < l.hw && h < 16; h += 8) tap_block8(tail + h, 16, c, wo, 9 * o, t + f + h, l.stride);
            }
            // y[P, Q] = b + sum w[ki, kj] x[P - ki + 1, Q - kj + 1] = b + sum_k T_k[f - d_k]
            const float bv = bias ? bias[oo] : 0.0f;
            float *out = y + (b * o + oo) * l.hw;
            for (f = 0; f < l.hw; f += 16) {
                v16 r = splat16(bv);
                for (long ki = 0; ki < 3; ki++) {
                    const float *s = t + ki * 3 * l.stride + f - (ki - 1) * w;
                    r += load16(s + l.stride);
                    r += (v16)((v16i)load16(s + 1) & load16i(m0 + f));
                    r += (v16)((v16i)load16(s + 2 * l.stride - 1) & load16i(m2 + f));
                }
                if (relu) r = (v16)((v16i)r & (r > splat16(0)));
                if (f + 16 <= l.hw) {
                    store16(out + f, r);
                } else {
                    store16(tmp, r);
                    memcpy(out + f, tmp, (size_t)(l.hw - f) * sizeof(float));
                }
            }
        }
    }
}

/// The nine shifted, masked copies of each of o planes: dcol[(p * 9 + 3 ki + kj) * rounded + f] =
/// src[p * hw + f + (ki - 1) w + kj - 1] where that lies in the plane and in the same row, else 0.
VL_INLINE void shifted_taps(const float *src, long o, long w, tap_layout l, const int *m0, const int *m2,
                            float *dcol) {
    for (long p = 0; p < o; p++) {
        for (long k = 0; k < 9; k++) {
            const long d = (k / 3 - 1) * w + (k % 3 - 1);
            long lo = d < 0 ? -d : 0, hi = l.hw - d < l.rounded ? l.hw - d : l.rounded;
            if (lo > l.rounded) lo = l.rounded;
            if (hi < lo) hi = lo;
            float *s = dcol + (p * 9 + k) * l.rounded;
            memset(s, 0, (size_t)lo * sizeof(float));
            memcpy(s + lo, src + p * l.hw + lo + d, (size_t)(hi - lo) * sizeof(float));
            memset(s + hi, 0, (size_t)(l.rounded - hi) * sizeof(float));
            const int *m = k % 3 == 0 ? m0 : k % 3 == 2 ? m2 : NULL;
            for (long f = 0; m && f < l.rounded; f += 16) store16(s + f, (v16)((v16i)load16(s + f) & load16i(m + f)));
        }
    }
}

VL_CLONES
void vl_deconv3x3s1_backward(const float *x, const float *dy, long n, long c, long o, long h, long w,
                             const float *weight, float *dweight, float *dx, int mask_dx, int tile, float *scratch) {
    const tap_layout l = tap_planes_layout(h, w);
    const int wide = wide_blocks();
    float *dcol = align64(scratch), *xz = dcol + 9 * o * l.rounded;  // two x planes with zero tails
    int *m0 = (int *)(xz + 2 * l.rounded), *m2 = m0 + l.rounded;
    float *tail = (float *)(m2 + l.rounded), *lanes = tail + 16 * c;
    // A tap one column left (kj = 0) wraps at column 0, one right (kj = 2) at column w - 1.
    column_mask(m0, l.rounded, l.hw, w, 0);
    column_mask(m2, l.rounded, l.hw, w, w - 1);
    if (tile & VL_TILE_FIRST) memset(lanes, 0, (size_t)(c * o * 9 * 16) * sizeof(float));
    memset(xz, 0, (size_t)(2 * l.rounded) * sizeof(float));
    for (long b = 0; b < n; b++) {
        shifted_taps(dy + b * o * l.hw, o, w, l, m0, m2, dcol);
        // dW[cc, oo, k] += sum_f x[cc, f] * dcol[oo, k, f], input channels two at a time (each dcol
        // vector loaded once for both); x's zero tail ends the sums.
        for (long c0 = 0; c0 < c; c0 += 2) {
            const int pair = c0 + 1 < c;
            const float *x0 = x + (b * c + c0) * l.hw, *x1 = x0 + (pair ? l.hw : 0);
            if (l.rounded != l.hw) {
                memcpy(xz, x0, (size_t)l.hw * sizeof(float));
                memcpy(xz + l.rounded, x1, (size_t)l.hw * sizeof(float));
                x0 = xz, x1 = xz + l.rounded;
            }
            for (long oo = 0; oo < o; oo++) {
                const float *s = dcol + oo * 9 * l.rounded;
                float *lane0 = lanes + (c0 * o + oo) * 9 * 16, *lane1 = lanes + ((c0 + pair) * o + oo) * 9 * 16;
                if (!wide) {
                    tap_lanes_narrow(x0, x0, x1, x1, s, l.rounded, lane0, lane1, pair, x0 + 4 * l.hw, x1 + 4 * l.hw);
                    continue;
                }
                v16 acc0[9], acc1[9];
                LOAD_TAP_LANES(acc0, lane0);
                LOAD_TAP_LANES(acc1, lane1);
                for (long f = 0; f < l.rounded; f += 16) {
                    // x comes from memory in a training step: fetch the planes two pairs on (past x's
                    // end for the last pairs: a prefetch never faults)
                    __builtin_prefetch(x0 + 4 * l.hw + f);
                    __builtin_prefetch(x1 + 4 * l.hw + f);
                    const v16 p = load16(x0 + f), q = load16(x1 + f);
                    for (int k = 0; k < 9; k++) {
                        const v16 g = load16(s + k * l.rounded + f);
                        acc0[k] += p * g;
                        acc1[k] += q * g;
                    }
                }
                STORE_TAP_LANES(lane0, acc0);
                if (pair) STORE_TAP_LANES(lane1, acc1);
            }
        }
        if (!dx) continue;
        // dX [c, hw] = sum over oo of W_oo [c, 9] * dcol_oo [9, hw], where W_oo [cc, k] = weight[(cc * o + oo) * 9 + k]
        // (times (x > 0) after the last output channel, when mask_dx: while x is still in cache)
        float *dxb = dx + b * c * l.hw;
        const float *xb = x + b * c * l.hw;
        for (long oo = 0; oo < o; oo++) {
            const float *s = dcol + oo * 9 * l.rounded, *wo = weight + oo * 9;
            const float *mask = mask_dx && oo == o - 1 ? xb : NULL;
            long f = 0;
            if (wide) {
                for (; f + 32 <= l.full; f += 32)
                    row_block(s + f, l.rounded, c, wo, 9 * o, dxb + f, l.hw, oo > 0, mask ? mask + f : NULL, 2);
                for (; f < l.full; f += 16)
                    row_block(s + f, l.rounded, c, wo, 9 * o, dxb + f, l.hw, oo > 0, mask ? mask + f : NULL, 1);
                if (f < l.hw) row_block(s + f, l.rounded, c, wo, 9 * o, tail, 16, oo > 0, NULL, 1);
            } else {
                for (; f < l.full; f += 8)
                    row_block8(s + f, l.rounded, c, wo, 9 * o, dxb + f, l.hw, oo > 0, mask ? mask + f : NULL);
                for (long h = 0; f < l.hw && h < 16; h += 8)
                    row_block8(s + f + h, l.rounded, c, wo, 9 * o, tail + h, 16, oo > 0, NULL);
            }
        }
        for (long cc = 0; cc < c; cc++) {
            for (long f = l.full; f < l.hw; f++) {
                const float v = tail[16 * cc + f - l.full];
                dxb[cc * l.hw + f] = mask_dx && !(xb[cc * l.hw + f] > 0) ? 0.0f : v;
            }
        }
    }
    if (tile & VL_TILE_LAST) add_lane_sums(lanes, c * o * 9, dweight);
}

// --- 3x3 stride-2 convolution, direct -------------------------------------------------------
//
// The input plane is split into its four phases ph[p][q][m][l] = x[2m + p][2l + q]; tap (ki, kj)
// reads phase (ki % 2, kj % 2) shifted by ki / 2 rows and kj / 2 columns in flat index. Rows past
// the plane read the zero guard after each phase; the one-column shift (kj = 2) wraps column
// ow - 1 onto the next row and accumulates separately, masked at that column.

#define VL_S2_CHUNK 32

typedef struct { long plane, rounded, stride; } s2_layout;

VL_INLINE s2_layout s2_plane_layout(long oh, long ow) {
    s2_layout l;
    l.plane = oh * ow;
    l.rounded = (l.plane + VL_S2_CHUNK - 1) / VL_S2_CHUNK * VL_S2_CHUNK;
    l.stride = l.rounded + ow + 16;
    return l;
}

/// The backward pass's layout, the larger: phases, 16 floats of alignment, nine tap planes per
/// channel, four dy planes and the column mask, then the weight and bias lanes (the forward pass
/// uses the phases and the mask).
size_t vl_conv3x3s2_scratch(long c, long o, long oh, long ow) {
    s2_layout l = s2_plane_layout(oh, ow);
    return (size_t)(4 * c * l.stride + 16 + 9 * c * l.rounded + 5 * l.rounded + o * c * 9 * 16 + o * 16);
}

/// The four zero-guarded phases of each of the c planes of one image.
VL_INLINE void s2_phases(const float *x, long c, long oh, long ow, s2_layout l, float *phases) {
    for (long cc = 0; cc < c; cc++) {
        float *ph = phases + cc * 4 * l.stride;
        split_phases(x + cc * 4 * l.plane, oh, ow, ph, l.stride);
        for (long k = 0; k < 4; k++) memset(ph + k * l.stride + l.plane, 0, (size_t)(l.stride - l.plane) * sizeof(float));
    }
}

/// Output channels oo ..< oo + R (R <= 2) over the chunk of VL_S2_CHUNK pixels at f0 of one image's
/// planes: R x 2 vectors of sums in flight (one channel alone waits on its FMAs' latency), each
/// summed as bias + taps in (input channel, ki) order, the kernel's third column apart and masked.
VL_INLINE void s2_forward_chunk(const float *phases, s2_layout l, long c, long ow, const float *weight,
                                const float *bias, int relu, const int *keep, long oo, const int R, long f0,
                                float *y) {
    v16 a0[2][2], a1[2][2];
    for (int r = 0; r < R; r++) {
        const float bv = bias ? bias[oo + r] : 0.0f;
        a0[r][0] = a0[r][1] = splat16(bv), a1[r][0] = a1[r][1] = splat16(0);
    }
    for (long cc = 0; cc < c; cc++) {
        const float *ph = phases + cc * 4 * l.stride + f0;
        for (long ki = 0; ki < 3; ki++) {
            const float *e = ph + (2 * (ki % 2)) * l.stride + (ki / 2) * ow;
            const float *od = ph + (2 * (ki % 2) + 1) * l.stride + (ki / 2) * ow;
            const v16 ev[2] = {load16(e), load16(e + 16)}, ov[2] = {load16(od), load16(od + 16)};
            const v16 sv[2] = {load16(e + 1), load16(e + 17)};
            for (int r = 0; r < R; r++) {
                const float *wp = weight + ((oo + r) * c + cc) * 9 + ki * 3;
                const v16 w0 = splat16(wp[0]), w1 = splat16(wp[1]), w2 = splat16(wp[2]);
                for (int v = 0; v < 2; v++) {
                    a0[r][v] += w0 * ev[v] + w1 * ov[v];
                    a1[r][v] += w2 * sv[v];
                }
            }
        }
    }
    for (int r = 0; r < R; r++) {
        float *out = y + (oo + r) * l.plane;
        for (int v = 0; v < 2; v++) {
            v16 sum = a0[r][v] + (v16)((v16i)a1[r][v] & load16i(keep + f0 + 16 * v));
            if (relu) sum = (v16)((v16i)sum & (sum > splat16(0)));
            const long f = f0 + 16 * v;
            if (f + 16 <= l.plane) store16(out + f, sum);
            else if (f < l.plane) STORE_EXACT(out + f, sum, l.plane - f);
        }
    }
}

VL_CLONES
void vl_conv3x3s2_forward(const float *x, long n, long c, long o, long oh, long ow,
                          const float *weight, const float *bias, int relu, float *y, float *scratch) {
    const s2_layout l = s2_plane_layout(oh, ow);
    float *phases = scratch;
    int *keep = (int *)(scratch + 4 * c * l.stride);
    column_mask(keep, l.rounded, l.rounded, ow, ow - 1);
    const int wide = wide_blocks();  // two channels at a time where 32 registers hold their 8 sums
    for (long b = 0; b < n; b++) {
        s2_phases(x + b * c * 4 * l.plane, c, oh, ow, l, phases);
        float *image = y + b * o * l.plane;
        for (long f0 = 0; f0 < l.plane; f0 += VL_S2_CHUNK) {
            long oo = 0;
            if (wide)
                for (; oo + 2 <= o; oo += 2) s2_forward_chunk(phases, l, c, ow, weight, bias, relu, keep, oo, 2, f0, image);
            for (; oo < o; oo++) s2_forward_chunk(phases, l, c, ow, weight, bias, relu, keep, oo, 1, f0, image);
        }
    }
}

VL_CLONES
void vl_conv3x3s2_backward_weight(const float *x, const float *dy, const float *y, long n, long c, long o,
                                  long oh, long ow, float *dweight, float *dbias, int tile, float *scratch) {
    const s2_layout l = s2_plane_layout(oh, ow);
    const int wide = wide_blocks();
    // Per image: the phases, then each tap's (shifted) phase copied to its own 64-byte-aligned
    // plane, read by every output channel; output channels two at a time share those loads.
    float *phases = scratch, *taps = align64(scratch + 4 * c * l.stride), *g = taps + 9 * c * l.rounded;
    int *keep = (int *)(g + 4 * l.rounded);
    float *lanes = (float *)(keep + l.rounded), *blanes = lanes + o * c * 9 * 16;
    column_mask(keep, l.rounded, l.rounded, ow, ow - 1);
    if (tile & VL_TILE_FIRST) memset(lanes, 0, (size_t)(o * c * 9 * 16 + o * 16) * sizeof(float));
    memset(g, 0, (size_t)(4 * l.rounded) * sizeof(float));
    for (long b = 0; b < n; b++) {
        s2_phases(x + b * c * 4 * l.plane, c, oh, ow, l, phases);
        for (long cc = 0; cc < c; cc++) {
            const float *ph = phases + cc * 4 * l.stride;
            for (long k = 0; k < 9; k++) {
                // tap (ki, kj): phase (ki % 2, kj % 2), ki / 2 rows and kj / 2 columns on
                const long ki = k / 3, kj = k % 3;
                memcpy(taps + (cc * 9 + k) * l.rounded, ph + (2 * (ki % 2) + kj % 2) * l.stride + (ki / 2) * ow + kj / 2,
                       (size_t)l.rounded * sizeof(float));
            }
        }
        for (long o0 = 0; o0 < o; o0 += 2) {
            const long pair = o0 + 1 < o;
            for (long j = 0; j <= pair; j++) {
                // g0 = dy (masked by the ReLU), g1 = g0 without column ow - 1 (what kj = 2 meets)
                const long oo = o0 + j;
                float *g0 = g + 2 * j * l.rounded, *g1 = g0 + l.rounded;
                const float *gp = dy + (b * o + oo) * l.plane;
                if (y) {
                    const float *yp = y + (b * o + oo) * l.plane;
                    for (long f = 0; f < l.plane; f++) g0[f] = yp[f] > 0 ? gp[f] : 0.0f;
                } else {
                    memcpy(g0, gp, (size_t)l.plane * sizeof(float));
                }
                v16 bacc = load16(blanes + 16 * oo);
                for (long f = 0; f < l.rounded; f += 16) {
                    const v16 v = load16(g0 + f);
                    bacc += v;
                    store16(g1 + f, (v16)((v16i)v & load16i(keep + f)));
                }
                store16(blanes + 16 * oo, bacc);
            }
            const float *ga0 = g, *ga1 = g + l.rounded, *gb0 = g + 2 * l.rounded, *gb1 = g + 3 * l.rounded;
            for (long cc = 0; cc < c; cc++) {
                const float *t = taps + cc * 9 * l.rounded;
                float *lane0 = lanes + (o0 * c + cc) * 9 * 16, *lane1 = lanes + ((o0 + pair) * c + cc) * 9 * 16;
                if (!wide) {
                    tap_lanes_narrow(ga0, ga1, gb0, gb1, t, l.rounded, lane0, lane1, pair, NULL, NULL);
                    continue;
                }
                v16 acc0[9], acc1[9];
                LOAD_TAP_LANES(acc0, lane0);
                LOAD_TAP_LANES(acc1, lane1);
                for (long f = 0; f < l.rounded; f += 16) {
                    const v16 a0 = load16(ga0 + f), a1 = load16(ga1 + f), b0 = load16(gb0 + f), b1 = load16(gb1 + f);
                    for (int k = 0; k < 9; k++) {
                        const v16 tv = load16(t + k * l.rounded + f);
                        acc0[k] += (k % 3 == 2 ? a1 : a0) * tv;
                        acc1[k] += (k % 3 == 2 ? b1 : b0) * tv;
                    }
                }
                STORE_TAP_LANES(lane0, acc0);
                if (pair) STORE_TAP_LANES(lane1, acc1);
            }
        }
    }
    if (!(tile & VL_TILE_LAST)) return;
    add_lane_sums(lanes, o * c * 9, dweight);
    add_lane_sums(blanes, o, dbias);
}
