// Projection of 3D Gaussians to 2D (EWA splatting, gsplat 1.5 semantics) and SH colours.
#include "kernels.h"

#include <algorithm>
#include <cmath>

namespace igk {

namespace {

// Upper triangle (xx, xy, xz, yy, yz, zz) of R(q) diag(s)^2 R(q)^T, q = (w, x, y, z) normalised.
inline void quat_scale_to_covar(const float* q_in, const float* s, float* cov6) {
  float w = q_in[0], x = q_in[1], y = q_in[2], z = q_in[3];
  const float norm = std::sqrt(w * w + x * x + y * y + z * z);
  const float inv = 1.0f / std::max(norm, 1e-12f);
  w *= inv; x *= inv; y *= inv; z *= inv;
  const float R[9] = {
      1.f - 2.f * (y * y + z * z), 2.f * (x * y - w * z),       2.f * (x * z + w * y),
      2.f * (x * y + w * z),       1.f - 2.f * (x * x + z * z), 2.f * (y * z - w * x),
      2.f * (x * z - w * y),       2.f * (y * z + w * x),       1.f - 2.f * (x * x + y * y)};
  float M[9];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) M[r * 3 + c] = R[r * 3 + c] * s[c];
  // cov = M M^T
  cov6[0] = M[0] * M[0] + M[1] * M[1] + M[2] * M[2];
  cov6[1] = M[0] * M[3] + M[1] * M[4] + M[2] * M[5];
  cov6[2] = M[0] * M[6] + M[1] * M[7] + M[2] * M[8];
  cov6[3] = M[3] * M[3] + M[4] * M[4] + M[5] * M[5];
  cov6[4] = M[3] * M[6] + M[4] * M[7] + M[5] * M[8];
  cov6[5] = M[6] * M[6] + M[7] * M[7] + M[8] * M[8];
}

inline void cull(const ProjectOutputs& out, int64_t g) {
  out.radii[2 * g] = 0;
  out.radii[2 * g + 1] = 0;
}

}  // namespace

void project_camera(const float* means, const float* quats, const float* scales,
                    const float* covars6, const float* opacities, int64_t N, const Camera& cam,
                    const ProjectOptions& opt, const ProjectOutputs& out, int nthreads) {
  const float W = static_cast<float>(opt.width);
  const float H = static_cast<float>(opt.height);
  const float tan_fovx = 0.5f * W / cam.fx;
  const float tan_fovy = 0.5f * H / cam.fy;
  const float lim_x_pos = (W - cam.cx) / cam.fx + 0.3f * tan_fovx;
  const float lim_x_neg = cam.cx / cam.fx + 0.3f * tan_fovx;
  const float lim_y_pos = (H - cam.cy) / cam.fy + 0.3f * tan_fovy;
  const float lim_y_neg = cam.cy / cam.fy + 0.3f * tan_fovy;
  const float* R = cam.R;

#pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int64_t g = 0; g < N; ++g) {
    const float* m = means + 3 * g;
    // Mean in camera coordinates.
    const float x = R[0] * m[0] + R[1] * m[1] + R[2] * m[2] + cam.t[0];
    const float y = R[3] * m[0] + R[4] * m[1] + R[5] * m[2] + cam.t[1];
    const float z = R[6] * m[0] + R[7] * m[1] + R[8] * m[2] + cam.t[2];
    out.depths[g] = z;
    out.means2d[2 * g] = 0.f;
    out.means2d[2 * g + 1] = 0.f;
    out.conics[3 * g] = out.conics[3 * g + 1] = out.conics[3 * g + 2] = 0.f;
    out.opacities[g] = 0.f;
    if (!(z >= opt.near_plane && z <= opt.far_plane)) {  // also rejects NaN
      cull(out, g);
      continue;
    }
    float c6[6];
    if (covars6 != nullptr) {
      for (int k = 0; k < 6; ++k) c6[k] = covars6[6 * g + k];
    } else {
      quat_scale_to_covar(quats + 4 * g, scales + 3 * g, c6);
    }
    const float C[9] = {c6[0], c6[1], c6[2], c6[1], c6[3], c6[4], c6[2], c6[4], c6[5]};
    // Covariance in camera coordinates: Rc = R C R^T.
    float RC[9];
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c)
        RC[r * 3 + c] = R[r * 3 + 0] * C[0 * 3 + c] + R[r * 3 + 1] * C[1 * 3 + c] +
                        R[r * 3 + 2] * C[2 * 3 + c];
    float Cc[9];
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c)
        Cc[r * 3 + c] = RC[r * 3 + 0] * R[c * 3 + 0] + RC[r * 3 + 1] * R[c * 3 + 1] +
                        RC[r * 3 + 2] * R[c * 3 + 2];
    // Perspective Jacobian, with the view-frustum clamp of the Jacobian's x/z and y/z.
    const float rz = 1.f / z;
    const float rz2 = rz * rz;
    const float tx = z * std::min(lim_x_pos, std::max(-lim_x_neg, x * rz));
    const float ty = z * std::min(lim_y_pos, std::max(-lim_y_neg, y * rz));
    const float J00 = cam.fx * rz, J02 = -cam.fx * tx * rz2;
    const float J11 = cam.fy * rz, J12 = -cam.fy * ty * rz2;
    // cov2d = J Cc J^T with J = [[J00, 0, J02], [0, J11, J12]].
    const float a0 = J00 * Cc[0] + J02 * Cc[6], a1 = J00 * Cc[1] + J02 * Cc[7],
                a2 = J00 * Cc[2] + J02 * Cc[8];
    const float b1 = J11 * Cc[4] + J12 * Cc[7], b2 = J11 * Cc[5] + J12 * Cc[8];
    float c00 = a0 * J00 + a2 * J02;
    const float c01 = a1 * J11 + a2 * J12;
    float c11 = b1 * J11 + b2 * J12;
    const float mx = cam.fx * x * rz + cam.cx;
    const float my = cam.fy * y * rz + cam.cy;

    const float det_orig = c00 * c11 - c01 * c01;
    c00 += opt.eps2d;
    c11 += opt.eps2d;
    const float det = c00 * c11 - c01 * c01;
    if (!(det > 0.f)) {
      cull(out, g);
      continue;
    }
    const float compensation = std::sqrt(std::max(0.f, det_orig / det));
    const float inv_det = 1.f / det;
    // Clamp before the integer conversion so that absurdly large Gaussians cannot overflow.
    const float rxf = std::min(std::ceil(kRadiusExtent * std::sqrt(c00)), 1e9f);
    const float ryf = std::min(std::ceil(kRadiusExtent * std::sqrt(c11)), 1e9f);
    if (rxf <= opt.radius_clip && ryf <= opt.radius_clip) {
      cull(out, g);
      continue;
    }
    if (mx + rxf <= 0.f || mx - rxf >= W || my + ryf <= 0.f || my - ryf >= H) {
      cull(out, g);
      continue;
    }
    out.radii[2 * g] = static_cast<int32_t>(rxf);
    out.radii[2 * g + 1] = static_cast<int32_t>(ryf);
    out.means2d[2 * g] = mx;
    out.means2d[2 * g + 1] = my;
    const float ca = c11 * inv_det, cb = -c01 * inv_det, cc = c00 * inv_det;
    out.conics[3 * g] = ca;
    out.conics[3 * g + 1] = cb;
    out.conics[3 * g + 2] = cc;
    const float op = opt.antialiased ? opacities[g] * compensation : opacities[g];
    out.opacities[g] = op;
    Splat& s = out.splats[g];
    s.mx = mx;
    s.my = my;
    s.ca = ca;
    s.cb = cb;
    s.cc = cc;
    s.opacity = op;
    // alpha >= 1/255 <=> sigma <= ln(255 * opacity). The margin keeps this a safe pre-filter;
    // the compositor still applies the exact alpha test.
    s.sigma_max = op > 0.f ? std::log(255.f * op) + 1e-3f : -1.f;
    s.ry = ryf;
  }
}

