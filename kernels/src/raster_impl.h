// Front-to-back compositing of binned splats, one 16x16 tile at a time.
//
// This header is compiled several times, once per instruction set (AVX-512, AVX2+FMA, baseline),
// each inside its own namespace IGK_RASTER_NS; dispatch.cpp picks one at run time.
//
// Layout: a tile row (16 pixels) is one 16-lane float vector (GCC vector extension; one zmm
// register with AVX-512, two ymm with AVX2, four xmm otherwise). For each splat in the tile's
// (depth, index) order we visit only the rows its box covers, evaluate all 16 pixels at once,
// and skip the exp() when every lane is beyond ln(255 * opacity). Each row keeps its own
// transmittance and "done" lanes; a row stops when all its pixels are done, a tile when all its
// rows are.  Culling by the box is exact: outside it, sigma > 5.54 and alpha < 1/255.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "common.h"

namespace igk {
namespace IGK_RASTER_NS {

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));

static inline vf splat(float x) { return vf{} + x; }

static inline bool any(vi m) {
#if defined(__AVX512F__)
  const __m512i v = reinterpret_cast<__m512i>(m);
  return _mm512_test_epi32_mask(v, v) != 0;
#elif defined(__AVX2__)
  const __m256i* h = reinterpret_cast<const __m256i*>(&m);
  const __m256i o = _mm256_or_si256(h[0], h[1]);
  return !_mm256_testz_si256(o, o);
#else
  int32_t acc = 0;
  for (int i = 0; i < 16; ++i) acc |= m[i];
  return acc != 0;
#endif
}

static inline bool all(vi m) { return !any(~m); }

