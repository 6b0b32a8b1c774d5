#include "data/dataset.hpp"

#include "data/audio_io.hpp"
#include "data/feature_cache.hpp"
#include "data/features.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>
#include <system_error>

namespace distill::data {
namespace fs = std::filesystem;

namespace {

// Lines go to the caller's sink, or stderr; progress uses '\r' only when it
// owns a terminal.
class Reporter {
public:
    explicit Reporter(const LoadOptions& o)
        : opts_(o), tty_(!o.log && ::isatty(STDERR_FILENO) == 1) {}

    void line(const std::string& s) {
        end_progress();
        if (opts_.log) opts_.log(s);
        else std::cerr << s << '\n';
    }
    void progress(size_t done, size_t total) {
        if (!opts_.progress) return;
        const std::string msg =
            "preprocessing: " + std::to_string(done) + "/" + std::to_string(total) + " files";
        if (tty_) {
            std::cerr << '\r' << msg << std::flush;
            open_ = true;
            if (done == total) end_progress();
        } else if (done == total || (done * 10 / total) != ((done - 1) * 10 / total)) {
            // Plain lines at every tenth, so a log file shows progress without
            // one line per file on big corpora.
            line(msg);
        }
    }

private:
    void end_progress() {
        if (open_) std::cerr << '\n';
        open_ = false;
    }
    const LoadOptions& opts_;
    bool tty_;
    bool open_ = false;
};

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
    std::vector<int64_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    // Fisher-Yates with mt19937_64 (fully specified by the standard), so a
    // seed gives the same split on every platform; std::shuffle does not.
    std::mt19937_64 rng(seed);
    for (int64_t i = n - 1; i > 0; --i) {
        const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
        std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
    }
    return idx;
}

int64_t val_count(int64_t n, double fraction) {
    return std::clamp<int64_t>(static_cast<int64_t>(std::llround(fraction * static_cast<double>(n))),
                               1, n - 1);
}

// Features of one file: from cache, or decoded, computed and cached.
CacheEntry features_for(const fs::path& file, const PipelineConfig& cfg, const fs::path& cache_dir,
                        const LoadOptions& opts, LoadCounts& counts, Reporter& rep) {
    const std::string key = cache_key(file, cfg);
    const fs::path entry_file = cache_entry_path(cache_dir, key);
    CacheEntry e;
    std::string why;
    switch (read_cache_entry(entry_file, key, e, why)) {
        case CacheRead::Hit:
            if (!e.usable || (e.n_mels == cfg.n_mels && e.frames == cfg.frames())) {
                ++counts.cache_hits;
                return e;
            }
            why = "feature shape does not match the settings";
            [[fallthrough]];
        case CacheRead::Corrupt:
            ++counts.corrupt_entries;
            rep.line("warning: cache file " + entry_file.string() + " for " + file.string() +
                     " is corrupt (" + why + "); rebuilding it");
            break;
        case CacheRead::Miss:
            break;
    }

    e = CacheEntry{};
    MonoAudio audio;
    std::string error;
    ++counts.decoded_files;
    if (decode_mono(file, cfg.sample_rate, audio, error)) {
        std::vector<float> chunks;
        const int64_t n = make_chunks(audio.samples, cfg, chunks);
        const int64_t len = cfg.chunk_samples();
        const at::Tensor all = at::from_blob(chunks.data(), {n, len}, at::kFloat);
        e.usable = true;
        e.n_chunks = n;
        e.n_mels = cfg.n_mels;
        e.frames = cfg.frames();
        e.data.resize(static_cast<size_t>(n * 2 * e.n_mels * e.frames));
        const int64_t per_chunk = 2 * e.n_mels * e.frames;
        const int64_t batch = std::max<int64_t>(1, opts.feature_batch);
        for (int64_t s = 0; s < n; s += batch) {
            const int64_t b = std::min(batch, n - s);
            const at::Tensor f = extract_features(all.narrow(0, s, b), cfg);
            std::copy(f.data_ptr<float>(), f.data_ptr<float>() + b * per_chunk,
                      e.data.begin() + s * per_chunk);
            counts.feature_chunks += b;
        }
    } else {
        e.error = error;
    }
    write_cache_entry(entry_file, key, e);
    return e;
}

at::Tensor stack_items(const std::vector<at::Tensor>& parts, const PipelineConfig& cfg) {
    if (parts.empty()) return at::empty({0, 2, cfg.n_mels, cfg.frames()}, at::kFloat);
    return at::cat(parts, 0);
}

}  // namespace

