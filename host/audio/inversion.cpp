#include "audio/inversion.hpp"

#include "data/features.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace distill::audio {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Keeps the multiplicative update's ratio finite where a bin's reconstruction
// is 0 (the bin then stays 0, as it should).
constexpr double kUpdateFloor = 1e-20;
// |a| below this is treated as no direction (silence) in Griffin-Lim.
constexpr double kAngleFloor = 1e-16;

}  // namespace

const char* phase_method_name(PhaseMethod method) {
    switch (method) {
        case PhaseMethod::integrated_if: return "if";
        case PhaseMethod::griffin_lim: return "gla";
        case PhaseMethod::if_then_griffin_lim: return "if+gla";
    }
    return "?";
}

std::optional<PhaseMethod> parse_phase_method(const std::string& name) {
    if (name == "if") return PhaseMethod::integrated_if;
    if (name == "gla") return PhaseMethod::griffin_lim;
    if (name == "if+gla") return PhaseMethod::if_then_griffin_lim;
    return std::nullopt;
}

Inverter::Inverter(const data::PipelineConfig& cfg, const at::Device& device)
    : cfg_(cfg), geometry_{cfg.n_fft, cfg.hop_length, cfg.win_length}, device_(device) {
    fb_ = data::mel_filterbank(cfg).to(device);
    fb_t_ = fb_.t().contiguous();
    const at::Tensor sums = fb_.sum(1, /*keepdim=*/true);
    band_share_ = at::where(sums > 0, sums.reciprocal(), at::zeros_like(sums));

    // Triangles on increasing mel points overlap pairwise, so a bin lies in
    // at most two bands: keep those two (band, weight) pairs per bin.
    const at::Tensor fb = data::mel_filterbank(cfg);
    const at::Tensor nonzero = (fb > 0).sum(0);
    two_bands_per_bin_ = nonzero.max().item<int64_t>() <= 2;
    if (two_bands_per_bin_) {
        const auto top = at::topk(fb, 2, /*dim=*/0);  // values, indices: [2, bins]
        for (int s = 0; s < 2; ++s) {
            bin_band_[s] = std::get<1>(top)[s].to(device);
            bin_weight_[s] = std::get<0>(top)[s].unsqueeze(1).to(device);
        }
    }
}

at::Tensor Inverter::to_bins(const at::Tensor& per_band) const {
    if (!two_bands_per_bin_) return at::matmul(fb_t_, per_band);
    return per_band.index_select(0, bin_band_[0]) * bin_weight_[0] +
           per_band.index_select(0, bin_band_[1]) * bin_weight_[1];
}

at::Tensor Inverter::to_bands(const at::Tensor& per_bin) const {
    if (!two_bands_per_bin_) return at::matmul(fb_, per_bin);
    at::Tensor out = at::zeros({fb_.size(0), per_bin.size(1)}, per_bin.options());
    out.index_add_(0, bin_band_[0], per_bin * bin_weight_[0]);
    out.index_add_(0, bin_band_[1], per_bin * bin_weight_[1]);
    return out;
}

at::Tensor Inverter::linear_power(const at::Tensor& mel_power, int64_t iterations) const {
    // Work on [M, N*T] / [bins, N*T]: the filterbank products become row
    // gathers and row adds.
    const int64_t n = mel_power.size(0), frames = mel_power.size(2);
    const at::Tensor mel = mel_power.permute({1, 0, 2}).reshape({fb_.size(0), n * frames});
    // Warm start: each band's power spread evenly over its bins (what a flat
    // spectrum inside the band would give), summed over the overlapping bands.
    at::Tensor power = to_bins(mel * band_share_);
    // Lee & Seung's multiplicative update for min ||fb P - mel||^2, P >= 0:
    // P <- P * fb^T mel / fb^T fb P. It keeps P non-negative without a step
    // size, and never moves a bin that no band sees.
    const at::Tensor target = to_bins(mel);
    for (int64_t i = 0; i < iterations; ++i) power = power * target / (to_bins(to_bands(power)) + kUpdateFloor);
    return power.reshape({geometry_.bins(), n, frames}).permute({1, 0, 2}).contiguous();
}

