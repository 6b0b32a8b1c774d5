// Issue 15: sweeps in shards, shard databases merged, one GPU per trial.
#include "store/sha256.hpp"
#include "sweep_fixture.hpp"

#include <SQLiteCpp/Statement.h>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <thread>

namespace distill::sweep_test {
namespace {

const char* kGrid = "\"loss.if_l1.weight\" = [0.0, 0.05]\n\"train.lr\" = [1e-3, 5e-4]\n";

// trial index -> the train_loss of every step row, from one database.
std::map<int64_t, std::vector<double>> losses_by_trial(const fs::path& db_path) {
    store::RunStore db(db_path, store::OpenMode::kReadOnly);
    std::map<int64_t, std::vector<double>> out;
    SQLite::Statement select(db.db(), "SELECT r.trial_index, m.train_loss FROM step_metrics m JOIN runs r ON r.id = m.run_id "
                                      "WHERE r.status = 'completed' ORDER BY r.trial_index, m.epoch, m.step");
    while (select.executeStep()) out[select.getColumn(0).getInt64()].push_back(select.getColumn(1).getDouble());
    return out;
}

int64_t count(const fs::path& db_path, const std::string& sql) {
    store::RunStore db(db_path, store::OpenMode::kReadOnly);
    return db.db().execAndGet(sql).getInt64();
}

std::string file_hash(const fs::path& file) { return store::sha256_file(file); }

// Sets environment variables for the distill processes a test starts.
class ScopedEnv {
public:
    ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
        for (const auto& [name, value] : vars) {
            names_.push_back(name);
            setenv(name, value, 1);
        }
    }
    ~ScopedEnv() {
        for (const char* name : names_) unsetenv(name);
    }

private:
    std::vector<const char*> names_;
};

TEST_F(SweepTest, ShardsCoverEveryTrialOnceAndMergeToTheUnshardedRows) {
    write("exp.toml", experiment_toml("shards", kGrid));
    auto [code, out] = distill("sweep exp.toml --db whole.db");
    ASSERT_EQ(code, 0) << out;
    std::set<int64_t> seen;
    for (int i = 0; i < 3; ++i) {
        const std::string db = "shard" + std::to_string(i) + ".db";
        std::tie(code, out) = distill("sweep exp.toml --shard " + std::to_string(i) + "/3 --db " + db);
        ASSERT_EQ(code, 0) << out;
        EXPECT_NE(out.find("shard " + std::to_string(i) + " of 3 (from --shard)"), std::string::npos) << out;
        store::RunStore shard(dir() / db, store::OpenMode::kReadOnly);
        SQLite::Statement select(shard.db(), "SELECT trial_index FROM runs");
        while (select.executeStep()) {
            const int64_t t = select.getColumn(0).getInt64();
            EXPECT_EQ(t % 3, i) << "trial " << t << " ran in shard " << i;
            EXPECT_TRUE(seen.insert(t).second) << "trial " << t << " ran twice";
        }
    }
    EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2, 3}));

    std::tie(code, out) = distill("db merge merged.db shard0.db shard1.db shard2.db");
    ASSERT_EQ(code, 0) << out;
    // Same seeds, one thread: the merged rows are the unsharded sweep's rows.
    EXPECT_EQ(losses_by_trial(dir() / "merged.db"), losses_by_trial(dir() / "whole.db"));
    EXPECT_EQ(count(dir() / "merged.db", "SELECT count(*) FROM sweeps"), 1) << "one sweep again after merging";
    EXPECT_EQ(count(dir() / "merged.db", "SELECT count(*) FROM runs WHERE status = 'completed'"), 4);
    // Artifact paths still lead to the files.
    store::RunStore merged(dir() / "merged.db", store::OpenMode::kReadOnly);
    for (int64_t run = 1; run <= 4; ++run)
        for (const auto& a : merged.artifacts(run)) EXPECT_TRUE(fs::exists(merged.resolve(a.path))) << a.path;

    // Idempotent: merging the same shards again adds nothing.
    const auto rows = count(dir() / "merged.db", "SELECT count(*) FROM step_metrics");
    std::tie(code, out) = distill("db merge merged.db shard0.db shard1.db shard2.db");
    ASSERT_EQ(code, 0) << out;
    EXPECT_NE(out.find("0 runs added, 0 replaced"), std::string::npos) << out;
    EXPECT_EQ(count(dir() / "merged.db", "SELECT count(*) FROM step_metrics"), rows);
    EXPECT_EQ(count(dir() / "merged.db", "SELECT count(*) FROM runs"), 4);
}

