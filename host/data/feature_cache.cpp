#include "data/feature_cache.hpp"

#include "data/errors.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>
#include <sstream>
#include <system_error>

namespace distill::data {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'D', 'S', 'T', 'L', 'F', 'E', 'A', 'T'};
// Bump when the file layout or the feature computation changes.
constexpr uint32_t kVersion = 2;

void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_str(std::string& s, const std::string& v) {
    put_u64(s, v.size());
    s += v;
}

std::string hex64(uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

std::string cache_key(const fs::path& abs_file, const PipelineConfig& c) {
    std::error_code ec;
    const auto size = fs::file_size(abs_file, ec);
    const auto mtime = fs::last_write_time(abs_file, ec).time_since_epoch().count();
    std::ostringstream k;
    k.precision(17);
    k << "v" << kVersion << "|path=" << abs_file.string() << "|size=" << (ec ? 0 : size)
      << "|mtime=" << mtime << "|sr=" << c.sample_rate << "|chunk=" << c.chunk_seconds
      << "|n_fft=" << c.n_fft << "|hop=" << c.hop_length << "|win=" << c.win_length
      << "|n_mels=" << c.n_mels << "|fmin=" << c.fmin << "|fmax=" << c.fmax
      << "|mask=" << c.mask_threshold;
    return k.str();
}

fs::path cache_entry_path(const fs::path& cache_dir, const std::string& key) {
    return cache_dir / (hex64(fnv1a64(key.data(), key.size())) + ".feat");
}

namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
// magic, version, usable, n_chunks, n_mels, frames, n_floats, key length.
constexpr size_t kFixedHeader = sizeof kMagic + 4 + 4 + 8 * 4 + 8;

uint64_t get_u64(const char* p) {
    uint64_t v = 0;
    std::memcpy(&v, p, 8);
    return v;
}

}  // namespace

CacheRead CacheReader::open(const fs::path& file, const std::string& key, std::string& why) {
    file_ = file;
    key_ = key;
    std::ifstream in(file, std::ios::binary | std::ios::ate);
    if (!in) return CacheRead::Miss;
    const auto size = static_cast<uint64_t>(in.tellg());
    in.seekg(0);
    std::string fixed(kFixedHeader, '\0');
    if (size < kFixedHeader + 16 || !in.read(fixed.data(), kFixedHeader) ||
        std::memcmp(fixed.data(), kMagic, sizeof kMagic) != 0) {
        why = "bad magic or truncated header";
        return CacheRead::Corrupt;
    }
    uint32_t version = 0, usable = 0;
    std::memcpy(&version, fixed.data() + 8, 4);
    std::memcpy(&usable, fixed.data() + 12, 4);
    if (version != kVersion) {
        why = "format version " + std::to_string(version) + ", expected " + std::to_string(kVersion);
        return CacheRead::Corrupt;
    }
    const uint64_t n_chunks = get_u64(fixed.data() + 16), n_mels = get_u64(fixed.data() + 24),
                   frames = get_u64(fixed.data() + 32), n_floats = get_u64(fixed.data() + 40),
                   key_len = get_u64(fixed.data() + 48);
    // Every size is checked against the file's length before it is used, so
    // a damaged field can neither overflow nor allocate.
    const uint64_t room = size - kFixedHeader - 16;
    const uint64_t per_chunk = 2 * n_mels * frames;
    const bool shape_ok = n_chunks == 0 ? n_floats == 0
                                        : per_chunk > 0 && n_floats % per_chunk == 0 && n_floats / per_chunk == n_chunks;
    const bool sizes_ok = key_len <= room && n_floats <= (room - key_len) / sizeof(float) &&
                          n_mels < (uint64_t{1} << 20) && frames < (uint64_t{1} << 30) && shape_ok;
    if (!sizes_ok) {
        why = "inconsistent size fields";
        return CacheRead::Corrupt;
    }
    std::string stored_key(key_len, '\0');
    in.read(stored_key.data(), static_cast<std::streamsize>(key_len));
    header_size_ = kFixedHeader + key_len;
    const uint64_t body_end = header_size_ + n_floats * sizeof(float);
    char len_bytes[8];
    in.seekg(static_cast<std::streamoff>(body_end));
    if (!in || !in.read(len_bytes, 8) || get_u64(len_bytes) != size - body_end - 16) {
        why = "inconsistent size fields";
        return CacheRead::Corrupt;
    }
    header_ = fixed + stored_key;
    meta_ = CacheMeta{};
    meta_.usable = usable != 0;
    meta_.n_chunks = static_cast<int64_t>(n_chunks);
    meta_.n_mels = static_cast<int64_t>(n_mels);
    meta_.frames = static_cast<int64_t>(frames);
    // The checksum covers every byte, so it is checked before any field is
    // trusted, and before the key: a damaged key is corruption, not a miss.
    std::vector<float> scratch(static_cast<size_t>(meta_.floats_per_chunk()));
    if (!read_body([&scratch](int64_t) { return scratch.data(); })) {
        why = "checksum mismatch (truncated or damaged)";
        return CacheRead::Corrupt;
    }
    if (stored_key != key) return CacheRead::Miss;  // hash collision
    return CacheRead::Hit;
}

