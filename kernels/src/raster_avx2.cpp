// Compositor compiled for the "avx2" instruction-set level (flags set in CMakeLists.txt).
#define IGK_RASTER_NS avx2
#include "raster_impl.h"
