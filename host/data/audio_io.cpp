#include "data/audio_io.hpp"

#include "data/errors.hpp"

#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace distill::data {
namespace fs = std::filesystem;

namespace {

std::atomic<int64_t> g_decodes{0};

struct SndfileCloser {
    void operator()(SNDFILE* f) const { sf_close(f); }
};

bool is_hidden_below(const fs::path& p, const fs::path& root) {
    for (const auto& part : p.lexically_relative(root)) {
        const std::string s = part.string();
        if (!s.empty() && s[0] == '.' && s != "." && s != "..") return true;
    }
    return false;
}

}  // namespace

bool has_audio_extension(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    static const char* const kExts[] = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3"};
    return std::any_of(std::begin(kExts), std::end(kExts), [&](const char* e) { return ext == e; });
}

std::vector<fs::path> discover_audio_files(const fs::path& dir) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) throw DataError("data directory does not exist: " + dir.string());
    if (!fs::is_directory(dir, ec)) throw DataError("data path is not a directory: " + dir.string());

    const fs::path root = fs::absolute(dir).lexically_normal();
    std::vector<fs::path> files;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    if (ec) throw DataError("cannot read data directory " + dir.string() + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) throw DataError("cannot read data directory " + dir.string() + ": " + ec.message());
        const fs::path& p = it->path();
        if (is_hidden_below(p, root)) {
            // Do not descend into hidden folders (.git, .distill-cache, ...).
            if (it->is_directory(ec)) it.disable_recursion_pending();
            continue;
        }
        // is_regular_file follows symlinks: a link to a file counts, a
        // dangling one does not.
        if (it->is_regular_file(ec) && has_audio_extension(p)) files.push_back(p);
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<float> resample(const std::vector<float>& in, int64_t in_rate, int64_t out_rate) {
    if (in_rate == out_rate || in.empty()) return in;
    const double ratio = static_cast<double>(out_rate) / static_cast<double>(in_rate);
    const size_t out_len = static_cast<size_t>(std::llround(static_cast<double>(in.size()) * ratio));
    std::vector<float> out(out_len);
    size_t odone = 0;
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_error_t err = soxr_oneshot(static_cast<double>(in_rate), static_cast<double>(out_rate), 1,
                                    in.data(), in.size(), nullptr, out.data(), out_len, &odone,
                                    &io, &q, nullptr);
    if (err) throw std::runtime_error(std::string("libsoxr resampling failed: ") + err);
    out.resize(odone);
    return out;
}

bool decode_mono(const fs::path& path, int64_t target_rate, MonoAudio& out, std::string& error) {
    ++g_decodes;
    SF_INFO info{};
    std::unique_ptr<SNDFILE, SndfileCloser> f(sf_open(path.c_str(), SFM_READ, &info));
    if (!f) {
        error = sf_strerror(nullptr);
        return false;
    }
    if (info.channels <= 0 || info.samplerate <= 0) {
        error = "invalid channel count or sample rate in header";
        return false;
    }
    const int64_t ch = info.channels;
    std::vector<float> mono;
    if (info.frames > 0 && info.frames < (int64_t{1} << 34)) mono.reserve(static_cast<size_t>(info.frames));
    // Read in blocks until EOF: some formats (mp3) only estimate `frames`.
    constexpr sf_count_t kBlock = 65536;
    std::vector<float> buf(static_cast<size_t>(kBlock * ch));
    for (;;) {
        const sf_count_t got = sf_readf_float(f.get(), buf.data(), kBlock);
        if (got <= 0) break;
        for (sf_count_t i = 0; i < got; ++i) {
            double s = 0.0;
            for (int64_t c = 0; c < ch; ++c) s += buf[static_cast<size_t>(i * ch + c)];
            mono.push_back(static_cast<float>(s / static_cast<double>(ch)));
        }
    }
    if (sf_error(f.get()) != SF_ERR_NO_ERROR) {
        error = sf_strerror(f.get());
        return false;
    }
    if (mono.empty()) {
        error = "no audio frames";
        return false;
    }
    for (float v : mono) {
        if (!std::isfinite(v)) {
            error = "decoded samples are not finite";
            return false;
        }
    }
    out.source_rate = info.samplerate;
    out.source_channels = ch;
    out.samples = resample(mono, info.samplerate, target_rate);
    return true;
}

int64_t make_chunks(const std::vector<float>& mono, const PipelineConfig& cfg,
                    std::vector<float>& chunks) {
    const int64_t n = static_cast<int64_t>(mono.size());
    const int64_t len = cfg.chunk_samples();
    const int64_t count = (n + len - 1) / len;
    chunks.assign(static_cast<size_t>(count * len), 0.0f);
    std::copy(mono.begin(), mono.end(), chunks.begin());
    for (int64_t c = 0; c < count; ++c) {
        float* row = chunks.data() + c * len;
        float peak = 0.0f;
        for (int64_t i = 0; i < len; ++i) peak = std::max(peak, std::fabs(row[i]));
        if (peak > 1e-6f)
            for (int64_t i = 0; i < len; ++i) row[i] /= peak;
    }
    return count;
}

int64_t decode_count() { return g_decodes.load(); }

}  // namespace distill::data
