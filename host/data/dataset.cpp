#include "data/dataset.hpp"

#include "data/augment.hpp"
#include "common/text.hpp"

#include "data/audio_io.hpp"
#include "data/chunker.hpp"
#include "data/feature_cache.hpp"
#include "data/features.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
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

// extract_features' temporaries per chunk (complex spectrum, power, phase,
// phase difference and its wrapping) come to about 40 bytes per STFT bin and
// frame; this many bytes of them at a time keeps the working set bounded
// whatever the file's length.
constexpr int64_t kFeatureWorkingSetBytes = int64_t{64} << 20;

int64_t chunks_per_feature_batch(const PipelineConfig& cfg, int64_t requested) {
    const int64_t per_chunk = (cfg.n_fft / 2 + 1) * cfg.frames() * 40 + cfg.chunk_samples() * 8;
    return std::clamp<int64_t>(kFeatureWorkingSetBytes / std::max<int64_t>(1, per_chunk), 1,
                               std::max<int64_t>(1, requested));
}

std::string megabytes(int64_t bytes) {
    std::ostringstream s;
    s.precision(1);
    s << std::fixed << static_cast<double>(bytes) / (1 << 20) << " MB";
    return s.str();
}

// Decodes `file` block by block, featurises each batch of chunks as it
// fills and streams the features into a new cache entry. A content failure
// is cached (the bytes will not get better); a failure to read the file at
// all is not (permissions and mounts change without the file changing).
CacheMeta build_entry(const fs::path& file, const PipelineConfig& cfg, const fs::path& entry_file,
                      const std::string& key, const LoadOptions& opts, LoadCounts& counts) {
    ++counts.decoded_files;
    CacheWriter writer(entry_file, key, cfg.n_mels, cfg.frames());
    const int64_t len = cfg.chunk_samples();
    ChunkBatcher batcher(len, chunks_per_feature_batch(cfg, opts.feature_batch),
                         [&](const float* rows, int64_t n) {
                             const at::Tensor chunks = at::from_blob(const_cast<float*>(rows), {n, len}, at::kFloat);
                             const at::Tensor features = extract_features(chunks, cfg);
                             writer.append(features.data_ptr<float>(), n);
                             counts.feature_chunks += n;
                         });
    const DecodeReport report =
        stream_mono(file, cfg.sample_rate, [&batcher](const float* s, size_t n) { batcher.push(s, n); });
    CacheMeta meta;
    meta.n_mels = cfg.n_mels;
    meta.frames = cfg.frames();
    if (report.ok()) {
        batcher.finish();
        meta.usable = true;
        meta.n_chunks = batcher.chunks_emitted();
        meta.message = report.warning;
        writer.commit(true, report.warning);
    } else {
        meta.message = report.error;
        if (report.status == DecodeStatus::kBadContent) writer.commit(false, report.error);
    }
    return meta;
}

// Decodes `file` again and streams `a.expansion` augmented copies of each of
// its chunks (chunk 0's copies first) into a cache entry of their own.
void build_augment_entry(const fs::path& file, const PipelineConfig& cfg, const AugmentConfig& a,
                         const fs::path& entry_file, const std::string& key, const LoadOptions& opts,
                         LoadCounts& counts) {
    ++counts.decoded_files;
    CacheWriter writer(entry_file, key, cfg.n_mels, cfg.frames());
    const int64_t len = cfg.chunk_samples();
    std::mt19937_64 rng = augment_rng(a, file);
    std::vector<float> copies;
    ChunkBatcher batcher(len, std::max<int64_t>(1, chunks_per_feature_batch(cfg, opts.feature_batch) / a.expansion),
                         [&](const float* rows, int64_t n) {
                             copies.resize(static_cast<size_t>(n * a.expansion * len));
                             for (int64_t c = 0; c < n; ++c)
                                 for (int64_t k = 0; k < a.expansion; ++k)
                                     augment_chunk(rows + c * len, len, a, rng,
                                                   copies.data() + (c * a.expansion + k) * len);
                             const at::Tensor chunks = at::from_blob(copies.data(), {n * a.expansion, len}, at::kFloat);
                             writer.append(extract_features(chunks, cfg).data_ptr<float>(), n * a.expansion);
                             counts.augmented_chunks += n * a.expansion;
                         });
    const DecodeReport report =
        stream_mono(file, cfg.sample_rate, [&batcher](const float* s, size_t n) { batcher.push(s, n); });
    if (!report.ok()) throw DataError("augmenting " + file.string() + ": " + report.error);
    batcher.finish();
    writer.commit(true, "");
}

