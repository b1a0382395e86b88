#ifndef VAELAB_NN_INTERNAL_H
#define VAELAB_NN_INTERNAL_H
// Each exported kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64; the loader picks
// one per machine, so a given CPU always runs the same code (and gives the same bits).
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define VL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VL_CLONES
#endif

// Before a loop whose pointers never overlap, so that it vectorises without runtime checks (it
// writes several rows of one buffer, which the compiler cannot tell apart).
#if defined(__clang__)
#define VL_NO_ALIAS _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define VL_NO_ALIAS _Pragma("GCC ivdep")
#else
#define VL_NO_ALIAS
#endif

/// The four phases of a plane of 2 oh x 2 ow floats: phases[(2p + q) * phase_stride + m * ow + l]
/// = src[(2m + p) * 2 ow + 2l + q], the stride-2 sampling grids of a 3x3 stride-2 kernel.
static inline void vl_split_phases(const float *restrict src, long oh, long ow, float *restrict phases,
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
#endif
