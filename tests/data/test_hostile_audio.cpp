// Hostile audio input: a long file must not be held in memory several
// times over, a truncated file is reported, and a failure to read a file
// (rather than a fault in its bytes) is never cached.
#include "data/audio_io.hpp"
#include "data/dataset.hpp"

#include "audio_fixtures.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace distill::data {
namespace {
using namespace testing;

SplitConfig by_chunk() {
    SplitConfig s;
    s.split = "chunk";
    return s;
}

// VmRSS or VmHWM of this process, in bytes.
int64_t status_bytes(const std::string& field) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
    return -1;
}

// 16-bit PCM: a few minutes stay a small file.
void write_pcm16_noise(const fs::path& p, double seconds, int sr) {
    fs::create_directories(p.parent_path());
    SF_INFO info{};
    info.samplerate = sr;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
    ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-0.5f, 0.5f);
    std::vector<float> block(static_cast<size_t>(sr));
    for (int64_t s = 0; s < static_cast<int64_t>(seconds); ++s) {
        for (auto& v : block) v = u(rng);
        ASSERT_EQ(sf_writef_float(f, block.data(), sr), sr);
    }
    sf_close(f);
}

// Six minutes at 16 kHz, resampled to 48 kHz: 360 one-second chunks, 35 MB
// of features. Loading it all at once (decoded, resampled, chunked, the
// features, their cache image, a clone, the concatenation, a float64 copy
// for the statistics) grows the process by several times that; streaming
// keeps the growth to the features plus a fixed working set.
TEST(LongFile, PeakMemoryIsTheFeaturesPlusABoundedWorkingSet) {
    TempDir tmp;
    write_pcm16_noise(tmp.path() / "audio" / "long.wav", 360, 16000);
    // One-off costs (LibTorch and BLAS initialisation, thread pools) are
    // paid on a short file first, so the measurement sees only the load.
    write_pcm16_noise(tmp.path() / "short" / "short.wav", 2, 16000);
    Captured log;
    load_dataset(tmp.path() / "short", {}, by_chunk(), tmp.path() / "cache", log.opts());
    {
        std::ofstream clear("/proc/self/clear_refs");
        clear << "5";  // resets VmHWM to the current RSS
        ASSERT_TRUE(clear.good()) << "cannot reset VmHWM through /proc/self/clear_refs";
    }
    const int64_t before = status_bytes("VmRSS");
    const Dataset ds = load_dataset(tmp.path() / "audio", {}, by_chunk(), tmp.path() / "cache", log.opts());
    const int64_t peak = status_bytes("VmHWM");
    ASSERT_GT(before, 0);
    ASSERT_EQ(ds.train.size(0) + ds.val.size(0), 360);
    const int64_t features = (ds.train.numel() + ds.val.numel()) * 4;
    // Working set: 64 MB of STFT temporaries (dataset.cpp) plus decoder,
    // resampler, cache I/O and allocator slack.
    const int64_t allowed = features + (int64_t{96} << 20);
    EXPECT_LE(peak - before, allowed) << "grew " << (peak - before) / (1 << 20) << " MB for "
                                      << features / (1 << 20) << " MB of features";

    // A warm load reads the cache straight into the final tensors.
    {
        std::ofstream clear("/proc/self/clear_refs");
        clear << "5";
    }
    const int64_t before_warm = status_bytes("VmRSS");
    const Dataset warm = load_dataset(tmp.path() / "audio", {}, by_chunk(), tmp.path() / "cache", log.opts());
    EXPECT_EQ(warm.counts.cache_hits, 1);
    EXPECT_LE(status_bytes("VmHWM") - before_warm, allowed) << "warm load";
    EXPECT_TRUE(at::equal(ds.train, warm.train));
}

// Streaming decode gives what decoding in one piece gives.
TEST(LongFile, BlockSizeDoesNotChangeTheSamples) {
    TempDir tmp;
    const fs::path p = tmp.path() / "x.wav";
    write_audio(p, chirp(100, 9000, 3.0, 44100), 44100);
    std::vector<float> whole, small;
    const DecodeReport a =
        stream_mono(p, 48000, [&](const float* s, size_t n) { whole.insert(whole.end(), s, s + n); }, 1 << 20);
    const DecodeReport b =
        stream_mono(p, 48000, [&](const float* s, size_t n) { small.insert(small.end(), s, s + n); }, 1000);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(whole.size(), 144000u);
    EXPECT_EQ(whole, small);
    EXPECT_EQ(a.frames_read, 132300);
}

// A float WAV whose data chunk promises `frames` but holds `keep_bytes`.
fs::path truncated_wav(const fs::path& p, int64_t frames, int64_t keep_bytes) {
    write_audio(p, sine(440, static_cast<double>(frames) / 48000, 48000), 48000);
    const auto header = fs::file_size(p) - static_cast<uintmax_t>(frames) * 4;
    fs::resize_file(p, header + static_cast<uintmax_t>(keep_bytes));
    return p;
}

