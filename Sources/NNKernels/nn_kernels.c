#include "nn_kernels.h"
#include <stdint.h>
#include <string.h>

#include "nn_internal.h"

// 16 floats, loaded and stored unaligned; each target clone lowers it to its own registers.
typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int v16i __attribute__((vector_size(64), aligned(4)));
#define VL_VECTORS 4                  // accumulators per tap column and chunk
#define VL_CHUNK (16 * VL_VECTORS)    // output positions per chunk, kept in registers

// Macros, not functions: a 64-byte vector crossing a call would change the ABI per clone.
#define load16(p) (*(const v16 *)(p))
#define store16(p, v) (*(v16 *)(p) = (v))
#define splat16(s) ((v16){0} + (s))
#define load16i(p) (*(const v16i *)(p))

// The nine taps of a 3x3 "same" kernel move a plane by (ki - 1) * w + (kj - 1) in flat
// (row-major) index. A shift by kj - 1 = +-1 also wraps the last column of one row onto the first
// of the next: each tap column therefore accumulates separately, and the one column that only
// wrapped values reach is masked off before the three are summed (in a fixed order).
//
// Forward (many planes in, few out): planes are copied into zero-guarded buffers (w + 1 zeros
// before, and after the plane rounded up to whole chunks), so every shifted read is in bounds and
// rows above and below the plane read zeros. Backward (few dy planes, shared by every input
// channel): each dy plane is copied once per image into nine 64-byte-aligned planes, one per tap,
// already shifted (zeros outside the plane), so the inner loops load whole vectors at 64-byte
// boundaries (a load across two cache lines costs two); the weight gradient takes the input
// channels two at a time, so each of those vectors is loaded once for both.

/// dst[i] += the sum of the 16 lanes of lanes[i], for i < count (a fixed order: the same bits on every clone).
static inline void add_lane_sums(const float *lanes, long count, float *dst) {
    for (long i = 0; i < count; i++) {
        float s = 0;
        for (int k = 0; k < 16; k++) s += lanes[i * 16 + k];
        dst[i] += s;
    }
}

/// Nine 16-lane partial sums of a weight gradient's taps, to and from their lanes in scratch
/// (the weight-gradient kernels keep two output or input channels' nine in registers at once).
#define LOAD_TAP_LANES(acc, lane) for (int k_ = 0; k_ < 9; k_++) (acc)[k_] = load16((lane) + 16 * k_)
#define STORE_TAP_LANES(lane, acc) for (int k_ = 0; k_ < 9; k_++) store16((lane) + 16 * k_, (acc)[k_])

/// p rounded up to a 64-byte boundary (scratch sizes include the 16 floats this may skip).
static inline float *align64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

typedef struct { long hw, rounded, guard, stride; } layout;

static inline layout plane_layout(long h, long w) {
    layout l;
    l.hw = h * w;
    l.rounded = (l.hw + VL_CHUNK - 1) / VL_CHUNK * VL_CHUNK;
    l.guard = w + 1;
    l.stride = l.guard + l.rounded + l.guard;
    return l;
}

/// Copies `count` planes of hw floats into guarded buffers of l.stride floats.
static inline void guard_planes(const float *src, long count, layout l, float *dst) {
    for (long p = 0; p < count; p++) {
        float *d = dst + p * l.stride;
        memset(d, 0, (size_t)l.guard * sizeof(float));
        memcpy(d + l.guard, src + p * l.hw, (size_t)l.hw * sizeof(float));
        memset(d + l.guard + l.hw, 0, (size_t)(l.stride - l.guard - l.hw) * sizeof(float));
    }
}

/// The nine shifted copies of each of `count` planes: dst[(p * 9 + 3 ki + kj) * rounded + f] =
/// src[p * hw + f + (ki - 1) w + kj - 1] where that lies in the plane, else 0.
static inline void shift_planes(const float *src, long count, long w, layout l, float *dst) {
    for (long p = 0; p < count; p++) {
        for (long k = 0; k < 9; k++) {
            const long d = (k / 3 - 1) * w + (k % 3 - 1);
            long lo = d < 0 ? -d : 0, hi = l.hw - d < l.rounded ? l.hw - d : l.rounded;
            if (lo > l.rounded) lo = l.rounded;
            if (hi < lo) hi = lo;
            float *s = dst + (p * 9 + k) * l.rounded;
            memset(s, 0, (size_t)lo * sizeof(float));
            memcpy(s + lo, src + p * l.hw + lo + d, (size_t)(hi - lo) * sizeof(float));
            memset(s + hi, 0, (size_t)(l.rounded - hi) * sizeof(float));
        }
    }
}

