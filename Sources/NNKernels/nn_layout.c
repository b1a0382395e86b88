#include "nn_kernels.h"
#include <string.h>

#include "nn_internal.h"

// The fast paths' geometry: 3x3, stride 2, no leading padding, rows of up to 16 output pixels.
VL_INLINE int stride2_fast(const vl_geometry *g) {
    return g->kernel == 3 && g->stride == 2 && g->pad_top == 0 && g->pad_left == 0
        && g->in_h == 2 * g->out_h && g->in_w == 2 * g->out_w && g->out_w <= 16;
}

size_t vl_layout_scratch(const vl_geometry *g) {
    return (size_t)(g->in_h * g->in_w);  // one masked input plane
}

// The sum in 16 lanes, combined in a fixed order (the same bits on every clone).
VL_INLINE float sum16(const float *p, long count) {
    float lanes[16] = {0};
    long i = 0;
    for (; i + 16 <= count; i += 16)
        for (int k = 0; k < 16; k++) lanes[k] += p[i + k];
    float total = 0;
    for (int k = 0; k < 16; k++) total += lanes[k];
    for (; i < count; i++) total += p[i];
    return total;
}

VL_CLONES
float vl_sum(const float *p, long count) { return sum16(p, count); }

VL_INLINE void relu_mask(const float *restrict y, const float *restrict dy, float *restrict dx, long count) {
    for (long i = 0; i < count; i++) dx[i] = y[i] > 0 ? dy[i] : 0.0f;
}

VL_CLONES
void vl_relu_backward(const float *y, const float *dy, float *dx, long count) { relu_mask(y, dy, dx, count); }

VL_CLONES
void vl_relu_mask_rows(const float *y, long ldy, float *g, long ldg, long rows, long cols) {
    for (long r = 0; r < rows; r++) {
        const float *restrict yr = y + r * ldy;
        float *restrict gr = g + r * ldg;
        for (long j = 0; j < cols; j++) gr[j] = yr[j] > 0 ? gr[j] : 0.0f;
    }
}

// For kernel column kj, the output columns [lo, hi) whose input column lies inside the image.
VL_INLINE void column_span(const vl_geometry *g, long kj, long *lo, long *hi) {
    long a = (g->pad_left - kj + g->stride - 1) / g->stride;
    if (g->pad_left - kj + g->stride - 1 < 0) a = 0;  // C division truncates toward zero
    *lo = a > 0 ? a : 0;
    long b = (g->in_w - 1 + g->pad_left - kj) / g->stride + 1;
    if (g->in_w - 1 + g->pad_left - kj < 0) b = 0;
    *hi = b < g->out_w ? b : g->out_w;
}

// The i-th of n x C planes in memory order (image b, channel c): the axis with the larger stride
// outside, so that a tile's planes are visited in the order they lie (channel-major: each
// channel's images side by side). Each plane's work is independent of the others', and a
// channel's sums run over its images in order either way: the same bits in either order.
VL_INLINE long plane_image(vl_planes planes, long n, long channels, long i) {
    return planes.channel > planes.image ? i % n : i / channels;
}
VL_INLINE long plane_channel(vl_planes planes, long n, long channels, long i) {
    return planes.channel > planes.image ? i / n : i % channels;
}
// Where the i-th plane starts, in floats.
VL_INLINE long plane_offset(vl_planes planes, long n, long channels, long i) {
    return plane_image(planes, n, channels, i) * planes.image + plane_channel(planes, n, channels, i) * planes.channel;
}

// --- im2col ---------------------------------------------------------------------------------

// Whole vectors are stored at row offsets that are not multiples of 16: each store may run past
// the values it owns into floats that a later store of the same pass writes. Where nothing later
// writes them (the end of a col row or of the output), STORE_EXACT writes only its n lanes.

