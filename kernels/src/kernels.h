// Internal interfaces between the kernel translation units.
#pragma once

#include <cstdint>
#include <vector>

#include "common.h"

namespace igk {

// Projects N Gaussians into one camera. Either covars6 ([N, 6] upper triangle) or
// quats ([N, 4], w x y z) and scales ([N, 3]) are given.
void project_camera(const float* means, const float* quats, const float* scales,
                    const float* covars6, const float* opacities, int64_t N, const Camera& cam,
                    const ProjectOptions& opt, const ProjectOutputs& out, int nthreads);

// colors[g * stride + c] = max(0, SH(dir_g) . sh[g, :, c] + 0.5) for visible Gaussians.
void sh_to_colors(int degree, int K, const float* sh, const float* means, const float* campos,
                  const int32_t* radii, int64_t N, float* colors, int stride, int nthreads);

// Bins visible Gaussians into 16x16 tiles. tile_ids[tile_offsets[t] : tile_offsets[t + 1]]
// lists tile t's Gaussians in (depth, index) order. Returns the number of intersections.
int64_t bin_tiles(const int32_t* radii, const Splat* splats, const float* depths, int64_t N,
                  int width, int height, int nthreads, std::vector<int64_t>& tile_offsets,
                  std::vector<int32_t>& tile_ids, int32_t* tiles_per_gauss);

using RasterFn = void (*)(const RasterArgs& args);

// Instruction-set levels compiled into this build, best first ("avx512", "avx2", "base").
std::vector<const char*> compiled_simd_levels();
// Levels both compiled and supported by this CPU, best first.
std::vector<const char*> available_simd_levels();
// Compositor for a level name ("" = best available); nullptr if unavailable.
RasterFn raster_for(const char* level);

}  // namespace igk
