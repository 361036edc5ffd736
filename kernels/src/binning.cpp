// Tile binning and depth sort.
//
// gsplat sorts (tile, depth) keys with a stable radix sort whose input is in Gaussian-index
// order, so inside a tile Gaussians are ordered by depth and ties go to the lower index.  We get
// the same order with one global stable sort by depth (input in index order), then a stable
// counting sort into tiles: each tile's list comes out already in (depth, index) order.
//
// Every pass is split into contiguous chunks, one per thread, combined in chunk order, so the
// result is identical for any thread count.
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

struct Rect {
  int x0, x1, y0, y1;  // tiles [x0, x1) x [y0, y1)
};

// gsplat's isect_tiles arithmetic.
inline Rect tile_rect(const Splat& s, const int32_t* r, int tw, int th) {
  const float tmx = s.mx / kTile, tmy = s.my / kTile;
  const float trx = r[0] / static_cast<float>(kTile), try_ = r[1] / static_cast<float>(kTile);
  auto clampi = [](float v, int hi) {
    return static_cast<int>(std::min(std::max(v, 0.f), static_cast<float>(hi)));
  };
  return {clampi(std::floor(tmx - trx), tw), clampi(std::ceil(tmx + trx), tw),
          clampi(std::floor(tmy - try_), th), clampi(std::ceil(tmy + try_), th)};
}

inline int64_t chunk_begin(int64_t n, int t, int nt) { return n * t / nt; }

// Scratch buffers, kept per calling thread between calls so that repeated renders do not pay
// for page faults on fresh allocations. Parallel regions access them through raw pointers
// taken by the calling thread.
struct Workspace {
  std::vector<uint32_t> keys, keys2;
  std::vector<int32_t> ids, ids2;
  std::vector<int64_t> counts;
  std::vector<Rect> rects;
};
thread_local Workspace ws;

// Stable LSD radix sort of ids by keys (11 + 11 + 10 bits), parallel over nt chunks.
void radix_sort_by_key(int64_t n, int nt) {
  ws.keys2.resize(n);
  ws.ids2.resize(n);
  const int shifts[3] = {0, 11, 22};
  const uint32_t masks[3] = {0x7FFu, 0x7FFu, 0x3FFu};
  std::vector<int64_t> hist(static_cast<size_t>(nt) * 2048);
  for (int pass = 0; pass < 3; ++pass) {
    const int sh = shifts[pass];
    const uint32_t mk = masks[pass];
    const int nb = static_cast<int>(mk) + 1;
    std::fill(hist.begin(), hist.end(), 0);
    const uint32_t* keys = ws.keys.data();
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      int64_t* h = hist.data() + static_cast<size_t>(t) * 2048;
      for (int64_t i = chunk_begin(n, t, nt); i < chunk_begin(n, t + 1, nt); ++i)
        ++h[(keys[i] >> sh) & mk];
    }
    // Skip passes where every key has the same digit.
    bool trivial = false;
    for (int b = 0; b < nb && !trivial; ++b) {
      int64_t tot = 0;
      for (int t = 0; t < nt; ++t) tot += hist[static_cast<size_t>(t) * 2048 + b];
      trivial = tot == n;
    }
    if (trivial) continue;
    int64_t pos = 0;  // exclusive prefix over (digit, thread)
    for (int b = 0; b < nb; ++b)
      for (int t = 0; t < nt; ++t) {
        int64_t& h = hist[static_cast<size_t>(t) * 2048 + b];
        const int64_t c = h;
        h = pos;
        pos += c;
      }
    const int32_t* ids = ws.ids.data();
    uint32_t* keys2 = ws.keys2.data();
    int32_t* ids2 = ws.ids2.data();
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      int64_t* h = hist.data() + static_cast<size_t>(t) * 2048;
      for (int64_t i = chunk_begin(n, t, nt); i < chunk_begin(n, t + 1, nt); ++i) {
        const int64_t dst = h[(keys[i] >> sh) & mk]++;
        keys2[dst] = keys[i];
        ids2[dst] = ids[i];
      }
    }
    ws.keys.swap(ws.keys2);
    ws.ids.swap(ws.ids2);
  }
}

}  // namespace

