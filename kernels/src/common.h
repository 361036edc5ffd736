// Shared types and constants of the igen-gs CPU kernels.
//
// Semantics follow gsplat 1.5 (3DGS, pinhole camera, forward pass):
//   * OpenCV pinhole camera, x right, y down, z forward; pixel centres at (j + 0.5, i + 0.5).
//   * eps2d is added to the diagonal of the projected 2D covariance.
//   * Per-axis radius ceil(3.33 * sqrt(cov2d diagonal)); near/far and off-screen culling.
//   * Front-to-back compositing in (depth, Gaussian index) order, alpha = min(0.999,
//     opacity * exp(-sigma)), alpha < 1/255 skipped, stop before the Gaussian that would take
//     transmittance to <= 1e-4, background added as T * bg.
// Everything is float32, like gsplat's CUDA kernels.
#pragma once

#include <cstdint>
#include <cstddef>

namespace igk {

constexpr float kAlphaThreshold = 1.0f / 255.0f;
constexpr float kMaxAlpha = 0.999f;
constexpr float kTransmittanceEps = 1e-4f;
constexpr float kRadiusExtent = 3.33f;
constexpr int kTile = 16;  // tile edge in pixels; one tile row is one 16-lane vector

// One projected Gaussian, as the compositor reads it (32 bytes, two per cache line). The
// Python side also views an array of these as gsplat's meta (means2d, conics, opacities).
struct Splat {
  float mx, my;     // 2D mean in pixels
  float ca, cb, cc; // conic (inverse 2D covariance): [ca cb; cb cc]
  float opacity;    // opacity, already multiplied by the antialiasing compensation if any
  float sigma_max;  // ln(255 * opacity) + margin: above it alpha < 1/255 for sure
  float ry;         // rows farther than this from my have alpha < 1/255 (pixels)
};

struct Camera {
  float R[9];   // world-to-camera rotation, row-major
  float t[3];   // world-to-camera translation
  float fx, fy, cx, cy;
  float campos[3];  // camera centre in world coordinates (for SH view directions)
};

struct ProjectOptions {
  int width = 0;
  int height = 0;
  float eps2d = 0.3f;
  float near_plane = 0.01f;
  float far_plane = 1e10f;
  float radius_clip = 0.0f;
  bool antialiased = false;
};

static_assert(sizeof(Splat) == 8 * sizeof(float), "Splat must be 8 packed floats");

// Per-camera results of the projection stage, arrays of length N.
struct ProjectOutputs {
  int32_t* radii;  // [N, 2], 0 when culled
  float* depths;   // [N], camera z
  Splat* splats;   // [N], all zero when culled
};

// Inputs and outputs of the compositor for one camera.
struct RasterArgs {
  const Splat* splats = nullptr;        // [N]
  const float* feats = nullptr;         // [N, D] features per Gaussian
  int D = 0;
  const int32_t* labels = nullptr;      // [N] label per Gaussian in [0, L), or null
  int L = 0;                            // number of labels
  const int64_t* tile_offsets = nullptr;  // [ntiles + 1]
  const int32_t* tile_ids = nullptr;    // Gaussians per tile, in (depth, index) order
  int width = 0, height = 0;
  const float* background = nullptr;    // [D] or null
  bool normalize_last = false;          // divide the last channel by alpha (expected depth)
  float* out_feats = nullptr;           // [H, W, D]
  float* out_alphas = nullptr;          // [H, W]
  float* out_labels = nullptr;          // [H, W, L]: blending weight of each label
  int nthreads = 1;
};

}  // namespace igk
