// Tile binning and depth sort.
//
// gsplat sorts (tile, depth) keys with a stable radix sort whose input is in Gaussian-index
// order, so inside a tile Gaussians are ordered by depth and ties go to the lower index.  We get
// the same order with one global stable sort by depth (input in index order), then a stable
// counting sort into tiles: each tile's list comes out already in (depth, index) order.
#include "kernels.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace igk {

namespace {

// Monotone map from float to uint32 (works for negative depths too).
inline uint32_t sortable_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Stable LSD radix sort of `ids` by `keys` (11 + 11 + 10 bits).
void radix_sort_by_key(std::vector<uint32_t>& keys, std::vector<int32_t>& ids) {
  const size_t n = keys.size();
  std::vector<uint32_t> keys2(n);
  std::vector<int32_t> ids2(n);
  const int shifts[3] = {0, 11, 22};
  const uint32_t masks[3] = {0x7FFu, 0x7FFu, 0x3FFu};
  for (int pass = 0; pass < 3; ++pass) {
    const int sh = shifts[pass];
    const uint32_t mk = masks[pass];
    size_t count[2049] = {0};
    for (size_t i = 0; i < n; ++i) ++count[((keys[i] >> sh) & mk) + 1];
    // Skip passes where every key has the same digit.
    bool trivial = false;
    for (size_t b = 1; b <= mk + 1; ++b)
      if (count[b] == n) trivial = true;
    if (trivial) continue;
    for (size_t b = 1; b <= mk + 1; ++b) count[b] += count[b - 1];
    for (size_t i = 0; i < n; ++i) {
      const size_t dst = count[(keys[i] >> sh) & mk]++;
      keys2[dst] = keys[i];
      ids2[dst] = ids[i];
    }
    keys.swap(keys2);
    ids.swap(ids2);
  }
}

}  // namespace

int64_t bin_tiles(const int32_t* radii, const float* means2d, const float* depths, int64_t N,
                  int width, int height, int nthreads, std::vector<int64_t>& tile_offsets,
                  std::vector<int32_t>& tile_ids, int32_t* tiles_per_gauss) {
  const int tw = (width + kTile - 1) / kTile;
  const int th = (height + kTile - 1) / kTile;
  const int64_t ntiles = static_cast<int64_t>(tw) * th;

  // Tile rectangle of every Gaussian (gsplat's isect_tiles arithmetic).
  std::vector<int32_t> rect(4 * N);
#pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int64_t g = 0; g < N; ++g) {
    int32_t* r = rect.data() + 4 * g;
    if (radii[2 * g] <= 0 || radii[2 * g + 1] <= 0) {
      r[0] = r[1] = r[2] = r[3] = 0;
      tiles_per_gauss[g] = 0;
      continue;
    }
    const float tmx = means2d[2 * g] / kTile, tmy = means2d[2 * g + 1] / kTile;
    const float trx = radii[2 * g] / static_cast<float>(kTile);
    const float try_ = radii[2 * g + 1] / static_cast<float>(kTile);
    const float fx0 = std::floor(tmx - trx), fx1 = std::ceil(tmx + trx);
    const float fy0 = std::floor(tmy - try_), fy1 = std::ceil(tmy + try_);
    r[0] = static_cast<int32_t>(std::min(std::max(fx0, 0.f), static_cast<float>(tw)));
    r[1] = static_cast<int32_t>(std::min(std::max(fx1, 0.f), static_cast<float>(tw)));
    r[2] = static_cast<int32_t>(std::min(std::max(fy0, 0.f), static_cast<float>(th)));
    r[3] = static_cast<int32_t>(std::min(std::max(fy1, 0.f), static_cast<float>(th)));
    tiles_per_gauss[g] = (r[1] - r[0]) * (r[3] - r[2]);
  }

  // Visible Gaussians in index order, then stable-sorted by depth.
  std::vector<int32_t> order;
  std::vector<uint32_t> keys;
  order.reserve(N);
  keys.reserve(N);
  for (int64_t g = 0; g < N; ++g) {
    if (tiles_per_gauss[g] > 0) {
      order.push_back(static_cast<int32_t>(g));
      keys.push_back(sortable_bits(depths[g]));
    }
  }
  radix_sort_by_key(keys, order);
  const int64_t nvis = static_cast<int64_t>(order.size());

  // Stable counting sort into tiles, parallel over contiguous chunks of the depth order.
  const int nt = std::max(1, std::min<int>(nthreads, static_cast<int>(nvis / 4096) + 1));
  std::vector<int64_t> counts(static_cast<size_t>(nt) * ntiles, 0);
  std::vector<int64_t> chunk(nt + 1);
  for (int t = 0; t <= nt; ++t) chunk[t] = nvis * t / nt;
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    int64_t* cnt = counts.data() + static_cast<size_t>(t) * ntiles;
    for (int64_t i = chunk[t]; i < chunk[t + 1]; ++i) {
      const int32_t* r = rect.data() + 4 * static_cast<int64_t>(order[i]);
      for (int y = r[2]; y < r[3]; ++y)
        for (int x = r[0]; x < r[1]; ++x) ++cnt[static_cast<int64_t>(y) * tw + x];
    }
  }
  tile_offsets.assign(ntiles + 1, 0);
  int64_t total = 0;
  for (int64_t tile = 0; tile < ntiles; ++tile) {
    tile_offsets[tile] = total;
    for (int t = 0; t < nt; ++t) {
      int64_t& c = counts[static_cast<size_t>(t) * ntiles + tile];
      const int64_t n = c;
      c = total;  // becomes this thread's write cursor for the tile
      total += n;
    }
  }
  tile_offsets[ntiles] = total;
  tile_ids.resize(total);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    int64_t* cur = counts.data() + static_cast<size_t>(t) * ntiles;
    for (int64_t i = chunk[t]; i < chunk[t + 1]; ++i) {
      const int32_t g = order[i];
      const int32_t* r = rect.data() + 4 * static_cast<int64_t>(g);
      for (int y = r[2]; y < r[3]; ++y)
        for (int x = r[0]; x < r[1]; ++x) tile_ids[cur[static_cast<int64_t>(y) * tw + x]++] = g;
    }
  }
  return total;
}

}  // namespace igk
