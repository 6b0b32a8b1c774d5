#include "data/feature_cache.hpp"

#include "data/errors.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

namespace distill::data {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'D', 'S', 'T', 'L', 'F', 'E', 'A', 'T'};
// Bump when the file layout or the feature computation changes.
constexpr uint32_t kVersion = 1;

void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_str(std::string& s, const std::string& v) {
    put_u64(s, v.size());
    s += v;
}

// Bounds-checked reader over the file's bytes.
struct Reader {
    const std::string& b;
    size_t pos = 0;
    bool ok = true;
    bool take(void* dst, size_t n) {
        if (!ok || b.size() - pos < n) return ok = false;
        std::memcpy(dst, b.data() + pos, n);
        pos += n;
        return true;
    }
    uint64_t u64() { uint64_t v = 0; take(&v, 8); return v; }
    uint32_t u32() { uint32_t v = 0; take(&v, 4); return v; }
    std::string str() {
        const uint64_t n = u64();
        if (!ok || n > b.size() - pos) { ok = false; return {}; }
        std::string s = b.substr(pos, n);
        pos += n;
        return s;
    }
};

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

CacheRead read_cache_entry(const fs::path& file, const std::string& key, CacheEntry& out,
                           std::string& why) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return CacheRead::Miss;
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() < sizeof kMagic + 4 + 8 || std::memcmp(bytes.data(), kMagic, 8) != 0) {
        why = "bad magic or truncated header";
        return CacheRead::Corrupt;
    }
    // The checksum covers every byte before it, so it is checked first: no
    // field of a damaged file is trusted.
    uint64_t stored_sum = 0;
    std::memcpy(&stored_sum, bytes.data() + bytes.size() - 8, 8);
    if (fnv1a64(bytes.data(), bytes.size() - 8) != stored_sum) {
        why = "checksum mismatch (truncated or damaged)";
        return CacheRead::Corrupt;
    }
    Reader r{bytes, sizeof kMagic};
    const uint32_t version = r.u32();
    if (version != kVersion) {
        why = "format version " + std::to_string(version) + ", expected " + std::to_string(kVersion);
        return CacheRead::Corrupt;
    }
    const uint32_t usable = r.u32();
    const std::string stored_key = r.str();
    if (r.ok && stored_key != key) return CacheRead::Miss;  // hash collision
    CacheEntry e;
    e.usable = usable != 0;
    e.error = r.str();
    e.n_chunks = static_cast<int64_t>(r.u64());
    e.n_mels = static_cast<int64_t>(r.u64());
    e.frames = static_cast<int64_t>(r.u64());
    const uint64_t n_floats = r.u64();
    const bool shape_ok = e.n_chunks >= 0 && e.n_mels >= 0 && e.frames >= 0 &&
                          n_floats == static_cast<uint64_t>(e.n_chunks * 2 * e.n_mels * e.frames);
    if (!r.ok || !shape_ok || bytes.size() - r.pos != n_floats * sizeof(float) + 8) {
        why = "inconsistent size fields";
        return CacheRead::Corrupt;
    }
    e.data.resize(n_floats);
    r.take(e.data.data(), n_floats * sizeof(float));
    out = std::move(e);
    return CacheRead::Hit;
}

void write_cache_entry(const fs::path& file, const std::string& key, const CacheEntry& e) {
    std::string b(kMagic, sizeof kMagic);
    put_u32(b, kVersion);
    put_u32(b, e.usable ? 1 : 0);
    put_str(b, key);
    put_str(b, e.error);
    put_u64(b, static_cast<uint64_t>(e.n_chunks));
    put_u64(b, static_cast<uint64_t>(e.n_mels));
    put_u64(b, static_cast<uint64_t>(e.frames));
    put_u64(b, e.data.size());
    b.append(reinterpret_cast<const char*>(e.data.data()), e.data.size() * sizeof(float));
    put_u64(b, fnv1a64(b.data(), b.size()));

    // Unique temp name per process and call, so parallel sweeps sharing a
    // cache never write into each other's temp file.
    static std::atomic<uint64_t> counter{0};
    const fs::path tmp = file.string() + ".tmp." + std::to_string(::getpid()) + "." +
                         std::to_string(counter++);
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(b.data(), static_cast<std::streamsize>(b.size()));
        out.flush();
        if (!out) {
            std::error_code ec;
            fs::remove(tmp, ec);
            throw DataError("cannot write cache file " + tmp.string());
        }
    }
    std::error_code ec;
    fs::rename(tmp, file, ec);
    if (ec) {
        const std::string msg = ec.message();
        fs::remove(tmp, ec);
        throw DataError("cannot move cache file into place: " + file.string() + ": " + msg);
    }
}

}  // namespace distill::data
