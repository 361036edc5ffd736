// Compositor compiled for the "avx512" instruction-set level (flags set in CMakeLists.txt).
#define IGK_RASTER_NS avx512
#include "raster_impl.h"
