#include "nn_kernels.h"

#include "nn_internal.h"

// The Bernoulli cross-entropy from logits, 16 pixels at a time. e^-|l| and log1p come from
// Cephes' single-precision polynomials (expf, logf: about 1 ulp on their ranges) instead of libm
// calls, which ran one pixel at a time and took a tenth of an IWAE bound's decoding pass.
// No fused multiply-adds, so that every clone rounds alike (the same bits at every vector width).
#pragma clang fp contract(off)

#define select16(m, a, b) ((v16)(((v16i)(a) & (m)) | ((v16i)(b) & ~(m))))

/// e^x for x <= 0 (x below -86 taken as -86: e^x < 3e-38 either way). x = n ln2 + r, |r| <= ln2/2,
/// with ln2 in two parts (n ln2's high part exact); e^r by Cephes expf's polynomial; 2^n in the exponent.
#define EXP_NONPOSITIVE(x)                                                                                     \
    ({                                                                                                         \
        v16 x_ = (x);                                                                                          \
        x_ = select16(x_ < splat16(-86.0f), splat16(-86.0f), x_);                                              \
        const v16 n_ = (x_ * splat16(1.44269504088896341f) + splat16(12582912.0f)) - splat16(12582912.0f);   \
        const v16 r_ = (x_ - n_ * splat16(0.693359375f)) - n_ * splat16(-2.12194440e-4f);                     \
        v16 p_ = splat16(1.9875691500e-4f);                                                                    \
        p_ = p_ * r_ + splat16(1.3981999507e-3f);                                                              \
        p_ = p_ * r_ + splat16(8.3334519073e-3f);                                                              \
        p_ = p_ * r_ + splat16(4.1665795894e-2f);                                                              \
        p_ = p_ * r_ + splat16(1.6666665459e-1f);                                                              \
        p_ = p_ * r_ + splat16(5.0000001201e-1f);                                                              \
        p_ = (p_ * (r_ * r_) + r_) + splat16(1.0f);                                                            \
        const v16i scale_ = (__builtin_convertvector(n_, v16i) + 127) << 23;                                   \
        p_ * (v16)scale_;                                                                                      \
    })

/// log1p(e) for e in (0, 1], by Cephes logf's polynomial on f in [sqrt(1/2) - 1, sqrt(2) - 1]:
/// f = e itself below sqrt(2) - 1; above, 1 + e = 2 (1 + f) with f = (e - 1) / 2, and ln 2 (in two
/// parts) is added. log1p(f) = f - f²/2 + f³ P(f), in Cephes' order of operations.
#define LOG1P_UNIT(e)                                                                                          \
    ({                                                                                                         \
        const v16 e_ = (e);                                                                                    \
        const v16i big_ = e_ > splat16(0.41421356237f);                                                        \
        const v16 f_ = select16(big_, (e_ - splat16(1.0f)) * splat16(0.5f), e_), z_ = f_ * f_;                 \
        const v16 k_ = select16(big_, splat16(1.0f), splat16(0.0f));                                           \
        v16 q_ = splat16(7.0376836292e-2f);                                                                    \
        q_ = q_ * f_ - splat16(1.1514610310e-1f);                                                              \
        q_ = q_ * f_ + splat16(1.1676998740e-1f);                                                              \
        q_ = q_ * f_ - splat16(1.2420140846e-1f);                                                              \
        q_ = q_ * f_ + splat16(1.4249322787e-1f);                                                              \
        q_ = q_ * f_ - splat16(1.6668057665e-1f);                                                              \
        q_ = q_ * f_ + splat16(2.0000714765e-1f);                                                              \
        q_ = q_ * f_ - splat16(2.4999993993e-1f);                                                              \
        q_ = q_ * f_ + splat16(3.3333331174e-1f);                                                              \
        v16 y_ = q_ * f_ * z_ + k_ * splat16(-2.12194440e-4f);                                                 \
        y_ = y_ - splat16(0.5f) * z_;                                                                          \
        (f_ + y_) + k_ * splat16(0.693359375f);                                                                \
    })

/// The loss of the 16 pixels at lp (logits) and xp (targets): max(l, 0) - l x + log1p(e), e = e^-|l|;
/// with gp, gp[0..16) = scale (sigmoid(l) - x), sigmoid(l) = 1 / (1 + e) for l >= 0, e / (1 + e)
/// otherwise. (Macros, not functions: a 64-byte vector crossing a call would change the ABI per clone.)
#define BCE16(lp, xp, gp, scale)                                                                               \
    ({                                                                                                         \
        const v16 l_ = *(const v16 *)(lp), x_ = *(const v16 *)(xp);                                            \
        const v16i neg_ = l_ < splat16(0.0f);                                                                  \
        const v16 ex_ = EXP_NONPOSITIVE(select16(neg_, l_, -l_));                                              \
        if (gp) *(v16 *)(gp) = splat16(scale) * (select16(neg_, ex_, splat16(1.0f)) / (splat16(1.0f) + ex_) - x_); \
        (select16(neg_, splat16(0.0f), l_) - l_ * x_) + LOG1P_UNIT(ex_);                                       \
    })

VL_CLONES
double vl_bce_with_logits(const float *logits, const float *targets, long n, long per_image, double *per_image_loss,
                          float *gradient, float grad_scale) {
    double total = 0;
    for (long b = 0; b < n; b++) {
        const float *l = logits + b * per_image, *x = targets + b * per_image;
        float *g = gradient ? gradient + b * per_image : NULL;
        v16 acc = splat16(0.0f);
        long i = 0;
        for (; i + 16 <= per_image; i += 16) acc += BCE16(l + i, x + i, g ? g + i : NULL, grad_scale);
        if (i < per_image) {
            // The tail through a zero-padded block, its padding lanes dropped from the sum.
            float lt[16] = {0}, xt[16] = {0}, gt[16];
            v16i keep;
            for (int k = 0; k < 16; k++) {
                if (i + k < per_image) lt[k] = l[i + k], xt[k] = x[i + k];
                keep[k] = i + k < per_image ? -1 : 0;
            }
            const v16 t = BCE16(lt, xt, g ? gt : NULL, grad_scale);
            acc += (v16)((v16i)t & keep);
            for (long k = 0; g && i + k < per_image; k++) g[i + k] = gt[k];
        }
        float sum = 0;
        for (int k = 0; k < 16; k++) sum += acc[k];
        if (per_image_loss) per_image_loss[b] = sum;
        total += sum;
    }
    return total / (double)n;
}
