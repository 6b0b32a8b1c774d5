// Discovery, decoding, resampling, mono mix and chunking (no torch needed).
#include "data/audio_io.hpp"
#include "data/errors.hpp"

#include "audio_fixtures.hpp"

#include <algorithm>
#include <fstream>

namespace distill::data {
namespace {
using namespace testing;

// Frequency from the first and last rising zero crossings (linearly
// interpolated) inside [from, to): exact for a clean sine up to interpolation
// error far below the tolerances used here.
double measured_frequency(const std::vector<float>& x, int sr, size_t from, size_t to) {
    double first = -1, last = -1;
    int crossings = 0;
    for (size_t i = from + 1; i < to; ++i) {
        if (x[i - 1] < 0 && x[i] >= 0) {
            const double t = static_cast<double>(i - 1) + x[i - 1] / (x[i - 1] - x[i]);
            if (first < 0) first = t;
            last = t;
            ++crossings;
        }
    }
    return (crossings - 1) * static_cast<double>(sr) / (last - first);
}

TEST(AudioDiscovery, RecursiveSortedSkipsHiddenAndNonAudio) {
    TempDir tmp;
    const auto& d = tmp.path();
    const auto s = sine(440, 0.1, 48000);
    write_audio(d / "b.wav", s, 48000);
    write_audio(d / "a" / "z.flac", s, 48000);
    write_audio(d / ".hidden" / "c.wav", s, 48000);
    write_audio(d / "a" / ".d.wav", s, 48000);
    std::ofstream(d / "notes.txt") << "x";
    std::ofstream(d / "UPPER.WAV") << "not really audio";  // extension decides discovery
    fs::create_symlink(d / "b.wav", d / "link-without-extension");

    const auto files = discover_audio_files(d);
    std::vector<std::string> rel;
    for (const auto& f : files) rel.push_back(f.lexically_relative(fs::absolute(d)).string());
    // Sorted by full path: "UPPER.WAV" < "a/z.flac" < "b.wav" in byte order.
    EXPECT_EQ(rel, (std::vector<std::string>{"UPPER.WAV", "a/z.flac", "b.wav"}));
}

TEST(AudioDiscovery, MissingPathAndFileAreErrors) {
    TempDir tmp;
    EXPECT_THROW(discover_audio_files(tmp.path() / "nope"), DataError);
    write_audio(tmp.path() / "x.wav", sine(440, 0.1, 48000), 48000);
    try {
        discover_audio_files(tmp.path() / "x.wav");
        FAIL() << "a file is not a corpus folder";
    } catch (const DataError& e) {
        EXPECT_NE(std::string(e.what()).find("x.wav"), std::string::npos) << e.what();
    }
}

TEST(AudioChunks, TwoAndAHalfSecondsGiveThreePeakNormalisedChunks) {
    TempDir tmp;
    const auto p = tmp.path() / "x.wav";
    write_audio(p, sine(440, 2.5, 48000, 0.25), 48000);
    MonoAudio a;
    std::string err;
    ASSERT_TRUE(decode_mono(p, 48000, a, err)) << err;
    ASSERT_EQ(a.samples.size(), 120000u);
    PipelineConfig cfg;
    std::vector<float> chunks;
    // ceil(120000 / 48000) = 3, the last holding 24000 samples + 24000 zeros.
    ASSERT_EQ(make_chunks(a.samples, cfg, chunks), 3);
    ASSERT_EQ(chunks.size(), 3u * 48000u);
    for (int c = 0; c < 3; ++c) {
        const auto b = chunks.begin() + c * 48000;
        float peak = 0;
        for (auto it = b; it != b + 48000; ++it) peak = std::max(peak, std::fabs(*it));
        EXPECT_NEAR(peak, 1.0f, 1e-6f) << "chunk " << c;  // 0.25 amplitude scaled to 1
    }
    EXPECT_TRUE(std::all_of(chunks.begin() + 2 * 48000 + 24000, chunks.end(),
                            [](float v) { return v == 0.0f; }));
}

TEST(AudioChunks, SilenceIsNotAmplified) {
    PipelineConfig cfg;
    std::vector<float> quiet(1000, 1e-7f), chunks;
    ASSERT_EQ(make_chunks(quiet, cfg, chunks), 1);
    EXPECT_FLOAT_EQ(chunks[0], 1e-7f);  // max |x| <= 1e-6: left as is
}

TEST(AudioDecode, ResamplesFrom44100PreservingLengthAndFrequency) {
    TempDir tmp;
    const auto p = tmp.path() / "x.wav";
    write_audio(p, sine(440, 1.0, 44100), 44100);
    MonoAudio a;
    std::string err;
    ASSERT_TRUE(decode_mono(p, 48000, a, err)) << err;
    EXPECT_EQ(a.source_rate, 44100);
    // 44100 samples * 48000/44100 = 48000; a resampler may differ by a sample.
    EXPECT_NEAR(static_cast<double>(a.samples.size()), 48000.0, 1.0);
    // Away from the filter's edge transients, the sine keeps its 440 Hz
    // within 0.01 Hz (a wrong ratio, e.g. no resampling, would read 479 Hz).
    EXPECT_NEAR(measured_frequency(a.samples, 48000, 2000, a.samples.size() - 2000), 440.0, 0.01);
    // Amplitude survives too (0.5 in, HQ passband ripple is tiny).
    float peak = 0;
    for (size_t i = 2000; i < a.samples.size() - 2000; ++i) peak = std::max(peak, std::fabs(a.samples[i]));
    EXPECT_NEAR(peak, 0.5f, 0.005f);
}

TEST(AudioDecode, StereoIsMixedToTheMeanOfChannels) {
    TempDir tmp;
    const auto p = tmp.path() / "st.wav";
    const auto l = sine(440, 0.5, 48000, 0.6), r = chirp(100, 2000, 0.5, 48000, 0.2);
    std::vector<float> inter;
    for (size_t i = 0; i < l.size(); ++i) {
        inter.push_back(l[i]);
        inter.push_back(r[i]);
    }
    write_audio(p, inter, 48000, 2);
    MonoAudio a;
    std::string err;
    ASSERT_TRUE(decode_mono(p, 48000, a, err)) << err;
    EXPECT_EQ(a.source_channels, 2);
    ASSERT_EQ(a.samples.size(), l.size());
    for (size_t i = 0; i < l.size(); i += 97) ASSERT_NEAR(a.samples[i], 0.5f * (l[i] + r[i]), 1e-6f) << i;
}

TEST(AudioDecode, FlacAiffAndOggDecode) {
    TempDir tmp;
    const auto s = sine(1000, 0.5, 48000);
    // Per-sample tolerance: 24-bit and 16-bit PCM quantisation; Vorbis is lossy,
    // so it is checked by frequency instead.
    for (auto [name, tol] : {std::pair{"x.flac", 1e-5f}, std::pair{"x.aif", 1e-4f}}) {
        write_audio(tmp.path() / name, s, 48000);
        MonoAudio a;
        std::string err;
        ASSERT_TRUE(decode_mono(tmp.path() / name, 48000, a, err)) << name << ": " << err;
        ASSERT_EQ(a.samples.size(), s.size()) << name;
        for (size_t i = 0; i < s.size(); i += 101) ASSERT_NEAR(a.samples[i], s[i], tol) << name << " " << i;
    }
    write_audio(tmp.path() / "x.ogg", s, 48000);
    MonoAudio a;
    std::string err;
    ASSERT_TRUE(decode_mono(tmp.path() / "x.ogg", 48000, a, err)) << err;
    EXPECT_EQ(a.samples.size(), s.size());
    EXPECT_NEAR(measured_frequency(a.samples, 48000, 2000, a.samples.size() - 2000), 1000.0, 0.05);
}

TEST(AudioDecode, BadFilesReportLibsndfilesReason) {
    TempDir tmp;
    const auto text = tmp.path() / "text.wav", empty = tmp.path() / "empty.flac";
    std::ofstream(text) << "this is not a RIFF file at all, just some words\n";
    std::ofstream{empty};
    for (const auto& p : {text, empty}) {
        // The reason libsndfile itself gives for this file.
        SF_INFO info{};
        SNDFILE* f = sf_open(p.c_str(), SFM_READ, &info);
        ASSERT_EQ(f, nullptr);
        const std::string reason = sf_strerror(nullptr);
        MonoAudio a;
        std::string err;
        EXPECT_FALSE(decode_mono(p, 48000, a, err));
        EXPECT_EQ(err, reason);
        EXPECT_FALSE(err.empty());
    }
    std::string err;
    MonoAudio a;
    EXPECT_FALSE(decode_mono(tmp.path() / "missing.wav", 48000, a, err));
    EXPECT_FALSE(err.empty());
}

TEST(AudioDecode, HeaderOnlyWavHasNoFrames) {
    TempDir tmp;
    const auto p = tmp.path() / "zero.wav";
    write_audio(p, {}, 48000);
    MonoAudio a;
    std::string err;
    EXPECT_FALSE(decode_mono(p, 48000, a, err));
    EXPECT_EQ(err, "no audio frames");
}

}  // namespace
}  // namespace distill::data