// The augmented copies of a usable file, from the cache or built now.
CacheReader open_augment_entry(const fs::path& file, const PipelineConfig& cfg, const AugmentConfig& a,
                               const fs::path& cache_dir, const LoadOptions& opts, LoadCounts& counts, Reporter& rep) {
    const std::string key = augment_cache_key(cache_key(file, cfg), a);
    const fs::path entry_file = cache_entry_path(cache_dir, key);
    CacheReader reader;
    std::string why;
    const CacheRead read = reader.open(entry_file, key, why);
    if (read == CacheRead::Hit && reader.meta().usable) return reader;
    if (read == CacheRead::Corrupt) {
        ++counts.corrupt_entries;
        rep.line("warning: cache file " + entry_file.string() + " (augmented copies of " + file.string() +
                 ") is corrupt (" + why + "); rebuilding it");
    }
    build_augment_entry(file, cfg, a, entry_file, key, opts, counts);
    if (reader.open(entry_file, key, why) != CacheRead::Hit)
        throw DataError("cache file " + entry_file.string() + " for " + file.string() +
                        " cannot be read back right after writing it" + (why.empty() ? "" : ": " + why));
    return reader;
}

// A usable file's cache entry, opened and checked, ready to be read into
// the dataset once the split is known.
struct ReadyFile {
    fs::path source;
    CacheReader entry;
};

// Brings the cache entry of `file` up to date (reading it when valid,
// building it otherwise). Returns true with `ready.entry` opened when the
// file is usable; false (warning given) when it is skipped.
bool prepare_file(const fs::path& file, const PipelineConfig& cfg, const fs::path& cache_dir,
                  const LoadOptions& opts, LoadCounts& counts, Reporter& rep, ReadyFile& ready) {
    const std::string key = cache_key(file, cfg);
    const fs::path entry_file = cache_entry_path(cache_dir, key);
    std::string why;
    switch (ready.entry.open(entry_file, key, why)) {
        case CacheRead::Hit: {
            const CacheMeta& m = ready.entry.meta();
            if (!m.usable || (m.n_mels == cfg.n_mels && m.frames == cfg.frames())) {
                ++counts.cache_hits;
                ready.source = file;
                if (!m.usable) {
                    rep.line("warning: skipping " + file.string() + ": " + m.message);
                    return false;
                }
                if (!m.message.empty()) rep.line("warning: " + m.message);
                return true;
            }
            why = "feature shape does not match the settings";
            [[fallthrough]];
        }
        case CacheRead::Corrupt:
            ++counts.corrupt_entries;
            rep.line("warning: cache file " + entry_file.string() + " for " + file.string() + " is corrupt (" + why +
                     "); rebuilding it");
            break;
        case CacheRead::Miss:
            break;
    }
    CacheMeta built;
    try {
        built = build_entry(file, cfg, entry_file, key, opts, counts);
    } catch (const std::exception& e) {
        if (!is_allocation_failure(e)) throw;
        throw OutOfMemory("out of memory while featurising " + file.string() + " (chunks of " +
                          std::to_string(cfg.chunk_samples()) + " samples, items of [2, " +
                          std::to_string(cfg.n_mels) + ", " + std::to_string(cfg.frames()) + "])");
    }
    if (!built.usable) {
        rep.line("warning: skipping " + file.string() + ": " + built.message);
        return false;
    }
    if (!built.message.empty()) rep.line("warning: " + built.message);
    if (ready.entry.open(entry_file, key, why) != CacheRead::Hit)
        throw DataError("cache file " + entry_file.string() + " for " + file.string() +
                        " cannot be read back right after writing it" + (why.empty() ? "" : ": " + why));
    ready.source = file;
    return true;
}

