// One cache file per source file, holding its raw (unnormalised) features.
// The file name is a hash of the key; the full key is stored inside and
// compared on read, so a hash collision is a miss, never a wrong hit.
// Undecodable files are cached too (with libsndfile's reason) so a warm run
// on a corpus with a bad file still decodes nothing.
#pragma once

#include "data/pipeline_config.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace distill::data {

struct CacheEntry {
    bool usable = false;
    std::string error;         // why the file was skipped, when !usable
    int64_t n_chunks = 0;
    int64_t n_mels = 0;
    int64_t frames = 0;
    std::vector<float> data;   // [n_chunks, 2, n_mels, frames] row-major
};

// Absolute path, size, mtime and every parameter that changes the features.
// `normalize` is deliberately absent: statistics are derived from raw features.
std::string cache_key(const std::filesystem::path& abs_file, const PipelineConfig& cfg);

std::filesystem::path cache_entry_path(const std::filesystem::path& cache_dir,
                                       const std::string& key);

enum class CacheRead { Hit, Miss, Corrupt };

// Hit: `out` is filled. Miss: no file or another key's file. Corrupt: bad
// magic/version/size/checksum or shape; `why` says which.
CacheRead read_cache_entry(const std::filesystem::path& file, const std::string& key,
                           CacheEntry& out, std::string& why);

// Writes to a temporary file in the same folder and renames it over `file`,
// so a killed run leaves either the old entry, the new one, or a stray temp.
// Throws DataError when the cache folder cannot be written.
void write_cache_entry(const std::filesystem::path& file, const std::string& key,
                       const CacheEntry& entry);

uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ULL);

}  // namespace distill::data