// Real spherical harmonics bases (Sloan, "Efficient Spherical Harmonic Evaluation", JCGT 2013),
// in the coefficient order used by 3DGS/gsplat, evaluated at the unit direction (x, y, z).
static inline void sh_bases(int num_bases, float x, float y, float z, float* b) {
  b[0] = 0.2820947917738781f;
  if (num_bases <= 1) return;
  b[1] = -0.48860251190292f * y;
  b[2] = 0.48860251190292f * z;
  b[3] = -0.48860251190292f * x;
  if (num_bases <= 4) return;
  const float z2 = z * z;
  const float fC1 = x * x - y * y, fS1 = 2.f * x * y;
  const float t2b = -1.092548430592079f * z;
  b[4] = 0.5462742152960395f * fS1;
  b[5] = t2b * y;
  b[6] = 0.9461746957575601f * z2 - 0.3153915652525201f;
  b[7] = t2b * x;
  b[8] = 0.5462742152960395f * fC1;
  if (num_bases <= 9) return;
  const float fC2 = x * fC1 - y * fS1, fS2 = x * fS1 + y * fC1;
  const float t3c = -2.285228997322329f * z2 + 0.4570457994644658f;
  const float t3b = 1.445305721320277f * z;
  b[9] = -0.5900435899266435f * fS2;
  b[10] = t3b * fS1;
  b[11] = t3c * y;
  b[12] = z * (1.865881662950577f * z2 - 1.119528997770346f);
  b[13] = t3c * x;
  b[14] = t3b * fC1;
  b[15] = -0.5900435899266435f * fC2;
}

void sh_to_colors(int degree, int K, const float* sh, const float* means, const float* campos,
                  const int32_t* radii, int64_t N, float* colors, int stride, int nthreads) {
  const int nb = (degree + 1) * (degree + 1);
#pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int64_t g = 0; g < N; ++g) {
    float* out = colors + g * stride;
    if (radii != nullptr && (radii[2 * g] <= 0 || radii[2 * g + 1] <= 0)) {
      out[0] = out[1] = out[2] = 0.5f;  // as gsplat: masked SH gives 0, then + 0.5
      continue;
    }
    float dx = means[3 * g] - campos[0];
    float dy = means[3 * g + 1] - campos[1];
    float dz = means[3 * g + 2] - campos[2];
    const float n = std::sqrt(dx * dx + dy * dy + dz * dz);
    const float inv = 1.f / std::max(n, 1e-12f);
    dx *= inv; dy *= inv; dz *= inv;
    float b[16];
    sh_bases(nb, dx, dy, dz, b);
    const float* c = sh + g * static_cast<int64_t>(K) * 3;
    for (int ch = 0; ch < 3; ++ch) {
      float acc = 0.f;
      for (int k = 0; k < nb; ++k) acc += b[k] * c[k * 3 + ch];
      out[ch] = std::max(acc + 0.5f, 0.f);
    }
  }
}

}  // namespace igk
