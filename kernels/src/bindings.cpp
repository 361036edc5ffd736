// Python bindings (module igen_gs._C). Inputs are C-contiguous float32 NumPy arrays, checked by
// the Python front end (igen_gs.render) and once more here, so that a wrong shape raises a
// ValueError instead of reading out of bounds.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels.h"

namespace py = pybind11;
using f32 = py::array_t<float, py::array::c_style | py::array::forcecast>;
using i32 = py::array_t<int32_t, py::array::c_style>;

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void check_shape(const py::array& a, std::vector<py::ssize_t> shape, const char* name) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i)
    if (shape[i] >= 0 && a.shape(i) != shape[i]) ok = false;
  if (!ok) throw py::value_error(std::string("kernel argument '") + name + "' has the wrong shape");
}

igk::Camera make_camera(const float* V, const float* K) {
  igk::Camera c;
  for (int r = 0; r < 3; ++r) {
    for (int k = 0; k < 3; ++k) c.R[r * 3 + k] = V[r * 4 + k];
    c.t[r] = V[r * 4 + 3];
  }
  c.fx = K[0];
  c.cx = K[2];
  c.fy = K[4];
  c.cy = K[5];
  // Camera centre = -R^T t.
  for (int k = 0; k < 3; ++k)
    c.campos[k] = -(c.R[0 * 3 + k] * c.t[0] + c.R[1 * 3 + k] * c.t[1] + c.R[2 * 3 + k] * c.t[2]);
  return c;
}

struct Inputs {
  const float* means = nullptr;
  const float* quats = nullptr;
  const float* scales = nullptr;
  const float* covars = nullptr;
  const float* opacities = nullptr;
  int64_t N = 0;
};

Inputs gather_inputs(const f32& means, const py::object& quats, const py::object& scales,
                     const py::object& covars, const f32& opacities, f32& q_keep, f32& s_keep,
                     f32& c_keep) {
  Inputs in;
  check_shape(means, {-1, 3}, "means");
  in.N = means.shape(0);
  check_shape(opacities, {in.N}, "opacities");
  in.means = means.data();
  in.opacities = opacities.data();
  if (!covars.is_none()) {
    c_keep = covars.cast<f32>();
    check_shape(c_keep, {in.N, 6}, "covars");
    in.covars = c_keep.data();
  } else {
    if (quats.is_none() || scales.is_none())
      throw py::value_error("kernel needs either covars or quats and scales");
    q_keep = quats.cast<f32>();
    s_keep = scales.cast<f32>();
    check_shape(q_keep, {in.N, 4}, "quats");
    check_shape(s_keep, {in.N, 3}, "scales");
    in.quats = q_keep.data();
    in.scales = s_keep.data();
  }
  return in;
}

py::dict project(const f32& means, const py::object& quats, const py::object& scales,
                 const py::object& covars, const f32& opacities, const f32& viewmats,
                 const f32& Ks, int width, int height, float eps2d, float near_plane,
                 float far_plane, float radius_clip, bool antialiased, int nthreads) {
  f32 qk, sk, ck;
  Inputs in = gather_inputs(means, quats, scales, covars, opacities, qk, sk, ck);
  check_shape(viewmats, {-1, 4, 4}, "viewmats");
  const int64_t C = viewmats.shape(0), N = in.N;
  check_shape(Ks, {C, 3, 3}, "Ks");
  i32 radii({C, N, static_cast<int64_t>(2)});
  f32 depths({C, N});
  f32 splats({C, N, static_cast<int64_t>(8)});
  igk::ProjectOptions opt;
  opt.width = width;
  opt.height = height;
  opt.eps2d = eps2d;
  opt.near_plane = near_plane;
  opt.far_plane = far_plane;
  opt.radius_clip = radius_clip;
  opt.antialiased = antialiased;
  {
    py::gil_scoped_release release;
    for (int64_t c = 0; c < C; ++c) {
      const igk::Camera cam = make_camera(viewmats.data() + 16 * c, Ks.data() + 9 * c);
      igk::ProjectOutputs out{radii.mutable_data() + c * N * 2, depths.mutable_data() + c * N,
                              reinterpret_cast<igk::Splat*>(splats.mutable_data() + c * N * 8)};
      igk::project_camera(in.means, in.quats, in.scales, in.covars, in.opacities, N, cam, opt,
                          out, nthreads);
    }
  }
  py::dict d;
  d["radii"] = radii;
  d["depths"] = depths;
  d["splats"] = splats;
  return d;
}

