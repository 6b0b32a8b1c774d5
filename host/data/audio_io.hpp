// Audio files -> mono float samples at the pipeline's sample rate, streamed
// in blocks. Decoding is libsndfile, resampling libsoxr; nothing here touches
// torch, so tests and tools can use it cheaply.
#pragma once

#include "data/pipeline_config.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
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

// Why a file could not be used. Only kBadContent is a property of the bytes
// (and may be cached under the file's size and mtime); kUnreadable (no
// permission, vanished, I/O error) can change without the file changing.
enum class DecodeStatus { kOk, kBadContent, kUnreadable };

struct DecodeReport {
    DecodeStatus status = DecodeStatus::kOk;
    std::string error;              // why, when status != kOk
    std::string warning;            // usable but suspect (truncated), else empty
    int64_t source_rate = 0;
    int64_t source_channels = 0;
    int64_t frames_read = 0;        // at the source rate
    int64_t frames_promised = -1;   // what the header declares; -1 when unknown
    bool ok() const { return status == DecodeStatus::kOk; }
};

// Receives consecutive mono samples at the target rate.
using MonoSink = std::function<void(const float* samples, size_t count)>;

// Decodes `path` with libsndfile `block_frames` frames at a time, mixes to
// mono (mean of channels), resamples to `target_rate` with libsoxr (high
// quality, streaming) and hands each block to `sink`: memory stays bounded
// whatever the file's length. On failure the sink may already have had some
// blocks; the caller discards them. Never throws for bad audio.
//
// A file that ends before the frames its header declares is used with what
// is there, and `warning` names both counts.
DecodeReport stream_mono(const std::filesystem::path& path, int64_t target_rate, const MonoSink& sink,
                         int64_t block_frames = 65536);

// One decoded file, whole: for tests and tools on short files.
struct MonoAudio {
    std::vector<float> samples;
    int64_t source_rate = 0;
    int64_t source_channels = 0;
    std::string warning;
};

// stream_mono into memory. Returns false and sets `error` to libsndfile's
// reason (or ours: "no audio frames", ...) when the file cannot be used.
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

// Process-wide count of decode calls that opened a file; the cache tests
// use it to prove a warm run decodes nothing.
int64_t decode_count();

}  // namespace distill::data
