// Test audio written with libsndfile into a private temp folder, so the data
// tests depend on nothing installed.
#pragma once

#include "data/dataset.hpp"
#include "support/temp_dir.hpp"

#include <sndfile.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace distill::data::testing {

// Every line load_dataset reports, for assertions on warnings and progress.
struct Captured {
    std::vector<std::string> lines;
    LoadOptions opts() {
        LoadOptions o;
        o.log = [this](const std::string& s) { lines.push_back(s); };
        return o;
    }
    int count(const std::string& needle) const {
        int n = 0;
        for (const auto& l : lines) n += l.find(needle) != std::string::npos;
        return n;
    }
};


namespace fs = std::filesystem;
constexpr double kPi = 3.14159265358979323846;

using test_support::TempDir;

// Interleaved float samples -> file; the format follows the extension.
inline void write_audio(const fs::path& p, const std::vector<float>& interleaved, int sr,
                        int channels = 1) {
    fs::create_directories(p.parent_path());
    SF_INFO info{};
    info.samplerate = sr;
    info.channels = channels;
    const std::string ext = p.extension().string();
    info.format = ext == ".flac"  ? (SF_FORMAT_FLAC | SF_FORMAT_PCM_24)
                  : ext == ".aif" ? (SF_FORMAT_AIFF | SF_FORMAT_PCM_16)
                  : ext == ".ogg" ? (SF_FORMAT_OGG | SF_FORMAT_VORBIS)
                                  : (SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
    ASSERT_NE(f, nullptr) << p << ": " << sf_strerror(nullptr);
    const sf_count_t frames = static_cast<sf_count_t>(interleaved.size()) / channels;
    ASSERT_EQ(sf_writef_float(f, interleaved.data(), frames), frames);
    sf_close(f);
}

inline std::vector<float> sine(double freq, double seconds, int sr, double amp = 0.5,
                               double phase = 0.0) {
    std::vector<float> v(static_cast<size_t>(std::llround(seconds * sr)));
    for (size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<float>(amp * std::sin(2 * kPi * freq * static_cast<double>(i) / sr + phase));
    return v;
}

// Linear chirp f0 -> f1 over the duration.
inline std::vector<float> chirp(double f0, double f1, double seconds, int sr, double amp = 0.5) {
    std::vector<float> v(static_cast<size_t>(std::llround(seconds * sr)));
    const double k = (f1 - f0) / seconds;
    for (size_t i = 0; i < v.size(); ++i) {
        const double t = static_cast<double>(i) / sr;
        v[i] = static_cast<float>(amp * std::sin(2 * kPi * (f0 * t + 0.5 * k * t * t)));
    }
    return v;
}

inline std::vector<float> noise(double seconds, int sr, uint64_t seed, double amp = 0.3) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-amp, amp);
    std::vector<float> v(static_cast<size_t>(std::llround(seconds * sr)));
    for (auto& x : v) x = static_cast<float>(u(rng));
    return v;
}

}  // namespace distill::data::testing