size_t vl_deconv3x3s1_scratch(long c, long o, long h, long w) {
    layout l = plane_layout(h, w);
    long planes = c * l.stride > 9 * o * l.rounded ? c * l.stride : 9 * o * l.rounded;
    return (size_t)(16 + planes + 4 * l.rounded + VL_CHUNK + c * o * 9 * 16);
}

/// Column masks over the rounded plane: all ones except at column `drop` (and past hw).
static void column_mask(int *mask, layout l, long w, long drop) {
    for (long f = 0; f < l.rounded; f++) mask[f] = (f < l.hw && f % w != drop) ? -1 : 0;
}

/// out[f0 ..< f0 + VL_CHUNK] (positions below hw only) = a1 + a0 & m0 + a2 & m2, then ReLU when asked.
#define COMBINE_CHUNK(a0, a1, a2, m0, m2, f0, hw, relu, out, tmp)                                  \
    do {                                                                                      \
        for (int v = 0; v < VL_VECTORS; v++) {                                                \
            v16 r = a1[v] + (v16)((v16i)a0[v] & load16i(m0 + f0 + 16 * v))                    \
                          + (v16)((v16i)a2[v] & load16i(m2 + f0 + 16 * v));                   \
            if (relu) r = (v16)((v16i)r & (r > splat16(0)));                                  \
            store16(tmp + 16 * v, r);                                                         \
        }                                                                                     \
        long end_ = (f0) + VL_CHUNK < (hw) ? VL_CHUNK : (hw) - (f0);                          \
        memcpy((out) + (f0), tmp, (size_t)end_ * sizeof(float));                              \
    } while (0)

VL_CLONES
void vl_deconv3x3s1_forward(const float *x, long n, long c, long o, long h, long w,
                            const float *weight, const float *bias, int relu, float *y, float *scratch) {
    const layout l = plane_layout(h, w);
    float *planes = scratch, *tmp = scratch + (c > o ? c : o) * l.stride;
    int *m0 = (int *)(tmp + VL_CHUNK), *m2 = m0 + l.rounded;
    column_mask(m0, l, w, w - 1);  // a0 reads column Q + 1: wrapped at Q = w - 1
    column_mask(m2, l, w, 0);      // a2 reads column Q - 1: wrapped at Q = 0
    for (long b = 0; b < n; b++) {
        guard_planes(x + b * c * l.hw, c, l, planes);
        for (long oo = 0; oo < o; oo++) {
            const float bv = bias ? bias[oo] : 0.0f;
            for (long f0 = 0; f0 < l.hw; f0 += VL_CHUNK) {
                v16 a0[VL_VECTORS], a1[VL_VECTORS], a2[VL_VECTORS];
                for (int v = 0; v < VL_VECTORS; v++) { a0[v] = splat16(0); a1[v] = splat16(bv); a2[v] = splat16(0); }
                for (long cc = 0; cc < c; cc++) {
                    const float *xp = planes + cc * l.stride + l.guard + f0;
                    const float *wp = weight + (cc * o + oo) * 9;
                    // y[P, Q] += w[ki, kj] * x[P - ki + 1, Q - kj + 1]
                    for (long ki = 0; ki < 3; ki++) {
                        const float *r = xp - (ki - 1) * w;
                        const v16 w0 = splat16(wp[ki * 3]), w1 = splat16(wp[ki * 3 + 1]), w2 = splat16(wp[ki * 3 + 2]);
                        for (int v = 0; v < VL_VECTORS; v++) {
                            a0[v] += w0 * load16(r + 16 * v + 1);
                            a1[v] += w1 * load16(r + 16 * v);
                            a2[v] += w2 * load16(r + 16 * v - 1);
                        }
                    }
                }
                COMBINE_CHUNK(a0, a1, a2, m0, m2, f0, l.hw, relu, y + (b * o + oo) * l.hw, tmp);
            }
        }
    }
}