py::dict sh_colors(int degree, const f32& sh, const f32& means, const f32& campos, int nthreads) {
  check_shape(means, {-1, 3}, "means");
  const int64_t N = means.shape(0);
  check_shape(sh, {N, -1, 3}, "sh");
  const int K = static_cast<int>(sh.shape(1));
  if (degree < 0 || degree > 3 || (degree + 1) * (degree + 1) > K)
    throw py::value_error("sh_degree must be in 0..3 with (sh_degree + 1)^2 <= K");
  check_shape(campos, {3}, "campos");
  f32 colors({N, static_cast<int64_t>(3)});
  {
    py::gil_scoped_release release;
    igk::sh_to_colors(degree, K, sh.data(), means.data(), campos.data(), nullptr, N,
                      colors.mutable_data(), 3, nthreads);
  }
  py::dict d;
  d["colors"] = colors;
  return d;
}

// Buffers reused between calls on one thread (the no-meta path keeps its per-camera
// projection results here instead of in fresh arrays).
struct RenderWorkspace {
  std::vector<int32_t> radii, tiles_per_gauss, tile_ids;
  std::vector<float> depths, feats;
  std::vector<igk::Splat> splats;
  std::vector<int64_t> tile_offsets;
};
thread_local RenderWorkspace render_workspace;

