// Projection of 3D Gaussians to 2D (EWA splatting, gsplat 1.5 semantics) and SH colours.
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace igk {

namespace {

// Upper triangle (xx, xy, xz, yy, yz, zz) of R(q) diag(s)^2 R(q)^T, q = (w, x, y, z) normalised.
inline void quat_scale_to_covar(const float* q_in, const float* s_in, double* cov6) {
  double w = q_in[0], x = q_in[1], y = q_in[2], z = q_in[3];
  const double norm = std::sqrt(w * w + x * x + y * y + z * z);
  const double inv = 1.0 / std::max(norm, 1e-12);
  w *= inv; x *= inv; y *= inv; z *= inv;
  const double R[9] = {
      1. - 2. * (y * y + z * z), 2. * (x * y - w * z),       2. * (x * z + w * y),
      2. * (x * y + w * z),       1. - 2. * (x * x + z * z), 2. * (y * z - w * x),
      2. * (x * z - w * y),       2. * (y * z + w * x),       1. - 2. * (x * x + y * y)};
  const double s[3] = {s_in[0], s_in[1], s_in[2]};
  double M[9];
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
  out.splats[g] = Splat{0.f, 0.f, 0.f, 0.f, 0.f, 0.f, -1.f, 0.f};
}

// An upper bound of ln(x) for x > 0, within 1.2e-3 of it: ln(m 2^e) = e ln 2 + ln m with
// m in [1, 2), ln m = 2 atanh(t), t = (m - 1) / (m + 1) in [0, 1/3), series truncated after
// t^5 (error < 1.4e-4, always below) plus a 1e-3 margin. Much cheaper than std::log.
inline float log_upper(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  const int e = static_cast<int>((bits >> 23) & 0xFF) - 127;
  bits = (bits & 0x007FFFFFu) | 0x3F800000u;
  float m;
  std::memcpy(&m, &bits, sizeof(m));
  const float t = (m - 1.f) / (m + 1.f);
  const float t2 = t * t;
  const float ln_m = 2.f * t * (1.f + t2 * (1.f / 3.f + t2 * (1.f / 5.f)));
  return static_cast<float>(e) * 0.69314718f + ln_m + 1e-3f;
}

}  // namespace

// The projection runs in double precision (scalar code, so it costs about the same as float):
// the 2D covariance of flat Gaussians has a badly cancelling determinant in float32, which
// makes the antialiasing compensation noise; in double, every backend agrees to float32
// rounding of the final values. Outputs are float32, as gsplat's.
void project_camera(const float* means, const float* quats, const float* scales,
                    const float* covars6, const float* opacities, int64_t N, const Camera& cam,
                    const ProjectOptions& opt, const ProjectOutputs& out, int nthreads) {
  const double W = opt.width, H = opt.height;
  const double fx = cam.fx, fy = cam.fy, cx = cam.cx, cy = cam.cy;
  const double tan_fovx = 0.5 * W / fx;
  const double tan_fovy = 0.5 * H / fy;
  const double lim_x_pos = (W - cx) / fx + 0.3 * tan_fovx;
  const double lim_x_neg = cx / fx + 0.3 * tan_fovx;
  const double lim_y_pos = (H - cy) / fy + 0.3 * tan_fovy;
  const double lim_y_neg = cy / fy + 0.3 * tan_fovy;
  double R[9], t[3];
  for (int k = 0; k < 9; ++k) R[k] = cam.R[k];
  for (int k = 0; k < 3; ++k) t[k] = cam.t[k];
  const double near = opt.near_plane, far = opt.far_plane, eps2d = opt.eps2d;

#pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int64_t g = 0; g < N; ++g) {
    const double m[3] = {means[3 * g], means[3 * g + 1], means[3 * g + 2]};
    // Mean in camera coordinates.
    const double x = R[0] * m[0] + R[1] * m[1] + R[2] * m[2] + t[0];
    const double y = R[3] * m[0] + R[4] * m[1] + R[5] * m[2] + t[1];
    const double z = R[6] * m[0] + R[7] * m[1] + R[8] * m[2] + t[2];
    out.depths[g] = static_cast<float>(z);
    if (!(z >= near && z <= far)) {  // also rejects NaN
      cull(out, g);
      continue;
    }
    double c6[6];
    if (covars6 != nullptr) {
      for (int k = 0; k < 6; ++k) c6[k] = covars6[6 * g + k];
    } else {
      quat_scale_to_covar(quats + 4 * g, scales + 3 * g, c6);
    }
    const double C[9] = {c6[0], c6[1], c6[2], c6[1], c6[3], c6[4], c6[2], c6[4], c6[5]};
    // Covariance in camera coordinates: Cc = R C R^T.
    double RC[9];
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c)
        RC[r * 3 + c] = R[r * 3 + 0] * C[0 * 3 + c] + R[r * 3 + 1] * C[1 * 3 + c] +
                        R[r * 3 + 2] * C[2 * 3 + c];
    double Cc[9];
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c)
        Cc[r * 3 + c] = RC[r * 3 + 0] * R[c * 3 + 0] + RC[r * 3 + 1] * R[c * 3 + 1] +
                        RC[r * 3 + 2] * R[c * 3 + 2];
    // Perspective Jacobian, with the view-frustum clamp of the Jacobian's x/z and y/z.
    const double rz = 1.0 / z;
    const double rz2 = rz * rz;
    const double tx = z * std::min(lim_x_pos, std::max(-lim_x_neg, x * rz));
    const double ty = z * std::min(lim_y_pos, std::max(-lim_y_neg, y * rz));
    const double J00 = fx * rz, J02 = -fx * tx * rz2;
    const double J11 = fy * rz, J12 = -fy * ty * rz2;
    // cov2d = J Cc J^T with J = [[J00, 0, J02], [0, J11, J12]].
    const double a0 = J00 * Cc[0] + J02 * Cc[6], a1 = J00 * Cc[1] + J02 * Cc[7],
                 a2 = J00 * Cc[2] + J02 * Cc[8];
    const double b1 = J11 * Cc[4] + J12 * Cc[7], b2 = J11 * Cc[5] + J12 * Cc[8];
    double c00 = a0 * J00 + a2 * J02;
    const double c01 = a1 * J11 + a2 * J12;
    double c11 = b1 * J11 + b2 * J12;
    const double mx = fx * x * rz + cx;
    const double my = fy * y * rz + cy;

    const double det_orig = c00 * c11 - c01 * c01;
    c00 += eps2d;
    c11 += eps2d;
    const double det = c00 * c11 - c01 * c01;
    if (!(det > 0.0)) {
      cull(out, g);
      continue;
    }
    const double compensation = std::sqrt(std::max(0.0, det_orig / det));
    // Clamp before the integer conversion so that absurdly large Gaussians cannot overflow.
    const double rx = std::min(std::ceil(3.33 * std::sqrt(c00)), 1e9);
    const double ry = std::min(std::ceil(3.33 * std::sqrt(c11)), 1e9);
    if (rx <= opt.radius_clip && ry <= opt.radius_clip) {
      cull(out, g);
      continue;
    }
    if (mx + rx <= 0.0 || mx - rx >= W || my + ry <= 0.0 || my - ry >= H) {
      cull(out, g);
      continue;
    }
    out.radii[2 * g] = static_cast<int32_t>(rx);
    out.radii[2 * g + 1] = static_cast<int32_t>(ry);
    const double inv_det = 1.0 / det;
    const float op = opt.antialiased ? static_cast<float>(opacities[g] * compensation)
                                     : opacities[g];
    Splat& s = out.splats[g];
    s.mx = static_cast<float>(mx);
    s.my = static_cast<float>(my);
    s.ca = static_cast<float>(c11 * inv_det);
    s.cb = static_cast<float>(-c01 * inv_det);
    s.cc = static_cast<float>(c00 * inv_det);
    s.opacity = op;
    // alpha >= 1/255 <=> sigma <= ln(255 * opacity): an upper bound of that makes a safe
    // pre-filter; the compositor still applies the exact alpha test.
    s.sigma_max = op > 0.f ? log_upper(255.f * op) : -1.f;
    // Vertical extent of the ellipse sigma = sigma_max: on rows beyond it, sigma >=
    // dy^2 / (2 cov_yy) > sigma_max for every pixel, so they can be skipped exactly. Never
    // larger than the 3.33-sigma box radius.
    s.ry = static_cast<float>(
        std::min(ry, std::sqrt(2.0 * std::max(0.0f, s.sigma_max) * c11)));
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
