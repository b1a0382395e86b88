#ifndef VAELAB_CCAIRO_SHIM_H
#define VAELAB_CCAIRO_SHIM_H
#include <cairo.h>
#endif
