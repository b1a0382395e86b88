#ifndef VAELAB_NN_CLONES_H
#define VAELAB_NN_CLONES_H
// Each exported kernel is compiled for AVX-512, AVX2+FMA and baseline x86-64; the loader picks
// one per machine, so a given CPU always runs the same code (and gives the same bits).
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define VL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VL_CLONES
#endif
#endif
