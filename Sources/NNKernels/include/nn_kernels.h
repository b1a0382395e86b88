#ifndef VAELAB_NN_KERNELS_H
#define VAELAB_NN_KERNELS_H
// Direct convolution kernels for the layers whose GEMMs are too skinny for BLAS to run well
// (a 3x3 stride-1 "same" transposed convolution onto one or a few channels: the decoder's
// 32 -> 1 output layer). Float32, NCHW, contiguous. Each kernel is compiled for AVX-512,
// AVX2+FMA and baseline x86-64 (target_clones) and picks one at load time, so a given machine
// always runs the same code and gives the same bits.
#include <stddef.h>

/// Which tile of a batch a backward call takes (`tile` below). The weight gradients are summed in
/// scratch across the calls, image by image: the first call starts the sums, the last adds them to
/// dweight (and dbias), so that a batch in tiles gives the same bits as in one call (VL_TILE_WHOLE).
/// Between the first and the last call the scratch must be left alone.
enum { VL_TILE_FIRST = 1, VL_TILE_LAST = 2, VL_TILE_WHOLE = 3 };

/// Scratch floats `vl_deconv3x3s1_*` need for planes of h x w.
size_t vl_deconv3x3s1_scratch(long c, long o, long h, long w);

/// y [n, o, h, w] = transposed 3x3 stride-1 "same" convolution of x [n, c, h, w] with
/// weight [c, o, 3, 3] (PyTorch layout), plus bias [o] (may be NULL), then ReLU when relu != 0.
void vl_deconv3x3s1_forward(const float *x, long n, long c, long o, long h, long w,
                            const float *weight, const float *bias, int relu, float *y, float *scratch);

/// The backward pass for input x [n, c, h, w] and dy [n, o, h, w]: dweight [c, o, 3, 3] += the
/// weight gradient, and dx [n, c, h, w] = the input gradient (overwritten; skipped when dx is
/// NULL), times (x > 0) when mask_dx != 0 (the ReLU that produced x). One pass over dy: each
/// image's dy is shifted into the nine tap planes once for both. `tile`: VL_TILE_*.
void vl_deconv3x3s1_backward(const float *x, const float *dy, long n, long c, long o, long h, long w,
                             const float *weight, float *dweight, float *dx, int mask_dx, int tile,
                             float *scratch);

/// Scratch floats `vl_conv3x3s2_*` need: a 3x3 stride-2 "same" convolution whose input is exactly
/// twice its output (no leading padding), for few input channels (the encoder's 1 -> 32 layer).
size_t vl_conv3x3s2_scratch(long c, long o, long oh, long ow);

/// y [n, o, oh, ow] = conv(x [n, c, 2 oh, 2 ow]) with weight [o, c, 3, 3] + bias [o] (may be
/// NULL), then ReLU when relu != 0.
void vl_conv3x3s2_forward(const float *x, long n, long c, long o, long oh, long ow,
                          const float *weight, const float *bias, int relu, float *y, float *scratch);

/// dweight [o, c, 3, 3] += and dbias [o] += the gradients for dy [n, o, oh, ow], with dy first
/// multiplied by (y > 0) when y is given (a fused ReLU). `tile`: VL_TILE_*.
void vl_conv3x3s2_backward_weight(const float *x, const float *dy, const float *y, long n, long c, long o,
                                  long oh, long ow, float *dweight, float *dbias, int tile, float *scratch);

#endif

#ifndef VAELAB_NN_LAYOUT_H
#define VAELAB_NN_LAYOUT_H
// The memory passes around the convolution GEMMs: im2col / col2im (batched, with a vectorised
// fast path for 3x3 stride-2 kernels on planes up to 32 pixels wide), the permutes between NCHW and
// channel-major [C, N*P], and the bias, ReLU and bias-gradient work fused into them.

/// The geometry of a convolution over one channel plane (see ConvGeometry.swift).
typedef struct {
    long channels, in_h, in_w, kernel, stride, pad_top, pad_left, out_h, out_w;
} vl_geometry;

/// Where the planes of an image tensor start, in floats: plane (b, c) at b * image + c * channel.
/// [n, C, H, W] (NCHW): image = C * H * W, channel = H * W. Channel-major [C, N, H, W] (a whole
/// batch of N; the passes may cover a tile of it): image = H * W, channel = N * H * W.
typedef struct {
    long image, channel;
} vl_planes;

/// Scratch floats vl_im2col needs for geometry g.
size_t vl_layout_scratch(const vl_geometry *g);

/// col [C*k*k, n*Hout*Wout] = im2col(x), x's n images laid out as `planes` says (mask_y too). When
/// mask_y is given, x is first multiplied by (mask_y > 0) (a fused ReLU's backward); when bias_grad
/// is given, the per-channel sums of that (masked) x are added to it.
void vl_im2col(const float *x, long n, const vl_geometry *g, vl_planes planes, float *col,
               const float *mask_y, float *bias_grad, float *scratch);

/// x = col2im(col) (+= when accumulate), the adjoint of vl_im2col, x's n images laid out as
/// `planes` says. Without accumulate, bias[c] (may be NULL) is added to each finished plane and
/// ReLU applied if relu. col is read up to 16 floats past its end (whose values do not matter).
void vl_col2im(const float *col, long n, const vl_geometry *g, float *x, vl_planes planes, int accumulate,
               const float *bias, int relu);

/// [n, c, p] -> [c, n*p].
void vl_to_channel_major(const float *src, long n, long c, long p, float *dst);

/// [c, n*p] -> [n, c, p], adding bias[c] (may be NULL), then ReLU when relu != 0.
void vl_from_channel_major(const float *src, long n, long c, long p, const float *bias, int relu, float *dst);

