#include "audio/quality.hpp"

#include <algorithm>
#include <cmath>

namespace distill::audio {
namespace {

at::Tensor batch(const at::Tensor& x) { return (x.dim() == 1 ? x.unsqueeze(0) : x).to(at::kFloat); }

at::Tensor power(const at::Tensor& x, const StftGeometry& g) {
    const at::Tensor parts = at::view_as_real(stft(batch(x), g));
    return parts.pow(2).sum(-1);
}

}  // namespace

double spectral_convergence(const at::Tensor& reference, const at::Tensor& estimate, const StftGeometry& g) {
    const at::Tensor ref = power(reference, g).sqrt(), est = power(estimate, g).sqrt();
    return (at::linalg_vector_norm(ref - est) / at::linalg_vector_norm(ref).clamp_min(1e-12)).item<double>();
}

double log_spectral_distance(const at::Tensor& reference, const at::Tensor& estimate, const StftGeometry& g) {
    const at::Tensor ref = 10.0 * at::log10(power(reference, g) + 1e-10);
    const at::Tensor est = 10.0 * at::log10(power(estimate, g) + 1e-10);
    return (ref - est).pow(2).mean(1).sqrt().mean().item<double>();  // RMS over bins, mean over items and frames
}

double multi_resolution_stft_distance(const at::Tensor& reference, const at::Tensor& estimate,
                                      const std::vector<StftGeometry>& resolutions) {
    double total = 0.0;
    for (const StftGeometry& g : resolutions) {
        const at::Tensor ref = power(reference, g).clamp_min(1e-8).sqrt();
        const at::Tensor est = power(estimate, g).clamp_min(1e-8).sqrt();
        const double sc = (at::linalg_vector_norm(ref - est) / at::linalg_vector_norm(ref)).item<double>();
        const double lm = (est.log() - ref.log()).abs().mean().item<double>();
        total += sc + lm;
    }
    return resolutions.empty() ? 0.0 : total / static_cast<double>(resolutions.size());
}

std::vector<StftGeometry> default_resolutions() { return {{512, 128, 512}, {1024, 256, 1024}, {2048, 512, 2048}}; }

double seam_ratio(const at::Tensor& audio, const std::vector<int64_t>& borders) {
    const at::Tensor x = audio.reshape({-1}).to(at::kCPU, at::kDouble);
    const int64_t n = x.size(0);
    constexpr int64_t kSpan = 512;
    double sum = 0.0;
    int64_t count = 0;
    for (const int64_t b : borders) {
        if (b - kSpan < 1 || b + kSpan > n) continue;
        const at::Tensor diff = x.narrow(0, b - kSpan, 2 * kSpan) - x.narrow(0, b - kSpan - 1, 2 * kSpan);
        const double rms = diff.pow(2).mean().sqrt().item<double>();
        const double jump = diff.narrow(0, kSpan - 1, 3).abs().max().item<double>();
        sum += rms > 0 ? jump / rms : 0.0;
        ++count;
    }
    return count ? sum / static_cast<double>(count) : 0.0;
}

}  // namespace distill::audio