// The nine rows of one channel plane of 2 oh x 2 ow pixels (ow <= 16) for a 3x3 stride-2 kernel
// with no leading padding, straight from the input rows: row (ki, kj)[m ow + l] = x[2m + ki][2l + kj],
// 0 past the edge. Input row r = 2m + p, split into its even (e), odd (o) and next-even (e1)
// columns, is row (p, kj) at m and, when p = 0, row (2, kj) at m - 1. Columns [0, end) of the col
// rows from dst0 on may be written (beyond that, only exactly); input past `limit` is not read.
VL_INLINE void im2col_plane_stride2(const float *restrict src, long oh, long ow, float *restrict dst0, long cols,
                                    long end, const float *limit) {
    const long iw = 2 * ow, lanes = ow <= 8 ? 8 : 16;
    v16i last;  // e1's lane ow - 1 is column 2 ow: past the edge
    for (int l = 0; l < 16; l++) last[l] = l < ow - 1 ? -1 : 0;
    float *d[9];
    for (int k = 0; k < 9; k++) d[k] = dst0 + k * cols;
    float padded[32];
    for (long r = 0; r < 2 * oh; r++) {
        const float *row = src + r * iw;
        if (row + 32 > limit) {  // the two loads below would read past it
            memset(padded, 0, sizeof padded);
            memcpy(padded, row, (size_t)iw * sizeof(float));
            row = padded;
        }
        const v16 a = load16(row), b = load16(row + 16);
        const v16 e = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const v16 o = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        const v16 e1 = (v16)(
            (v16i)__builtin_shufflevector(a, b, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 0) & last);
        const v16 taps[3] = {e, o, e1};
        const long m = r / 2, p = r % 2;
        for (long ki = p; ki <= 2; ki += 2) {
            if (ki == 2 && m == 0) break;
            const long at = (m - ki / 2) * ow;
            for (int kj = 0; kj < 3; kj++) {
                float *t = d[3 * ki + kj] + at;
                if (at + lanes > end) STORE_EXACT(t, taps[kj], ow);
                else if (lanes == 8) store8(t, __builtin_shufflevector(taps[kj], taps[kj], 0, 1, 2, 3, 4, 5, 6, 7));
                else store16(t, taps[kj]);
            }
        }
    }
    for (int kj = 0; kj < 3; kj++) memset(d[6 + kj] + (oh - 1) * ow, 0, (size_t)ow * sizeof(float));
}

VL_INLINE void im2col_plane_general(const float *restrict src, const vl_geometry *g, float *restrict dst0,
                                    long cols) {
    const long k = g->kernel, s = g->stride, oh = g->out_h, ow = g->out_w, ih = g->in_h, iw = g->in_w;
    for (long ki = 0; ki < k; ki++) {
        for (long kj = 0; kj < k; kj++) {
            long lo, hi;
            column_span(g, kj, &lo, &hi);
            float *dst = dst0 + (ki * k + kj) * cols;
            for (long y = 0; y < oh; y++) {
                float *d = dst + y * ow;
                const long iy = y * s - g->pad_top + ki;
                if (iy < 0 || iy >= ih || lo >= hi) { memset(d, 0, (size_t)ow * sizeof(float)); continue; }
                const float *row = src + iy * iw - g->pad_left + kj;
                for (long xo = 0; xo < lo; xo++) d[xo] = 0;
                if (s == 1) {
                    memcpy(d + lo, row + lo, (size_t)(hi - lo) * sizeof(float));
                } else {
                    for (long xo = lo; xo < hi; xo++) d[xo] = row[xo * s];
                }
                for (long xo = hi; xo < ow; xo++) d[xo] = 0;
            }
        }
    }
}

VL_CLONES
void vl_im2col(const float *x, long n, const vl_geometry *g, vl_planes planes, float *col,
               const float *mask_y, float *bias_grad, float *scratch) {
    const long in_plane = g->in_h * g->in_w, plane = g->out_h * g->out_w, cols = n * plane;
    const long kk = g->kernel * g->kernel;
    const int fast = stride2_fast(g);
    const float *end = x + (n - 1) * planes.image + (g->channels - 1) * planes.channel + in_plane;
    for (long i = 0; i < n * g->channels; i++) {
        const long b = plane_image(planes, n, g->channels, i), c = plane_channel(planes, n, g->channels, i);
        const long at = plane_offset(planes, n, g->channels, i);
        const float *src = x + at, *limit = end;
        if (mask_y) {
            relu_mask(mask_y + at, src, scratch, in_plane);
            src = scratch;
            limit = scratch + in_plane;
        }
        if (bias_grad) bias_grad[c] += sum16(src, in_plane);
        float *dst = col + c * kk * cols + b * plane;
        // col rows run through the images in order: past this image's columns, a later one writes
        if (fast) im2col_plane_stride2(src, g->out_h, g->out_w, dst, cols, cols - b * plane, limit);
        else im2col_plane_general(src, g, dst, cols);
    }
}

