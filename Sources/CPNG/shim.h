#ifndef VAELAB_CPNG_SHIM_H
#define VAELAB_CPNG_SHIM_H
#include <png.h>
#endif