at::Tensor allocate_items(int64_t n, const PipelineConfig& cfg, const char* side) {
    try {
        return at::empty({n, 2, cfg.n_mels, cfg.frames()}, at::kFloat);
    } catch (const std::exception& e) {
        if (!is_allocation_failure(e)) throw;
        throw OutOfMemory(std::string("out of memory while allocating the ") + side + " features: " +
                          std::to_string(n) + " items of [2, " + std::to_string(cfg.n_mels) + ", " +
                          std::to_string(cfg.frames()) + "] floats (" +
                          megabytes(n * 2 * cfg.n_mels * cfg.frames() * 4) + ")");
    }
}

void normalise_in_place(at::Tensor& x, const NormStats& s) {
    const int64_t ch_dim = x.dim() == 4 ? 1 : 0;
    for (int c = 0; c < 2; ++c) {
        if (s.mean[c] == 0.0 && s.std[c] == 1.0) continue;
        at::Tensor ch = x.select(ch_dim, c);
        ch.sub_(s.mean[c]).div_(s.std[c]);
    }
}

}  // namespace

NormStats compute_norm_stats(const at::Tensor& raw, const std::string& mode) {
    TORCH_CHECK(raw.dim() == 4 && raw.size(1) == 2, "compute_norm_stats: need [N, 2, M, T], got ",
                raw.sizes());
    if (mode != "scale" && mode != "zscore")
        throw DataError("[data] normalize: must be \"scale\" or \"zscore\", got \"" + mode + "\"");
    NormStats s;
    s.mode = mode;
    auto safe = [](double v) { return (std::isfinite(v) && v >= 1e-8) ? v : 1.0; };
    // Two passes (mean, then squared deviations) in float64 over blocks of
    // items: a float64 copy of the whole set would double the memory.
    const int64_t n_items = raw.size(0);
    const int64_t per_item = raw.numel() / std::max<int64_t>(1, n_items) / 2;
    const int64_t block = std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(1, per_item));
    auto blocks_sum = [&](int c, const std::function<at::Tensor(const at::Tensor&)>& term) {
        double sum = 0.0;
        for (int64_t i = 0; i < n_items; i += block) {
            const at::Tensor x = raw.narrow(0, i, std::min(block, n_items - i)).select(1, c).to(at::kDouble);
            sum += term(x).sum().item<double>();
        }
        return sum;
    };
    const double n = static_cast<double>(n_items * per_item);
    for (int c = 0; c < 2; ++c) {
        if (mode == "scale" && c == 1) break;  // scale leaves channel 1 as it is
        const double mean = blocks_sum(c, [](const at::Tensor& x) { return x; }) / n;
        const double ss = blocks_sum(c, [mean](const at::Tensor& x) { return (x - mean).square_(); });
        if (mode == "zscore") s.mean[c] = mean;
        s.std[c] = safe(std::sqrt(ss / (n - 1)));
    }
    return s;
}

