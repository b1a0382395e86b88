#ifndef VAELAB_CZLIB_SHIM_H
#define VAELAB_CZLIB_SHIM_H
#include <zlib.h>
#endif
