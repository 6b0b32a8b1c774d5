// One cache file per source file, holding its raw (unnormalised) features.
// The file name is a hash of the key; the full key is stored inside and
// compared on read, so a hash collision is a miss, never a wrong hit.
// Files that cannot be used because of their content are cached too (with
// libsndfile's reason) so a warm run on a corpus with a bad file still
// decodes nothing; a failure to read the file at all is never cached.
//
// Entries are written and read in blocks (CacheWriter, CacheReader), so an
// entry never has to sit whole in memory next to its destination.
//
// Layout (version 2, native endianness):
//   header   magic[8] version:u32 usable:u32 n_chunks:u64 n_mels:u64 frames:u64
//            n_floats:u64 key:str
//   body     n_floats float32, [n_chunks, 2, n_mels, frames] row-major
//   trailer  message:str checksum:u64
// str is a u64 length then the bytes. The checksum is FNV-1a over the body
// and the message, continued over the header: the writer only knows the
// header once the body is written, and this order lets it hash as it goes.
#pragma once

#include "data/pipeline_config.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

namespace distill::data {

struct CacheMeta {
    bool usable = false;
    // Unusable: why the file was skipped. Usable: a warning to repeat on
    // every load (a truncated file), or empty.
    std::string message;
    int64_t n_chunks = 0;
    int64_t n_mels = 0;
    int64_t frames = 0;
    int64_t floats_per_chunk() const { return 2 * n_mels * frames; }
};

// Absolute path, size, mtime and every parameter that changes the features.
// `normalize` is deliberately absent: statistics are derived from raw features.
std::string cache_key(const std::filesystem::path& abs_file, const PipelineConfig& cfg);

std::filesystem::path cache_entry_path(const std::filesystem::path& cache_dir,
                                       const std::string& key);

enum class CacheRead { Hit, Miss, Corrupt };

// Reads and checks one entry; only a bounded block is in memory at a time.
class CacheReader {
public:
    // Hit: meta() is filled and every byte matched the checksum. Miss: no
    // file, or another key's file. Corrupt: bad magic/version/size/checksum;
    // `why` says which.
    CacheRead open(const std::filesystem::path& file, const std::string& key, std::string& why);
    const CacheMeta& meta() const { return meta_; }

    // Reads the whole body again, handing chunk c's floats to `dst(c)`
    // (floats_per_chunk() of them), and checks the checksum once more. Throws
    // DataError when the file changed since open().
    void read_into(const std::function<float*(int64_t chunk)>& dst);

private:
    bool read_body(const std::function<float*(int64_t chunk)>& next);
    std::filesystem::path file_;
    std::string key_;
    std::string header_;  // as read by open(); read_into() expects the same
    CacheMeta meta_;
    uint64_t header_size_ = 0;
};

// Writes an entry to a temporary file in the same folder as it is built,
// then renames it over `file` in commit(): a killed run leaves either the old
// entry, the new one, or a stray temp. Destroyed without commit(), the temp
// file is removed. Throws DataError when the cache folder cannot be written.
class CacheWriter {
public:
    CacheWriter(std::filesystem::path file, std::string key, int64_t n_mels, int64_t frames);
    ~CacheWriter();
    CacheWriter(const CacheWriter&) = delete;
    CacheWriter& operator=(const CacheWriter&) = delete;

    // Whole chunks of features, [n, 2, n_mels, frames] row-major.
    void append(const float* features, int64_t n_chunks);
    // `usable` false drops any appended chunks: the entry records only why.
    void commit(bool usable, const std::string& message);

private:
    std::string header(bool usable) const;
    std::filesystem::path file_, tmp_;
    std::string key_;
    CacheMeta meta_;
    std::ofstream out_;
    uint64_t sum_;
    bool committed_ = false;
};

uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ULL);

}  // namespace distill::data