at::Tensor apply_norm(const at::Tensor& x, const NormStats& s) {
    at::Tensor out = x.clone();
    normalise_in_place(out, s);
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
                     const fs::path& cache_dir, const LoadOptions& opts, const AugmentConfig& augment) {
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
    // Pass 1: every file's cache entry brought up to date and checked; only
    // the chunk counts are kept, so the split can be decided and the final
    // tensors allocated once.
    std::vector<ReadyFile> ready;
    std::vector<int64_t> chunks_of;
    for (size_t i = 0; i < found.size(); ++i) {
        ReadyFile r;
        if (prepare_file(found[i], cfg, cache_dir, opts, ds.counts, rep, r)) {
            ds.files.push_back(found[i].string());
            chunks_of.push_back(r.entry.meta().n_chunks);
            ready.push_back(std::move(r));
        } else {
            ++ds.skipped_files;
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
    const int64_t n_chunks = std::accumulate(chunks_of.begin(), chunks_of.end(), int64_t{0});

    // Where each chunk goes: (validation?, row on its side), by global chunk
    // index (files in order, chunks in order).
    std::vector<bool> chunk_is_val(static_cast<size_t>(n_chunks), false);
    if (split.split == "file") {
        if (n_files < 2)
            throw DataError("split = \"file\" needs at least 2 usable audio files, " + dir.string() +
                            " has " + std::to_string(n_files) + " (" + text::count(n_chunks, "chunk") +
                            "); add files or use split = \"chunk\"");
        const auto perm = seeded_permutation(n_files, split.seed);
        std::vector<bool> is_val(static_cast<size_t>(n_files), false);
        for (int64_t i = 0; i < val_count(n_files, split.val_fraction); ++i) is_val[perm[i]] = true;
        int64_t g = 0;
        for (int64_t f = 0; f < n_files; ++f) {
            for (int64_t c = 0; c < chunks_of[f]; ++c) chunk_is_val[g++] = is_val[f];
            ++(is_val[f] ? ds.val_files : ds.train_files);
        }
    } else {
        if (n_chunks < 2)
            throw DataError("split = \"chunk\" needs at least 2 chunks, " + dir.string() + " has " +
                            std::to_string(n_chunks) + " (from " + text::count(n_files, "file") + ")");
        const auto perm = seeded_permutation(n_chunks, split.seed);
        for (int64_t i = 0; i < val_count(n_chunks, split.val_fraction); ++i) chunk_is_val[perm[i]] = true;
        std::vector<bool> file_train(n_files, false), file_val(n_files, false);
        int64_t g = 0;
        for (int64_t f = 0; f < n_files; ++f)
            for (int64_t c = 0; c < chunks_of[f]; ++c) (chunk_is_val[g++] ? file_val : file_train)[f] = true;
        ds.train_files = std::count(file_train.begin(), file_train.end(), true);
        ds.val_files = std::count(file_val.begin(), file_val.end(), true);
    }
    const auto n_val = static_cast<int64_t>(std::count(chunk_is_val.begin(), chunk_is_val.end(), true));

    // Pass 2: each entry read straight into its rows of the final tensors;
    // augmented copies of training chunks after every original row.
    const int64_t n_train = n_chunks - n_val;
    at::Tensor train_raw = allocate_items(n_train + augment.expansion * n_train, cfg, "training");
    at::Tensor val_raw = allocate_items(n_val, cfg, "validation");
    const int64_t per_item = 2 * cfg.n_mels * cfg.frames();
    int64_t g = 0;
    for (int64_t f = 0; f < n_files; ++f) {
        const int64_t first = g;
        ready[f].entry.read_into([&](int64_t c) {
            const bool val = chunk_is_val[first + c];
            auto& owner = val ? ds.val_file_of : ds.train_file_of;
            float* base = (val ? val_raw : train_raw).data_ptr<float>();
            float* row = base + static_cast<int64_t>(owner.size()) * per_item;
            owner.push_back(f);
            return row;
        });
        g += chunks_of[f];
    }
    if (augment.expansion > 0) {
        std::vector<float> discard(static_cast<size_t>(per_item));  // copies of validation chunks
        g = 0;
        for (int64_t f = 0; f < n_files; ++f) {
            const int64_t first = g;
            g += chunks_of[f];
            if (std::all_of(chunk_is_val.begin() + first, chunk_is_val.begin() + g, [](bool v) { return v; }))
                continue;  // never augment a validation file
            CacheReader copies = open_augment_entry(fs::path(ds.files[static_cast<size_t>(f)]), cfg, augment, cache_dir, opts, ds.counts, rep);
            copies.read_into([&](int64_t copy) {
                if (chunk_is_val[first + copy / augment.expansion]) return discard.data();
                float* row = train_raw.data_ptr<float>() + static_cast<int64_t>(ds.train_file_of.size()) * per_item;
                ds.train_file_of.push_back(f);
                return row;
            });
        }
    }

    ds.stats = compute_norm_stats(train_raw, cfg.normalize);
    normalise_in_place(train_raw, ds.stats);
    normalise_in_place(val_raw, ds.stats);
    ds.train = std::move(train_raw);
    ds.val = std::move(val_raw);

    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::ostringstream s;
    s.precision(3);
    s << "data: " << text::count(n_files, "file") << ", " << text::count(n_chunks, "chunk") << " [2, " << cfg.n_mels << ", "
      << cfg.frames() << "] (train " << ds.train.size(0) << ", val " << ds.val.size(0)
      << ", split by " << split.split << ")"
      << (augment.expansion > 0 ? "; + " + std::to_string(augment.expansion * n_train) + " augmented training copies" : "")
      << "; cache: " << ds.counts.cache_hits << " hit, "
      << ds.counts.decoded_files << " built; " << std::fixed << secs << " s";
    rep.line(s.str());
    return ds;
}

}  // namespace distill::data