VL_CLONES
void vl_deconv3x3s1_backward(const float *x, const float *dy, long n, long c, long o, long h, long w,
                             const float *weight, float *dweight, float *dx, float *scratch) {
    const layout l = plane_layout(h, w);
    float *shifted = align64(scratch), *xz = shifted + 9 * o * l.rounded;  // two x planes, zero tails
    int *m0 = (int *)(xz + 2 * l.rounded), *m2 = m0 + l.rounded;
    float *tmp = (float *)(m2 + l.rounded), *lanes = tmp + VL_CHUNK;
    // A tap one column left (kj = 0) wraps at column 0, one right (kj = 2) at column w - 1: the
    // same masks cut x's columns in the weight gradient and dx's tap columns in the data gradient.
    column_mask(m0, l, w, 0);
    column_mask(m2, l, w, w - 1);
    memset(lanes, 0, (size_t)(c * o * 9 * 16) * sizeof(float));
    memset(xz, 0, (size_t)(2 * l.rounded) * sizeof(float));
    for (long b = 0; b < n; b++) {
        shift_planes(dy + b * o * l.hw, o, w, l, shifted);
        // dW[ki, kj] += sum x[i, j] * dy[i + ki - 1, j + kj - 1], input channels two at a time
        // (each shifted dy vector loaded once for both); x's zero tail ends the sums.
        for (long c0 = 0; c0 < c; c0 += 2) {
            const int pair = c0 + 1 < c;
            memcpy(xz, x + (b * c + c0) * l.hw, (size_t)l.hw * sizeof(float));
            if (pair) memcpy(xz + l.rounded, x + (b * c + c0 + 1) * l.hw, (size_t)l.hw * sizeof(float));
            for (long oo = 0; oo < o; oo++) {
                const float *s = shifted + oo * 9 * l.rounded;
                float *lane0 = lanes + (c0 * o + oo) * 9 * 16, *lane1 = lanes + ((c0 + pair) * o + oo) * 9 * 16;
                v16 acc0[9], acc1[9];
                LOAD_TAP_LANES(acc0, lane0);
                LOAD_TAP_LANES(acc1, lane1);
                for (long f = 0; f < l.rounded; f += 16) {
                    const v16i k0 = load16i(m0 + f), k2 = load16i(m2 + f);
                    const v16 p1 = load16(xz + f), q1 = load16(xz + l.rounded + f);
                    const v16 p0 = (v16)((v16i)p1 & k0), p2 = (v16)((v16i)p1 & k2);
                    const v16 q0 = (v16)((v16i)q1 & k0), q2 = (v16)((v16i)q1 & k2);
                    for (long ki = 0; ki < 3; ki++) {
                        const float *r = s + 3 * ki * l.rounded + f;
                        const v16 g0 = load16(r), g1 = load16(r + l.rounded), g2 = load16(r + 2 * l.rounded);
                        acc0[ki * 3] += p0 * g0;
                        acc0[ki * 3 + 1] += p1 * g1;
                        acc0[ki * 3 + 2] += p2 * g2;
                        acc1[ki * 3] += q0 * g0;
                        acc1[ki * 3 + 1] += q1 * g1;
                        acc1[ki * 3 + 2] += q2 * g2;
                    }
                }
                STORE_TAP_LANES(lane0, acc0);
                if (pair) STORE_TAP_LANES(lane1, acc1);
            }
        }
        if (!dx) continue;
        // dx[i, j] = sum w[ki, kj] * dy[i + ki - 1, j + kj - 1], from the same shifted planes.
        for (long f0 = 0; f0 < l.hw; f0 += VL_CHUNK) {
            for (long cc = 0; cc < c; cc++) {
                v16 a0[VL_VECTORS], a1[VL_VECTORS], a2[VL_VECTORS];
                for (int v = 0; v < VL_VECTORS; v++) { a0[v] = splat16(0); a1[v] = splat16(0); a2[v] = splat16(0); }
                for (long oo = 0; oo < o; oo++) {
                    const float *s = shifted + oo * 9 * l.rounded + f0;
                    const float *wp = weight + (cc * o + oo) * 9;
                    for (long ki = 0; ki < 3; ki++) {
                        const float *r = s + 3 * ki * l.rounded;
                        const v16 w0 = splat16(wp[ki * 3]), w1 = splat16(wp[ki * 3 + 1]), w2 = splat16(wp[ki * 3 + 2]);
                        for (int v = 0; v < VL_VECTORS; v++) {
                            a0[v] += w0 * load16(r + 16 * v);
                            a1[v] += w1 * load16(r + l.rounded + 16 * v);
                            a2[v] += w2 * load16(r + 2 * l.rounded + 16 * v);
                        }
                    }
                }
                COMBINE_CHUNK(a0, a1, a2, m0, m2, f0, l.hw, 0, dx + (b * c + cc) * l.hw, tmp);
            }
        }
    }
    add_lane_sums(lanes, c * o * 9, dweight);
}

// --- 3x3 stride-2 convolution, direct -------------------------------------------------------
//
// The input plane is split into its four phases ph[p][q][m][l] = x[2m + p][2l + q]; tap (ki, kj)
// reads phase (ki % 2, kj % 2) shifted by ki / 2 rows and kj / 2 columns in flat index. Rows past
// the plane read the zero guard after each phase; the one-column shift (kj = 2) wraps column
// ow - 1 onto the next row and accumulates separately, masked at that column.

#define VL_S2_CHUNK 32

typedef struct { long plane, rounded, stride; } s2_layout;