bool CacheReader::read_body(const std::function<float*(int64_t)>& next) {
    std::ifstream in(file_, std::ios::binary);
    std::string header(header_.size(), '\0');
    if (!in.read(header.data(), static_cast<std::streamsize>(header.size())) || header != header_) return false;
    const auto chunk_bytes = static_cast<std::streamsize>(meta_.floats_per_chunk() * sizeof(float));
    uint64_t sum = kFnvOffset;
    for (int64_t c = 0; c < meta_.n_chunks; ++c) {
        float* dst = next(c);
        if (!in.read(reinterpret_cast<char*>(dst), chunk_bytes)) return false;
        sum = fnv1a64(dst, static_cast<size_t>(chunk_bytes), sum);
    }
    char len_bytes[8];
    if (!in.read(len_bytes, 8)) return false;
    std::string message(get_u64(len_bytes), '\0');
    char stored[8];
    if (!in.read(message.data(), static_cast<std::streamsize>(message.size())) || !in.read(stored, 8)) return false;
    sum = fnv1a64(len_bytes, 8, sum);
    sum = fnv1a64(message.data(), message.size(), sum);
    sum = fnv1a64(header.data(), header.size(), sum);
    if (sum != get_u64(stored)) return false;
    meta_.message = std::move(message);
    return true;
}

void CacheReader::read_into(const std::function<float*(int64_t)>& destination) {
    if (!read_body(destination))
        throw DataError("cache file " + file_.string() + " changed while it was being read; run again");
}

CacheWriter::CacheWriter(fs::path file, std::string key, int64_t n_mels, int64_t frames)
    : file_(std::move(file)), key_(std::move(key)), sum_(kFnvOffset) {
    meta_.n_mels = n_mels;
    meta_.frames = frames;
    // Unique temp name per process and entry, so parallel sweeps sharing a
    // cache never write into each other's temp file.
    static std::atomic<uint64_t> counter{0};
    tmp_ = file_.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    out_.open(tmp_, std::ios::binary | std::ios::trunc);
    out_ << header(false);  // rewritten by commit() once the counts are known
    if (!out_) throw DataError("cannot write cache file " + tmp_.string());
}

CacheWriter::~CacheWriter() {
    if (committed_) return;
    out_.close();
    std::error_code ec;
    fs::remove(tmp_, ec);
}

std::string CacheWriter::header(bool usable) const {
    std::string b(kMagic, sizeof kMagic);
    put_u32(b, kVersion);
    put_u32(b, usable ? 1 : 0);
    put_u64(b, static_cast<uint64_t>(meta_.n_chunks));
    put_u64(b, static_cast<uint64_t>(meta_.n_mels));
    put_u64(b, static_cast<uint64_t>(meta_.frames));
    put_u64(b, static_cast<uint64_t>(meta_.n_chunks * meta_.floats_per_chunk()));
    put_str(b, key_);
    return b;
}

void CacheWriter::append(const float* features, int64_t n_chunks) {
    const auto bytes = static_cast<size_t>(n_chunks * meta_.floats_per_chunk()) * sizeof(float);
    out_.write(reinterpret_cast<const char*>(features), static_cast<std::streamsize>(bytes));
    if (!out_) throw DataError("cannot write cache file " + tmp_.string());
    sum_ = fnv1a64(features, bytes, sum_);
    meta_.n_chunks += n_chunks;
}

void CacheWriter::commit(bool usable, const std::string& message) {
    if (!usable && meta_.n_chunks > 0) {  // start over: the entry holds only the reason
        out_.close();
        out_.open(tmp_, std::ios::binary | std::ios::trunc);
        meta_.n_chunks = 0;
        sum_ = kFnvOffset;
        out_ << header(false);
    }
    std::string trailer;
    put_str(trailer, message);
    uint64_t sum = fnv1a64(trailer.data(), trailer.size(), sum_);
    const std::string head = header(usable);
    sum = fnv1a64(head.data(), head.size(), sum);
    put_u64(trailer, sum);
    out_.write(trailer.data(), static_cast<std::streamsize>(trailer.size()));
    out_.seekp(0);
    out_.write(head.data(), static_cast<std::streamsize>(head.size()));
    out_.close();
    if (!out_) throw DataError("cannot write cache file " + tmp_.string());
    std::error_code ec;
    fs::rename(tmp_, file_, ec);
    if (ec) throw DataError("cannot move cache file into place: " + file_.string() + ": " + ec.message());
    committed_ = true;
}

}  // namespace distill::data
