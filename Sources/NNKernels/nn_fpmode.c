#include "nn_kernels.h"

// x86-64: MXCSR. FTZ (bit 15) writes a subnormal result as zero; DAZ (bit 6) reads a subnormal
// operand as zero. Both apply to every SSE/AVX instruction of this thread, OpenBLAS's included.
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

// The mode is MXCSR's control bits; its low six bits are sticky exception flags, left alone.
enum { VL_FLAGS = 0x3f };

unsigned vl_fp_mode(void) { return _mm_getcsr() & ~VL_FLAGS; }
void vl_set_fp_mode(unsigned mode) { _mm_setcsr((_mm_getcsr() & VL_FLAGS) | (mode & ~VL_FLAGS)); }
unsigned vl_fp_mode_flushing_subnormals(unsigned mode) { return mode | 0x8040u; }

#else  // elsewhere the mode stays as it is: subnormals are computed, only more slowly.

unsigned vl_fp_mode(void) { return 0; }
void vl_set_fp_mode(unsigned mode) { (void)mode; }
unsigned vl_fp_mode_flushing_subnormals(unsigned mode) { return mode; }

#endif