NormStats compute_norm_stats(const at::Tensor& raw, const std::string& mode) {
    TORCH_CHECK(raw.dim() == 4 && raw.size(1) == 2, "compute_norm_stats: need [N, 2, M, T], got ",
                raw.sizes());
    NormStats s;
    s.mode = mode;
    auto safe = [](double v) { return (std::isfinite(v) && v >= 1e-8) ? v : 1.0; };
    const at::Tensor x = raw.to(at::kDouble);
    if (mode == "scale") {
        s.std[0] = safe(x.select(1, 0).std().item<double>());
    } else if (mode == "zscore") {
        for (int c = 0; c < 2; ++c) {
            s.mean[c] = x.select(1, c).mean().item<double>();
            s.std[c] = safe(x.select(1, c).std().item<double>());
        }
    } else {
        throw DataError("[data] normalize: must be \"scale\" or \"zscore\", got \"" + mode + "\"");
    }
    return s;
}

at::Tensor apply_norm(const at::Tensor& x, const NormStats& s) {
    const int64_t ch_dim = x.dim() == 4 ? 1 : 0;
    at::Tensor out = x.clone();
    for (int c = 0; c < 2; ++c) {
        at::Tensor ch = out.select(ch_dim, c);
        ch.sub_(s.mean[c]).div_(s.std[c]);
    }
    return out;
}

at::Tensor undo_norm(const at::Tensor& x, const NormStats& s) {
    const int64_t ch_dim = x.dim() == 4 ? 1 : 0;
    at::Tensor out = x.clone();
    for (int c = 0; c < 2; ++c) {
        at::Tensor ch = out.select(ch_dim, c);
        ch.mul_(s.std[c]).add_(s.mean[c]);
    }
    return out;
}

