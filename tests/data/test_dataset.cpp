// load_dataset end to end: cache behaviour, bad input, splits, normalisation.
#include "data/audio_io.hpp"
#include "data/augment.hpp"
#include "data/chunker.hpp"
#include "data/dataset.hpp"
#include "data/features.hpp"

#include "audio_fixtures.hpp"

#include <chrono>
#include <fstream>
#include <cmath>
#include <random>
#include <set>

namespace distill::data {
namespace {
using namespace testing;

// A small varied corpus: 4 files, 5 chunks, cheap to featurise.
struct Corpus {
    TempDir tmp;
    fs::path dir = tmp.path() / "audio";
    fs::path cache = tmp.path() / "cache";
    Corpus() {
        write_audio(dir / "a_sine.wav", sine(440, 1.0, 48000), 48000);
        write_audio(dir / "b_chirp.flac", chirp(200, 8000, 1.5, 48000), 48000);  // 2 chunks
        write_audio(dir / "c_noise.wav", noise(0.7, 44100, 1), 44100);
        write_audio(dir / "sub" / "d_quiet.wav", sine(3000, 0.5, 48000, 0.01), 48000);
    }
};

// Cache entries written so far.
std::vector<fs::path> entries(const fs::path& cache) {
    std::vector<fs::path> v;
    for (const auto& e : fs::directory_iterator(cache))
        if (e.path().extension() == ".feat") v.push_back(e.path());
    return v;
}

SplitConfig by_chunk() {
    SplitConfig s;
    s.split = "chunk";
    return s;
}

TEST(DatasetCache, SecondLoadDecodesNothingAndMatches) {
    Corpus c;
    Captured log;
    const PipelineConfig cfg;
    const int64_t d0 = decode_count(), f0 = feature_chunk_count();
    const Dataset first = load_dataset(c.dir, cfg, {}, c.cache, log.opts());
    EXPECT_EQ(decode_count() - d0, 4);
    EXPECT_EQ(feature_chunk_count() - f0, 5);  // 1 + 2 + 1 + 1 chunks
    EXPECT_EQ(first.counts.decoded_files, 4);
    EXPECT_EQ(first.files.size(), 4u);
    EXPECT_EQ(first.train.size(0) + first.val.size(0), 5);
    EXPECT_EQ(entries(c.cache).size(), 4u);
    EXPECT_EQ(log.count("preprocessing: 4/4 files"), 1);

    const int64_t d1 = decode_count(), f1 = feature_chunk_count();
    const Dataset second = load_dataset(c.dir, cfg, {}, c.cache, log.opts());
    EXPECT_EQ(decode_count() - d1, 0);
    EXPECT_EQ(feature_chunk_count() - f1, 0);
    EXPECT_EQ(second.counts.cache_hits, 4);
    EXPECT_TRUE(at::equal(first.train, second.train));
    EXPECT_TRUE(at::equal(first.val, second.val));
    EXPECT_EQ(first.stats.std[0], second.stats.std[0]);
    EXPECT_EQ(log.count("cache: 4 hit, 0 built"), 1);
}

TEST(DatasetCache, TouchedFileRebuildsOnlyItself) {
    Corpus c;
    Captured log;
    const PipelineConfig cfg;
    const Dataset first = load_dataset(c.dir, cfg, {}, c.cache, log.opts());
    const fs::path touched = c.dir / "c_noise.wav";
    fs::last_write_time(touched, fs::last_write_time(touched) + std::chrono::seconds(5));
    const int64_t d0 = decode_count();
    const Dataset again = load_dataset(c.dir, cfg, {}, c.cache, log.opts());
    EXPECT_EQ(decode_count() - d0, 1);
    EXPECT_EQ(again.counts.decoded_files, 1);
    EXPECT_EQ(again.counts.cache_hits, 3);
    EXPECT_TRUE(at::equal(first.train, again.train));  // same content, same features
}

TEST(DatasetCache, ChangedParameterRebuildsButNormalizeDoesNot) {
    Corpus c;
    Captured log;
    PipelineConfig cfg;
    load_dataset(c.dir, cfg, {}, c.cache, log.opts());

    PipelineConfig z = cfg;
    z.normalize = "zscore";  // statistics come from cached raw features
    int64_t d0 = decode_count();
    load_dataset(c.dir, z, {}, c.cache, log.opts());
    EXPECT_EQ(decode_count() - d0, 0);

    PipelineConfig small = cfg;
    small.n_mels = 64;
    d0 = decode_count();
    const Dataset ds = load_dataset(c.dir, small, {}, c.cache, log.opts());
    EXPECT_EQ(decode_count() - d0, 4);
    EXPECT_EQ(ds.train.size(2), 64);

    PipelineConfig thr = cfg;
    thr.mask_threshold = 1e-3;
    d0 = decode_count();
    load_dataset(c.dir, thr, {}, c.cache, log.opts());
    EXPECT_EQ(decode_count() - d0, 4);
}

TEST(DatasetCache, CorruptEntriesAreDetectedAndRebuilt) {
    Corpus c;
    const PipelineConfig cfg;
    Captured log;
    const Dataset first = load_dataset(c.dir, cfg, {}, c.cache, log.opts());
    auto files = entries(c.cache);
    ASSERT_EQ(files.size(), 4u);
    // One truncated (a killed writer without the rename), one with a flipped
    // payload byte (bit rot), one overwritten with garbage.
    fs::resize_file(files[0], fs::file_size(files[0]) / 2);
    {
        std::fstream f(files[1], std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(fs::file_size(files[1]) - 100));
        f.put('\x7f');
    }
    std::ofstream(files[2], std::ios::trunc) << "garbage";

    Captured log2;
    const int64_t d0 = decode_count();
    const Dataset again = load_dataset(c.dir, cfg, {}, c.cache, log2.opts());
    EXPECT_EQ(decode_count() - d0, 3);
    EXPECT_EQ(again.counts.corrupt_entries, 3);
    EXPECT_EQ(log2.count("is corrupt"), 3);
    EXPECT_EQ(log2.count(files[0].filename().string()), 1);
    EXPECT_TRUE(at::equal(first.train, again.train));
    EXPECT_TRUE(at::equal(first.val, again.val));

    // Rebuilt entries are valid again.
    const int64_t d1 = decode_count();
    load_dataset(c.dir, cfg, {}, c.cache, log.opts());
    EXPECT_EQ(decode_count() - d1, 0);
}

TEST(DatasetInput, BadFilesAreSkippedWithNamedWarnings) {
    Corpus c;
    const fs::path text = c.dir / "readme.wav", empty = c.dir / "empty.ogg";
    std::ofstream(text) << "definitely not audio\n";
    std::ofstream{empty};
    std::string text_reason;
    {
        SF_INFO info{};
        ASSERT_EQ(sf_open(text.c_str(), SFM_READ, &info), nullptr);
        text_reason = sf_strerror(nullptr);  // what libsndfile says about it
    }
    Captured log;
    const Dataset ds = load_dataset(c.dir, {}, {}, c.cache, log.opts());
    EXPECT_EQ(ds.skipped_files, 2);
    EXPECT_EQ(ds.files.size(), 4u);
    EXPECT_EQ(log.count("warning: skipping " + fs::absolute(text).lexically_normal().string() + ": " +
                        text_reason),
              1);
    EXPECT_EQ(log.count("warning: skipping " + fs::absolute(empty).lexically_normal().string()), 1);
    EXPECT_EQ(log.count("skipped 2 of 6 audio files"), 1);

    // The failures are cached too: a warm run decodes nothing and warns again.
    Captured log2;
    const int64_t d0 = decode_count();
    load_dataset(c.dir, {}, {}, c.cache, log2.opts());
    EXPECT_EQ(decode_count() - d0, 0);
    EXPECT_EQ(log2.count("warning: skipping"), 2);
}

TEST(DatasetInput, EmptyMissingOrAllBadIsAnError) {
    TempDir tmp;
    Captured log;
    fs::create_directories(tmp.path() / "empty");
    std::ofstream(tmp.path() / "empty" / "notes.txt") << "x";
    auto message = [&](const fs::path& dir) -> std::string {
        try {
            load_dataset(dir, {}, {}, tmp.path() / "cache", log.opts());
        } catch (const DataError& e) {
            return e.what();
        }
        return "no error";
    };
    EXPECT_NE(message(tmp.path() / "empty").find("no audio files"), std::string::npos);
    EXPECT_NE(message(tmp.path() / "missing").find("does not exist"), std::string::npos);
    fs::create_directories(tmp.path() / "bad");
    std::ofstream(tmp.path() / "bad" / "x.wav") << "nope";
    EXPECT_NE(message(tmp.path() / "bad").find("no usable audio"), std::string::npos);
}

TEST(DatasetSplit, ByFileKeepsEachFilesChunksOnOneSide) {
    TempDir tmp;
    const fs::path dir = tmp.path() / "audio";
    // 6 files of 1, 2, 3, 1, 2, 3 chunks (0.6 s steps pad to whole chunks).
    std::vector<int64_t> chunks_of = {1, 2, 3, 1, 2, 3};
    for (size_t i = 0; i < chunks_of.size(); ++i)
        write_audio(dir / ("f" + std::to_string(i) + ".wav"),
                    sine(300.0 + 100.0 * i, chunks_of[i] - 0.4, 48000), 48000);
    Captured log;
    SplitConfig split;
    split.seed = 42;
    const Dataset ds = load_dataset(dir, {}, split, tmp.path() / "cache", log.opts());
    // round(0.2 * 6) = 1 validation file.
    EXPECT_EQ(ds.val_files, 1);
    EXPECT_EQ(ds.train_files, 5);
    std::set<int64_t> tr(ds.train_file_of.begin(), ds.train_file_of.end());
    std::set<int64_t> va(ds.val_file_of.begin(), ds.val_file_of.end());
    for (int64_t f : va) EXPECT_EQ(tr.count(f), 0u) << "file " << f << " on both sides";
    EXPECT_EQ(tr.size() + va.size(), 6u);
    for (int64_t f = 0; f < 6; ++f) {
        const auto n = std::count(ds.train_file_of.begin(), ds.train_file_of.end(), f) +
                       std::count(ds.val_file_of.begin(), ds.val_file_of.end(), f);
        EXPECT_EQ(n, chunks_of[f]) << "file " << f;
    }
    EXPECT_EQ(ds.train.size(0), static_cast<int64_t>(ds.train_file_of.size()));
    EXPECT_EQ(ds.val.size(0), static_cast<int64_t>(ds.val_file_of.size()));

    // Same seed, same split; the chunk split puts round(0.2 * 12) = 2 chunks in val.
    const Dataset again = load_dataset(dir, {}, split, tmp.path() / "cache", log.opts());
    EXPECT_EQ(again.val_file_of, ds.val_file_of);
    SplitConfig chunk = by_chunk();
    const Dataset bychunk = load_dataset(dir, {}, chunk, tmp.path() / "cache", log.opts());
    EXPECT_EQ(bychunk.val.size(0), 2);
    EXPECT_EQ(bychunk.train.size(0), 10);
}

TEST(DatasetSplit, TooSmallCorpusNamesTheCounts) {
    TempDir tmp;
    const fs::path dir = tmp.path() / "audio";
    write_audio(dir / "only.wav", sine(440, 0.5, 48000), 48000);
    Captured log;
    try {
        load_dataset(dir, {}, {}, tmp.path() / "cache", log.opts());
        FAIL() << "one file cannot be split by file";
    } catch (const DataError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("at least 2 usable audio files"), std::string::npos) << m;
        EXPECT_NE(m.find("has 1 (1 chunk)"), std::string::npos) << m;  // the count agrees with its noun
    }
    EXPECT_THROW(load_dataset(dir, {}, by_chunk(), tmp.path() / "cache", log.opts()), DataError);
    // Two chunks are enough for the chunk split: one on each side.
    write_audio(dir / "only.wav", sine(440, 1.5, 48000), 48000);
    const Dataset ds = load_dataset(dir, {}, by_chunk(), tmp.path() / "cache", log.opts());
    EXPECT_EQ(ds.train.size(0), 1);
    EXPECT_EQ(ds.val.size(0), 1);
}

TEST(DatasetNorm, ScaleAndZscore) {
    Corpus c;
    Captured log;
    PipelineConfig cfg;
    const Dataset s = load_dataset(c.dir, cfg, by_chunk(), c.cache, log.opts());
    EXPECT_EQ(s.stats.mode, "scale");
    EXPECT_EQ(s.stats.mean[0], 0.0);
    EXPECT_EQ(s.stats.mean[1], 0.0);
    EXPECT_EQ(s.stats.std[1], 1.0);
    // Channel 0 of the training set now has unit std and stays >= 0;
    // channel 1 is untouched, so still in [-1, 1].
    EXPECT_NEAR(s.train.select(1, 0).std().item<double>(), 1.0, 1e-4);
    EXPECT_GE(s.train.select(1, 0).min().item<float>(), 0.0f);
    EXPECT_LE(s.train.select(1, 1).abs().max().item<float>(), 1.0f);

    cfg.normalize = "zscore";
    const Dataset z = load_dataset(c.dir, cfg, by_chunk(), c.cache, log.opts());
    EXPECT_EQ(z.stats.mode, "zscore");
    for (int ch = 0; ch < 2; ++ch) {
        EXPECT_NEAR(z.train.select(1, ch).mean().item<double>(), 0.0, 1e-4);
        EXPECT_NEAR(z.train.select(1, ch).std().item<double>(), 1.0, 1e-4);
    }
    // Both modes describe the same raw features.
    EXPECT_NEAR(z.stats.std[0], s.stats.std[0], 1e-9 * s.stats.std[0]);
    EXPECT_TRUE(at::allclose(undo_norm(z.train, z.stats), undo_norm(s.train, s.stats), 1e-4, 1e-5));
    EXPECT_TRUE(at::allclose(apply_norm(undo_norm(z.val, z.stats), z.stats), z.val, 1e-5, 1e-5));
}

}  // namespace
}  // namespace distill::data