static inline s2_layout s2_plane_layout(long oh, long ow) {
    s2_layout l;
    l.plane = oh * ow;
    l.rounded = (l.plane + VL_S2_CHUNK - 1) / VL_S2_CHUNK * VL_S2_CHUNK;
    l.stride = l.rounded + ow + 16;
    return l;
}

size_t vl_conv3x3s2_scratch(long c, long o, long oh, long ow) {
    s2_layout l = s2_plane_layout(oh, ow);
    return (size_t)(4 * c * l.stride + 16 + 9 * c * l.rounded + 5 * l.rounded + VL_S2_CHUNK + o * c * 9 * 16 + o * 16);
}

/// The four zero-guarded phases of each of the c planes of one image.
static inline void s2_phases(const float *x, long c, long oh, long ow, s2_layout l, float *phases) {
    for (long cc = 0; cc < c; cc++) {
        float *ph = phases + cc * 4 * l.stride;
        vl_split_phases(x + cc * 4 * l.plane, oh, ow, ph, l.stride);
        for (long k = 0; k < 4; k++) memset(ph + k * l.stride + l.plane, 0, (size_t)(l.stride - l.plane) * sizeof(float));
    }
}

VL_CLONES
void vl_conv3x3s2_forward(const float *x, long n, long c, long o, long oh, long ow,
                          const float *weight, const float *bias, int relu, float *y, float *scratch) {
    const s2_layout l = s2_plane_layout(oh, ow);
    float *phases = scratch, *tmp = scratch + 4 * c * l.stride;
    int *keep = (int *)(tmp + VL_S2_CHUNK);
    for (long f = 0; f < l.rounded; f++) keep[f] = f % ow == ow - 1 ? 0 : -1;
    for (long b = 0; b < n; b++) {
        s2_phases(x + b * c * 4 * l.plane, c, oh, ow, l, phases);
        for (long oo = 0; oo < o; oo++) {
            const float bv = bias ? bias[oo] : 0.0f;
            float *out = y + (b * o + oo) * l.plane;
            for (long f0 = 0; f0 < l.plane; f0 += VL_S2_CHUNK) {
                v16 a0[2] = {splat16(bv), splat16(bv)}, a1[2] = {splat16(0), splat16(0)};
                for (long cc = 0; cc < c; cc++) {
                    const float *ph = phases + cc * 4 * l.stride + f0;
                    const float *wp = weight + (oo * c + cc) * 9;
                    for (long ki = 0; ki < 3; ki++) {
                        const float *e = ph + (2 * (ki % 2)) * l.stride + (ki / 2) * ow;
                        const float *od = ph + (2 * (ki % 2) + 1) * l.stride + (ki / 2) * ow;
                        const v16 w0 = splat16(wp[ki * 3]), w1 = splat16(wp[ki * 3 + 1]), w2 = splat16(wp[ki * 3 + 2]);
                        for (int v = 0; v < 2; v++) {
                            a0[v] += w0 * load16(e + 16 * v) + w1 * load16(od + 16 * v);
                            a1[v] += w2 * load16(e + 16 * v + 1);
                        }
                    }
                }
                for (int v = 0; v < 2; v++) {
                    v16 r = a0[v] + (v16)((v16i)a1[v] & load16i(keep + f0 + 16 * v));
                    if (relu) r = (v16)((v16i)r & (r > splat16(0)));
                    store16(tmp + 16 * v, r);
                }
                long end = f0 + VL_S2_CHUNK < l.plane ? VL_S2_CHUNK : l.plane - f0;
                memcpy(out + f0, tmp, (size_t)end * sizeof(float));
            }
        }
    }
}

VL_CLONES
void vl_conv3x3s2_backward_weight(const float *x, const float *dy, const float *y, long n, long c, long o,
                                  long oh, long ow, float *dweight, float *dbias, float *scratch) {
    const s2_layout l = s2_plane_layout(oh, ow);
    // Per image: the phases, then each tap's (shifted) phase copied to its own 64-byte-aligned
    // plane, read by every output channel; output channels two at a time share those loads.
    float *phases = scratch, *taps = align64(scratch + 4 * c * l.stride), *g = taps + 9 * c * l.rounded;
    int *keep = (int *)(g + 4 * l.rounded);
    float *lanes = (float *)(keep + l.rounded), *blanes = lanes + o * c * 9 * 16;
    for (long f = 0; f < l.rounded; f++) keep[f] = f % ow == ow - 1 ? 0 : -1;
    memset(lanes, 0, (size_t)(o * c * 9 * 16 + o * 16) * sizeof(float));
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
    add_lane_sums(lanes, o * c * 9, dweight);
    add_lane_sums(blanes, o, dbias);
}