// Full forward pass for C cameras.
//   colors: [N, D] or [C, N, D] features, or SH [N, K, 3] / [C, N, K, 3] when sh_degree >= 0,
//           or None (depth-only).
//   depth_channel: append the camera-space depth as the last channel.
//   normalize_last: divide the last channel by alpha (expected depth).
//   backgrounds: [C, Dout] or None.
py::dict rasterize(const f32& means, const py::object& quats, const py::object& scales,
                   const py::object& covars, const f32& opacities, const py::object& colors_obj,
                   int sh_degree, const f32& viewmats, const f32& Ks, int width, int height,
                   float eps2d, float near_plane, float far_plane, float radius_clip,
                   bool antialiased, bool depth_channel, bool normalize_last,
                   const py::object& backgrounds_obj, const py::object& labels_obj,
                   int num_labels, bool with_meta, const std::string& simd, int nthreads) {
  f32 qk, sk, ck;
  Inputs in = gather_inputs(means, quats, scales, covars, opacities, qk, sk, ck);
  check_shape(viewmats, {-1, 4, 4}, "viewmats");
  const int64_t C = viewmats.shape(0), N = in.N;
  check_shape(Ks, {C, 3, 3}, "Ks");
  if (width <= 0 || height <= 0) throw py::value_error("width and height must be positive");

  f32 colors;
  int64_t Dc = 0;
  bool per_camera = false;
  int K = 0;
  if (!colors_obj.is_none()) {
    colors = colors_obj.cast<f32>();
    if (sh_degree >= 0) {
      per_camera = colors.ndim() == 4;
      if (per_camera) check_shape(colors, {C, N, -1, 3}, "colors");
      else check_shape(colors, {N, -1, 3}, "colors");
      K = static_cast<int>(colors.shape(colors.ndim() - 2));
      if (sh_degree > 3 || (sh_degree + 1) * (sh_degree + 1) > K)
        throw py::value_error("sh_degree must be in 0..3 with (sh_degree + 1)^2 <= K");
      Dc = 3;
    } else {
      per_camera = colors.ndim() == 3;
      if (per_camera) check_shape(colors, {C, N, -1}, "colors");
      else check_shape(colors, {N, -1}, "colors");
      Dc = colors.shape(colors.ndim() - 1);
    }
  }
  const int64_t D = Dc + (depth_channel ? 1 : 0);
  if (D <= 0) throw py::value_error("nothing to render: no colour channels and no depth");
  f32 backgrounds;
  const bool has_bg = !backgrounds_obj.is_none();
  if (has_bg) {
    backgrounds = backgrounds_obj.cast<f32>();
    check_shape(backgrounds, {C, D}, "backgrounds");
  }
  igk::RasterFn raster = igk::raster_for(simd.c_str());
  if (raster == nullptr)
    throw py::value_error("SIMD level '" + simd + "' is not available on this CPU/build");

  const int tw = (width + igk::kTile - 1) / igk::kTile;
  const int th = (height + igk::kTile - 1) / igk::kTile;
  f32 out_colors({C, static_cast<int64_t>(height), static_cast<int64_t>(width), D});
  // Optional per-Gaussian labels, rendered as one-hot channels accumulated sparsely.
  py::array_t<int32_t, py::array::c_style | py::array::forcecast> labels;
  const bool has_labels = !labels_obj.is_none();
  if (has_labels) {
    labels = labels_obj.cast<py::array_t<int32_t, py::array::c_style | py::array::forcecast>>();
    check_shape(labels, {N}, "labels");
    if (num_labels <= 0) throw py::value_error("num_labels must be positive with labels");
    const int32_t* lp = labels.data();
    for (int64_t g = 0; g < N; ++g)
      if (lp[g] < 0 || lp[g] >= num_labels)
        throw py::value_error("labels must lie in [0, num_labels)");
  }
  const int64_t L = has_labels ? num_labels : 0;
  f32 out_labels({C, static_cast<int64_t>(height), static_cast<int64_t>(width), L});
  f32 out_alphas({C, static_cast<int64_t>(height), static_cast<int64_t>(width),
                  static_cast<int64_t>(1)});
  // Per-camera projection results: returned as gsplat-style meta ([C, N, ...] arrays), or,
  // without meta, kept in this thread's reusable workspace (one camera's worth).
  const int64_t Cm = with_meta ? C : 0;
  i32 radii({Cm, N, static_cast<int64_t>(2)});
  f32 depths({Cm, N});
  f32 splats_arr({Cm, N, static_cast<int64_t>(8)});
  i32 tiles_per_gauss({Cm, N});
  i32 isect_offsets({Cm, static_cast<int64_t>(th), static_cast<int64_t>(tw)});
  std::vector<std::vector<int32_t>> flat_ids(Cm);
  RenderWorkspace& ws = render_workspace;
  if (!with_meta) {
    ws.radii.resize(2 * N);
    ws.depths.resize(N);
    ws.splats.resize(N);
    ws.tiles_per_gauss.resize(N);
  }
  double t_project = 0, t_bin = 0, t_raster = 0;
  int64_t n_isects = 0;

  igk::ProjectOptions opt;
  opt.width = width;
  opt.height = height;
  opt.eps2d = eps2d;
  opt.near_plane = near_plane;
  opt.far_plane = far_plane;
  opt.radius_clip = radius_clip;
  opt.antialiased = antialiased;
  // Features are read straight from the input when they are plain per-Gaussian colours;
  // otherwise (SH, or an appended depth channel) they are built per camera.
  const bool direct_feats = Dc > 0 && sh_degree < 0 && !depth_channel;
  {
    py::gil_scoped_release release;
    ws.feats.resize(direct_feats ? 0 : static_cast<size_t>(N) * D);
    std::vector<float>& feats = ws.feats;
    std::vector<int64_t>& tile_offsets = ws.tile_offsets;
    std::vector<int32_t>& tile_ids = ws.tile_ids;
    for (int64_t c = 0; c < C; ++c) {
      auto t0 = Clock::now();
      const igk::Camera cam = make_camera(viewmats.data() + 16 * c, Ks.data() + 9 * c);
      int32_t* rc = with_meta ? radii.mutable_data() + c * N * 2 : ws.radii.data();
      igk::Splat* splats = with_meta
          ? reinterpret_cast<igk::Splat*>(splats_arr.mutable_data() + c * N * 8)
          : ws.splats.data();
      float* dc_out = with_meta ? depths.mutable_data() + c * N : ws.depths.data();
      int32_t* tpg = with_meta ? tiles_per_gauss.mutable_data() + c * N
                               : ws.tiles_per_gauss.data();
      igk::ProjectOutputs out{rc, dc_out, splats};
      igk::project_camera(in.means, in.quats, in.scales, in.covars, in.opacities, N, cam, opt,
                          out, nthreads);
      // Per-Gaussian feature vectors for this camera: colours, then depth.
      const float* dc = dc_out;
      const float* feat_ptr = feats.data();
      if (direct_feats) {
        feat_ptr = colors.data() + (per_camera ? c * N * Dc : 0);
      } else if (Dc > 0 && sh_degree >= 0) {
        const float* sh = colors.data() + (per_camera ? c * N * K * 3 : 0);
        igk::sh_to_colors(sh_degree, K, sh, in.means, cam.campos, rc, N, feats.data(),
                          static_cast<int>(D), nthreads);
      } else if (Dc > 0) {
        const float* src = colors.data() + (per_camera ? c * N * Dc : 0);
#pragma omp parallel for schedule(static) num_threads(nthreads)
        for (int64_t g = 0; g < N; ++g) {
          if (rc[2 * g] > 0) std::memcpy(&feats[g * D], src + g * Dc, sizeof(float) * Dc);
        }
      }
      if (depth_channel) {
#pragma omp parallel for schedule(static) num_threads(nthreads)
        for (int64_t g = 0; g < N; ++g) feats[g * D + D - 1] = dc[g];
      }
      t_project += ms_since(t0);

      t0 = Clock::now();
      const int64_t n = igk::bin_tiles(rc, splats, dc, N, width, height, nthreads,
                                       tile_offsets, tile_ids, tpg);
      n_isects += n;
      if (with_meta) {
        int32_t* offs = isect_offsets.mutable_data() + c * th * tw;
        for (int64_t t = 0; t < static_cast<int64_t>(th) * tw; ++t)
          offs[t] = static_cast<int32_t>(tile_offsets[t]);
      }
      t_bin += ms_since(t0);

      t0 = Clock::now();
      igk::RasterArgs ra;
      ra.splats = splats;
      ra.feats = feat_ptr;
      ra.D = static_cast<int>(D);
      ra.labels = has_labels ? labels.data() : nullptr;
      ra.L = static_cast<int>(L);
      ra.tile_offsets = tile_offsets.data();
      ra.tile_ids = tile_ids.data();
      ra.width = width;
      ra.height = height;
      ra.background = has_bg ? backgrounds.data() + c * D : nullptr;
      ra.normalize_last = normalize_last;
      ra.out_feats = out_colors.mutable_data() + c * height * width * D;
      ra.out_alphas = out_alphas.mutable_data() + c * height * width;
      ra.out_labels = has_labels ? out_labels.mutable_data() + c * height * width * L : nullptr;
      ra.nthreads = nthreads;
      raster(ra);
      t_raster += ms_since(t0);
      if (with_meta) flat_ids[c].assign(tile_ids.begin(), tile_ids.end());
    }
  }
  // gsplat-style flatten ids (camera * N + gaussian) and global isect offsets.
  i32 flatten_ids({with_meta ? n_isects : 0});
  {
    int64_t pos = 0;
    int32_t* fi = flatten_ids.mutable_data();
    int32_t* offs = isect_offsets.mutable_data();
    for (int64_t c = 0; c < Cm; ++c) {
      for (int64_t t = 0; t < static_cast<int64_t>(th) * tw; ++t)
        offs[c * th * tw + t] += static_cast<int32_t>(pos);
      for (int32_t g : flat_ids[c]) fi[pos++] = static_cast<int32_t>(c * N + g);
    }
  }
  py::dict d;
  d["render_colors"] = out_colors;
  d["render_alphas"] = out_alphas;
  if (has_labels) d["label_weights"] = out_labels;
  if (with_meta) {
    d["radii"] = radii;
    d["depths"] = depths;
    d["splats"] = splats_arr;
    d["tiles_per_gauss"] = tiles_per_gauss;
    d["isect_offsets"] = isect_offsets;
    d["flatten_ids"] = flatten_ids;
  }
  d["n_isects"] = n_isects;
  d["tile_width"] = tw;
  d["tile_height"] = th;
  py::dict timings;
  timings["project"] = t_project;
  timings["bin"] = t_bin;
  timings["raster"] = t_raster;
  d["timings_ms"] = timings;
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "igen-gs native CPU kernels: projection, tile binning + depth sort, compositing";
  m.def("project", &project, py::arg("means"), py::arg("quats"), py::arg("scales"),
        py::arg("covars"), py::arg("opacities"), py::arg("viewmats"), py::arg("Ks"),
        py::arg("width"), py::arg("height"), py::arg("eps2d"), py::arg("near_plane"),
        py::arg("far_plane"), py::arg("radius_clip"), py::arg("antialiased"),
        py::arg("nthreads"));
  m.def("sh_colors", &sh_colors, py::arg("degree"), py::arg("sh"), py::arg("means"),
        py::arg("campos"), py::arg("nthreads"));
  m.def("rasterize", &rasterize, py::arg("means"), py::arg("quats"), py::arg("scales"),
        py::arg("covars"), py::arg("opacities"), py::arg("colors"), py::arg("sh_degree"),
        py::arg("viewmats"), py::arg("Ks"), py::arg("width"), py::arg("height"),
        py::arg("eps2d"), py::arg("near_plane"), py::arg("far_plane"), py::arg("radius_clip"),
        py::arg("antialiased"), py::arg("depth_channel"), py::arg("normalize_last"),
        py::arg("backgrounds"), py::arg("labels"), py::arg("num_labels"), py::arg("with_meta"),
        py::arg("simd"), py::arg("nthreads"));
  m.def("simd_levels", []() {
    std::vector<std::string> v;
    for (const char* l : igk::available_simd_levels()) v.emplace_back(l);
    return v;
  });
  m.def("compiled_simd_levels", []() {
    std::vector<std::string> v;
    for (const char* l : igk::compiled_simd_levels()) v.emplace_back(l);
    return v;
  });
}
