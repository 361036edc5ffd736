// Run-time choice of the compositor's instruction set.
#include <cstring>

#include "kernels.h"

namespace igk {

namespace base {
void rasterize_tiles(const RasterArgs&);
}
#ifdef IGK_HAVE_AVX2
namespace avx2 {
void rasterize_tiles(const RasterArgs&);
}
#endif
#ifdef IGK_HAVE_AVX512
namespace avx512 {
void rasterize_tiles(const RasterArgs&);
}
#endif

std::vector<const char*> compiled_simd_levels() {
  std::vector<const char*> v;
#ifdef IGK_HAVE_AVX512
  v.push_back("avx512");
#endif
#ifdef IGK_HAVE_AVX2
  v.push_back("avx2");
#endif
  v.push_back("base");
  return v;
}

static bool cpu_supports(const char* level) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (std::strcmp(level, "avx512") == 0)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (std::strcmp(level, "avx2") == 0)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return std::strcmp(level, "base") == 0;
}

std::vector<const char*> available_simd_levels() {
  std::vector<const char*> v;
  for (const char* l : compiled_simd_levels())
    if (cpu_supports(l)) v.push_back(l);
  return v;
}

RasterFn raster_for(const char* level) {
  const auto avail = available_simd_levels();
  const char* pick = nullptr;
  if (level == nullptr || level[0] == '\0') {
    pick = avail.front();
  } else {
    for (const char* l : avail)
      if (std::strcmp(l, level) == 0) pick = l;
  }
  if (pick == nullptr) return nullptr;
#ifdef IGK_HAVE_AVX512
  if (std::strcmp(pick, "avx512") == 0) return &avx512::rasterize_tiles;
#endif
#ifdef IGK_HAVE_AVX2
  if (std::strcmp(pick, "avx2") == 0) return &avx2::rasterize_tiles;
#endif
  return &base::rasterize_tiles;
}

}  // namespace igk
