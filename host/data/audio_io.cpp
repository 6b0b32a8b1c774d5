#include "data/audio_io.hpp"

#include "data/chunker.hpp"
#include "data/declared_frames.hpp"
#include "data/errors.hpp"

#include <fcntl.h>
#include <sndfile.h>
#include <soxr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace distill::data {
namespace fs = std::filesystem;

namespace {

std::atomic<int64_t> g_decodes{0};

struct SndfileCloser {
    void operator()(SNDFILE* f) const { sf_close(f); }
};

// libsoxr as a stream: bounded buffers, output handed on as it comes.
class StreamResampler {
public:
    StreamResampler(int64_t in_rate, int64_t out_rate)
        : ratio_(static_cast<double>(out_rate) / static_cast<double>(in_rate)) {
        if (in_rate == out_rate) return;  // pass-through
        const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
        const soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
        soxr_error_t err = nullptr;
        soxr_ = soxr_create(static_cast<double>(in_rate), static_cast<double>(out_rate), 1, &err, &io, &q, nullptr);
        if (err || !soxr_) throw std::runtime_error(std::string("libsoxr: ") + (err ? err : "cannot create"));
    }
    ~StreamResampler() {
        if (soxr_) soxr_delete(soxr_);
    }
    StreamResampler(const StreamResampler&) = delete;
    StreamResampler& operator=(const StreamResampler&) = delete;

    void process(const float* in, size_t n, const MonoSink& sink) {
        in_total_ += n;
        if (!soxr_) {
            sink(in, n);
            return;
        }
        out_.resize(static_cast<size_t>(static_cast<double>(n) * ratio_) + 64);
        while (n > 0) {
            size_t idone = 0, odone = 0;
            check(soxr_process(soxr_, in, n, &idone, out_.data(), out_.size(), &odone));
            emit(odone, sink);
            if (idone == 0 && odone == 0) throw std::runtime_error("libsoxr: no progress");
            in += idone;
            n -= idone;
        }
    }

