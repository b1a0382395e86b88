#include "nn_kernels.h"
#include <math.h>

#include "nn_internal.h"

// No fused multiply-adds: every clone (and the Swift loop this replaced) rounds each product
// and sum on its own, so the update has the same bits on every x86-64 CPU. sqrt and division
// are exact IEEE operations in every vector width.
#pragma clang fp contract(off)

VL_CLONES
void vl_adam_update(float *restrict params, const float *restrict g, float *restrict m, float *restrict v, long count,
                    float alpha, float beta1, float beta2, float epsilon) {
    const float c1 = 1 - beta1, c2 = 1 - beta2;
    for (long i = 0; i < count; i++) {
        const float gi = g[i];
        const float mi = beta1 * m[i] + c1 * gi;
        const float vi = beta2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        params[i] -= alpha * mi / (sqrtf(vi) + epsilon);
    }
}
