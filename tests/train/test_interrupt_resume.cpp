// SIGINT on a child `distill run`, then --resume: the resumed run must end
// exactly where an uninterrupted one does.
#include "train_fixture.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>

#include <ATen/ATen.h>

#include <signal.h>

namespace distill::train::testing {
namespace {

constexpr int64_t kEpochs = 5;
const char* kTrainKeys = "epochs = 5\ncheckpoint_every = 1\nkeep_checkpoints = 2\n";
const char* kLosses = "[[loss]]\nplugin = \"mag_l1\"\n[[loss]]\nplugin = \"if_l1\"\nweight = 0.5\n"
                      "[[loss]]\nplugin = \"kl\"\nweight = 0.01\n";

// The final weights (last.pt), by name.
std::map<std::string, at::Tensor> final_tensors(const fs::path& run_dir) {
    torch::serialize::InputArchive archive;
    archive.load_from((run_dir / "last.pt").string());
    std::map<std::string, at::Tensor> out;
    for (const auto& key : archive.keys()) {
        if (key.rfind("param.", 0) != 0 && key.rfind("buffer.", 0) != 0) continue;
        at::Tensor t;
        archive.read(key, t);
        out[key] = t;
    }
    return out;
}

// The interrupted run reads its values back every GetParam() steps (0: the
// default, one at a time on the CPU; 2: the sync-free step a GPU takes), the
// uninterrupted one always one at a time: the rows and weights must agree
// all the same, so a checkpoint of the sync-free step holds the same state.
class InterruptResume : public ::testing::TestWithParam<int> {};

TEST_P(InterruptResume, SigintCheckpointsAndResumeMatchesAnUninterruptedRun) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml",
                                          std::string(kTrainKeys) + "readback_every = " + std::to_string(GetParam()) + "\n",
                                          kLosses);

    // A: uninterrupted, in its own database and checkpoint folder.
    const fs::path a_dir = dir / "a";
    fs::create_directories(a_dir);
    const fs::path exp_a = write_experiment(a_dir, "exp.toml", kTrainKeys, kLosses);
    fs::create_symlink(dir / "corpus", a_dir / "corpus");
    const Finished a = run_distill(a_dir, {"run", exp_a.string(), "--db", "runs.db"});
    ASSERT_EQ(a.exit_code, 0) << a.out << a.err;

    // B: SIGINT once epoch 2 has begun (the trainer logs every step at
    // log_every = 1), so it stops somewhere in epochs 2..5, never before.
    Child child(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    ASSERT_TRUE(child.wait_for_output("epoch 2/5 step 1/", 120)) << child.stdout_text();
    ::kill(child.pid(), SIGINT);
    const Finished b = child.wait();
    ASSERT_EQ(b.exit_code, 130) << b.out << b.err;  // 128 + SIGINT
    // The exact command that continues it, on a line of its own.
    EXPECT_NE(b.out.find("\ndistill run --resume 1 --db runs.db\n"), std::string::npos) << b.out;

    {
        SQLite::Database db((dir / "runs.db").string(), SQLite::OPEN_READONLY);
        EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
    }
    store::RunStore store(dir / "runs.db");
    EXPECT_EQ(store.find_run(1)->status, "interrupted");
    const auto checkpoints = store.events(1, "checkpoint");
    ASSERT_FALSE(checkpoints.empty());
    const auto& last = checkpoints.back();
    EXPECT_NE(last.message.find("interrupted"), std::string::npos) << last.message;
    // The event names the position; every step before it has its row, none after.
    const int64_t epoch = last.epoch, next_step = last.step;
    EXPECT_TRUE(fs::exists(run_dir(dir / "runs.db", 1) /
                           ("ckpt-e" + std::string(4 - std::to_string(epoch).size(), '0') + std::to_string(epoch) +
                            "-s" + std::string(5 - std::to_string(next_step).size(), '0') +
                            std::to_string(next_step) + ".pt")))
        << last.message;
    EXPECT_GE(epoch * kStepsPerEpoch + next_step, kStepsPerEpoch + 1);
    EXPECT_EQ(static_cast<int64_t>(store.steps(1).size()), epoch * kStepsPerEpoch + next_step) << last.message;
    EXPECT_EQ(static_cast<int64_t>(store.epochs(1).size()), epoch);

    const Finished resumed = run_distill(dir.path(), {"run", "--resume", "1", "--db", "runs.db"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    EXPECT_EQ(store.find_run(1)->status, "completed");
    EXPECT_EQ(store.events(1, "resumed").size(), 1u);

    store::RunStore store_a(a_dir / "runs.db");
    const auto rows_a = store_a.steps(1), rows_b = store.steps(1);
    ASSERT_EQ(static_cast<int64_t>(rows_a.size()), kEpochs * kStepsPerEpoch);
    ASSERT_EQ(rows_a.size(), rows_b.size());
    for (size_t i = 0; i < rows_a.size(); ++i) {
        // Same seed, one thread, restored RNG + shuffle + optimizer: bit-identical.
        EXPECT_EQ(rows_a[i].epoch, rows_b[i].epoch);
        EXPECT_EQ(rows_a[i].step, rows_b[i].step);
        EXPECT_EQ(rows_a[i].train_loss, rows_b[i].train_loss) << where(rows_a[i]);
        EXPECT_EQ(rows_a[i].recon_loss, rows_b[i].recon_loss) << where(rows_a[i]);
        EXPECT_EQ(rows_a[i].kl_loss, rows_b[i].kl_loss) << where(rows_a[i]);
        EXPECT_EQ(rows_a[i].learning_rate, rows_b[i].learning_rate) << where(rows_a[i]);
    }
    const auto epochs_a = store_a.epochs(1), epochs_b = store.epochs(1);
    ASSERT_EQ(epochs_a.size(), epochs_b.size());
    for (size_t i = 0; i < epochs_a.size(); ++i) {
        EXPECT_EQ(epochs_a[i].train_loss, epochs_b[i].train_loss) << "epoch " << i;
        EXPECT_EQ(epochs_a[i].val_loss, epochs_b[i].val_loss) << "epoch " << i;
    }

    const auto params_a = final_tensors(run_dir(a_dir / "runs.db", 1));
    const auto params_b = final_tensors(run_dir(dir / "runs.db", 1));
    ASSERT_FALSE(params_a.empty());
    ASSERT_EQ(params_a.size(), params_b.size());
    for (const auto& [name, t] : params_a) {
        ASSERT_TRUE(params_b.count(name)) << name;
        EXPECT_TRUE(at::equal(t, params_b.at(name))) << name;
    }
}

INSTANTIATE_TEST_SUITE_P(Readback, InterruptResume, ::testing::Values(0, 2));

}  // namespace
}  // namespace distill::train::testing