/// dst [c, n*p] = dy [n, c, p] * (y > 0) (y may be NULL: no mask); bias_grad[c] += its sums.
void vl_masked_to_channel_major(const float *dy, const float *y, long n, long c, long p, float *dst,
                                float *bias_grad);

/// dx = dy * (y > 0).
void vl_relu_backward(const float *y, const float *dy, float *dx, long count);

/// g [rows, cols] (leading dimension ldg) *= (y > 0), y [rows, cols] (ldy), in place.
void vl_relu_mask_rows(const float *y, long ldy, float *g, long ldg, long rows, long cols);

/// The sum of count floats, in 16 lanes combined in a fixed order.
float vl_sum(const float *p, long count);

/// One Adam step over count parameters (the arrays must not overlap): m = b1 m + (1 - b1) g;
/// v = b2 v + (1 - b2) g^2; params -= alpha m / (sqrt(v) + epsilon), alpha holding the learning
/// rate and the bias correction. Vectorised, without fused multiply-adds: the same bits at every
/// vector width.
void vl_adam_update(float *params, const float *g, float *m, float *v, long count,
                    float alpha, float beta1, float beta2, float epsilon);

/// The Bernoulli cross-entropy from logits, max(l, 0) - l x + log(1 + e^-|l|), summed over each of
/// n images' per_image pixels: the sums into per_image_loss (may be NULL), grad_scale (sigmoid(l) - x)
/// into gradient (may be NULL). Returns the mean over the images. Vectorised, without fused
/// multiply-adds: the same bits at every vector width.
double vl_bce_with_logits(const float *logits, const float *targets, long n, long per_image, double *per_image_loss,
                          float *gradient, float grad_scale);

/// The OpenBLAS sgemm kernel whose bits `vl_sgemm` reproduces: its AVX-512 ones (Cooperlake,
/// SkylakeX) or its Haswell one (AVX2, also OpenBLAS's choice for Zen).
typedef enum { VL_GEMM_AVX512 = 0, VL_GEMM_HASWELL = 1 } vl_gemm_kernel;

/// Row-major C [m, n] = op(A) op(B) (beta = 0) or C + op(A) op(B) (beta = 1), op(A) m x k and op(B)
/// k x n, with the bits of OpenBLAS's sgemm `kernel` whose K block (GEMM_Q) is kq, for alpha = 1 and
/// one thread (nn_gemm.c says how), on AVX-512 machines. Returns 0, touching nothing, where it does
/// not apply: without AVX-512, for another beta, with both operands transposed, an empty product,
/// kq < 16 or another kernel.
int vl_sgemm(int trans_a, int trans_b, long m, long n, long k, const float *a, long lda, const float *b, long ldb,
             float beta, float *c, long ldc, long kq, vl_gemm_kernel kernel);

/// vl_sgemm(0, 1, ...) with B^T given: C [m, n] (+)= A B^T from bt = B^T [k, n] (row stride
/// ldbt), as transposing B would give it. The same bits, without transposing B in every call
/// (a dense layer's weight over the batches of an evaluation). Returns 0 where vl_sgemm would.
int vl_sgemm_bt(long m, long n, long k, const float *a, long lda, const float *bt, long ldbt, float beta, float *c,
                long ldc, long kq, vl_gemm_kernel kernel);

/// packed [o, c, 9] = weight [c, o, 3, 3] with each output channel's taps of one input channel in
/// one run: the weights as vl_deconv3x3s2_forward reads them.
void vl_deconv3x3s2_pack(const float *weight, long c, long o, float *packed);

/// A transposed 3x3 stride-2 convolution's forward pass (output 2 oh x 2 ow: the adjoint of
/// vl_im2col's 3x3 stride-2 geometry with no leading padding) over a tile of n images in one sweep:
/// y = col2im(W^T X) + bias, then ReLU when relu, with the bits of vl_sgemm's AVX-512 kernels (K =
/// c in one block of kq) followed by vl_col2im, where those two write the whole col and read it
/// back. X [c, n oh ow] has row stride ldx; `packed` is vl_deconv3x3s2_pack's; y's planes (image b, channel co) start
/// at b planes.image + co planes.channel. AVX-512 only, and c <= kq; returns 0, touching nothing,
/// where it does not apply.
int vl_deconv3x3s2_forward(const float *x, long ldx, long n, long c, long o, long oh, long ow, const float *packed,
                           const float *bias, int relu, float *y, vl_planes planes, long kq);

/// Runs `rounds` rounds of the widest vector FMAs this CPU has (AVX-512 or AVX2), in enough
/// independent chains to keep every FMA pipe busy, and returns the FLOPs done (0: no FMA unit
/// here, nothing run). Timed, the machine's float32 peak on one core. *sink keeps the result live.
double vl_fma_peak_flops(long rounds, float *sink);

/// The widest vectors NNKernels computes with here: 512 (AVX-512), 256 (AVX2 and FMA), 128 (x86-64
/// baseline) or 0 (not x86-64). At most 256 in a build with VL_AVX2_ONLY defined (`make bench-avx2`).
int vl_vector_bits(void);

/// On this thread, on (1) or off (0): the direct 3x3 kernels take the narrow register blocks they
/// take without AVX-512 (nn_kernels.c) on AVX-512 machines too. For tests: the bits must not change.
void vl_force_narrow_blocks(int on);

/// This thread's floating-point control bits (x86-64: MXCSR's, without its exception flags), to
/// restore or to copy to another thread.
unsigned vl_fp_mode(void);
/// Sets this thread's floating-point control bits.
void vl_set_fp_mode(unsigned mode);
/// mode with subnormal results and operands flushed to zero (x86-64: FTZ | DAZ; elsewhere mode).
unsigned vl_fp_mode_flushing_subnormals(unsigned mode);

#endif
