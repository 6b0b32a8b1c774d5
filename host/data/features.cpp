#include "data/features.hpp"

#include "data/errors.hpp"

#include <atomic>
#include <cmath>
#include <string>

namespace distill::data {

namespace {
std::atomic<int64_t> g_feature_chunks{0};
constexpr double kPi = 3.14159265358979323846;
}  // namespace

void validate_pipeline(const PipelineConfig& c) {
    auto fail = [](const std::string& key, const std::string& why) {
        throw DataError("[data] " + key + ": " + why);
    };
    if (c.sample_rate <= 0) fail("sample_rate", "must be > 0, got " + std::to_string(c.sample_rate));
    if (!(c.chunk_seconds > 0)) fail("chunk_seconds", "must be > 0");
    if (c.n_fft < 2) fail("n_fft", "must be >= 2, got " + std::to_string(c.n_fft));
    if (c.hop_length <= 0) fail("hop_length", "must be > 0, got " + std::to_string(c.hop_length));
    if (c.win_length <= 0 || c.win_length > c.n_fft)
        fail("win_length", "must be in [1, n_fft=" + std::to_string(c.n_fft) + "], got " +
                               std::to_string(c.win_length));
    if (c.n_mels <= 0) fail("n_mels", "must be > 0, got " + std::to_string(c.n_mels));
    const double nyquist = 0.5 * static_cast<double>(c.sample_rate);
    if (!(c.fmin >= 0) || !(c.fmin < c.fmax))
        fail("fmin", "need 0 <= fmin < fmax, got fmin=" + std::to_string(c.fmin) +
                         " fmax=" + std::to_string(c.fmax));
    if (c.fmax > nyquist)
        fail("fmax", std::to_string(c.fmax) + " Hz is above Nyquist (" + std::to_string(nyquist) +
                         " Hz at sample_rate " + std::to_string(c.sample_rate) + ")");
    if (!(c.mask_threshold >= 0)) fail("mask_threshold", "must be >= 0");
    // center=True reflect padding needs more than n_fft/2 samples per chunk.
    if (c.chunk_samples() <= c.n_fft / 2)
        fail("chunk_seconds", "a chunk of " + std::to_string(c.chunk_samples()) +
                                  " samples is too short for n_fft " + std::to_string(c.n_fft));
    using L = PipelineLimits;
    if (c.chunk_samples() > L::kMaxChunkSamples)
        fail("chunk_seconds", "a chunk of " + std::to_string(c.chunk_samples()) + " samples is above the limit of " +
                                  std::to_string(L::kMaxChunkSamples));
    if (c.n_fft > L::kMaxFft) fail("n_fft", "must be <= " + std::to_string(L::kMaxFft) + ", got " + std::to_string(c.n_fft));
    if (c.n_mels > L::kMaxMels)
        fail("n_mels", "must be <= " + std::to_string(L::kMaxMels) + ", got " + std::to_string(c.n_mels));
    if (2 * c.n_mels * c.frames() > L::kMaxItemFloats)
        fail("hop_length", "items of [2, " + std::to_string(c.n_mels) + ", " + std::to_string(c.frames()) +
                               "] are above the limit of " + std::to_string(L::kMaxItemFloats) + " floats");
    if ((c.n_fft / 2 + 1) * c.frames() > L::kMaxSpectrumCells)
        fail("n_fft", "a chunk's spectrum of " + std::to_string(c.n_fft / 2 + 1) + " bins x " +
                          std::to_string(c.frames()) + " frames is above the limit of " +
                          std::to_string(L::kMaxSpectrumCells) + " cells");
    if (c.normalize != "scale" && c.normalize != "zscore")
        fail("normalize", "must be \"scale\" or \"zscore\", got \"" + c.normalize + "\"");
}

double hz_to_mel_htk(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel_to_hz_htk(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

at::Tensor mel_filterbank(const PipelineConfig& cfg) {
    const int64_t n_bins = cfg.n_fft / 2 + 1;
    const int64_t n_points = cfg.n_mels + 2;
    const double mel_lo = hz_to_mel_htk(cfg.fmin), mel_hi = hz_to_mel_htk(cfg.fmax);
    std::vector<double> hz(static_cast<size_t>(n_points));
    for (int64_t i = 0; i < n_points; ++i)
        hz[i] = mel_to_hz_htk(mel_lo + (mel_hi - mel_lo) * static_cast<double>(i) /
                                           static_cast<double>(n_points - 1));
    at::Tensor fb = at::zeros({cfg.n_mels, n_bins}, at::kFloat);
    auto acc = fb.accessor<float, 2>();
    const double bin_hz = static_cast<double>(cfg.sample_rate) / static_cast<double>(cfg.n_fft);
    for (int64_t m = 0; m < cfg.n_mels; ++m) {
        const double lo = hz[m], c = hz[m + 1], hi = hz[m + 2];
        for (int64_t k = 0; k < n_bins; ++k) {
            const double f = bin_hz * static_cast<double>(k);
            const double w = std::min((f - lo) / (c - lo), (hi - f) / (hi - c));
            if (w > 0) acc[m][k] = static_cast<float>(w);
        }
    }
    return fb;
}

at::Tensor extract_features(const at::Tensor& chunks, const PipelineConfig& cfg) {
    TORCH_CHECK(chunks.dim() == 2, "extract_features: chunks must be [N, samples], got ",
                chunks.sizes());
    const at::Tensor x = chunks.to(at::kFloat);
    const at::Tensor window = at::hann_window(cfg.win_length, /*periodic=*/true, x.options());
    // [N, bins, frames] complex
    const at::Tensor spec = at::stft(x, cfg.n_fft, cfg.hop_length, cfg.win_length, window,
                                     /*center=*/true, "reflect", /*normalized=*/false,
                                     /*onesided=*/true, /*return_complex=*/true);
    const at::Tensor fb = mel_filterbank(cfg).to(x.device());  // [M, B]

    const at::Tensor power = at::real(spec).pow(2) + at::imag(spec).pow(2);
    const at::Tensor mel_power = at::matmul(fb, power);  // [N, M, T]

    const at::Tensor phase = at::angle(spec);
    at::Tensor dphi = at::zeros_like(phase);
    const int64_t frames = phase.size(2);
    if (frames > 1) {
        const at::Tensor d = phase.narrow(2, 1, frames - 1) - phase.narrow(2, 0, frames - 1);
        // Wrap to [-pi, pi): x - 2pi * floor((x + pi) / 2pi).
        dphi.narrow(2, 1, frames - 1).copy_(d - 2 * kPi * at::floor((d + kPi) / (2 * kPi)));
    }
    const at::Tensor weight_sum = fb.sum(1, /*keepdim=*/true).clamp_min(1e-10);  // [M, 1]
    at::Tensor mel_if = at::matmul(fb, dphi / kPi) / weight_sum;
    mel_if = at::where(mel_power < cfg.mask_threshold, at::zeros_like(mel_if), mel_if);

    g_feature_chunks += chunks.size(0);
    return at::stack({at::log1p(mel_power), mel_if}, 1).contiguous();
}

int64_t feature_chunk_count() { return g_feature_chunks.load(); }

}  // namespace distill::data
