#include "nn_kernels.h"
#include <string.h>

#include "nn_internal.h"

static inline int stride2_fast(const vl_geometry *g) {
    return g->kernel == 3 && g->stride == 2 && g->pad_top == 0 && g->pad_left == 0
        && g->in_h == 2 * g->out_h && g->in_w == 2 * g->out_w;
}

size_t vl_layout_scratch(const vl_geometry *g) {
    // one (masked) input plane, four phase planes, two masks
    return (size_t)(g->in_h * g->in_w + 6 * g->out_h * g->out_w + 16);
}

// The sum in 16 lanes, combined in a fixed order (the same bits on every clone).
static inline float sum16(const float *p, long count) {
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

static inline void relu_mask(const float *restrict y, const float *restrict dy, float *restrict dx, long count) {
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
static inline void column_span(const vl_geometry *g, long kj, long *lo, long *hi) {
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
static inline long plane_image(vl_planes planes, long n, long channels, long i) {
    return planes.channel > planes.image ? i % n : i / channels;
}
static inline long plane_channel(vl_planes planes, long n, long channels, long i) {
    return planes.channel > planes.image ? i / n : i % channels;
}

// --- im2col ---------------------------------------------------------------------------------

// The nine rows of one channel plane for a 3x3 stride-2 kernel with no leading padding: the
// plane is split into its four phases ph[p][q][m][l] = x[2m + p][2l + q], and row (ki, kj) is
// phase (ki % 2, kj % 2) shifted by (ki / 2, kj / 2) rows / columns, zero past the edge.
static inline void im2col_plane_stride2(const float *restrict src, const vl_geometry *g, float *restrict dst0,
                                        long cols, float *restrict phases) {
    const long oh = g->out_h, ow = g->out_w, plane = oh * ow;
    vl_split_phases(src, oh, ow, phases, plane);
    for (long ki = 0; ki < 3; ki++) {
        for (long kj = 0; kj < 3; kj++) {
            const float *ph = phases + (2 * (ki % 2) + kj % 2) * plane;
            const long a = ki / 2, sh = kj / 2;
            float *dst = dst0 + (ki * 3 + kj) * cols;
            const long valid = (oh - a) * ow;   // rows that exist after the shift
            if (sh == 0) {
                memcpy(dst, ph + a * ow, (size_t)valid * sizeof(float));
            } else {
                memcpy(dst, ph + a * ow + 1, (size_t)(valid - 1) * sizeof(float));
                for (long m = 0; m < oh - a; m++) dst[m * ow + ow - 1] = 0;  // column 2l + 2 past the edge
            }
            memset(dst + valid, 0, (size_t)(plane - valid) * sizeof(float));
        }
    }
}

static inline void im2col_plane_general(const float *restrict src, const vl_geometry *g, float *restrict dst0,
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
    float *masked = scratch, *phases = scratch + in_plane;
    for (long i = 0; i < n * g->channels; i++) {
        const long b = plane_image(planes, n, g->channels, i), c = plane_channel(planes, n, g->channels, i);
        const long at = b * planes.image + c * planes.channel;
        const float *src = x + at;
        if (mask_y) {
            relu_mask(mask_y + at, src, masked, in_plane);
            src = masked;
        }
        if (bias_grad) bias_grad[c] += sum16(src, in_plane);
        float *dst = col + c * kk * cols + b * plane;
        if (fast) im2col_plane_stride2(src, g, dst, cols, phases);
        else im2col_plane_general(src, g, dst, cols);
    }
}

// --- col2im ---------------------------------------------------------------------------------

static inline void finish_plane(float *restrict d, long count, float bias, int relu) {
    if (relu) {
        for (long i = 0; i < count; i++) { float v = d[i] + bias; d[i] = v > 0 ? v : 0.0f; }
    } else if (bias != 0) {
        for (long i = 0; i < count; i++) d[i] += bias;
    }
}

// The adjoint of im2col_plane_stride2. Output pixel (2m + p, 2l + q) is phase (p, q) at (m, l):
// the sum, from zero and in tap order, of the rows (ki, kj) with ki % 2 = p and kj % 2 = q, row
// (ki, kj) read ki / 2 rows and kj / 2 columns back (flat index P - (ki / 2) ow - kj / 2). Reads
// before the row's start are masked to +0 (`masks`), which leaves the sum unchanged: a sum that
// starts at +0 is never -0. Each phase is summed in one pass, then interleaved with the bias and
// ReLU into the output.
static inline void col2im_plane_stride2(const float *restrict src0, long cols, const vl_geometry *g,
                                        float *restrict dst, int accumulate, float bias, int relu,
                                        float *restrict phases, const int *restrict masks) {
    const long oh = g->out_h, ow = g->out_w, iw = g->in_w, plane = oh * ow;
    const int *col_ok = masks, *row_ok = masks + plane;  // l > 0, m > 0
    const float *t0 = src0, *t1 = t0 + cols, *t2 = t1 + cols, *t3 = t2 + cols, *t4 = t3 + cols;
    const float *t5 = t4 + cols, *t6 = t5 + cols, *t7 = t6 + cols, *t8 = t7 + cols;
    float *ee = phases, *eo = ee + plane, *oe = eo + plane, *oo = oe + plane;
    VL_NO_ALIAS
    for (long f = 0; f < plane; f++) {
        const float a = t2[f - 1], b = t6[f - ow], c = t8[f - ow - 1], d = t7[f - ow], e = t5[f - 1];
        ee[f] = (((0.0f + t0[f]) + (col_ok[f] ? a : 0.0f)) + (row_ok[f] ? b : 0.0f)) + ((col_ok[f] & row_ok[f]) ? c : 0.0f);
        eo[f] = (0.0f + t1[f]) + (row_ok[f] ? d : 0.0f);
        oe[f] = (0.0f + t3[f]) + (col_ok[f] ? e : 0.0f);
        oo[f] = 0.0f + t4[f];
    }
    for (long m = 0; m < oh; m++) {
        for (long p = 0; p < 2; p++) {
            const float *e = (p ? oe : ee) + m * ow, *o = (p ? oo : eo) + m * ow;
            float *row = dst + (2 * m + p) * iw;
            if (accumulate) {
                for (long l = 0; l < ow; l++) { row[2 * l] += e[l]; row[2 * l + 1] += o[l]; }
            } else if (relu) {
                for (long l = 0; l < ow; l++) {
                    const float u = e[l] + bias, v = o[l] + bias;
                    row[2 * l] = u > 0 ? u : 0.0f;
                    row[2 * l + 1] = v > 0 ? v : 0.0f;
                }
            } else {
                for (long l = 0; l < ow; l++) { row[2 * l] = e[l] + bias; row[2 * l + 1] = o[l] + bias; }
            }
        }
    }
}

static inline void col2im_plane_general(const float *restrict src0, long cols, const vl_geometry *g,
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
               const float *bias, int relu, float *scratch) {
    const long in_plane = g->in_h * g->in_w, plane = g->out_h * g->out_w, cols = n * plane;
    const long kk = g->kernel * g->kernel;
    const int fast = stride2_fast(g);
    float *phases = scratch + in_plane;
    int *masks = (int *)(phases + 4 * plane);  // col_ok, row_ok (see col2im_plane_stride2)
    if (fast) {
        for (long f = 0; f < plane; f++) {
            masks[f] = -(f % g->out_w != 0);
            masks[plane + f] = -(f >= g->out_w);
        }
    }
    for (long i = 0; i < n * g->channels; i++) {
        const long b = plane_image(planes, n, g->channels, i), c = plane_channel(planes, n, g->channels, i);
        const float *src = col + c * kk * cols + b * plane;
        float *dst = x + b * planes.image + c * planes.channel;
        const float bv = bias ? bias[c] : 0.0f;
        if (fast) col2im_plane_stride2(src, cols, g, dst, accumulate, bv, relu, phases, masks);
        else col2im_plane_general(src, cols, g, dst, accumulate, bv, relu);
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
