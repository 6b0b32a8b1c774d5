// Augmented copies of a file's chunks, made from the audio (not from
// features) and cached like the features: one cache entry per file holding
// `expansion` copies of each of its chunks, keyed by the file, the pipeline
// settings and every augmentation parameter including the seed.
#pragma once

#include "data/pipeline_config.hpp"

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace distill::data {

// The cache key of a file's augmented copies (extends cache_key()).
std::string augment_cache_key(const std::string& feature_key, const AugmentConfig& a);

// One augmented copy of a peak-normalised chunk of `len` samples, written to
// `out` (len samples). The same rng state gives the same copy.
void augment_chunk(const float* chunk, int64_t len, const AugmentConfig& a, std::mt19937_64& rng, float* out);

// The rng of one file's copies: the experiment's seed and the file's path,
// so copies do not depend on which other files the corpus holds.
std::mt19937_64 augment_rng(const AugmentConfig& a, const std::filesystem::path& file);

}  // namespace distill::data