namespace distill::data {
namespace {

// Issue 13: augmented copies of training chunks.
AugmentConfig augment_of(int64_t expansion, uint64_t seed) {
    AugmentConfig a;
    a.expansion = expansion;
    a.seed = seed;
    // Every augmentation on for every copy, so the test sees all of them.
    a.speed_p = a.noise_p = a.gain_p = 1.0;
    return a;
}

TEST(DatasetAugment, CopiesFollowTheTrainingChunksOnlyAndAreSeeded) {
    Corpus c;
    Captured log;
    const PipelineConfig cfg;
    const Dataset plain = load_dataset(c.dir, cfg, {}, c.cache, log.opts());
    const Dataset aug = load_dataset(c.dir, cfg, {}, c.cache, log.opts(), augment_of(3, 0));
    // 3 copies per training chunk, after the originals; validation untouched.
    const int64_t n_train = plain.train.size(0);
    ASSERT_EQ(aug.train.size(0), 4 * n_train);
    EXPECT_EQ(aug.val.size(0), plain.val.size(0));
    EXPECT_EQ(aug.val_file_of, plain.val_file_of);
    // Every copy comes from a training file, never from a validation file.
    std::set<int64_t> train_files(plain.train_file_of.begin(), plain.train_file_of.end());
    std::set<int64_t> val_files(plain.val_file_of.begin(), plain.val_file_of.end());
    ASSERT_EQ(static_cast<int64_t>(aug.train_file_of.size()), 4 * n_train);
    for (size_t i = static_cast<size_t>(n_train); i < aug.train_file_of.size(); ++i) {
        EXPECT_TRUE(train_files.count(aug.train_file_of[i])) << "copy " << i;
        EXPECT_FALSE(val_files.count(aug.train_file_of[i])) << "copy " << i;
    }
    // The copies differ from their originals (speed, noise, gain).
    const at::Tensor raw_first = aug.train.slice(0, 0, n_train);
    const at::Tensor copies = aug.train.slice(0, n_train);
    EXPECT_FALSE(at::allclose(copies.slice(0, 0, n_train), raw_first));

    // Same seed: the same copies, from the cache (nothing decoded);
    // another seed: other copies.
    Captured again_log;
    const Dataset again = load_dataset(c.dir, cfg, {}, c.cache, again_log.opts(), augment_of(3, 0));
    EXPECT_EQ(again.counts.decoded_files, 0);
    EXPECT_EQ(again.counts.augmented_chunks, 0);
    EXPECT_TRUE(at::equal(again.train, aug.train));
    const Dataset other = load_dataset(c.dir, cfg, {}, c.cache, log.opts(), augment_of(3, 1));
    EXPECT_FALSE(at::equal(other.train.slice(0, n_train), aug.train.slice(0, n_train)));

    // Built again from nothing with the same seed: identical copies.
    fs::remove_all(c.cache);
    const Dataset rebuilt = load_dataset(c.dir, cfg, {}, c.cache, log.opts(), augment_of(3, 0));
    EXPECT_GT(rebuilt.counts.augmented_chunks, 0);
    EXPECT_TRUE(at::equal(rebuilt.train, aug.train));
}

TEST(DatasetAugment, ExpansionZeroChangesNothing) {
    Corpus c;
    Captured log;
    const Dataset plain = load_dataset(c.dir, {}, {}, c.cache, log.opts());
    const Dataset off = load_dataset(c.dir, {}, {}, c.cache, log.opts(), AugmentConfig{});
    EXPECT_TRUE(at::equal(plain.train, off.train));
    EXPECT_EQ(off.counts.decoded_files, 0);
}

TEST(DatasetAugment, ACopyIsAPeakNormalisedChunkOfTheSameLength) {
    std::vector<float> chunk(4800);
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = 0.5f * std::sin(0.05f * static_cast<float>(i));
    peak_normalise(chunk.data(), static_cast<int64_t>(chunk.size()));
    AugmentConfig a = augment_of(1, 7);
    std::mt19937_64 rng_a = augment_rng(a, "/x.wav"), rng_b = augment_rng(a, "/x.wav");
    std::vector<float> out_a(chunk.size()), out_b(chunk.size());
    augment_chunk(chunk.data(), static_cast<int64_t>(chunk.size()), a, rng_a, out_a.data());
    augment_chunk(chunk.data(), static_cast<int64_t>(chunk.size()), a, rng_b, out_b.data());
    EXPECT_EQ(out_a, out_b);
    float peak = 0;
    for (const float v : out_a) peak = std::max(peak, std::abs(v));
    EXPECT_NEAR(peak, 1.0f, 1e-5);
    EXPECT_NE(out_a, chunk);
}

}  // namespace
}  // namespace distill::data
