// The oracle round trip with no model: audio -> features (the data
// pipeline's own code) -> inversion -> audio, for each phase method and
// several Griffin-Lim iteration counts, on real corpora. Prints the tables of
// docs/audio.md. Never run as a timed test.
//
//   audio_bench [--chunks N] [--threads T] [DIR...]
//   (default DIRs: /usr/share/sounds/sound-icons /usr/share/sounds/freedesktop/stereo)
#include "audio/inversion.hpp"
#include "audio/oracle.hpp"
#include "audio/quality.hpp"
#include "audio/stft.hpp"
#include "audio/timeline.hpp"
#include "data/audio_io.hpp"
#include "data/features.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace distill;

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kDefaultChunks = 32;     // per corpus: 32 s of audio keeps a run to minutes on 2 cores
constexpr double kTimingSeconds = 10.0;    // the speed target: 10 s of audio in < 1 s

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Corpus {
    std::string name;
    std::vector<float> joined;  // every file at 48 kHz, one after another (for the whole-file figures)
    at::Tensor chunks;          // [N, chunk_samples], peak-normalised, as training sees them
    int64_t files = 0;
};

// Distinct files only (the freedesktop theme links several names to one file).
Corpus load_corpus(const fs::path& dir, const data::PipelineConfig& cfg, int64_t max_chunks) {
    Corpus c;
    c.name = dir.string();
    std::set<fs::path> seen;
    std::vector<float> all_chunks;
    int64_t n_chunks = 0;
    for (const fs::path& file : data::discover_audio_files(dir)) {
        if (!seen.insert(fs::canonical(file)).second) continue;
        data::MonoAudio audio;
        std::string error;
        if (!data::decode_mono(file, cfg.sample_rate, audio, error)) {
            std::fprintf(stderr, "skipping %s: %s\n", file.c_str(), error.c_str());
            continue;
        }
        ++c.files;
        c.joined.insert(c.joined.end(), audio.samples.begin(), audio.samples.end());
        std::vector<float> chunks;
        const int64_t k = data::make_chunks(audio.samples, cfg, chunks);
        all_chunks.insert(all_chunks.end(), chunks.begin(), chunks.end());
        n_chunks += k;
    }
    // An even spread over the corpus rather than its first files.
    const at::Tensor every = at::from_blob(all_chunks.data(), {n_chunks, cfg.chunk_samples()}, at::kFloat).clone();
    const int64_t keep = std::min(n_chunks, max_chunks);
    c.chunks = every.index_select(0, at::linspace(0, static_cast<double>(n_chunks - 1), keep).round().to(at::kLong));
    return c;
}

// The IF channel as a power-weighted circular mean over each band,
// angle(sum_k fb[m,k] |S_k|^2 e^{i dphi_k}) / pi, instead of the pipeline's
// filter-weighted average of wrapped values: what a data option could
// deliver, measured here before anyone builds it.
at::Tensor with_weighted_if(const at::Tensor& features, const at::Tensor& chunks, const data::PipelineConfig& cfg,
                            const audio::Inverter& inverter) {
    const at::Tensor spec = audio::stft(chunks, inverter.geometry());  // [N, bins, T]
    const at::Tensor power = at::real(spec).pow(2) + at::imag(spec).pow(2);
    const at::Tensor phase = at::angle(spec);
    at::Tensor dphi = at::zeros_like(phase);
    const int64_t frames = phase.size(2);
    dphi.narrow(2, 1, frames - 1).copy_(phase.narrow(2, 1, frames - 1) - phase.narrow(2, 0, frames - 1));
    const at::Tensor fb = data::mel_filterbank(cfg);
    const at::Tensor re = at::matmul(fb, power * at::cos(dphi)), im = at::matmul(fb, power * at::sin(dphi));
    at::Tensor weighted = at::atan2(im, re) / kPi;
    weighted.narrow(2, 0, 1).zero_();
    const at::Tensor mel_power = at::expm1(features.select(1, 0));
    weighted = at::where(mel_power < cfg.mask_threshold, at::zeros_like(weighted), weighted);
    return at::stack({features.select(1, 0), weighted}, 1);
}

struct Row {
    std::string method;
    int64_t gl_iters, nnls_iters;
};

