// One long file through the data pipeline: writes a MINUTES-long 16 kHz mono
// 16-bit WAV of noise into a temporary folder, loads it with the default
// [data] settings (48 kHz, 1 s chunks, 128 mels; split by chunk, as a
// one-file corpus needs) twice (cold: decode + featurise + cache; warm: from
// the cache), and prints peak RSS (VmHWM) and seconds for each.
//
//   long_file_bench [--minutes 120] [--keep DIR]
#include "data/dataset.hpp"

#include <sndfile.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace distill::data;

namespace {

int64_t status_kb(const char* field) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(std::string(field) + ":", 0) == 0) return std::stoll(line.substr(std::strlen(field) + 1));
    return -1;
}

void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

void write_noise_wav(const fs::path& p, int64_t seconds) {
    SF_INFO info{};
    info.samplerate = 16000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
    if (!f) throw std::runtime_error(std::string("cannot write ") + p.string() + ": " + sf_strerror(nullptr));
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-0.5f, 0.5f);
    std::vector<float> block(16000);
    for (int64_t s = 0; s < seconds; ++s) {
        for (auto& v : block) v = u(rng);
        sf_writef_float(f, block.data(), 16000);
    }
    sf_close(f);
}

}  // namespace

int main(int argc, char** argv) {
    double minutes = 120;
    fs::path keep;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--minutes" && i + 1 < argc) minutes = std::stod(argv[++i]);
        else if (a == "--keep" && i + 1 < argc) keep = argv[++i];
        else {
            std::cerr << "usage: long_file_bench [--minutes 120] [--keep DIR]\n";
            return 2;
        }
    }
    const fs::path dir = keep.empty() ? fs::temp_directory_path() / ("distill-long-file-" + std::to_string(::getpid()))
                                      : keep;
    fs::create_directories(dir / "audio");
    const auto seconds = static_cast<int64_t>(minutes * 60);
    write_noise_wav(dir / "audio" / "long.wav", seconds);
    std::cout << "file: " << seconds << " s, 16 kHz mono 16-bit, " << fs::file_size(dir / "audio" / "long.wav") / (1 << 20)
              << " MB\n";

    SplitConfig split;
    split.split = "chunk";
    LoadOptions quiet;
    quiet.log = [](const std::string&) {};
    for (const char* pass : {"cold", "warm"}) {
        reset_peak();
        const int64_t before = status_kb("VmRSS");
        const auto t0 = std::chrono::steady_clock::now();
        Dataset ds = load_dataset(dir / "audio", {}, split, dir / "cache", quiet);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double features_mb = static_cast<double>((ds.train.numel() + ds.val.numel()) * 4) / (1 << 20);
        std::printf("%s: %.1f s, %lld chunks, features %.0f MB, peak RSS %.0f MB (%.0f MB above the %.0f MB before)\n",
                    pass, secs, static_cast<long long>(ds.train.size(0) + ds.val.size(0)), features_mb,
                    static_cast<double>(status_kb("VmHWM")) / 1024, static_cast<double>(status_kb("VmHWM") - before) / 1024,
                    static_cast<double>(before) / 1024);
        std::fflush(stdout);
    }
    if (keep.empty()) fs::remove_all(dir);
    return 0;
}