at::Tensor Inverter::integrated_phase(const at::Tensor& mel_if) const {
    // Spread each band's advance to its bins as a filter-weighted circular
    // mean: averaging wrapped angles directly would turn +pi and -pi into 0.
    const at::Tensor angle = mel_if * kPi;
    const at::Tensor re = at::matmul(fb_t_, at::cos(angle));
    const at::Tensor im = at::matmul(fb_t_, at::sin(angle));
    const at::Tensor advance = at::atan2(im, re);  // [N, bins, T]; frame 0's is 0 (features set it so)
    return at::cumsum(advance, -1);
}

at::Tensor Inverter::griffin_lim(const at::Tensor& magnitude, const at::Tensor& phase, int64_t iterations,
                                 double momentum, int64_t length) const {
    // Frame-major [N, T, bins] inside the loop, complex numbers as (re, im)
    // pairs for the projections: real ops, no transposes.
    const at::Tensor mag = magnitude.transpose(1, 2).contiguous();
    at::Tensor coefficients = at::polar(mag, phase.transpose(1, 2).contiguous());
    // Iterate on the frames' own span so stft(istft(c)) has as many frames as c.
    const int64_t span = (mag.size(1) - 1) * geometry_.hop;
    // In-place updates: on CPU a fresh buffer of this size costs more in page
    // faults than the arithmetic.
    at::Tensor previous;
    for (int64_t i = 0; i < iterations; ++i) {
        const at::Tensor rebuilt = at::view_as_real(stft_frames(istft_frames(coefficients, geometry_, span), geometry_));
        // Fast Griffin-Lim (Perraudin et al. 2013): extrapolate along the last
        // step, direction = rebuilt + momentum (rebuilt - previous), then
        // project back onto the given magnitude.
        const at::Tensor direction = previous.defined() ? previous.mul_(-momentum).add_(rebuilt, 1.0 + momentum) : rebuilt.clone();
        previous = rebuilt;
        const at::Tensor scale = at::abs(at::view_as_complex(direction)).add_(kAngleFloor).reciprocal_().mul_(mag);
        coefficients = at::view_as_complex(direction.mul_(scale.unsqueeze(-1)));
    }
    return istft_frames(coefficients, geometry_, length);
}

at::Tensor Inverter::invert(const at::Tensor& raw, int64_t length, const InversionOptions& options) const {
    const bool single = raw.dim() == 3;
    const at::Tensor x_in = (single ? raw.unsqueeze(0) : raw).to(device_, at::kFloat);
    TORCH_CHECK(x_in.dim() == 4 && x_in.size(1) == 2 && x_in.size(2) == cfg_.n_mels,
                "invert: features must be [N, 2, ", cfg_.n_mels, ", frames], got ", raw.sizes());
    // Griffin-Lim's STFT needs more than n_fft / 2 samples: a very short
    // map (a file of a few milliseconds) gets silent frames after it.
    const int64_t min_frames = geometry_.n_fft / (2 * geometry_.hop) + 2;
    const at::Tensor x = x_in.size(3) >= min_frames ? x_in : at::constant_pad_nd(x_in, {0, min_frames - x_in.size(3)}, 0.0);

    // Model output may dip below 0 (zscore undone); mel power cannot.
    const at::Tensor mel_power = at::expm1(x.select(1, 0)).clamp_min(0.0);
    const at::Tensor magnitude = linear_power(mel_power, options.nnls_iters).sqrt();

    at::Tensor phase;
    if (options.phase == PhaseMethod::griffin_lim) {
        at::Generator generator = at::detail::createCPUGenerator(options.seed);
        phase = (at::rand(magnitude.sizes(), generator, at::TensorOptions(at::kFloat)) * (2 * kPi) - kPi).to(device_);
    } else {
        phase = integrated_phase(x.select(1, 1));
    }
    const int64_t iterations = options.phase == PhaseMethod::integrated_if ? 0 : options.gl_iters;
    const at::Tensor audio = griffin_lim(magnitude, phase, iterations, options.momentum, length);
    return single ? audio.squeeze(0) : audio;
}

}  // namespace distill::audio