Dataset load_dataset(const fs::path& dir, const PipelineConfig& cfg, const SplitConfig& split,
                     const fs::path& cache_dir, const LoadOptions& opts) {
    validate_pipeline(cfg);
    if (split.split != "file" && split.split != "chunk")
        throw DataError("[data] split: must be \"file\" or \"chunk\", got \"" + split.split + "\"");
    if (!(split.val_fraction > 0.0 && split.val_fraction < 1.0))
        throw DataError("[data] val_fraction: must be in (0, 1), got " +
                        std::to_string(split.val_fraction));

    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<fs::path> found = discover_audio_files(dir);
    if (found.empty())
        throw DataError("no audio files (wav, flac, ogg, oga, aiff, aif, mp3) in " + dir.string());

    std::error_code ec;
    fs::create_directories(cache_dir, ec);
    if (ec) throw DataError("cannot create cache directory " + cache_dir.string() + ": " + ec.message());

    Reporter rep(opts);
    Dataset ds;
    std::vector<at::Tensor> per_file;  // raw features of each usable file
    for (size_t i = 0; i < found.size(); ++i) {
        CacheEntry e = features_for(found[i], cfg, cache_dir, opts, ds.counts, rep);
        if (e.usable) {
            ds.files.push_back(found[i].string());
            per_file.push_back(
                at::from_blob(e.data.data(), {e.n_chunks, 2, e.n_mels, e.frames}, at::kFloat).clone());
        } else {
            ++ds.skipped_files;
            rep.line("warning: skipping " + found[i].string() + ": " + e.error);
        }
        // A fully cached corpus loads in a blink: report progress only once
        // real preprocessing has happened.
        if (ds.counts.decoded_files > 0) rep.progress(i + 1, found.size());
    }
    if (ds.skipped_files > 0)
        rep.line("warning: skipped " + std::to_string(ds.skipped_files) + " of " +
                 std::to_string(found.size()) + " audio files in " + dir.string());
    if (ds.files.empty())
        throw DataError("no usable audio in " + dir.string() + ": all " +
                        std::to_string(found.size()) + " audio files were skipped");

    const auto n_files = static_cast<int64_t>(ds.files.size());
    int64_t n_chunks = 0;
    for (const auto& t : per_file) n_chunks += t.size(0);

    std::vector<at::Tensor> train_parts, val_parts;
    if (split.split == "file") {
        if (n_files < 2)
            throw DataError("split = \"file\" needs at least 2 usable audio files, " + dir.string() +
                            " has " + std::to_string(n_files) + " (" + std::to_string(n_chunks) +
                            " chunks); add files or use split = \"chunk\"");
        const auto perm = seeded_permutation(n_files, split.seed);
        std::vector<bool> is_val(static_cast<size_t>(n_files), false);
        for (int64_t i = 0; i < val_count(n_files, split.val_fraction); ++i) is_val[perm[i]] = true;
        for (int64_t f = 0; f < n_files; ++f) {
            auto& parts = is_val[f] ? val_parts : train_parts;
            auto& owner = is_val[f] ? ds.val_file_of : ds.train_file_of;
            parts.push_back(per_file[f]);
            owner.insert(owner.end(), per_file[f].size(0), f);
            ++(is_val[f] ? ds.val_files : ds.train_files);
        }
    } else {
        if (n_chunks < 2)
            throw DataError("split = \"chunk\" needs at least 2 chunks, " + dir.string() + " has " +
                            std::to_string(n_chunks) + " (from " + std::to_string(n_files) +
                            " files)");
        std::vector<std::pair<int64_t, int64_t>> items;  // (file, chunk)
        for (int64_t f = 0; f < n_files; ++f)
            for (int64_t c = 0; c < per_file[f].size(0); ++c) items.emplace_back(f, c);
        const auto perm = seeded_permutation(n_chunks, split.seed);
        std::vector<bool> is_val(static_cast<size_t>(n_chunks), false);
        for (int64_t i = 0; i < val_count(n_chunks, split.val_fraction); ++i) is_val[perm[i]] = true;
        std::vector<bool> file_train(n_files, false), file_val(n_files, false);
        for (int64_t i = 0; i < n_chunks; ++i) {
            const auto [f, c] = items[i];
            (is_val[i] ? val_parts : train_parts).push_back(per_file[f].narrow(0, c, 1));
            (is_val[i] ? ds.val_file_of : ds.train_file_of).push_back(f);
            (is_val[i] ? file_val : file_train)[f] = true;
        }
        ds.train_files = std::count(file_train.begin(), file_train.end(), true);
        ds.val_files = std::count(file_val.begin(), file_val.end(), true);
    }

    const at::Tensor train_raw = stack_items(train_parts, cfg);
    const at::Tensor val_raw = stack_items(val_parts, cfg);
    ds.stats = compute_norm_stats(train_raw, cfg.normalize);
    ds.train = apply_norm(train_raw, ds.stats);
    ds.val = apply_norm(val_raw, ds.stats);

    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::ostringstream s;
    s.precision(3);
    s << "data: " << n_files << " files, " << n_chunks << " chunks [2, " << cfg.n_mels << ", "
      << cfg.frames() << "] (train " << ds.train.size(0) << ", val " << ds.val.size(0)
      << ", split by " << split.split << "); cache: " << ds.counts.cache_hits << " hit, "
      << ds.counts.decoded_files << " built; " << std::fixed << secs << " s";
    rep.line(s.str());
    return ds;
}

}  // namespace distill::data
