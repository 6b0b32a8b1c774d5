// Every setting of the audio -> 2-channel tensor pipeline, with the defaults
// of REFERENCE.md section 1. Plain values only: the experiment module fills
// it from the TOML [data] table without knowing anything of torch.
#pragma once

#include <cstdint>
#include <string>

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

    int64_t chunk_samples() const { return static_cast<int64_t>(chunk_seconds * sample_rate + 0.5); }
    // center=True framing: 1 + floor(samples / hop) -> 94 at the defaults.
    int64_t frames() const { return 1 + chunk_samples() / hop_length; }
};

struct SplitConfig {
    std::string split = "file";  // "file" (fix, default) | "chunk" (original)
    double val_fraction = 0.2;
    uint64_t seed = 0;
};

}  // namespace distill::data