// --- col2im ---------------------------------------------------------------------------------

VL_INLINE void finish_plane(float *restrict d, long count, float bias, int relu) {
    if (relu) {
        for (long i = 0; i < count; i++) { float v = d[i] + bias; d[i] = v > 0 ? v : 0.0f; }
    } else if (bias != 0) {
        for (long i = 0; i < count; i++) d[i] += bias;
    }
}

// v + bias, then max(., 0) when relu (NaN -> 0, as `relu_mask`). A macro: see nn_internal.h.
#define BIAS_RELU16(v, bias, relu)                            \
    ({                                                        \
        const v16 u_ = (v) + splat16(bias);                   \
        (relu) ? (v16)((v16i)u_ & (u_ > splat16(0))) : u_;    \
    })

// The adjoint of im2col_plane_stride2, straight into the output rows. Output pixel (2m + p, 2l + q)
// is phase (p, q) at (m, l): the sum, from zero and in tap order, of col rows (ki, kj) with
// ki % 2 = p and kj % 2 = q, row (ki, kj) read ki / 2 rows and kj / 2 columns back. Reads before
// a row's start are masked to +0, which leaves the sum unchanged (a sum that starts at +0 is
// never -0). Then bias and ReLU, and the two phases of each output row interleaved. The loads
// read up to 16 floats past the last image's columns (past col's end: `Tensor` storage has room).
// `room` floats past the plane are written later in the pass: rows whose whole vectors would run
// further are stored exactly.
VL_INLINE void col2im_plane_stride2(const float *restrict src0, long cols, const vl_geometry *g,
                                    float *restrict dst, float bias, int relu, long room) {
    const long oh = g->out_h, ow = g->out_w, iw = g->in_w, width = ow <= 8 ? 16 : 32;
    const long reach = 2 * oh * iw + room;  // rows r with r iw + width <= reach are stored whole
    const long r_exact = reach >= width ? (reach - width) / iw + 1 : 0;
    const float *t0 = src0, *t1 = t0 + cols, *t2 = t1 + cols, *t3 = t2 + cols, *t4 = t3 + cols;
    const float *t5 = t4 + cols, *t6 = t5 + cols, *t7 = t6 + cols, *t8 = t7 + cols;
    v16i col_ok;  // l > 0
    for (int l = 0; l < 16; l++) col_ok[l] = l > 0 ? -1 : 0;
    const v16 zero = {0};
    for (long m = 0; m < oh; m++) {
        const long f = m * ow;
        const v16i row_ok = (v16i){0} + (m > 0 ? -1 : 0), both = col_ok & row_ok;
        const v16 ee = (((zero + load16(t0 + f)) + (v16)(load16i(t2 + f - 1) & col_ok))
                        + (v16)(load16i(t6 + f - ow) & row_ok)) + (v16)(load16i(t8 + f - ow - 1) & both);
        const v16 eo = (zero + load16(t1 + f)) + (v16)(load16i(t7 + f - ow) & row_ok);
        const v16 oe = (zero + load16(t3 + f)) + (v16)(load16i(t5 + f - 1) & col_ok);
        const v16 oo = zero + load16(t4 + f);
        for (long p = 0; p < 2; p++) {
            const v16 e = p ? oe : ee, o = p ? oo : eo;
            const v16 lo = BIAS_RELU16(
                __builtin_shufflevector(e, o, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), bias, relu);
            const v16 hi = BIAS_RELU16(
                __builtin_shufflevector(e, o, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), bias,
                relu);
            float *row = dst + (2 * m + p) * iw;
            const int whole = 2 * m + p < r_exact;
            if (ow > 8) {
                store16(row, lo);
                if (whole) store16(row + 16, hi);
                else STORE_EXACT(row + 16, hi, iw - 16);
            } else if (whole) {
                store16(row, lo);
            } else {
                STORE_EXACT(row, lo, iw);
            }
        }
    }
}