// `features` are inverted; feature errors compare the render's pipeline
// features with `reference` (the pipeline's features of the chunks).
void print_rows(const at::Tensor& chunks, const at::Tensor& features, const at::Tensor& reference,
                const std::vector<Row>& rows, const data::PipelineConfig& cfg, const audio::Inverter& inverter) {
    const audio::StftGeometry g = inverter.geometry();
    const double seconds = static_cast<double>(chunks.numel()) / static_cast<double>(cfg.sample_rate);
    std::printf("| phase | GL iters | NNLS iters | SC | LSD (dB) | MR-STFT | feat log-mel L1 | feat IF err | audio s / s |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const Row& row : rows) {
        audio::InversionOptions options;
        options.phase = *audio::parse_phase_method(row.method);
        options.gl_iters = row.gl_iters;
        options.nnls_iters = row.nnls_iters;
        const auto t0 = std::chrono::steady_clock::now();
        const at::Tensor rendered = inverter.invert(features, cfg.chunk_samples(), options);
        const double took = seconds_since(t0);
        const auto [mel_err, if_err] = audio::feature_errors(reference, data::extract_features(rendered, cfg));
        std::printf("| %s | %lld | %lld | %.3f | %.2f | %.3f | %.3f | %.3f | %.1f |\n", row.method.c_str(),
                    static_cast<long long>(row.gl_iters), static_cast<long long>(row.nnls_iters),
                    audio::spectral_convergence(chunks, rendered, g), audio::log_spectral_distance(chunks, rendered, g),
                    audio::multi_resolution_stft_distance(chunks, rendered, audio::default_resolutions()), mel_err,
                    if_err, seconds / took);
        std::fflush(stdout);
    }
}

void oracle_table(const Corpus& corpus, const data::PipelineConfig& cfg, const audio::Inverter& inverter) {
    const at::Tensor features = data::extract_features(corpus.chunks, cfg);
    std::printf("\n### %s: %lld files, %lld one-second chunks\n\n", corpus.name.c_str(),
                static_cast<long long>(corpus.files), static_cast<long long>(corpus.chunks.size(0)));
    std::vector<Row> rows = {{"if", 0, audio::kDefaultNnlsIters}};
    for (const int64_t iters : {8, 16, 32, 64, 128})
        for (const char* method : {"gla", "if+gla"}) rows.push_back({method, iters, audio::kDefaultNnlsIters});
    for (const int64_t nnls : {0, 20, 50, 200}) rows.push_back({"if+gla", audio::kDefaultGlIters, nnls});
    print_rows(corpus.chunks, features, features, rows, cfg, inverter);

    std::printf("\nSame chunks, IF channel as a power-weighted circular mean (not a data option; measured here):\n\n");
    std::vector<Row> weighted_rows = {{"if", 0, audio::kDefaultNnlsIters}};
    for (const int64_t iters : {8, 16, 32}) weighted_rows.push_back({"if+gla", iters, audio::kDefaultNnlsIters});
    print_rows(corpus.chunks, with_weighted_if(features, corpus.chunks, cfg, inverter), features, weighted_rows, cfg,
               inverter);
}