int64_t bin_tiles(const int32_t* radii, const Splat* splats, const float* depths, int64_t N,
                  int width, int height, int nthreads, std::vector<int64_t>& tile_offsets,
                  std::vector<int32_t>& tile_ids, int32_t* tiles_per_gauss) {
  const int tw = (width + kTile - 1) / kTile;
  const int th = (height + kTile - 1) / kTile;
  const int64_t ntiles = static_cast<int64_t>(tw) * th;
  const int nt = std::max(1, std::min<int>(nthreads, static_cast<int>(N / 8192) + 1));

  // 1. Tiles per Gaussian, and the visible ones (in index order) with their depth keys.
  std::vector<int64_t> chunk_vis(nt + 1, 0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    int64_t cnt = 0;
    for (int64_t g = chunk_begin(N, t, nt); g < chunk_begin(N, t + 1, nt); ++g) {
      const int32_t* r = radii + 2 * g;
      int32_t n = 0;
      if (r[0] > 0 && r[1] > 0) {
        const Rect q = tile_rect(splats[g], r, tw, th);
        n = (q.x1 - q.x0) * (q.y1 - q.y0);
      }
      tiles_per_gauss[g] = n;
      cnt += n > 0;
    }
    chunk_vis[t + 1] = cnt;
  }
  for (int t = 0; t < nt; ++t) chunk_vis[t + 1] += chunk_vis[t];
  const int64_t nvis = chunk_vis[nt];
  // (ws is this thread's; OpenMP workers must use these plain pointers, not ws itself.)
  ws.keys.resize(nvis);
  ws.ids.resize(nvis);
  uint32_t* keys = ws.keys.data();
  int32_t* ids = ws.ids.data();
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    int64_t pos = chunk_vis[t];
    for (int64_t g = chunk_begin(N, t, nt); g < chunk_begin(N, t + 1, nt); ++g) {
      if (tiles_per_gauss[g] > 0) {
        keys[pos] = sortable_bits(depths[g]);
        ids[pos] = static_cast<int32_t>(g);
        ++pos;
      }
    }
  }

  // 2. Stable sort by depth.
  radix_sort_by_key(nvis, nt);
  const int32_t* order = ws.ids.data();

  // 3. Stable counting sort into tiles, parallel over contiguous chunks of the depth order.
  //    Tile rectangles are laid out in that order first, so both passes stream through them.
  ws.rects.resize(nvis);
  Rect* rects = ws.rects.data();
  ws.counts.assign(static_cast<size_t>(nt) * ntiles, 0);
  int64_t* counts = ws.counts.data();
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    int64_t* cnt = counts + static_cast<size_t>(t) * ntiles;
    const int64_t i_end = chunk_begin(nvis, t + 1, nt);
    for (int64_t i = chunk_begin(nvis, t, nt); i < i_end; ++i) {
      if (i + 16 < i_end) {  // depth order is scattered in memory: fetch ahead
        __builtin_prefetch(splats + order[i + 16]);
        __builtin_prefetch(radii + 2 * static_cast<int64_t>(order[i + 16]));
      }
      const int32_t g = order[i];
      const Rect q = tile_rect(splats[g], radii + 2 * static_cast<int64_t>(g), tw, th);
      rects[i] = q;
      for (int y = q.y0; y < q.y1; ++y)
        for (int x = q.x0; x < q.x1; ++x) ++cnt[static_cast<int64_t>(y) * tw + x];
    }
  }
  tile_offsets.resize(ntiles + 1);
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
  int32_t* out = tile_ids.data();
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    int64_t* cur = counts + static_cast<size_t>(t) * ntiles;
    for (int64_t i = chunk_begin(nvis, t, nt); i < chunk_begin(nvis, t + 1, nt); ++i) {
      const int32_t g = order[i];
      const Rect q = rects[i];
      for (int y = q.y0; y < q.y1; ++y)
        for (int x = q.x0; x < q.x1; ++x) out[cur[static_cast<int64_t>(y) * tw + x]++] = g;
    }
  }
  return total;
}

}  // namespace igk
