// Features -> audio: the inverse of data/features.cpp, one step per
// function so each can be measured (bench/audio) and read on its own.
//
//   raw features [.., 2, M, T]  (normalisation already undone)
//   channel 0: log1p(mel power)  --expm1-->  mel power
//              --non-negative least squares against the mel filterbank-->  linear power --sqrt--> |S|
//   channel 1: wrapped phase advance / pi, mel-averaged
//              --*pi, spread to linear bins, cumulative sum over frames-->  phase
//   |S| e^{i phase}  --ISTFT-->  audio   (--fast Griffin-Lim, seeded with that phase-->  audio)
//
// Every step is LibTorch ops, so it runs on the device the features are on.
#pragma once

#include "audio/stft.hpp"
#include "data/pipeline_config.hpp"

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <string>

namespace distill::audio {

// `if`: integrated IF alone. `gla`: Griffin-Lim from random phase (the IF
// channel is ignored). `if+gla`: Griffin-Lim seeded with the integrated IF.
enum class PhaseMethod { integrated_if, griffin_lim, if_then_griffin_lim };

const char* phase_method_name(PhaseMethod method);
// "if" | "gla" | "if+gla"; nullopt for anything else.
std::optional<PhaseMethod> parse_phase_method(const std::string& name);

// Defaults chosen from bench/audio's table (docs/audio.md).
constexpr int64_t kDefaultGlIters = 16;
constexpr int64_t kDefaultNnlsIters = 100;
constexpr double kDefaultMomentum = 0.99;

struct InversionOptions {
    PhaseMethod phase = PhaseMethod::if_then_griffin_lim;
    int64_t gl_iters = kDefaultGlIters;      // ignored by `if`
    int64_t nnls_iters = kDefaultNnlsIters;  // multiplicative updates after the warm start
    double momentum = kDefaultMomentum;      // fast Griffin-Lim (Perraudin et al. 2013); 0 = plain GL
    uint64_t seed = 0;                       // the random initial phase of `gla`
};

// Holds what every call shares (filterbank, its pseudo-inverse weights) on
// one device. One object per pipeline configuration; not thread-safe.
class Inverter {
public:
    Inverter(const data::PipelineConfig& cfg, const at::Device& device);

    const data::PipelineConfig& config() const { return cfg_; }
    const StftGeometry& geometry() const { return geometry_; }

    // raw [N, 2, M, T] or [2, M, T] -> audio [N, length] or [length]:
    // T frames reach (T - 1) * hop + n_fft / 2 samples; past that it is 0.
    at::Tensor invert(const at::Tensor& raw, int64_t length, const InversionOptions& options) const;

    // The steps, [N, ...] each.
    // mel power [N, M, T] -> linear power [N, bins, T] >= 0.
    at::Tensor linear_power(const at::Tensor& mel_power, int64_t iterations) const;
    // mel IF [N, M, T] (wrapped advance / pi) -> phase [N, bins, T].
    at::Tensor integrated_phase(const at::Tensor& mel_if) const;
    // magnitude [N, bins, T], initial phase [N, bins, T] -> audio [N, length].
    at::Tensor griffin_lim(const at::Tensor& magnitude, const at::Tensor& phase, int64_t iterations, double momentum,
                           int64_t length) const;

private:
    // fb^T x and fb x for x of [M, K] / [bins, K].
    at::Tensor to_bins(const at::Tensor& per_band) const;
    at::Tensor to_bands(const at::Tensor& per_bin) const;

    data::PipelineConfig cfg_;
    StftGeometry geometry_;
    at::Device device_;
    at::Tensor fb_;          // [M, bins]
    at::Tensor fb_t_;        // [bins, M]
    at::Tensor band_share_;  // [M, 1]: 1 / sum of each band's weights (0 for an empty band)
    // The filterbank as two (band, weight) pairs per bin, when it is that
    // sparse (HTK triangles always are): gathers instead of dense products.
    bool two_bands_per_bin_ = false;
    at::Tensor bin_band_[2];    // [bins] long
    at::Tensor bin_weight_[2];  // [bins, 1]; 0 where a bin has fewer bands
};

}  // namespace distill::audio
