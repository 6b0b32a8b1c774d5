// Killing a sweep mid-way and resuming it: every trial ends with exactly one
// completed run, and completed trials are not run again.
#include "sweep_fixture.hpp"

#include <SQLiteCpp/Statement.h>

#include <cerrno>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <tuple>

namespace distill::sweep_test {
namespace {

using Clock = std::chrono::steady_clock;

struct Snapshot {
    int64_t completed = 0;
    int64_t running_pid = 0;  // a run of a not-yet-completed trial, in progress
};

Snapshot snapshot(const fs::path& db_path) {
    Snapshot s;
    if (!fs::exists(db_path)) return s;
    try {
        store::RunStore db(db_path, store::OpenMode::kReadOnly);
        SQLite::Statement done(db.db(), "SELECT count(*) FROM runs WHERE status = 'completed'");
        if (done.executeStep()) s.completed = done.getColumn(0).getInt64();
        SQLite::Statement running(db.db(), "SELECT pid FROM runs WHERE status = 'running' ORDER BY id DESC LIMIT 1");
        if (running.executeStep()) s.running_pid = running.getColumn(0).getInt64();
    } catch (const std::exception&) {
        // The sweep may be creating the file right now; look again.
    }
    return s;
}

bool process_gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

TEST_F(SweepTest, KilledSweepResumesToExactlyOneCompletedRunPerTrial) {
    write("exp.toml", experiment_toml("resume", "\"loss.if_l1.weight\" = [0.0, 0.05, 0.1]\n"));
    const pid_t sweep = spawn({"sweep", "exp.toml", "--jobs", "1"}, dir() / "first.log");
    ASSERT_GT(sweep, 0);

    // Kill once a trial has completed and the next one is training.
    Snapshot s;
    const auto deadline = Clock::now() + std::chrono::seconds(90);
    while (Clock::now() < deadline) {
        s = snapshot(db_path());
        if (s.completed >= 1 && s.running_pid > 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(s.completed >= 1 && s.running_pid > 0) << read_text(dir() / "first.log");
    ASSERT_EQ(kill(sweep, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(sweep, &status, 0), sweep);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    // The trial process dies with its parent (PR_SET_PDEATHSIG), so nothing
    // keeps writing behind the resume.
    const auto gone_by = Clock::now() + std::chrono::seconds(30);
    while (!process_gone(static_cast<pid_t>(s.running_pid)) && Clock::now() < gone_by)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(process_gone(static_cast<pid_t>(s.running_pid))) << "trial pid " << s.running_pid << " outlived the sweep";
    const int64_t completed_before = snapshot(db_path()).completed;
    ASSERT_GE(completed_before, 1);
    ASSERT_LT(completed_before, 3) << "the kill came too late to test anything";
    const auto before = sweep_runs(1);
    const size_t runs_before = before.size();
    // The trial in progress got SIGHUP from its dying parent, checkpointed
    // and ended interrupted: it continues as the same run (same uuid).
    std::vector<store::RunRecord> interrupted;
    for (const auto& run : before)
        if (run.status == "interrupted") interrupted.push_back(run);
    ASSERT_EQ(interrupted.size(), 1u) << read_text(dir() / "first.log");

    // No file: the sweep's text and --set list are in the database.
    const auto [code, out] = distill("sweep --resume 1");
    ASSERT_EQ(code, 0) << out;
    EXPECT_NE(out.find("sweep 1: " + std::to_string(3 - completed_before) + " of 3 trials to run"), std::string::npos)
        << out;
    EXPECT_NE(out.find("trial " + std::to_string(*interrupted[0].trial_index) + " continues run " +
                       std::to_string(interrupted[0].id)),
              std::string::npos)
        << out;

    const auto runs = sweep_runs(1);
    int64_t completed[3] = {0, 0, 0};
    for (const auto& run : runs) {
        ASSERT_TRUE(run.trial_index.has_value());
        ASSERT_GE(*run.trial_index, 0);
        ASSERT_LT(*run.trial_index, 3);
        if (run.status == "completed") ++completed[*run.trial_index];
        // The killed trial's run is left interrupted, never `running`.
        EXPECT_NE(run.status, "running") << "run " << run.id;
    }
    for (int t = 0; t < 3; ++t) EXPECT_EQ(completed[t], 1) << "trial " << t;
    // The resume adds one run per trial not completed before, except the
    // interrupted one, which is continued.
    EXPECT_EQ(runs.size(), runs_before + static_cast<size_t>(3 - completed_before) - 1);
    const auto continued = store::RunStore(db_path(), store::OpenMode::kReadOnly).run(interrupted[0].id);
    EXPECT_EQ(continued.status, "completed");
    EXPECT_EQ(continued.uuid, interrupted[0].uuid);

    // The same file again continues sweep 1 with nothing left to do.
    const auto [again_code, again] = distill("sweep exp.toml");
    EXPECT_EQ(again_code, 0) << again;
    EXPECT_NE(again.find("continuing sweep 1"), std::string::npos) << again;
    EXPECT_NE(again.find("sweep 1: 0 of 3 trials to run"), std::string::npos) << again;
    EXPECT_EQ(sweep_runs(1).size(), runs.size());
    EXPECT_EQ(lines_with(again, " completed ").size(), 3u) << again;
}

TEST_F(SweepTest, ResumingAnUnknownSweepIsAnError) {
    write("exp.toml", experiment_toml("resume", "\"loss.if_l1.weight\" = [0.0, 0.1]\n"));
    const auto [code, out] = distill("sweep exp.toml --resume 7");
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("sweep 7 does not exist"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(db_path())) << "bad input leaves no database behind";
}

TEST_F(SweepTest, ResumingASweepOfAnotherGridIsAnError) {
    write("a.toml", experiment_toml("a", "\"train.lr\" = [-1.0, -2.0]\n"));
    write("b.toml", experiment_toml("b", "\"train.lr\" = [1e-3, 5e-4]\n"));
    // Sweep 1 over a.toml's grid, recorded without running anything worth
    // the time: both its trials are invalid, each with its own message (an
    // error shared by every trial would be the file's fault: exit 2, no sweep).
    auto [code, out] = distill("sweep a.toml");
    ASSERT_EQ(code, 1) << out;
    std::tie(code, out) = distill("sweep b.toml --resume 1");
    EXPECT_EQ(code, 2) << out;
    // Trial indices of another grid mean other values: refuse, naming both.
    EXPECT_NE(out.find("sweep 1"), std::string::npos) << out;
    EXPECT_NE(out.find("train.lr"), std::string::npos) << out;
    EXPECT_EQ(sweep_runs(1).size(), 2u) << out;
}

}  // namespace
}  // namespace distill::sweep_test