    // Drains the filter's tail, stopping at round(input * ratio) samples in
    // all, the length soxr_oneshot gives.
    void finish(const MonoSink& sink) {
        if (!soxr_) return;
        const auto total = static_cast<size_t>(std::llround(static_cast<double>(in_total_) * ratio_));
        out_.resize(std::max<size_t>(out_.size(), 4096));
        for (;;) {
            size_t odone = 0;
            check(soxr_process(soxr_, nullptr, 0, nullptr, out_.data(), out_.size(), &odone));
            if (odone == 0 || out_total_ >= total) break;
            emit(std::min(odone, total - out_total_), sink);
        }
    }

private:
    static void check(soxr_error_t err) {
        if (err) throw std::runtime_error(std::string("libsoxr resampling failed: ") + err);
    }
    void emit(size_t n, const MonoSink& sink) {
        if (n == 0) return;
        sink(out_.data(), n);
        out_total_ += n;
    }
    soxr_t soxr_ = nullptr;
    double ratio_;
    size_t in_total_ = 0, out_total_ = 0;
    std::vector<float> out_;
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

DecodeReport stream_mono(const fs::path& path, int64_t target_rate, const MonoSink& sink,
                         int64_t block_frames) {
    ++g_decodes;
    DecodeReport r;
    auto fail = [&r](DecodeStatus status, std::string why) {
        r.status = status;
        r.error = std::move(why);
        return r;
    };
    // Opened here rather than by sf_open so that "cannot open" (permission,
    // vanished file) is told apart from "not audio": only the latter belongs
    // to the file's content.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(DecodeStatus::kUnreadable, std::string("cannot open: ") + std::strerror(errno));
    const int64_t declared = declared_frames(fd);
    SF_INFO info{};
    std::unique_ptr<SNDFILE, SndfileCloser> f(sf_open_fd(fd, SFM_READ, &info, SF_TRUE));
    if (!f) {
        const bool system = sf_error(nullptr) == SF_ERR_SYSTEM;
        return fail(system ? DecodeStatus::kUnreadable : DecodeStatus::kBadContent, sf_strerror(nullptr));
    }
    if (info.channels <= 0 || info.samplerate <= 0)
        return fail(DecodeStatus::kBadContent, "invalid channel count or sample rate in header");
    r.source_rate = info.samplerate;
    r.source_channels = info.channels;
    // libsndfile's own count is exact for the formats it does not clamp
    // (FLAC); an mp3's is an estimate and an unfinished Ogg's is "unknown".
    const bool header_count_exact = (info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_MPEG &&
                                    info.frames > 0 && info.frames < (int64_t{1} << 50);
    r.frames_promised = declared >= 0 ? std::max<int64_t>(declared, info.frames)
                                      : (header_count_exact ? info.frames : -1);

    StreamResampler resampler(info.samplerate, target_rate);
    const int64_t ch = info.channels;
    const int64_t block = std::max<int64_t>(1, block_frames);
    std::vector<float> interleaved(static_cast<size_t>(block * ch));
    std::vector<float> mono(static_cast<size_t>(block));
    // Read in blocks until EOF: some formats (mp3) only estimate `frames`.
    for (;;) {
        const sf_count_t got = sf_readf_float(f.get(), interleaved.data(), block);
        if (got <= 0) break;
        for (sf_count_t i = 0; i < got; ++i) {
            double s = 0.0;
            for (int64_t c = 0; c < ch; ++c) s += interleaved[static_cast<size_t>(i * ch + c)];
            const auto v = static_cast<float>(s / static_cast<double>(ch));
            if (!std::isfinite(v)) return fail(DecodeStatus::kBadContent, "decoded samples are not finite");
            mono[static_cast<size_t>(i)] = v;
        }
        r.frames_read += got;
        resampler.process(mono.data(), static_cast<size_t>(got), sink);
    }
    if (const int code = sf_error(f.get()); code != SF_ERR_NO_ERROR)
        return fail(code == SF_ERR_SYSTEM ? DecodeStatus::kUnreadable : DecodeStatus::kBadContent,
                    sf_strerror(f.get()));
    if (r.frames_read == 0) return fail(DecodeStatus::kBadContent, "no audio frames");
    resampler.finish(sink);
    if (r.frames_promised > r.frames_read) {
        const double rate = static_cast<double>(info.samplerate);
        std::ostringstream w;
        w.precision(3);
        w << path.string() << " is truncated: its header promises " << r.frames_promised << " frames ("
          << static_cast<double>(r.frames_promised) / rate << " s), the file holds " << r.frames_read << " ("
          << static_cast<double>(r.frames_read) / rate << " s); using the " << r.frames_read << " frames present";
        r.warning = w.str();
    }
    return r;
}

bool decode_mono(const fs::path& path, int64_t target_rate, MonoAudio& out, std::string& error) {
    std::vector<float> samples;
    const DecodeReport r = stream_mono(path, target_rate, [&samples](const float* s, size_t n) {
        samples.insert(samples.end(), s, s + n);
    });
    if (!r.ok()) {
        error = r.error;
        return false;
    }
    out.samples = std::move(samples);
    out.source_rate = r.source_rate;
    out.source_channels = r.source_channels;
    out.warning = r.warning;
    return true;
}

int64_t make_chunks(const std::vector<float>& mono, const PipelineConfig& cfg,
                    std::vector<float>& chunks) {
    const int64_t len = cfg.chunk_samples();
    chunks.clear();
    ChunkBatcher batcher(len, 1, [&chunks, len](const float* rows, int64_t n) {
        chunks.insert(chunks.end(), rows, rows + n * len);
    });
    batcher.push(mono.data(), mono.size());
    batcher.finish();
    return batcher.chunks_emitted();
}

int64_t decode_count() { return g_decodes.load(); }

}  // namespace distill::data
