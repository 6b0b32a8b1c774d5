// Audio files -> mono float chunks at the pipeline's sample rate.
// Decoding is libsndfile, resampling libsoxr; nothing here touches torch, so
// tests and tools can use it cheaply.
#pragma once

#include "data/pipeline_config.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace distill::data {

// Audio files under `dir`, recursively, sorted by path. Hidden files and
// anything inside a hidden folder (a path component starting with '.') are
// skipped, as is anything without a known audio extension (case-insensitive:
// wav, flac, ogg, oga, aiff, aif, mp3). Throws DataError when `dir` does not
// exist or is not a directory.
std::vector<std::filesystem::path> discover_audio_files(const std::filesystem::path& dir);

bool has_audio_extension(const std::filesystem::path& p);

// One decoded file: mono (mean of channels), resampled to the target rate.
struct MonoAudio {
    std::vector<float> samples;
    int64_t source_rate = 0;
    int64_t source_channels = 0;
};

// Decodes `path` with libsndfile, mixes to mono and resamples to
// `target_rate` with libsoxr (high quality). Returns false and sets `error`
// to libsndfile's reason (or ours: "no audio frames", ...) when the file
// cannot be used; never throws for bad audio.
bool decode_mono(const std::filesystem::path& path, int64_t target_rate, MonoAudio& out,
                 std::string& error);

// Resamples mono float audio with libsoxr (SOXR_HQ). Throws std::runtime_error
// on a soxr failure (which bad input cannot cause).
std::vector<float> resample(const std::vector<float>& in, int64_t in_rate, int64_t out_rate);

// Consecutive non-overlapping chunks of cfg.chunk_samples(), the last one
// zero-padded, each peak-normalised on its own (divided by max |x| when that
// exceeds 1e-6). Row-major [n_chunks * chunk_samples]; returns n_chunks
// (0 for empty input).
int64_t make_chunks(const std::vector<float>& mono, const PipelineConfig& cfg,
                    std::vector<float>& chunks);

// Process-wide count of decode_mono calls that opened a file; the cache tests
// use it to prove a warm run decodes nothing.
int64_t decode_count();

}  // namespace distill::data
