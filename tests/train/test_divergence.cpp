// The divergence rule and non-finite steps, driven by the scripted test
// losses through the real binary.
#include "train_fixture.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

namespace distill::train::testing {
namespace {

class Divergence : public ::testing::Test {
protected:
    void SetUp() override { write_corpus(dir / "corpus"); }

    // Only the scripted loss: every step total (and so every epoch's train
    // loss) is exactly per_epoch[epoch].
    Finished run(const std::string& train_keys, const std::string& per_epoch) {
        const fs::path exp = write_experiment(dir.path(), "exp.toml", train_keys,
                                              "[[loss]]\nplugin = \"scripted\"\nper_epoch = " + per_epoch + "\n");
        return run_with_test_plugins(dir.path(), exp);
    }
    std::vector<int64_t> divergence_epochs() {
        store::RunStore store(dir / "runs.db");
        std::vector<int64_t> out;
        for (const auto& e : store.events(1, "divergence")) out.push_back(e.epoch);
        return out;
    }
    TempDir dir;
};

TEST_F(Divergence, RisingLossGivesAnEventEveryEpochFromTheWindowOn) {
    // Losses 1, 2, ..., 6 with window 2: the rule needs 3 rising values, first
    // true after epoch index 2, then after every later epoch: 2, 3, 4, 5.
    const Finished f = run("epochs = 6\ndivergence_window = 2\ncheckpoint_every = 0\n", "[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]");
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    EXPECT_EQ(divergence_epochs(), (std::vector<int64_t>{2, 3, 4, 5}));
    EXPECT_NE(f.out.find("warning: total loss increased for 2 consecutive epochs"), std::string::npos) << f.out;
    store::RunStore store(dir / "runs.db");
    EXPECT_EQ(store.find_run(1)->status, "completed");
    const auto epochs = store.epochs(1);
    ASSERT_EQ(epochs.size(), 6u);
    for (size_t e = 0; e < epochs.size(); ++e) EXPECT_DOUBLE_EQ(epochs[e].train_loss, 1.0 + e);
}

TEST_F(Divergence, OnlyUnbrokenRisesOfTheWindowCount) {
    // 5 4 5 6 7 6 7 8 8, window 2 (i is flagged when v[i-2] < v[i-1] < v[i]):
    // i=3 (4<5<6), i=4 (5<6<7), i=7 (6<7<8); i=5,6 follow a fall, i=8 is flat.
    const Finished f = run("epochs = 9\ndivergence_window = 2\ncheckpoint_every = 0\n",
                           "[5.0, 4.0, 5.0, 6.0, 7.0, 6.0, 7.0, 8.0, 8.0]");
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    EXPECT_EQ(divergence_epochs(), (std::vector<int64_t>{3, 4, 7}));
}

TEST_F(Divergence, StopOnDivergenceEndsTheRunAsDiverged) {
    // Window 2 first holds after epoch index 2, so epochs 0..2 run and no more.
    const Finished f = run("epochs = 6\ndivergence_window = 2\nstop_on_divergence = true\ncheckpoint_every = 0\n",
                           "[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]");
    EXPECT_EQ(f.exit_code, 1) << f.out << f.err;
    EXPECT_EQ(divergence_epochs(), (std::vector<int64_t>{2}));
    store::RunStore store(dir / "runs.db");
    const auto run = store.find_run(1);
    EXPECT_EQ(run->status, "diverged");
    EXPECT_NE(run->error.value_or("").find("increased for 2 consecutive epochs"), std::string::npos);
    EXPECT_EQ(store.epochs(1).size(), 3u);
    EXPECT_EQ(static_cast<int64_t>(store.steps(1).size()), 3 * kStepsPerEpoch);
}

// Issue 18: "train nan  val -nan". inf + -inf is the processor's default NaN,
// whose sign bit is set on x86, so every step's total and the validation loss
// are "-nan" to printf; no step is finite, so the train loss is a plain NaN.
// Both read "nan" on the console.
TEST_F(Divergence, ANegativeNanReadsNanOnTheConsole) {
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 1\nmax_non_finite_steps = 100\ncheckpoint_every = 0\n",
                                          "[[loss]]\nplugin = \"scripted\"\nname = \"up\"\nper_epoch = [inf]\n"
                                          "[[loss]]\nplugin = \"scripted\"\nname = \"down\"\nper_epoch = [-inf]\n");
    const Finished f = run_with_test_plugins(dir.path(), exp);
    EXPECT_EQ(f.exit_code, 1) << f.out << f.err;  // no step was taken: failed
    EXPECT_NE(f.out.find("epoch 1/1 done: train nan  val nan  lr"), std::string::npos) << f.out;
    std::istringstream lines(f.out);
    int step_lines = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("epoch ", 0) != 0) continue;
        EXPECT_EQ(line.find("-nan"), std::string::npos) << line;
        step_lines += line.find(" step ") != std::string::npos && line.find("loss nan") != std::string::npos;
    }
    EXPECT_EQ(step_lines, kStepsPerEpoch) << f.out;
}

