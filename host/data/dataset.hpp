// A corpus folder -> normalised train/validation tensors, through the
// on-disk feature cache. This is the trainer's one entry point into data/.
#pragma once

#include "data/errors.hpp"
#include "data/pipeline_config.hpp"

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace distill::data {

// What normalisation did, per channel: item = (raw - mean) / std. Stored with
// checkpoints so generation can undo it. "scale": mean = {0, 0},
// std = {std of channel 0, 1}. "zscore": both channels' dataset mean/std.
// Statistics come from the training split only, so validation never leaks
// into them. A standard deviation below 1e-8 (an all-silent corpus) is 1.
struct NormStats {
    std::string mode = "scale";
    double mean[2] = {0.0, 0.0};
    double std[2] = {1.0, 1.0};
};

struct LoadOptions {
    // Receives every warning, summary and progress line (no trailing
    // newline). Empty: lines go to stderr, and progress is one updating line
    // when stderr is a terminal.
    std::function<void(const std::string&)> log;
    bool progress = true;
    // Chunks per extract_features call, at most: fewer when their STFT
    // temporaries would exceed a fixed working set (dataset.cpp).
    int64_t feature_batch = 64;
};

// Per-load counts, so callers (and tests) can see what the cache saved.
struct LoadCounts {
    int64_t decoded_files = 0;      // files decoded this load (cache misses)
    int64_t feature_chunks = 0;     // chunks that went through the STFT this load
    int64_t cache_hits = 0;
    int64_t corrupt_entries = 0;    // detected, warned about and rebuilt
    int64_t augmented_chunks = 0;   // augmented copies made this load (not from cache)
};

struct Dataset {
    at::Tensor train, val;           // float32 [N, 2, n_mels, frames], normalised, CPU
    NormStats stats;
    std::vector<std::string> files;  // usable source files, sorted (absolute paths)
    std::vector<int64_t> train_file_of, val_file_of;  // index into `files` per item
    int64_t skipped_files = 0;
    int64_t train_files = 0, val_files = 0;  // files with chunks on each side (chunk split may share)
    LoadCounts counts;
};

// Discovers, decodes (or loads from cache), splits and normalises.
// `cache_dir` is created when missing. Throws DataError for a missing path, a
// folder with no usable audio, a corpus too small for the split, bad settings.
// With augment.expansion > 0, every training chunk is followed in `train`
// by that many augmented copies (train_file_of names their file); validation
// is never augmented. The copies are cached like the features.
Dataset load_dataset(const std::filesystem::path& dir, const PipelineConfig& cfg,
                     const SplitConfig& split, const std::filesystem::path& cache_dir,
                     const LoadOptions& opts = {}, const AugmentConfig& augment = {});

// Statistics of raw items [N, 2, M, T] for cfg.normalize ("scale" | "zscore").
NormStats compute_norm_stats(const at::Tensor& raw, const std::string& mode);

// (x - mean) / std per channel; x is [N, 2, M, T] or [2, M, T].
at::Tensor apply_norm(const at::Tensor& x, const NormStats& stats);
// The inverse, for turning generated items back into raw features.
at::Tensor undo_norm(const at::Tensor& x, const NormStats& stats);

}  // namespace distill::data
