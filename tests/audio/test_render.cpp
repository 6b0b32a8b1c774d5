// `distill render` end to end on a run the test trains (the train tests'
// tiny corpus and experiment): files, records, determinism and refusals.
#include "store/run_store.hpp"
#include "train_fixture.hpp"

#include <SQLiteCpp/Statement.h>
#include <nlohmann/json.hpp>
#include <sndfile.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace distill::train::testing {
namespace {

const char* kTrainKeys = "epochs = 2\n";
const char* kLosses = "[[loss]]\nplugin = \"mag_l1\"\n[[loss]]\nplugin = \"kl\"\nweight = 0.01\n";
constexpr int64_t kOutputRate = 48000;
constexpr int64_t kPipelineRate = 16000, kHop = 128;  // the fixture's experiment
constexpr int64_t kOneHopAtOutput = kHop * kOutputRate / kPipelineRate;

struct Wav {
    int64_t rate = 0, channels = 0;
    std::vector<float> samples;
};

Wav read_wav(const fs::path& file) {
    SF_INFO info{};
    SNDFILE* f = sf_open(file.c_str(), SFM_READ, &info);
    if (f == nullptr) throw std::runtime_error("cannot read " + file.string() + ": " + sf_strerror(nullptr));
    Wav w;
    w.rate = info.samplerate;
    w.channels = info.channels;
    w.samples.resize(static_cast<size_t>(info.frames * info.channels));
    sf_readf_float(f, w.samples.data(), info.frames);
    sf_close(f);
    return w;
}

std::string read_text_file(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string bytes_of(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<fs::path> wavs_in(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().extension() == ".wav") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

// One trained run for the whole suite (two epochs: about a second).
class Render : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir;
        write_corpus(*dir_ / "corpus");
        const fs::path exp = write_experiment(dir_->path(), "exp.toml", kTrainKeys, kLosses);
        const Finished f = run_distill(dir_->path(), {"run", exp.string(), "--db", "runs.db"});
        ASSERT_EQ(f.exit_code, 0) << f.err;
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    static const fs::path& root() { return dir_->path(); }
    static fs::path db() { return root() / "runs.db"; }
    static Finished render(const std::vector<std::string>& args) {
        std::vector<std::string> all{"render", "1", "--db", db().string()};
        all.insert(all.end(), args.begin(), args.end());
        return run_distill(root(), all);
    }

    static TempDir* dir_;
};
TempDir* Render::dir_ = nullptr;

TEST_F(Render, ReconstructWritesOneFullLength48kWavPerInputAndRecordsEach) {
    const fs::path out = root() / "recon";
    const Finished f = render({"--reconstruct", (root() / "corpus").string(), "--out", out.string()});
    ASSERT_EQ(f.exit_code, 0) << f.err << f.out;
    const auto files = wavs_in(out);
    ASSERT_EQ(files.size(), 8u) << f.out;  // the corpus' 8 one-second clips
    for (const fs::path& file : files) {
        const Wav w = read_wav(file);
        EXPECT_EQ(w.rate, kOutputRate) << file;
        EXPECT_EQ(w.channels, 1) << file;
        EXPECT_NEAR(static_cast<double>(w.samples.size()), static_cast<double>(kOutputRate), kOneHopAtOutput) << file;
        float peak = 0.0f;
        for (const float v : w.samples) {
            ASSERT_TRUE(std::isfinite(v)) << file;
            peak = std::max(peak, std::fabs(v));
        }
        EXPECT_GT(peak, 0.5f) << file << " is (nearly) silent";
    }
    store::RunStore store(db(), store::OpenMode::kReadOnly);
    const auto artifacts = store.artifacts(1, "audio");
    size_t recorded = 0;
    for (const auto& a : artifacts)
        for (const fs::path& file : files) recorded += store.resolve(a.path) == file;
    EXPECT_EQ(recorded, files.size());
    size_t events = 0;
    for (const auto& e : store.events(1, "render"))
        events += e.data_json.find("\"mode\":\"reconstruct\"") != std::string::npos &&
                  e.data_json.find("\"gl_iters\"") != std::string::npos;
    EXPECT_GE(events, files.size());
}

// Issue 20: every reconstruction is measured against the representation's
// ceiling on the same file, and `runs show` puts the two side by side.
TEST_F(Render, ReconstructRecordsModelAndCeilingAndRunsShowPrintsThem) {
    const Finished f = render({"--reconstruct", (root() / "corpus" / "clip0.wav").string(), "--out",
                               (root() / "measured").string()});
    ASSERT_EQ(f.exit_code, 0) << f.err << f.out;
    store::RunStore store(db(), store::OpenMode::kReadOnly);
    bool measured = false;
    for (const auto& e : store.events(1, "render")) {
        if (e.data_json.find("clip0.wav") == std::string::npos || e.data_json.find("measured") == std::string::npos)
            continue;
        const auto data = nlohmann::json::parse(e.data_json);
        const double model = data["model"]["spectral_convergence"], ceiling = data["ceiling"]["spectral_convergence"];
        EXPECT_TRUE(std::isfinite(model) && std::isfinite(ceiling)) << e.data_json;
        EXPECT_GT(model, 0.0);
        // Two epochs of a tiny model cannot beat the representation itself.
        EXPECT_GE(model, ceiling) << e.data_json;
        measured = true;
    }
    EXPECT_TRUE(measured);
    const Finished show = run_distill(root(), {"runs", "show", "1", "--db", db().string()});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    EXPECT_NE(show.out.find("model SC "), std::string::npos) << show.out;
    EXPECT_NE(show.out.find(" - representation ceiling "), std::string::npos) << show.out;
}

// Issue 20: `distill oracle` on the run's own experiment: stored once, read
// back the second time, refused for a sweep that would need training.
TEST_F(Render, OracleStoresItsRowsAndReadsThemBack) {
    const fs::path exp = root() / "exp.toml";
    const Finished first = run_distill(root(), {"oracle", exp.string(), "--db", "oracle.db", "--gl-iters", "4"});
    ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
    EXPECT_EQ(first.out.find("stored result"), std::string::npos) << first.out;
    // The printed total equals the stored total.
    store::RunStore store(root() / "oracle.db", store::OpenMode::kReadOnly);
    SQLite::Statement total(store.db(), "SELECT chunks, spectral_convergence FROM oracle_results WHERE file = ''");
    ASSERT_TRUE(total.executeStep());
    char expected[64];
    std::snprintf(expected, sizeof expected, "%7lld %7.3f", static_cast<long long>(total.getColumn(0).getInt64()),
                  total.getColumn(1).getDouble());
    EXPECT_NE(first.out.find(std::string("total") + std::string(48 - 5, ' ') + " " + expected), std::string::npos)
        << expected << "\n" << first.out;
    EXPECT_FALSE(total.executeStep()) << "one total per settings and corpus";

    const Finished again = run_distill(root(), {"oracle", exp.string(), "--db", "oracle.db", "--gl-iters", "4"});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_NE(again.out.find("stored result, nothing decoded"), std::string::npos) << again.out;

    std::ofstream(root() / "swept.toml") << read_text_file(exp) << "\n[sweep]\n\"train.lr\" = [1e-3, 5e-4]\n";
    const Finished swept = run_distill(root(), {"oracle", (root() / "swept.toml").string(), "--db", "oracle.db"});
    EXPECT_EQ(swept.exit_code, 2) << swept.out;
    EXPECT_NE(swept.err.find("\"train.lr\" is not a data setting"), std::string::npos) << swept.err;
    const Finished too_many = run_distill(root(), {"oracle", exp.string(), "--db", "oracle.db", "--set",
                                                   "data.n_mels=300"});  // n_fft 512: 257 bins
    EXPECT_EQ(too_many.exit_code, 2) << too_many.out;
    EXPECT_NE(too_many.err.find("data.n_mels"), std::string::npos) << too_many.err;
}

TEST_F(Render, DefaultOutputIsTheRunsFolder) {
    const Finished f = render({"--reconstruct", (root() / "corpus" / "clip1.wav").string()});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_TRUE(fs::exists(run_dir(db(), 1) / "render" / "clip1.recon.wav")) << f.out;
}

TEST_F(Render, SampleIsDeterministicForASeed) {
    const auto sample = [](const std::string& seed, const std::string& out) {
        const Finished f = render({"--sample", "2", "--seed", seed, "--out", (root() / out).string()});
        EXPECT_EQ(f.exit_code, 0) << f.err;
        return wavs_in(root() / out);
    };
    const auto a = sample("5", "s5a"), b = sample("5", "s5b"), c = sample("6", "s6");
    ASSERT_EQ(a.size(), 2u);
    ASSERT_EQ(b.size(), 2u);
    ASSERT_EQ(c.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(bytes_of(a[i]), bytes_of(b[i])) << a[i] << " vs " << b[i];
        EXPECT_NE(bytes_of(a[i]), bytes_of(c[i])) << "seed 6 drew what seed 5 did";
        EXPECT_EQ(read_wav(a[i]).rate, kOutputRate);
    }
}

TEST_F(Render, InterpolateWritesOneFileOfKSegments) {
    const fs::path out = root() / "interp";
    const Finished f = render({"--interpolate", (root() / "corpus" / "clip0.wav").string(),
                               (root() / "corpus" / "clip4.wav").string(), "--steps", "3", "--out", out.string()});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    const auto files = wavs_in(out);
    ASSERT_EQ(files.size(), 1u);
    const Wav w = read_wav(files[0]);
    // 3 half-second segments cross-faded over a few frames.
    EXPECT_GT(static_cast<double>(w.samples.size()), 1.2 * kOutputRate);
    EXPECT_LT(static_cast<double>(w.samples.size()), 1.5 * kOutputRate);
}

// Each refusal: exit 2, a message naming what was wrong, nothing written.
class RenderRefuses : public Render {
protected:
    void expect_refused(const std::vector<std::string>& args, const std::string& message) {
        const fs::path out = root() / "refused";
        std::vector<std::string> all = args;
        all.insert(all.end(), {"--out", out.string()});
        const Finished f = render(all);
        EXPECT_EQ(f.exit_code, 2) << f.out << f.err;
        EXPECT_NE(f.err.find(message), std::string::npos) << "stderr: " << f.err;
        EXPECT_TRUE(wavs_in(out).empty());
    }
};

TEST_F(RenderRefuses, AMissingCheckpointFile) {
    const std::string missing = (root() / "nope.pt").string();
    expect_refused({"--checkpoint", missing, "--sample", "1"}, missing);
}

TEST_F(RenderRefuses, AnUnknownCheckpointName) {
    expect_refused({"--checkpoint", "bestest", "--sample", "1"}, "--checkpoint bestest");
}

TEST_F(RenderRefuses, AFileThatIsNotAudio) {
    const fs::path text = root() / "notes.wav";
    std::ofstream(text) << "these are notes, not audio\n";
    expect_refused({"--reconstruct", (root() / "corpus" / "clip0.wav").string(), text.string()}, text.string());
}

TEST_F(RenderRefuses, ARunThatDoesNotExist) {
    const Finished f = run_distill(root(), {"render", "99", "--db", db().string(), "--sample", "1"});
    EXPECT_EQ(f.exit_code, 2);
    EXPECT_NE(f.err.find("run 99 does not exist"), std::string::npos) << f.err;
}

TEST_F(RenderRefuses, ACheckpointOfAnotherModelShape) {
    const fs::path exp = root() / "exp.toml";
    const Finished other = run_distill(root(), {"run", exp.string(), "--db", "other.db", "--set", "model.latent_dim=4",
                                                "--set", "train.epochs=1"});
    ASSERT_EQ(other.exit_code, 0) << other.err;
    const fs::path foreign = run_dir(root() / "other.db", 1) / "best.pt";
    ASSERT_TRUE(fs::exists(foreign));
    expect_refused({"--checkpoint", foreign.string(), "--sample", "1"}, "cannot be used with run 1's model");
}

}  // namespace
}  // namespace distill::train::testing