// The non-finite tests run with each value read back at once (0, the CPU's
// default) and with the sync-free step that reads 2 or 5 steps back together.
class NonFinite : public Divergence, public ::testing::WithParamInterface<int> {
protected:
    std::string train_keys(const std::string& keys) const {
        return keys + "readback_every = " + std::to_string(GetParam()) + "\n";
    }
};

TEST_P(NonFinite, NonFiniteStepIsSkippedWithAnEvent) {
    // mag_l1 trains the model; nan_at makes the total NaN at epoch 1 step 1
    // only. One bad step is below max_non_finite_steps (default 10).
    const fs::path exp = write_experiment(dir.path(), "exp.toml", train_keys("epochs = 3\ncheckpoint_every = 0\n"),
                                          "[[loss]]\nplugin = \"mag_l1\"\n[[loss]]\nplugin = \"nan_at\"\n"
                                          "epoch = 1\nstep = 1\n");
    const Finished f = run_with_test_plugins(dir.path(), exp);
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    // The run says which step it takes: on the CPU, sync-free only when asked.
    EXPECT_EQ(f.out.find("sync-free steps: loss values read back every " + std::to_string(GetParam()) + " steps") !=
                  std::string::npos,
              GetParam() > 1)
        << f.out;
    store::RunStore store(dir / "runs.db");
    EXPECT_EQ(store.find_run(1)->status, "completed");
    // The store adds its own non_finite events for NaN values it stores; the
    // trainer's is the one about the skipped step.
    std::vector<store::Event> events;
    for (const auto& e : store.events(1, "non_finite"))
        if (e.message.find("optimizer step skipped") != std::string::npos) events.push_back(e);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].epoch, 1);
    EXPECT_EQ(events[0].step, 1);
    const auto steps = store.steps(1);
    ASSERT_EQ(static_cast<int64_t>(steps.size()), 3 * kStepsPerEpoch);
    for (const auto& row : steps)
        EXPECT_EQ(std::isnan(row.train_loss), row.epoch == 1 && row.step == 1) << where(row);
    // The epoch mean leaves the skipped step out: the mean of the 2 finite ones.
    const auto epochs = store.epochs(1);
    ASSERT_EQ(epochs.size(), 3u);
    const double s0 = steps[kStepsPerEpoch].train_loss, s2 = steps[kStepsPerEpoch + 2].train_loss;
    EXPECT_NEAR(epochs[1].train_loss, (s0 + s2) / 2, 1e-12);
}

TEST_P(NonFinite, MaxNonFiniteStepsEndsTheRunAsDiverged) {
    const fs::path exp = write_experiment(dir.path(), "exp.toml",
                                          train_keys("epochs = 3\ncheckpoint_every = 0\nmax_non_finite_steps = 1\n"),
                                          "[[loss]]\nplugin = \"mag_l1\"\n[[loss]]\nplugin = \"nan_at\"\n"
                                          "epoch = 0\nstep = 2\n");
    const Finished f = run_with_test_plugins(dir.path(), exp);
    EXPECT_EQ(f.exit_code, 1) << f.out << f.err;
    store::RunStore store(dir / "runs.db");
    EXPECT_EQ(store.find_run(1)->status, "diverged");
    int skipped = 0;
    for (const auto& e : store.events(1, "non_finite")) skipped += e.message.find("optimizer step skipped") != std::string::npos;
    EXPECT_EQ(skipped, 1);
    // Steps 0, 1 and the NaN step 2 of epoch 0 are recorded; nothing after.
    EXPECT_EQ(store.steps(1).size(), 3u);
    EXPECT_EQ(store.epochs(1).size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Readback, NonFinite, ::testing::Values(0, 2, 5));

}  // namespace
}  // namespace distill::train::testing