TEST(TruncatedFile, DecodeWarnsWithBothFrameCounts) {
    TempDir tmp;
    // The case: 2.3 s promised, 300 bytes (75 float frames) present.
    const fs::path p = truncated_wav(tmp.path() / "cut.wav", 110400, 300);
    MonoAudio a;
    std::string err;
    ASSERT_TRUE(decode_mono(p, 48000, a, err)) << err;
    EXPECT_EQ(a.samples.size(), 75u);
    EXPECT_NE(a.warning.find(p.string()), std::string::npos) << a.warning;
    EXPECT_NE(a.warning.find("promises 110400 frames (2.3 s)"), std::string::npos) << a.warning;
    EXPECT_NE(a.warning.find("holds 75"), std::string::npos) << a.warning;

    // AIFF too; a whole file says nothing.
    const fs::path aif = tmp.path() / "cut.aif";
    write_audio(aif, sine(440, 1.0, 48000), 48000);
    fs::resize_file(aif, fs::file_size(aif) - 48000);  // 24000 of 48000 16-bit frames left
    ASSERT_TRUE(decode_mono(aif, 48000, a, err)) << err;
    EXPECT_NE(a.warning.find("promises 48000 frames"), std::string::npos) << a.warning;
    EXPECT_NE(a.warning.find("holds 24000"), std::string::npos) << a.warning;
    const fs::path whole = tmp.path() / "whole.wav";
    write_audio(whole, sine(440, 1.0, 48000), 48000);
    ASSERT_TRUE(decode_mono(whole, 48000, a, err)) << err;
    EXPECT_EQ(a.warning, "");
}

TEST(TruncatedFile, IsUsedAndTheWarningRepeatsOnEveryLoad) {
    TempDir tmp;
    const fs::path dir = tmp.path() / "audio";
    write_audio(dir / "a.wav", sine(440, 1.0, 48000), 48000);
    const fs::path cut = truncated_wav(dir / "b.wav", 110400, 4 * 30000);
    Captured cold;
    const Dataset ds = load_dataset(dir, {}, {}, tmp.path() / "cache", cold.opts());
    EXPECT_EQ(ds.files.size(), 2u);
    EXPECT_EQ(ds.skipped_files, 0);
    const std::string warning = "warning: " + cut.string() + " is truncated: its header promises 110400 frames";
    EXPECT_EQ(cold.count(warning), 1);
    EXPECT_EQ(cold.count("holds 30000"), 1);
    Captured warm;
    const Dataset again = load_dataset(dir, {}, {}, tmp.path() / "cache", warm.opts());
    EXPECT_EQ(again.counts.cache_hits, 2);
    EXPECT_EQ(warm.count(warning), 1);
}

// Loads `dir` in a child process as an unprivileged user (root reads any
// file whatever its mode), so chmod 000 really denies access. Returns how
// many files were skipped, or -1 when the child failed.
int skipped_as_unprivileged(const fs::path& dir, const fs::path& cache) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        int code = 100;
        try {
            if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(101);
            Captured log;
            code = static_cast<int>(load_dataset(dir, {}, {}, cache, log.opts()).skipped_files);
        } catch (...) {
        }
        ::_exit(code);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) < 100 ? WEXITSTATUS(status) : -1;
}

TEST(TransientFailure, UnreadableFileIsNotCachedAsBadAudio) {
    TempDir tmp;  // forked before this process starts any torch thread pool
    const fs::path dir = tmp.path() / "audio", cache = tmp.path() / "cache";
    write_audio(dir / "a.wav", sine(440, 1.0, 48000), 48000);
    write_audio(dir / "b.wav", sine(660, 1.0, 48000), 48000);
    write_audio(dir / "c.wav", sine(880, 1.0, 48000), 48000);
    // The unprivileged child must be able to walk the folders and write the cache.
    for (const auto& p : {tmp.path(), dir, cache}) {
        fs::create_directories(p);
        fs::permissions(p, fs::perms::all);
    }
    fs::permissions(dir / "b.wav", fs::perms::none);
    ASSERT_EQ(skipped_as_unprivileged(dir, cache), 1);
    fs::permissions(dir / "b.wav", fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read |
                                       fs::perms::group_read);
    Captured log;
    const Dataset ds = load_dataset(dir, {}, {}, cache, log.opts());
    EXPECT_EQ(ds.skipped_files, 0) << (log.lines.empty() ? "" : log.lines.front());
    EXPECT_EQ(ds.files.size(), 3u);
    EXPECT_EQ(ds.counts.cache_hits, 2);   // a and c were cached by the child
    EXPECT_EQ(ds.counts.decoded_files, 1);  // b, now readable
}

TEST(TransientFailure, UnreadableFileWarningSaysWhy) {
    TempDir tmp;
    MonoAudio a;
    std::string err;
    EXPECT_FALSE(decode_mono(tmp.path() / "missing.wav", 48000, a, err));
    EXPECT_NE(err.find("No such file or directory"), std::string::npos) << err;
    std::vector<float> sink;
    const DecodeReport r = stream_mono(tmp.path() / "missing.wav", 48000, [](const float*, size_t) {});
    EXPECT_EQ(r.status, DecodeStatus::kUnreadable);
    std::ofstream(tmp.path() / "text.wav") << "not audio";
    EXPECT_EQ(stream_mono(tmp.path() / "text.wav", 48000, [](const float*, size_t) {}).status,
              DecodeStatus::kBadContent);
}

}  // namespace
}  // namespace distill::data

namespace distill::data {
namespace {
using namespace testing;

// The data layer enforces the same bounds when driven directly (not only
// through the experiment file): a typo is a DataError, not std::bad_alloc.
TEST(PipelineLimitsTest, HugeChunkIsRefusedBeforeAnyAllocation) {
    TempDir tmp;
    write_audio(tmp.path() / "audio" / "a.wav", sine(440, 1.0, 48000), 48000);
    PipelineConfig cfg;
    cfg.chunk_seconds = 1e6;
    try {
        load_dataset(tmp.path() / "audio", cfg, {}, tmp.path() / "cache", {});
        FAIL() << "accepted a chunk of 1e6 seconds";
    } catch (const DataError& e) {
        EXPECT_NE(std::string(e.what()).find("[data] chunk_seconds: a chunk of 48000000000 samples is above the limit"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace distill::data
