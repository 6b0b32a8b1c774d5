#include "audio/oracle.hpp"

#include "audio/quality.hpp"
#include "data/audio_io.hpp"
#include "data/errors.hpp"
#include "data/features.hpp"

#include <cmath>

namespace distill::audio {
namespace {
constexpr double kPi = 3.14159265358979323846;
}  // namespace

std::pair<double, double> feature_errors(const at::Tensor& original, const at::Tensor& rendered) {
    const at::Tensor mag_err = (rendered.select(1, 0) - original.select(1, 0)).abs().mean();
    const at::Tensor d = (rendered.select(1, 1) - original.select(1, 1)) * kPi;
    const at::Tensor wrapped = (d - 2 * kPi * at::floor((d + kPi) / (2 * kPi))).abs() / kPi;
    const at::Tensor w = original.select(1, 0);
    const at::Tensor if_err = (wrapped * w).sum() / w.sum().clamp_min(1e-12);
    return {mag_err.item<double>(), if_err.item<double>()};
}

RoundTripMetrics compare_audio(const at::Tensor& reference, const at::Tensor& rendered, const data::PipelineConfig& cfg,
                               const Inverter& inverter) {
    RoundTripMetrics m;
    m.chunks = reference.size(0);
    const StftGeometry& g = inverter.geometry();
    m.spectral_convergence = spectral_convergence(reference, rendered, g);
    m.log_spectral_distance_db = log_spectral_distance(reference, rendered, g);
    m.mrstft = multi_resolution_stft_distance(reference, rendered, default_resolutions());
    std::tie(m.mel_error, m.if_error) =
        feature_errors(data::extract_features(reference, cfg), data::extract_features(rendered, cfg));
    return m;
}

RoundTripMetrics oracle_round_trip(const at::Tensor& chunks, const data::PipelineConfig& cfg, const Inverter& inverter,
                                   const InversionOptions& options) {
    const at::Tensor features = data::extract_features(chunks, cfg);
    const at::Tensor rendered = inverter.invert(features, cfg.chunk_samples(), options);
    return compare_audio(chunks, rendered, cfg, inverter);
}

at::Tensor file_chunks(const std::filesystem::path& file, const data::PipelineConfig& cfg) {
    data::MonoAudio audio;
    std::string error;
    if (!data::decode_mono(file, cfg.sample_rate, audio, error)) throw data::DataError(file.string() + ": " + error);
    std::vector<float> chunks;
    const int64_t n = data::make_chunks(audio.samples, cfg, chunks);
    return at::from_blob(chunks.data(), {n, cfg.chunk_samples()}, at::kFloat).clone();
}

int64_t empty_mel_bands(const data::PipelineConfig& cfg) {
    return (data::mel_filterbank(cfg).sum(1) <= 0).sum().item<int64_t>();
}

}  // namespace distill::audio
