// Every setting of the audio -> 2-channel tensor pipeline, with the defaults
// of docs/reference.md#1-audio-to-features. Plain values only: the experiment module fills
// it from the TOML [data] table without knowing anything of torch.
#pragma once

#include <cstdint>
#include <climits>
#include <string>
#include <vector>

namespace distill::data {

struct PipelineConfig {
    int64_t sample_rate = 48000;   // Hz; other rates are resampled (libsoxr)
    double chunk_seconds = 1.0;    // consecutive, non-overlapping; last one zero-padded
    int64_t n_fft = 2048;
    int64_t hop_length = 512;
    int64_t win_length = 2048;     // periodic Hann
    int64_t n_mels = 128;          // HTK mel, no filter normalisation
    double fmin = 0.0;
    double fmax = 24000.0;
    double mask_threshold = 1e-5;  // IF is 0 where mel power is below this
    std::string normalize = "scale";  // "scale" (fix, default) | "zscore" (original)

    // Saturates instead of overflowing, so a huge chunk_seconds is reported
    // as too long rather than as a wrapped-around count.
    int64_t chunk_samples() const {
        const double n = chunk_seconds * static_cast<double>(sample_rate) + 0.5;
        return n >= 9.0e18 ? INT64_MAX : static_cast<int64_t>(n);
    }
    // center=True framing: 1 + floor(samples / hop) -> 94 at the defaults.
    int64_t frames() const { return 1 + chunk_samples() / hop_length; }
};

// Upper bounds on the settings that multiply into allocations, so a typo
// (chunk_seconds = 1e6) is refused by name instead of failing to allocate
// gigabytes. Each is far above any useful value.
struct PipelineLimits {
    // Samples per chunk: one chunk is one training item (2^23 floats = 32 MB,
    // 174 s at 48 kHz).
    static constexpr int64_t kMaxChunkSamples = int64_t{1} << 23;
    static constexpr int64_t kMaxFft = 65536;
    static constexpr int64_t kMaxMels = 1024;
    // Floats in one item [2, n_mels, frames] (16 MB).
    static constexpr int64_t kMaxItemFloats = int64_t{1} << 22;
    // STFT bins x frames of one chunk: the featuriser's temporaries are ~40
    // bytes each, so this keeps one chunk's working set under ~700 MB.
    static constexpr int64_t kMaxSpectrumCells = int64_t{1} << 24;
};

// Augmented copies of training chunks (the original design trained on 1 + 10
// per chunk). expansion = 0: off, and nothing about the data changes. Each
// copy, in order: speed perturbation (through the resampler), additive
// Gaussian noise at a random SNR, gain, clamp to [-1, 1], re-cut or pad to
// the chunk length, peak normalisation. Seeded from the experiment's seed.
struct AugmentConfig {
    int64_t expansion = 0;  // copies per training chunk
    double speed_p = 0.5;
    std::vector<double> speed_factors{0.9, 0.95, 1.0, 1.0, 1.05, 1.1};
    double noise_p = 0.3;
    double snr_min_db = 15.0, snr_max_db = 40.0;
    double gain_p = 0.5;
    double gain_min = 0.7, gain_max = 1.3;
    uint64_t seed = 0;      // the experiment's seed
};

struct SplitConfig {
    std::string split = "file";  // "file" (fix, default) | "chunk" (original)
    double val_fraction = 0.2;
    uint64_t seed = 0;
};

}  // namespace distill::data