// exp(x) for x <= 0, to 2e-7 relative: x = n ln2 + r, |r| <= ln2 / 2, exp(r) by a degree-5
// polynomial (coefficients fitted for minimal relative error on that interval, in float32).
static inline vf vexp_neg(vf x) {
  const vf lo = splat(-87.0f);
  x = x < lo ? lo : x;
  const vf log2e = splat(1.44269504088896341f);
  const vf magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to nearest integer
  vf n = (x * log2e + magic) - magic;
  const vf r = (x - n * splat(0.693145751953125f)) - n * splat(1.42860682030941723212e-6f);
  vf p = splat(0.00829826295375824f);
  p = p * r + splat(0.0419168658554554f);
  p = p * r + splat(0.16667574644088745f);
  p = p * r + splat(0.4999887943267822f);
  p = p * r + splat(0.9999997019767761f);
  p = p * r + splat(1.0000001192092896f);
  const vi ni = __builtin_convertvector(n, vi);
  const vi bits = (ni + 127) << 23;
  vf scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

void rasterize_tiles(const RasterArgs& args) {
  const Splat* splats = args.splats;
  const float* feats = args.feats;
  const int D = args.D, L = args.labels != nullptr ? args.L : 0;
  const int32_t* labels = args.labels;
  const int64_t* tile_offsets = args.tile_offsets;
  const int32_t* tile_ids = args.tile_ids;
  const int width = args.width, height = args.height;
  const int tw = (width + kTile - 1) / kTile;
  const int th = (height + kTile - 1) / kTile;
  const int64_t ntiles = static_cast<int64_t>(tw) * th;
  vf lane;
  for (int i = 0; i < 16; ++i) lane[i] = static_cast<float>(i) + 0.5f;

#pragma omp parallel num_threads(args.nthreads)
  {
    // Per-thread tile state: transmittance and done lanes per row, accumulators [row][D] and
    // label weights [row][L]. Labels are one-hot features accumulated sparsely: a Gaussian
    // adds its weight to its own label's channel only.
    // (Allocated by hand: GCC drops the vector type's 64-byte alignment in std::vector<vf>.)
    const size_t nacc = static_cast<size_t>(kTile) * (std::max(D, 1) + L);
    vf* acc = static_cast<vf*>(std::aligned_alloc(64, nacc * sizeof(vf)));
    vf* acc_lab = acc + static_cast<size_t>(kTile) * std::max(D, 1);
    alignas(64) vf T[kTile];
    alignas(64) vi done[kTile];

#pragma omp for schedule(dynamic, 2)
    for (int64_t tile = 0; tile < ntiles; ++tile) {
      const int tx = static_cast<int>(tile % tw), ty = static_cast<int>(tile / tw);
      const int x0 = tx * kTile, y0 = ty * kTile;
      const int nrows = std::min(kTile, height - y0);
      const int ncols = std::min(kTile, width - x0);
      const vf px = lane + static_cast<float>(x0);
      vi lane_outside;
      for (int i = 0; i < 16; ++i) lane_outside[i] = i < ncols ? 0 : -1;
      uint32_t active = 0;  // bit r set while row r has pixels left to composite
      for (int r = 0; r < kTile; ++r) {
        T[r] = splat(1.f);
        done[r] = lane_outside;
        if (r < nrows) active |= 1u << r;
      }
      for (size_t i = 0; i < nacc; ++i) acc[i] = vf{};

      const int64_t begin = tile_offsets[tile], end = tile_offsets[tile + 1];
      for (int64_t k = begin; k < end && active; ++k) {
        // Splats are visited in depth order, scattered in memory: fetch ahead.
        if (k + 16 < end) {
          const int32_t ga = tile_ids[k + 16];
          __builtin_prefetch(splats + ga);
          __builtin_prefetch(feats + static_cast<int64_t>(ga) * D);
          if (labels != nullptr) __builtin_prefetch(labels + ga);
        }
        const int32_t g = tile_ids[k];
        const Splat s = splats[g];
        // Rows whose pixel centres lie inside the splat's box: |y0 + r + 0.5 - my| <= ry.
        const float ylo = s.my - s.ry - 0.5f - static_cast<float>(y0);
        const float yhi = s.my + s.ry - 0.5f - static_cast<float>(y0);
        const int rlo = std::max(0, static_cast<int>(std::ceil(ylo)));
        const int rhi = std::min(kTile - 1, static_cast<int>(std::floor(yhi)));
        if (rlo > rhi) continue;
        const uint32_t span = ((1u << (rhi - rlo + 1)) - 1u) << rlo;  // rows rlo..rhi (<= 16)
        uint32_t rows = span & active;
        if (!rows) continue;
        const vf dx = px - s.mx;
        const vf adx2 = splat(s.ca) * dx * dx;  // a dx^2
        const vf bdx = splat(s.cb) * dx;        // b dx
        const vf smax = splat(s.sigma_max);
        const vf opac = splat(s.opacity);
        const float* f = feats + static_cast<int64_t>(g) * D;
        const int lab = labels != nullptr ? labels[g] : 0;
        while (rows) {
          const int r = __builtin_ctz(rows);
          rows &= rows - 1;
          const float dy = static_cast<float>(y0 + r) + 0.5f - s.my;
          // Same operation order as the reference: 0.5 (a dx^2 + c dy^2) + b dx dy.
          const vf sigma = splat(0.5f) * (adx2 + splat(s.cc * dy * dy)) + bdx * dy;
          // No early exit when no lane passes: measured faster (the branch mispredicts).
          const vi maybe = (sigma <= smax) & ~done[r];
          vf alpha = opac * vexp_neg(-sigma);
          alpha = alpha < splat(kMaxAlpha) ? alpha : splat(kMaxAlpha);
          vi take = maybe & (sigma >= splat(0.f)) & (alpha >= splat(kAlphaThreshold));
          const vf Tr = T[r];
          const vf next_T = Tr * (splat(1.f) - alpha);
          const vi stop = take & (next_T <= splat(kTransmittanceEps));
          take &= ~stop;
          done[r] |= stop;
          const vf w = take ? alpha * Tr : splat(0.f);
          vf* a = acc + static_cast<size_t>(r) * D;
          for (int d = 0; d < D; ++d) a[d] += w * f[d];
          if (L > 0) acc_lab[static_cast<size_t>(r) * L + lab] += w;
          T[r] = take ? next_T : Tr;
          if (all(done[r])) active &= ~(1u << r);
        }
      }

      // Write out: colour + T * background; alpha = 1 - T; optional normalisation of the
      // last channel by alpha (expected depth), with gsplat's 1e-10 clamp.
      const float* background = args.background;
      for (int r = 0; r < nrows; ++r) {
        const int64_t row_base = static_cast<int64_t>(y0 + r) * width + x0;
        const vf* a = acc + static_cast<size_t>(r) * D;
        for (int c = 0; c < ncols; ++c) {
          const float Tp = T[r][c];
          const float alpha = 1.f - Tp;
          float* o = args.out_feats + (row_base + c) * D;
          for (int d = 0; d < D; ++d) {
            float v = a[d][c];
            if (background != nullptr) v += Tp * background[d];
            o[d] = v;
          }
          if (args.normalize_last && D > 0) o[D - 1] = o[D - 1] / std::max(alpha, 1e-10f);
          args.out_alphas[row_base + c] = alpha;
        }
        if (L > 0) {
          const vf* al = acc_lab + static_cast<size_t>(r) * L;
          for (int c = 0; c < ncols; ++c) {
            float* o = args.out_labels + (row_base + c) * L;
            for (int l = 0; l < L; ++l) o[l] = al[l][c];
          }
        }
      }
    }
    std::free(acc);
  }
}

}  // namespace IGK_RASTER_NS
}  // namespace igk
