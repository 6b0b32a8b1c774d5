// `distill render` end to end on a run the test trains (the train tests'
// tiny corpus and experiment): files, records, determinism and refusals.
#include "store/run_store.hpp"
#include "train_fixture.hpp"

#include <sndfile.h>

#include <gtest/gtest.h>

#include <cmath>
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
