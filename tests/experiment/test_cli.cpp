// `distill validate` as a user runs it: the built binary with the fake
// plugins loaded through --plugin-path.
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

struct Result {
    int status = -1;
    std::string out, err;
};

class ValidateCli : public ::testing::Test {
protected:
    void SetUp() override {
        fs::create_directories(dir / "corpus");
    }
    fs::path write(const std::string& name, const std::string& text) {
        std::ofstream(dir / name) << text;
        return dir / name;
    }
    static std::string slurp(const fs::path& p) {
        std::ifstream in(p);
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }
    Result validate(const std::string& args) {
        const std::string cmd = std::string("'") + DISTILL_BINARY + "' validate " + args + " --plugin-path '" +
                                EXPERIMENT_FAKE_PLUGIN_DIR + "' >'" + (dir / "out").string() + "' 2>'" +
                                (dir / "err").string() + "'";
        Result r;
        const int raw = std::system(cmd.c_str());
        r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
        r.out = slurp(dir / "out");
        r.err = slurp(dir / "err");
        return r;
    }
    distill::test_support::TempDir tmp{"distill-validate"};
    fs::path dir = tmp.path();
};

const std::string kData = "[data]\ndir = \"corpus\"\n";

TEST_F(ValidateCli, PrintsResolvedConfigurationAndTrials) {
    const auto file = write("ok.toml", kData + "[sweep]\n\"train.epochs\" = [1, 2]\n");
    const Result r = validate("'" + file.string() + "' --set train.lr=5e-4 --set loss.kl.weight=0.02");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("\ntrain.lr = 0.0005\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nloss.kl.weight = 0.02\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nmodel.frames = 94\n"), std::string::npos) << r.out;  // 1 + floor(48000/512)
    EXPECT_NE(r.out.find("# sweep: 2 trials over train.epochs\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("trial 0: train.epochs = 1\ntrial 1: train.epochs = 2\n"), std::string::npos) << r.out;
}

TEST_F(ValidateCli, BadInputExitsTwoWithThePosition) {
    const auto file = write("bad.toml", kData + "[train]\nepochs = 0\n");
    const Result r = validate("'" + file.string() + "'");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("distill: " + file.string() + ":4:10: train.epochs must be >= 1, got 0"), std::string::npos)
        << r.err;
    const Result set = validate("'" + write("ok.toml", kData).string() + "' --set train.epoch=3");
    EXPECT_EQ(set.status, 2);
    EXPECT_NE(set.err.find("--set train.epoch: unknown key 'train.epoch' in [train] (did you mean 'epochs'?)"),
              std::string::npos)
        << set.err;
}

TEST_F(ValidateCli, AnInvalidTrialIsListedAndFailsValidation) {
    const auto file = write("sweep.toml", kData + "[sweep]\n\"train.batch_size\" = [8, 0]\n");
    const Result r = validate("'" + file.string() + "'");
    EXPECT_EQ(r.status, 2);
    // "\"train.batch_size\" = [8, " is 25 characters: 0 is at column 26.
    EXPECT_NE(r.out.find("trial 1: train.batch_size = 0\n  invalid: " + file.string() +
                         ":4:26: train.batch_size must be >= 1, got 0"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.err.find("1 of 2 trials are invalid"), std::string::npos) << r.err;
}

}  // namespace
