// Sizes that multiply into allocations are refused by name (exit 2) instead
// of failing to allocate: `distill validate` as a user runs it, with the fake
// plugins.
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

class Limits : public ::testing::Test {
protected:
    void SetUp() override {
        fs::create_directories(dir / "corpus");
        std::ofstream(dir / "ok.toml") << "[data]\ndir = \"corpus\"\n";
    }
    // Exit status and stderr of `distill validate ok.toml --set SETS...`.
    std::pair<int, std::string> validate(const std::string& sets) {
        const std::string cmd = std::string("'") + DISTILL_BINARY + "' validate '" + (dir / "ok.toml").string() +
                                "' " + sets + " --plugin-path '" + EXPERIMENT_FAKE_PLUGIN_DIR + "' >/dev/null 2>'" +
                                (dir / "err").string() + "'";
        const int raw = std::system(cmd.c_str());
        std::ifstream in(dir / "err");
        std::ostringstream s;
        s << in.rdbuf();
        return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, s.str()};
    }
    distill::test_support::TempDir tmp{"distill-limits"};
    fs::path dir = tmp.path();
};

TEST_F(Limits, HugeChunkSecondsIsRefusedNamingTheKey) {
    const auto [code, err] = validate("--set data.chunk_seconds=1e6");
    EXPECT_EQ(code, 2) << err;
    EXPECT_NE(err.find("distill: --set data.chunk_seconds: data.chunk_seconds = 1000000.0 at data.sample_rate = 48000 "
                       "is 48000000000 samples per chunk; the limit is 8388608 (174.8 s at this rate)"),
              std::string::npos)
        << err;
    EXPECT_EQ(err.find("bad_alloc"), std::string::npos) << err;
}

TEST_F(Limits, EverySizeThatMultipliesIntoAnAllocationHasABound) {
    const std::pair<const char*, const char*> cases[] = {
        {"--set data.n_fft=1048576", "data.n_fft must be <= 65536, got 1048576"},
        {"--set data.n_fft=65536 --set data.n_mels=4096", "data.n_mels must be in [1, 1024]"},
        {"--set data.hop_length=1 --set data.chunk_seconds=10", "above the limit of 4194304 floats"},
        {"--set data.n_fft=65536 --set data.hop_length=64 --set data.n_mels=8", "above the limit of 16777216"},
        {"--set train.batch_size=100000000", "train.batch_size must be <= 65536"},
        {"--set data.chunk_seconds=30 --set train.batch_size=4096", "MB of input per step"},
        {"--set threads=100000", "threads must be <= 1024"},
    };
    for (const auto& [sets, expected] : cases) {
        const auto [code, err] = validate(sets);
        EXPECT_EQ(code, 2) << sets << ": " << err;
        EXPECT_NE(err.find(expected), std::string::npos) << sets << ": " << err;
    }
    // The defaults and generous real settings stay valid.
    EXPECT_EQ(validate("").first, 0);
    EXPECT_EQ(validate("--set data.chunk_seconds=10 --set data.n_fft=8192 --set data.n_mels=512").first, 0);
}

}  // namespace
