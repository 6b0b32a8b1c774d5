// Several processes on one database: SIGKILL mid-write, 8 concurrent writers,
// runs left `running` by dead processes.
#include "store/metrics_writer.hpp"
#include "store/run_store.hpp"
#include "store_test_util.hpp"

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include <csignal>
#include <iostream>
#include <sys/wait.h>
#include <unistd.h>

namespace distill::store {
namespace {

using test::TempDir;

bool read_exact(int fd, void* buf, size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
        const ssize_t got = ::read(fd, p, n);
        if (got <= 0) return false;
        p += got;
        n -= static_cast<size_t>(got);
    }
    return true;
}

std::string integrity(RunStore& store) { return store.db().execAndGet("PRAGMA integrity_check").getString(); }

TEST(StoreProcesses, SigkillMidWriteKeepsEveryCommittedRow) {
    TempDir dir;
    const auto path = dir / "runs.db";
    int64_t run = 0;
    {
        RunStore store(path);
        run = test::make_run(store);
    }
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(fds[0]);
        try {
            RunStore store(path);
            // Small batches so the writer thread is inside a transaction most
            // of the time when the kill lands.
            MetricsWriter writer(store, run, WriterOptions{64, std::chrono::milliseconds(5)});
            for (int64_t i = 0;; ++i) {
                StepMetrics m;
                m.epoch = i / 1000;
                m.step = i % 1000;
                m.train_loss = static_cast<double>(i);
                writer.write_step(m);
                if ((i + 1) % 500 == 0) {
                    writer.flush();
                    const int64_t committed = i + 1;
                    if (::write(fds[1], &committed, sizeof committed) != sizeof committed) ::_exit(4);
                }
            }
        } catch (const std::exception& e) {
            std::cerr << "child: " << e.what() << "\n";
            ::_exit(3);
        }
    }
    ::close(fds[1]);
    int64_t last_flushed = 0;
    // Let it get 8 flushes in (4000 rows), then kill it while it keeps writing.
    for (int i = 0; i < 8; ++i) ASSERT_TRUE(read_exact(fds[0], &last_flushed, sizeof last_flushed)) << "child died early";
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    EXPECT_EQ(last_flushed, 4000);

    RunStore store(path);
    EXPECT_EQ(integrity(store), "ok");
    // Every row flushed before the kill is there, and what is there is a
    // gapless prefix 0..n-1 of what was written (batches are atomic).
    SQLite::Statement select(store.db(), "SELECT train_loss FROM step_metrics WHERE run_id = ?1 ORDER BY rowid");
    select.bind(1, run);
    int64_t n = 0;
    while (select.executeStep()) {
        ASSERT_EQ(select.getColumn(0).getDouble(), static_cast<double>(n));
        ++n;
    }
    EXPECT_GE(n, last_flushed);
}

// One child of the concurrency test: its own connection, experiment, run and
// writer. Returns the exit status (0 = every call succeeded).
int concurrent_child(const std::filesystem::path& path, int start_fd, int index) {
    char go = 0;
    if (!read_exact(start_fd, &go, 1)) return 5;
    try {
        RunStore store(path);  // all 8 race to create the schema
        const int64_t exp = store.record_experiment("shared", "name = \"shared\"\n");
        RunInfo info;
        info.experiment_id = exp;
        info.trial_index = index;
        info.seed = index;
        info.device = "cpu";
        info.host_version = "test";
        const int64_t run = store.create_run(info);
        store.record_params(run, {{"trial", std::to_string(index)}});
        // Tiny batches: many more transactions fighting for the lock.
        MetricsWriter writer(store, run, WriterOptions{16, std::chrono::milliseconds(2)});
        for (int64_t e = 0; e < 5; ++e) {
            for (int64_t s = 0; s < 100; ++s) writer.write_step({e, s, 100, 1, 1, 1, 1, 1, 1, 1, 1, 1});
            writer.write_epoch({e, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
            writer.write_event({e, -1, "checkpoint", "epoch " + std::to_string(e), ""});
        }
        writer.close();
        store.finish_run(run, "completed");
    } catch (const std::exception& e) {
        std::cerr << "writer " << index << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}

TEST(StoreProcesses, EightWritersLoseNothingAndNeverSeeLocked) {
    constexpr int kWriters = 8;
    TempDir dir;
    const auto path = dir / "runs.db";  // does not exist yet: creation races too
    int start[2];
    ASSERT_EQ(::pipe(start), 0);
    std::vector<pid_t> children;
    for (int i = 0; i < kWriters; ++i) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            ::close(start[1]);
            ::_exit(concurrent_child(path, start[0], i));
        }
        children.push_back(child);
    }
    ::close(start[0]);
    const std::string go(kWriters, 'g');  // release all at once
    ASSERT_EQ(::write(start[1], go.data(), go.size()), static_cast<ssize_t>(go.size()));
    ::close(start[1]);
    for (pid_t child : children) {
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer exited with status " << status;
    }

    RunStore store(path);
    EXPECT_EQ(integrity(store), "ok");
    EXPECT_EQ(store.db().execAndGet("SELECT count(*) FROM experiments").getInt(), 1) << "same TOML, one row";
    EXPECT_EQ(store.db().execAndGet("SELECT count(*) FROM runs WHERE status = 'completed'").getInt(), kWriters);
    SQLite::Statement runs(store.db(), "SELECT id FROM runs");
    while (runs.executeStep()) {
        const int64_t run = runs.getColumn(0).getInt64();
        EXPECT_EQ(store.count_rows("step_metrics", run), 500) << "run " << run;  // 5 epochs x 100 steps
        EXPECT_EQ(store.count_rows("epoch_metrics", run), 5) << "run " << run;
        EXPECT_EQ(store.count_rows("events", run), 5) << "run " << run;
        EXPECT_EQ(store.count_rows("run_params", run), 1) << "run " << run;
    }
}

TEST(StoreProcesses, RunLeftRunningByDeadProcessIsMarkedInterrupted) {
    TempDir dir;
    const auto path = dir / "runs.db";
    { RunStore store(path); }
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        try {
            RunStore store(path);
            test::make_run(store, "killed");
        } catch (...) {
            ::_exit(1);
        }
        ::_exit(0);  // no finish_run: as if killed
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: its pid no longer exists
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    RunStore store(path);
    // Two runs "from another host": one with a stale heartbeat, one fresh.
    const int64_t remote_stale = test::make_run(store, "remote");
    const int64_t remote_fresh = test::make_run(store, "remote");
    store.db().exec("UPDATE runs SET hostname = 'elsewhere.invalid' WHERE id IN (" + std::to_string(remote_stale) +
                    "," + std::to_string(remote_fresh) + ")");
    store.db().exec("UPDATE runs SET heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour') WHERE id = " +
                    std::to_string(remote_stale));
    // Starting a new run sweeps up the dead ones (run 1 was the child's).
    const int64_t mine = test::make_run(store, "next");
    EXPECT_EQ(store.run(1).status, "interrupted");
    EXPECT_TRUE(store.run(1).ended_at.has_value());
    EXPECT_EQ(store.events(1, "interrupted").size(), 1u);
    EXPECT_EQ(store.run(remote_stale).status, "interrupted");
    EXPECT_EQ(store.run(remote_fresh).status, "running");
    EXPECT_EQ(store.run(mine).status, "running");
    EXPECT_EQ(store.mark_stale_runs_interrupted(), 0) << "nothing left to mark; our own run is alive";
}

}  // namespace
}  // namespace distill::store
