#ifndef VAELAB_CBLAS_SHIM_H
#define VAELAB_CBLAS_SHIM_H
#include <cblas.h>
#include <stddef.h>

/* LAPACK's symmetric eigensolver, as OpenBLAS exports it (Fortran calling convention: every
   argument by reference, then the hidden lengths of the two character arguments). */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t jobz_len, size_t uplo_len);
#endif
