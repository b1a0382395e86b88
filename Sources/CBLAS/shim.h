#ifndef VAELAB_CBLAS_SHIM_H
#define VAELAB_CBLAS_SHIM_H
#include <cblas.h>
#endif
