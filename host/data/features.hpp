// Mono chunks -> 2-channel [mel magnitude, instantaneous frequency] items,
// exactly as docs/reference.md#1-audio-to-features describes. Batched torch::stft on CPU
// (or whatever device the chunks live on).
#pragma once

#include "data/pipeline_config.hpp"

#include <ATen/ATen.h>

#include <cstdint>

namespace distill::data {

// Throws DataError naming the first [data] setting that cannot work
// (fmax above Nyquist, win_length > n_fft, chunk shorter than the STFT's
// reflect padding, ...).
void validate_pipeline(const PipelineConfig& cfg);

double hz_to_mel_htk(double hz);   // 2595 * log10(1 + hz / 700)
double mel_to_hz_htk(double mel);

// HTK triangles, not normalised (peak 1 at the centre frequency), float32
// [n_mels, n_fft/2 + 1]. Band m spans the mel points m..m+2 of n_mels + 2
// points evenly spaced in mel between fmin and fmax.
at::Tensor mel_filterbank(const PipelineConfig& cfg);

// chunks: float32 [N, chunk_samples] -> float32 [N, 2, n_mels, frames].
// Channel 0 = log1p(mel power); channel 1 = wrapped per-hop phase advance / pi,
// averaged over each mel band's filter weights, 0 where mel power is below
// mask_threshold (and in frame 0).
at::Tensor extract_features(const at::Tensor& chunks, const PipelineConfig& cfg);

// Process-wide number of chunks that went through extract_features.
int64_t feature_chunk_count();

}  // namespace distill::data
