// Compositor compiled for the "base" instruction-set level (flags set in CMakeLists.txt).
#define IGK_RASTER_NS base
#include "raster_impl.h"