TEST_F(SweepTest, TheArrayIndexComesFromSlurmOrKubernetes) {
    write("exp.toml", experiment_toml("env", kGrid));
    {
        const ScopedEnv env{{"SLURM_ARRAY_TASK_ID", "5"}, {"SLURM_ARRAY_TASK_MIN", "4"}, {"SLURM_ARRAY_TASK_COUNT", "2"}};
        const auto [code, out] = distill("sweep exp.toml --db slurm.db");
        ASSERT_EQ(code, 0) << out;
        EXPECT_NE(out.find("shard 1 of 2 (from SLURM_ARRAY_TASK_ID)"), std::string::npos) << out;
    }
    EXPECT_EQ(count(dir() / "slurm.db", "SELECT count(*) FROM runs WHERE trial_index % 2 = 1"), 2);
    EXPECT_EQ(count(dir() / "slurm.db", "SELECT count(*) FROM runs"), 2);
    const ScopedEnv env{{"JOB_COMPLETION_INDEX", "7"}};
    const auto [code, out] = distill("sweep exp.toml --shards 4 --db k8s.db");
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("out of range"), std::string::npos) << out;
}

TEST_F(SweepTest, ADamagedInputOrAnotherSchemaIsRefusedAndTheOutputIsUnchanged) {
    write("exp.toml", experiment_toml("merge", "\"train.lr\" = [1e-3]\n"));
    auto [code, out] = distill("sweep exp.toml --db a.db");
    ASSERT_EQ(code, 0) << out;
    std::tie(code, out) = distill("db merge out.db a.db");
    ASSERT_EQ(code, 0) << out;
    const std::string before = file_hash(dir() / "out.db");

    std::ofstream(dir() / "damaged.db") << "SQLite format 3 but not really a database";
    {
        fs::copy_file(dir() / "a.db", dir() / "newer.db");
        SQLite::Database raw((dir() / "newer.db").string(), SQLite::OPEN_READWRITE);
        raw.exec("PRAGMA user_version = 99");
    }
    for (const char* input : {"damaged.db", "newer.db", "missing.db"}) {
        std::tie(code, out) = distill(std::string("db merge out.db a.db ") + input);
        EXPECT_EQ(code, 2) << input << ": " << out;
        EXPECT_NE(out.find(input), std::string::npos) << out;
        EXPECT_EQ(file_hash(dir() / "out.db"), before) << input << " changed the output";
    }
    std::tie(code, out) = distill("db merge fresh.db missing.db");
    EXPECT_EQ(code, 2) << out;
    EXPECT_FALSE(fs::exists(dir() / "fresh.db"));
}