VL_INLINE void col2im_plane_general(const float *restrict src0, long cols, const vl_geometry *g,
                                    float *restrict dst, int accumulate, float bias, int relu) {
    const long k = g->kernel, s = g->stride, oh = g->out_h, ow = g->out_w, ih = g->in_h, iw = g->in_w;
    if (!accumulate) memset(dst, 0, (size_t)(ih * iw) * sizeof(float));
    for (long ki = 0; ki < k; ki++) {
        for (long kj = 0; kj < k; kj++) {
            long lo, hi;
            column_span(g, kj, &lo, &hi);
            if (lo >= hi) continue;
            const float *src = src0 + (ki * k + kj) * cols;
            for (long y = 0; y < oh; y++) {
                const long iy = y * s - g->pad_top + ki;
                if (iy < 0 || iy >= ih) continue;
                const float *r = src + y * ow;
                float *row = dst + iy * iw - g->pad_left + kj;
                if (s == 1) {
                    for (long xo = lo; xo < hi; xo++) row[xo] += r[xo];
                } else {
                    for (long xo = lo; xo < hi; xo++) row[xo * s] += r[xo];
                }
            }
        }
    }
    if (!accumulate) finish_plane(dst, ih * iw, bias, relu);
}

VL_CLONES
void vl_col2im(const float *col, long n, const vl_geometry *g, float *x, vl_planes planes, int accumulate,
               const float *bias, int relu) {
    const long in_plane = g->in_h * g->in_w, plane = g->out_h * g->out_w, cols = n * plane;
    const long kk = g->kernel * g->kernel, count = n * g->channels;
    const int fast = stride2_fast(g) && !accumulate;
    for (long i = 0; i < count; i++) {
        const long b = plane_image(planes, n, g->channels, i), c = plane_channel(planes, n, g->channels, i);
        const float *src = col + c * kk * cols + b * plane;
        const long at = plane_offset(planes, n, g->channels, i);
        const float bv = bias ? bias[c] : 0.0f;
        if (!fast) {
            col2im_plane_general(src, cols, g, x + at, accumulate, bv, relu);
            continue;
        }
        // A whole vector may run into the next plane when the pass writes that one next.
        const int followed = i + 1 < count && plane_offset(planes, n, g->channels, i + 1) == at + in_plane;
        col2im_plane_stride2(src, cols, g, x + at, bv, relu, followed ? in_plane : 0);
    }
}

// --- permutes -------------------------------------------------------------------------------

VL_CLONES
void vl_to_channel_major(const float *src, long n, long c, long p, float *dst) {
    for (long b = 0; b < n; b++)
        for (long ch = 0; ch < c; ch++)
            memcpy(dst + ch * n * p + b * p, src + (b * c + ch) * p, (size_t)p * sizeof(float));
}

VL_CLONES
void vl_from_channel_major(const float *src, long n, long c, long p, const float *bias, int relu, float *dst) {
    for (long b = 0; b < n; b++) {
        for (long ch = 0; ch < c; ch++) {
            const float *s = src + ch * n * p + b * p;
            float *restrict d = dst + (b * c + ch) * p;
            const float bv = bias ? bias[ch] : 0.0f;
            if (relu) {
                for (long i = 0; i < p; i++) { float v = s[i] + bv; d[i] = v > 0 ? v : 0.0f; }
            } else if (bias) {
                for (long i = 0; i < p; i++) d[i] = s[i] + bv;
            } else {
                memcpy(d, s, (size_t)p * sizeof(float));
            }
        }
    }
}

VL_CLONES
void vl_masked_to_channel_major(const float *dy, const float *y, long n, long c, long p, float *dst,
                                float *bias_grad) {
    for (long b = 0; b < n; b++) {
        for (long ch = 0; ch < c; ch++) {
            const float *s = dy + (b * c + ch) * p;
            float *d = dst + ch * n * p + b * p;
            if (y) relu_mask(y + (b * c + ch) * p, s, d, p);
            else memcpy(d, s, (size_t)p * sizeof(float));
            if (bias_grad) bias_grad[ch] += sum16(d, p);
        }
    }
}
