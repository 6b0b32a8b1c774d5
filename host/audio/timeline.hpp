// Whole files through a model that sees fixed-length chunks: cut a file into
// overlapping chunks whose frames all lie on the file's own frame grid, and
// join the chunks' feature maps back into one map of the whole file. The
// file is then inverted in one piece, so there is no border in the audio to
// click at: the phase integrates straight through and Griffin-Lim sees the
// whole signal.
#pragma once

#include "data/pipeline_config.hpp"

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace distill::audio {

// Chunks overlap by this many frames; each chunk's outermost frames (whose
// windows reach into reflect padding) fade out under its neighbour's.
constexpr int64_t kDefaultOverlapFrames = 8;

struct ChunkLayout {
    int64_t samples = 0;        // the file's length
    int64_t chunk_samples = 0;  // cfg.chunk_samples()
    int64_t chunk_frames = 0;   // cfg.frames()
    int64_t stride_frames = 0;  // chunk c starts at frame c * stride_frames = sample c * stride_frames * hop
    int64_t hop = 0;
    int64_t edge_frames = 0;    // frames at each chunk edge whose window reaches into reflect padding
    int64_t count = 0;          // chunks
    int64_t total_frames = 0;   // frames of the whole file: 1 + samples / hop

    int64_t start_sample(int64_t chunk) const { return chunk * stride_frames * hop; }
};

// Throws std::invalid_argument when the chunk has too few frames for the overlap.
ChunkLayout plan_chunks(int64_t samples, const data::PipelineConfig& cfg,
                        int64_t overlap_frames = kDefaultOverlapFrames);

struct Chunks {
    at::Tensor audio;  // [count, chunk_samples], each peak-normalised as the data pipeline does
    at::Tensor peaks;  // [count] float64: what each chunk was divided by (1 for near-silence)
};

// audio [samples] (CPU float) -> the layout's chunks, zero-padded at the end.
Chunks cut_chunks(const at::Tensor& audio, const ChunkLayout& layout);

// raw features [count, 2, M, chunk_frames] of peak-normalised chunks -> raw
// features [2, M, total_frames] of the file at its own level. Overlapping
// frames are cross-faded: mel power linearly, IF as a power-weighted
// circular mean.
at::Tensor join_features(const at::Tensor& raw, const at::Tensor& peaks, const ChunkLayout& layout);

}  // namespace distill::audio
