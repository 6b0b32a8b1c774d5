// Issue 18: a plugin's error code decides the exit status. A loss that says
// its input is wrong (DISTILL_ERROR_BAD_INPUT, a thrown std::invalid_argument)
// during training is bad input: exit 2, the message names the plugin, the
// run is recorded as failed with every row written so far.
#include "train_fixture.hpp"

#include <gtest/gtest.h>

namespace distill::train::testing {
namespace {

TEST(PluginErrors, ABadInputErrorFromComputeExits2NamingThePlugin) {
    TempDir dir;
    write_corpus(dir / "corpus");
    // 0.5 s chunks as [32, 63] features: a 4096-point FFT is longer than the
    // signal the stft loss sees, which it refuses as bad input.
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 1\n",
                                          "[[loss]]\nplugin = \"stft\"\nfft_sizes = [4096]\nhop_sizes = [1024]\n"
                                          "win_lengths = [4096]\n");
    const Finished f = run_distill(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    EXPECT_EQ(f.exit_code, 2) << f.out << f.err;
    EXPECT_NE(f.err.find("stft"), std::string::npos) << f.err;
    EXPECT_NE(f.err.find("compute"), std::string::npos) << f.err;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(db.run(1).status, "failed");
}

}  // namespace
}  // namespace distill::train::testing

namespace distill::train::testing {
namespace {

// Issue 18: a combination only the plugin judges (stft hop > win) passed
// `validate` and failed `run` after the data had loaded. Both now make the
// plugins first: exit 2 naming the plugin, nothing decoded.
TEST(PluginErrors, APluginsOwnParameterCheckRunsBeforeDataLoads) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 1\n",
                                          "[[loss]]\nplugin = \"stft\"\nfft_sizes = [256]\nhop_sizes = [200]\n"
                                          "win_lengths = [128]\n");
    const Finished validate = run_distill(dir.path(), {"validate", exp.string()});
    EXPECT_EQ(validate.exit_code, 2) << validate.out << validate.err;
    EXPECT_NE(validate.err.find("hop must be <= win"), std::string::npos) << validate.err;
    EXPECT_NE(validate.err.find("stft"), std::string::npos) << validate.err;
    const Finished run = run_distill(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
    EXPECT_NE(run.err.find("hop must be <= win"), std::string::npos) << run.err;
    EXPECT_EQ(run.out.find("data: "), std::string::npos) << "refused before the data loads: " << run.out;
    EXPECT_FALSE(fs::exists(dir / "cache")) << "nothing decoded";
}

}  // namespace
}  // namespace distill::train::testing

namespace distill::train::testing {
namespace {

// Issue 18: what a loss returns is checked at every training step, and a
// result that cannot be trained on stops the run with exit 2 naming the
// plugin -- a detached loss used to train silently, a non-scalar one died in
// a raw LibTorch trace with no plugin name.
Finished run_with(const TempDir& dir, const std::string& losses) {
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 1\n", losses);
    return run_with_test_plugins(dir.path(), exp);
}

TEST(PluginErrors, ADetachedLossStopsTheRunNamingThePlugin) {
    TempDir dir;
    const Finished f = run_with(dir, "[[loss]]\nplugin = \"mag_l1\"\n[[loss]]\nname = \"mean_recon\"\n"
                                     "plugin = \"detached\"\nweight = 0.5\n");
    EXPECT_EQ(f.exit_code, 2) << f.out << f.err;
    EXPECT_NE(f.err.find("loss 'mean_recon' (plugin 'detached'): compute returned a 'loss' that is not attached to "
                         "the autograd graph"),
              std::string::npos)
        << f.err;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(db.run(1).status, "failed");
    EXPECT_NE(db.run(1).error.value_or("").find("plugin 'detached'"), std::string::npos);
    EXPECT_EQ(db.count_rows("step_metrics", 1), 0) << "not one step trained on it";
}

// With weight 0 nothing trains on it: a detached loss may be logged.
TEST(PluginErrors, ADetachedLossWithWeightZeroIsOnlyLogged) {
    TempDir dir;
    const Finished f = run_with(dir, "[[loss]]\nplugin = \"mag_l1\"\n[[loss]]\nplugin = \"detached\"\nweight = 0.0\n");
    EXPECT_EQ(f.exit_code, 0) << f.out << f.err;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    size_t logged = 0;
    for (const auto& t : db.loss_terms(1)) logged += t.term == "detached" ? 1 : 0;
    EXPECT_EQ(logged, static_cast<size_t>(kStepsPerEpoch + 1)) << "every train step and the validation";
}

TEST(PluginErrors, ANonScalarLossStopsTheRunNamingThePlugin) {
    TempDir dir;
    const Finished f = run_with(dir, "[[loss]]\nplugin = \"per_item\"\n");
    EXPECT_EQ(f.exit_code, 2) << f.out << f.err;
    EXPECT_NE(f.err.find("plugin 'per_item': compute returned a 'loss' of shape [4], not a scalar"), std::string::npos)
        << f.err;
    EXPECT_EQ(f.err.find("Exception raised from"), std::string::npos) << "no LibTorch trace: " << f.err;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(db.run(1).status, "failed");
}

}  // namespace
}  // namespace distill::train::testing
