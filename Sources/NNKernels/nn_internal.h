#ifndef VAELAB_NN_INTERNAL_H
#define VAELAB_NN_INTERNAL_H
// Each exported kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64; the loader picks
// one per machine, so a given CPU always runs the same code (and gives the same bits).
// Built with VL_AVX2_ONLY defined (`make bench-avx2`), only the AVX2 and baseline clones exist and
// no AVX-512 kernel runs: the AVX2 machine's code path, measured on an AVX-512 one.
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#ifdef VL_AVX2_ONLY
#define VL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#define VL_AVX512() 0
#else
#define VL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define VL_AVX512() __builtin_cpu_supports("x86-64-v4")
#endif
#else
#define VL_CLONES
#define VL_AVX512() 0
#endif
// Every static helper of a VL_CLONES kernel is VL_INLINE: left out of line, it is compiled once,
// for the baseline target (SSE2), and every clone calls that copy (`make test` checks).
#define VL_INLINE static inline __attribute__((always_inline))

// 16 and 8 floats, loaded and stored unaligned; each target clone lowers them to its own registers.
typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int v16i __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef int v8i __attribute__((vector_size(32), aligned(4)));

// Macros, not functions: a 64-byte vector crossing a call would change the ABI per clone.
#define load16(p) (*(const v16 *)(p))
#define store16(p, v) (*(v16 *)(p) = (v))
#define load16i(p) (*(const v16i *)(p))
#define load8(p) (*(const v8 *)(p))
#define store8(p, v) (*(v8 *)(p) = (v))
// s in every lane, as it is (a broadcast the compiler folds into an FMA's operand). Not
// `(v16){0} + s`: that add must stay (it turns -0 into +0) and cost a scalar add per use.
#define splat16(s)                                                            \
    ({                                                                        \
        const float splat_ = (s);                                             \
        (v16){splat_, splat_, splat_, splat_, splat_, splat_, splat_, splat_, \
              splat_, splat_, splat_, splat_, splat_, splat_, splat_, splat_}; \
    })
#define splat8(s)                                                             \
    ({                                                                        \
        const float splat_ = (s);                                             \
        (v8){splat_, splat_, splat_, splat_, splat_, splat_, splat_, splat_}; \
    })
/// The first n lanes of v to p[0 ..< n] (where a whole-vector store would run past what it owns).
#define STORE_EXACT(p, v, n)                                \
    do {                                                    \
        const __typeof__(v) v_ = (v);                       \
        for (long l_ = 0; l_ < (n); l_++) (p)[l_] = v_[l_]; \
    } while (0)

#endif
