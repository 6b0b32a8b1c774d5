// The oracle round trip: what a representation can give at best. Audio ->
// features (the data pipeline) -> inversion -> audio, with no model, and the
// same metrics a model's reconstruction is judged by, so "model SC 0.61 -
// representation ceiling 0.44" compares like with like.
#pragma once

#include "audio/inversion.hpp"
#include "data/pipeline_config.hpp"

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <utility>

namespace distill::audio {

struct RoundTripMetrics {
    int64_t chunks = 0;
    double spectral_convergence = 0, log_spectral_distance_db = 0, mrstft = 0;
    double mel_error = 0;  // mean |log1p mel power| difference of features(render) vs features(original)
    double if_error = 0;   // magnitude-weighted wrapped IF difference, in units of pi
};

// Features errors: features(render) against the original features.
std::pair<double, double> feature_errors(const at::Tensor& original, const at::Tensor& rendered);

// `reference` and `rendered` audio [N, len] at the pipeline's rate.
RoundTripMetrics compare_audio(const at::Tensor& reference, const at::Tensor& rendered, const data::PipelineConfig& cfg,
                               const Inverter& inverter);

// Chunks [N, len] as training sees them -> features -> inversion -> metrics.
RoundTripMetrics oracle_round_trip(const at::Tensor& chunks, const data::PipelineConfig& cfg, const Inverter& inverter,
                                   const InversionOptions& options);

// A file decoded and cut into the pipeline's peak-normalised chunks [N, len];
// data::DataError when it cannot be decoded.
at::Tensor file_chunks(const std::filesystem::path& file, const data::PipelineConfig& cfg);

// Mel bands that no STFT bin reaches at these settings (they appear above
// ~256 bands at n_fft 2048): their features carry nothing.
int64_t empty_mel_bands(const data::PipelineConfig& cfg);

}  // namespace distill::audio