// A shard killed mid-trial and run again ends with one completed run per
// trial in the merged database (the interrupted run continues, same uuid).
TEST_F(SweepTest, AShardKilledMidTrialAndRerunMergesToOneCompletedRunPerTrial) {
    write("exp.toml", experiment_toml("rerun", kGrid));
    const pid_t sweep = spawn({"sweep", "exp.toml", "--shard", "0/2", "--db", "shard0.db"}, dir() / "first.log");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    bool training = false;
    while (!training && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (!fs::exists(dir() / "shard0.db")) continue;
        try {
            training = count(dir() / "shard0.db", "SELECT count(*) FROM step_metrics") > 0;
        } catch (const std::exception&) {
        }
    }
    ASSERT_TRUE(training) << read_text(dir() / "first.log");
    ASSERT_EQ(kill(sweep, SIGKILL), 0);
    waitpid(sweep, nullptr, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the trial gets SIGHUP from its parent's death

    auto [code, out] = distill("db merge merged.db shard0.db");  // an early merge, mid-way
    ASSERT_EQ(code, 0) << out;
    std::tie(code, out) = distill("sweep exp.toml --shard 0/2 --db shard0.db");
    ASSERT_EQ(code, 0) << out;
    std::tie(code, out) = distill("sweep exp.toml --shard 1/2 --db shard1.db");
    ASSERT_EQ(code, 0) << out;
    std::tie(code, out) = distill("db merge merged.db shard0.db shard1.db");
    ASSERT_EQ(code, 0) << out;
    store::RunStore merged(dir() / "merged.db", store::OpenMode::kReadOnly);
    SQLite::Statement per_trial(merged.db(), "SELECT trial_index, count(*), sum(status = 'completed') FROM runs "
                                             "GROUP BY trial_index ORDER BY trial_index");
    int trials = 0;
    while (per_trial.executeStep()) {
        ++trials;
        EXPECT_EQ(per_trial.getColumn(2).getInt64(), 1) << "trial " << per_trial.getColumn(0).getInt64();
    }
    EXPECT_EQ(trials, 4);
    EXPECT_EQ(count(dir() / "merged.db", "SELECT count(*) FROM runs WHERE status = 'completed'"), 4);
}

// Each trial process sees one GPU; an inherited mask is respected. Testable
// without a GPU: every run records the CUDA_VISIBLE_DEVICES it was given.
TEST_F(SweepTest, GpusGiveEachTrialOneDeviceThroughCudaVisibleDevices) {
    write("exp.toml", experiment_toml("gpus", kGrid));
    const auto visible = [&](const std::string& db) {
        std::multiset<std::string> out;
        store::RunStore store(dir() / db, store::OpenMode::kReadOnly);
        SQLite::Statement select(store.db(),
                                 "SELECT value FROM run_params WHERE key = 'host.cuda_visible_devices' ORDER BY run_id");
        while (select.executeStep()) out.insert(select.getColumn(0).getString());
        return out;
    };
    auto [code, out] = distill("sweep exp.toml --jobs 4 --gpus 0,1 --db a.db");
    ASSERT_EQ(code, 0) << out;
    EXPECT_EQ(visible("a.db"), (std::multiset<std::string>{"0", "0", "1", "1"}));
    {
        const ScopedEnv env{{"CUDA_VISIBLE_DEVICES", "5,7"}};
        std::tie(code, out) = distill("sweep exp.toml --jobs 2 --gpus 1 --db b.db");
    }
    ASSERT_EQ(code, 0) << out;
    EXPECT_EQ(visible("b.db"), (std::multiset<std::string>{"7", "7", "7", "7"}));
    const ScopedEnv env{{"CUDA_VISIBLE_DEVICES", "5"}};
    std::tie(code, out) = distill("sweep exp.toml --gpus 0,3 --db c.db");
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("GPU 3 is not in CUDA_VISIBLE_DEVICES=5"), std::string::npos) << out;
}

TEST_F(SweepTest, EmitSlurmPrintsAnArrayAndADependentMerge) {
    write("exp.toml", experiment_toml("emit", kGrid));
    const auto [code, out] = distill("sweep exp.toml --emit slurm --shards 2 --array-parallelism 1 --partition gpu "
                                     "--gpus-per-task 1 --time 01:00:00 --db runs.db");
    ASSERT_EQ(code, 0) << out;
    for (const char* expected : {"#!/bin/bash", "--array=0-1%1", "--partition='gpu'", "--gpus-per-task=1",
                                 "--time='01:00:00'", "--dependency=afterany:${array}", "db merge",
                                 "--shard \"${SLURM_ARRAY_TASK_ID}/2\""})
        EXPECT_NE(out.find(expected), std::string::npos) << expected << "\n" << out;
    EXPECT_NE(out.find((dir() / "runs.shards").string()), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(db_path())) << "--emit runs nothing";
}

}  // namespace
}  // namespace distill::sweep_test