// 10 s of one corpus as one file: the whole-file path (overlapping chunks,
// joined feature maps, one inversion) against inverting each 1 s chunk on
// its own and concatenating; timing of the defaults.
void whole_file_table(const Corpus& corpus, const data::PipelineConfig& cfg, const audio::Inverter& inverter) {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(corpus.joined.size()),
                                        static_cast<int64_t>(kTimingSeconds * cfg.sample_rate));
    const at::Tensor signal = at::from_blob(const_cast<float*>(corpus.joined.data()), {n}, at::kFloat).clone();
    const audio::InversionOptions defaults;
    const audio::StftGeometry g = inverter.geometry();

    // Whole file: cut, features, join, invert (timed step by step).
    auto t0 = std::chrono::steady_clock::now();
    const audio::ChunkLayout layout = audio::plan_chunks(n, cfg);
    const audio::Chunks chunks = audio::cut_chunks(signal, layout);
    const at::Tensor chunk_features = data::extract_features(chunks.audio, cfg);
    const at::Tensor joined = audio::join_features(chunk_features, chunks.peaks, layout);
    const double t_features = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const at::Tensor whole = inverter.invert(joined, n, defaults);
    const double t_invert = seconds_since(t0);

    // Naive: non-overlapping chunks, each inverted alone, concatenated.
    std::vector<float> mono(signal.data_ptr<float>(), signal.data_ptr<float>() + n), flat;
    const int64_t count = data::make_chunks(mono, cfg, flat);
    const at::Tensor naive_chunks = at::from_blob(flat.data(), {count, cfg.chunk_samples()}, at::kFloat).clone();
    const at::Tensor unscaled = at::constant_pad_nd(signal, {0, count * cfg.chunk_samples() - n}, 0.0).reshape({count, -1});
    const at::Tensor peak = unscaled.abs().amax(1, /*keepdim=*/true);
    const at::Tensor peaks = at::where(peak > 1e-6f, peak, at::ones_like(peak));
    const at::Tensor naive_chunk_audio =
        inverter.invert(data::extract_features(naive_chunks, cfg), cfg.chunk_samples(), defaults);
    // Undo each chunk's peak normalisation so only the joins differ.
    const at::Tensor naive = (naive_chunk_audio * peaks).reshape({-1}).narrow(0, 0, n);

    std::vector<int64_t> naive_borders, layout_borders;
    for (int64_t c = 1; c < count; ++c) naive_borders.push_back(c * cfg.chunk_samples());
    for (int64_t c = 1; c < layout.count; ++c) layout_borders.push_back(layout.start_sample(c));

    std::printf("\n%s, first %.1f s as one file (defaults: %s, %lld GL iters, %lld NNLS iters):\n\n",
                corpus.name.c_str(), static_cast<double>(n) / cfg.sample_rate, audio::phase_method_name(defaults.phase),
                static_cast<long long>(defaults.gl_iters), static_cast<long long>(defaults.nnls_iters));
    std::printf("| join | SC | LSD (dB) | seam ratio at chunk borders (original audio there) |\n|---|---:|---:|---:|\n");
    std::printf("| overlapping chunks, joined features, one inversion | %.3f | %.2f | %.2f (%.2f) |\n",
                audio::spectral_convergence(signal, whole, g), audio::log_spectral_distance(signal, whole, g),
                audio::seam_ratio(whole, naive_borders), audio::seam_ratio(signal, naive_borders));
    std::printf("| 1 s chunks inverted alone, concatenated | %.3f | %.2f | %.2f (%.2f) |\n",
                audio::spectral_convergence(signal, naive, g), audio::log_spectral_distance(signal, naive, g),
                audio::seam_ratio(naive, naive_borders), audio::seam_ratio(signal, naive_borders));
    std::printf("\ntiming, %.1f s of audio: features + join %.3f s, inversion %.3f s (%.1f s of audio per s)\n",
                static_cast<double>(n) / cfg.sample_rate, t_features, t_invert,
                static_cast<double>(n) / cfg.sample_rate / t_invert);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    int64_t max_chunks = kDefaultChunks;
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::vector<fs::path> dirs;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--chunks" && i + 1 < argc) max_chunks = std::atoll(argv[++i]);
        else if (arg == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (arg.rfind("--", 0) == 0) {
            std::fprintf(stderr, "usage: audio_bench [--chunks N] [--threads T] [DIR...]\n");
            return 2;
        } else dirs.emplace_back(arg);
    }
    if (dirs.empty()) dirs = {"/usr/share/sounds/sound-icons", "/usr/share/sounds/freedesktop/stereo"};
    at::set_num_threads(threads);

    const data::PipelineConfig cfg;  // the defaults (docs/reference.md#1-audio-to-features): 48 kHz, n_fft 2048, hop 512, 128 mels
    const audio::Inverter inverter(cfg, at::Device(at::kCPU));
    std::printf("audio_bench: %d threads, LibTorch CPU; SC = spectral convergence and LSD = log-spectral distance "
                "of |STFT| (2048/512) vs the original; MR-STFT = the stft loss at (512,1024,2048); feature errors = "
                "features(render(f)) vs f\n", at::get_num_threads());
    for (const fs::path& dir : dirs) {
        try {
            const Corpus corpus = load_corpus(dir, cfg, max_chunks);
            oracle_table(corpus, cfg, inverter);
            whole_file_table(corpus, cfg, inverter);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "audio_bench: %s: %s\n", dir.c_str(), e.what());
            return 2;
        }
    }
    return 0;
}
