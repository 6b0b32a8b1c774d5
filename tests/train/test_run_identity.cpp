// Issue 12: a run's identity and files can never be mixed up. Each test is a
// way a run once produced a wrong result silently (see the list).
#include "session/run_session.hpp"
#include "store/sha256.hpp"
#include "train_fixture.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

namespace distill::train::testing {
namespace {

const char* kTrainKeys = "epochs = 4\ncheckpoint_every = 1\n";
const char* kLosses = "[[loss]]\nplugin = \"mag_l1\"\n[[loss]]\nplugin = \"kl\"\nweight = 0.01\n";

std::string read_file(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Starts `distill run` and sends SIGINT once epoch `epoch` has begun.
Finished interrupt_at(const fs::path& cwd, const std::vector<std::string>& args, int epoch, int epochs) {
    Child child(cwd, args);
    const std::string marker = "epoch " + std::to_string(epoch) + "/" + std::to_string(epochs) + " step 1/";
    if (!child.wait_for_output(marker, 120)) return child.wait();
    ::kill(child.pid(), SIGINT);
    return child.wait();
}

std::vector<int64_t> epoch_numbers(store::RunStore& db, int64_t run_id) {
    std::vector<int64_t> out;
    for (const auto& row : db.epochs(run_id)) out.push_back(row.epoch);
    return out;
}

std::vector<int64_t> range(int64_t n) {
    std::vector<int64_t> out;
    for (int64_t i = 0; i < n; ++i) out.push_back(i);
    return out;
}

// Seen 1: three databases in one folder all had a run 1; resuming c.db's run
// 1 loaded another database's checkpoint and finished with epochs missing.
TEST(RunIdentity, ThreeDatabasesInOneFolderNeverShareCheckpoints) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", kTrainKeys, kLosses);
    for (const char* db : {"a.db", "b.db"}) {
        const Finished f = run_distill(dir.path(), {"run", exp.string(), "--db", db, "--set", "train.epochs=4"});
        ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    }
    const Finished c = interrupt_at(dir.path(), {"run", exp.string(), "--db", "c.db"}, 2, 4);
    ASSERT_EQ(c.exit_code, 130) << c.out << c.err;

    // Each run has its own uuid and its own folder beside its database.
    std::set<std::string> uuids;
    std::set<fs::path> folders;
    for (const char* db : {"a.db", "b.db", "c.db"}) {
        store::RunStore store(dir / db, store::OpenMode::kReadOnly);
        uuids.insert(store.run(1).uuid);
        folders.insert(run_dir(dir / db, 1));
        EXPECT_EQ(run_dir(dir / db, 1).parent_path(), dir / (fs::path(db).stem().string() + ".runs"));
    }
    EXPECT_EQ(uuids.size(), 3u);
    EXPECT_EQ(folders.size(), 3u);

    const Finished resumed = run_distill(dir.path(), {"run", "--resume", "1", "--db", "c.db"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    store::RunStore store(dir / "c.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(epoch_numbers(store, 1), range(4)) << "epoch rows must be contiguous";
    EXPECT_NE(resumed.out.find(run_dir(dir / "c.db", 1).string()), std::string::npos) << resumed.out;
}

// The mix-up itself, made by hand: c.db's run 1 is told that a.db's run 1's
// checkpoint (same shapes) is its own. Its uuid says otherwise: refused, exit
// 2, and the run is left exactly as it was.
TEST(RunIdentity, ACheckpointOfAnotherRunIsRefused) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 2\ncheckpoint_every = 1\n", kLosses);
    const Finished a = interrupt_at(dir.path(), {"run", exp.string(), "--db", "a.db"}, 2, 2);
    ASSERT_EQ(a.exit_code, 130) << a.out << a.err;
    const Finished c = interrupt_at(dir.path(), {"run", exp.string(), "--db", "c.db"}, 2, 2);
    ASSERT_EQ(c.exit_code, 130) << c.out << c.err;

    fs::path foreign;
    {
        store::RunStore store_a(dir / "a.db", store::OpenMode::kReadOnly);
        const auto files = store_a.artifacts(1, "checkpoint");
        ASSERT_FALSE(files.empty());
        foreign = store_a.resolve(files.back().path);
    }
    store::RunStore store_c(dir / "c.db");
    const auto own = store_c.artifacts(1, "checkpoint");
    ASSERT_FALSE(own.empty());
    // Put a's file where c's newest checkpoint is.
    fs::copy_file(foreign, store_c.resolve(own.back().path), fs::copy_options::overwrite_existing);
    store_c.record_artifact(1, "checkpoint", store_c.resolve(own.back().path));
    const auto steps_before = store_c.steps(1).size();

    const Finished resumed = run_distill(dir.path(), {"run", "--resume", "1", "--db", "c.db"});
    EXPECT_EQ(resumed.exit_code, 2) << resumed.out << resumed.err;
    EXPECT_NE(resumed.err.find("belongs to run " + store::RunStore(dir / "a.db").run(1).uuid), std::string::npos)
        << resumed.err;
    EXPECT_EQ(store_c.run(1).status, "interrupted");
    EXPECT_EQ(store_c.steps(1).size(), steps_before);
}

// Seen 2 and 3: resume worked only from the original working directory, and
// it rebuilt the run from the file on disk (edited since) instead of what
// was recorded.
TEST(RunIdentity, ResumeFromAnotherFolderTrainsTheRecordedExperiment) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", kTrainKeys, kLosses);
    const std::string original = read_file(exp);

    const fs::path reference_dir = dir / "reference";
    fs::create_directories(reference_dir);
    const Finished reference = run_distill(reference_dir, {"run", exp.string(), "--db", "runs.db"});
    ASSERT_EQ(reference.exit_code, 0) << reference.out << reference.err;

    const fs::path start_dir = dir / "start";
    fs::create_directories(start_dir);
    const Finished b = interrupt_at(start_dir, {"run", exp.string(), "--db", "runs.db"}, 2, 4);
    ASSERT_EQ(b.exit_code, 130) << b.out << b.err;

    // Edit the file: another learning rate, another loss weight.
    std::string edited = original;
    edited.replace(edited.find("weight = 0.01"), 13, "weight = 0.5");
    edited.replace(edited.find("batch_size = 4"), 14, "batch_size = 4\nlr = 0.05");
    std::ofstream(exp) << edited;

    const fs::path elsewhere = dir / "elsewhere";
    fs::create_directories(elsewhere);
    const Finished resumed =
        run_distill(elsewhere, {"run", "--resume", "1", "--db", (start_dir / "runs.db").string()});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    EXPECT_NE(resumed.out.find("has changed since run 1 started"), std::string::npos) << resumed.out;
    // The feature cache (an absolute path) was found again: nothing decoded.
    EXPECT_NE(resumed.out.find(" 0 built"), std::string::npos) << resumed.out;

    store::RunStore a(reference_dir / "runs.db", store::OpenMode::kReadOnly);
    store::RunStore r(start_dir / "runs.db", store::OpenMode::kReadOnly);
    const auto rows_a = a.steps(1), rows_r = r.steps(1);
    ASSERT_EQ(rows_a.size(), rows_r.size());
    for (size_t i = 0; i < rows_a.size(); ++i) {
        EXPECT_EQ(rows_a[i].train_loss, rows_r[i].train_loss) << where(rows_a[i]);
        EXPECT_EQ(rows_a[i].learning_rate, rows_r[i].learning_rate) << where(rows_a[i]);
        EXPECT_EQ(rows_a[i].kl_weight, rows_r[i].kl_weight) << where(rows_a[i]);
    }
}

// Seen 4: every step NaN, fewer steps than max_non_finite_steps: the run
// "completed". Nothing was learned: it fails, naming the term.
TEST(RunIdentity, ARunWithoutOneOptimizerStepFailsNamingTheTerm) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 2\nmax_non_finite_steps = 100\n",
                                          "[[loss]]\nplugin = \"mag_l1\"\n[[loss]]\nname = \"broken\"\n"
                                          "plugin = \"scripted\"\nweight = 10.0\nper_epoch = [1e308]\n");
    const Finished f = run_with_test_plugins(dir.path(), exp);
    EXPECT_EQ(f.exit_code, 1) << f.out << f.err;
    EXPECT_NE(f.out.find("warning: non-finite total loss at epoch 1 step 1 (broken = inf)"), std::string::npos) << f.out;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    const auto run = db.run(1);
    EXPECT_EQ(run.status, "failed");
    ASSERT_TRUE(run.error.has_value());
    EXPECT_NE(run.error->find("broken"), std::string::npos) << *run.error;
    const auto events = db.events(1, "non_finite");
    ASSERT_FALSE(events.empty());
    bool named = false;
    for (const auto& e : events) named = named || e.message.find("broken = inf") != std::string::npos;
    EXPECT_TRUE(named) << events.front().message;
}

// Seen 6: after kill -9 the run stayed `running` and --resume refused.
TEST(RunIdentity, ResumeRightAfterKillNineContinues) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", kTrainKeys, kLosses);
    Child child(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    ASSERT_TRUE(child.wait_for_output("epoch 3/4 step 1/", 120)) << child.stdout_text();
    ::kill(child.pid(), SIGKILL);
    child.wait();
    ASSERT_EQ(store::RunStore(dir / "runs.db").run(1).status, "running");

    const Finished resumed = run_distill(dir.path(), {"run", "--resume", "1", "--db", "runs.db"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(db.run(1).status, "completed");
    EXPECT_EQ(epoch_numbers(db, 1), range(4));
    EXPECT_EQ(static_cast<int64_t>(db.steps(1).size()), 4 * kStepsPerEpoch);
}

// Seen 6: a second Ctrl-C left the run `running`.
TEST(RunIdentity, TwoQuickInterruptsLeaveTheRunInterrupted) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", kTrainKeys, kLosses);
    Child child(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    ASSERT_TRUE(child.wait_for_output("epoch 2/4 step 1/", 120)) << child.stdout_text();
    ::kill(child.pid(), SIGINT);
    ::kill(child.pid(), SIGINT);
    const Finished f = child.wait();
    EXPECT_EQ(f.exit_code, 130) << f.out << f.err;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(db.run(1).status, "interrupted") << f.out << f.err;
    const Finished resumed = run_distill(dir.path(), {"run", "--resume", "1", "--db", "runs.db"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    EXPECT_EQ(epoch_numbers(db, 1), range(4));
}

// A sweep's trial gets SIGHUP when the sweep dies, once per thread of the
// dying sweep: repeats of SIGHUP are one graceful stop (checkpoint,
// `interrupted`), never the forced exit of a second Ctrl-C.
TEST(RunIdentity, RepeatedHangupsStopGracefullyWithACheckpoint) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", kTrainKeys, kLosses);
    Child child(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    ASSERT_TRUE(child.wait_for_output("epoch 2/4 step 1/", 120)) << child.stdout_text();
    for (int i = 0; i < 3; ++i) ::kill(child.pid(), SIGHUP);
    const Finished f = child.wait();
    EXPECT_EQ(f.exit_code, 128 + SIGHUP) << f.out << f.err;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(db.run(1).status, "interrupted");
    EXPECT_FALSE(db.artifacts(1, "checkpoint").empty()) << f.out << f.err;
    EXPECT_EQ(f.err.find("stopped at once"), std::string::npos) << f.err;
}

// Seen 7: a checkpoint was written before its epoch's rows committed; resume
// continued from it and the epoch's rows never came back.
TEST(RunIdentity, ACheckpointAheadOfItsRowsIsNotUsed) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 4\ncheckpoint_every = 1\nkeep_checkpoints = 2\n",
                                          kLosses);
    const Finished b = interrupt_at(dir.path(), {"run", exp.string(), "--db", "runs.db"}, 3, 4);
    ASSERT_EQ(b.exit_code, 130) << b.out << b.err;
    {
        // Lose the last row before the newest checkpoint's position (but
        // after the older one's), as a killed process with a busy database did.
        store::RunStore db(dir / "runs.db");
        const auto files = db.artifacts(1, "checkpoint");
        ASSERT_EQ(files.size(), 2u);
        int64_t epoch = 0, step = 0;
        ASSERT_TRUE(parse_checkpoint_name(fs::path(files.back().path).filename().string(), epoch, step));
        ASSERT_GE(epoch, 1);
        SQLite::Statement del(db.db(), step > 0 ? "DELETE FROM step_metrics WHERE run_id = 1 AND epoch = ?1 AND step = ?2"
                                                : "DELETE FROM epoch_metrics WHERE run_id = 1 AND epoch = ?1 - 1");
        del.bind(1, epoch);
        if (step > 0) del.bind(2, step - 1);
        ASSERT_EQ(del.exec(), 1);
    }
    const Finished resumed = run_distill(dir.path(), {"run", "--resume", "1", "--db", "runs.db"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    EXPECT_NE(resumed.out.find("is ahead of the database"), std::string::npos) << resumed.out;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(epoch_numbers(db, 1), range(4));
    EXPECT_EQ(static_cast<int64_t>(db.steps(1).size()), 4 * kStepsPerEpoch);
}

// Seen 9: --resume with a mistyped --db created an empty database.
TEST(RunIdentity, ResumeWithAMissingDatabaseCreatesNothing) {
    TempDir dir;
    const Finished f = run_distill(dir.path(), {"run", "--resume", "1", "--db", "mistyped.db"});
    EXPECT_EQ(f.exit_code, 2) << f.out << f.err;
    EXPECT_NE(f.err.find("mistyped.db"), std::string::npos) << f.err;
    EXPECT_FALSE(fs::exists(dir / "mistyped.db"));
}

// Seen 9: a read-only database failed only after preprocessing, exit 1, no
// file name. Run as `nobody` so the test means the same under root.
TEST(RunIdentity, AReadOnlyDatabaseIsRefusedBeforeDataLoads) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 1\n", kLosses);
    {
        store::RunStore create(dir / "runs.db");  // exists, with the schema
    }
    ::chmod(dir.path().c_str(), 0777);  // only the file itself is read-only
    ::chmod((dir / "runs.db").c_str(), 0444);
    const int uid = ::geteuid() == 0 ? nobody_uid() : -1;
    const Finished f = Child(dir.path(), {"run", exp.string(), "--db", "runs.db"}, uid).wait();
    // 127: execv failed, i.e. `nobody` cannot reach the binary (a checkout
    // under a private folder, such as a mktemp -d clone): nothing to test here.
    if (uid >= 0 && f.exit_code == 127)
        GTEST_SKIP() << "user nobody cannot execute " << DISTILL_BINARY << " (a parent folder is not searchable)";
    EXPECT_EQ(f.exit_code, 2) << f.out << f.err;
    EXPECT_NE(f.err.find("runs.db"), std::string::npos) << f.err;
    EXPECT_EQ(f.out.find("preprocessing"), std::string::npos) << "refused before any data is loaded: " << f.out;
    EXPECT_FALSE(fs::exists(dir / "cache")) << "refused before any data is loaded";
}

// Seen 8 and 10: a completed run keeps best.pt and last.pt (weights only), no
// step checkpoints, each recorded with its size and hash; its disk use is printed.
TEST(RunIdentity, ACompletedRunKeepsBestAndLastOnly) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 3\ncheckpoint_every = 1\n", kLosses);
    const Finished f = run_distill(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    const fs::path folder = run_dir(dir / "runs.db", 1);
    std::set<std::string> names;
    int64_t bytes = 0;
    for (const auto& entry : fs::directory_iterator(folder)) {
        names.insert(entry.path().filename().string());
        bytes += static_cast<int64_t>(entry.file_size());
    }
    EXPECT_EQ(names, (std::set<std::string>{"best.pt", "last.pt"}));
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    const auto artifacts = db.artifacts(1);
    ASSERT_EQ(artifacts.size(), 2u);
    for (const auto& a : artifacts) {
        const fs::path file = db.resolve(a.path);
        EXPECT_TRUE(fs::path(a.path).is_relative()) << a.path;
        ASSERT_TRUE(fs::exists(file)) << a.path;
        EXPECT_EQ(a.bytes, static_cast<int64_t>(fs::file_size(file))) << a.path;
        EXPECT_EQ(a.sha256, store::sha256_file(file)) << a.path;
    }
    EXPECT_NE(f.out.find("files: "), std::string::npos) << f.out;
    EXPECT_NE(f.out.find(folder.string()), std::string::npos) << f.out;
    (void)bytes;

    const Finished show = run_distill(dir.path(), {"runs", "show", "1", "--db", "runs.db"});
    ASSERT_EQ(show.exit_code, 0) << show.out << show.err;
    EXPECT_NE(show.out.find(db.run(1).uuid), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("best.pt"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("last.pt"), std::string::npos) << show.out;
}

// `runs gc`: the files of failed runs and of runs whose rows are gone go;
// everything else stays.
TEST(RunIdentity, GcRemovesFilesOfFailedAndForgottenRuns) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 1\n", kLosses);
    for (int i = 0; i < 3; ++i) {
        const Finished f = run_distill(dir.path(), {"run", exp.string(), "--db", "runs.db"});
        ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    }
    const fs::path kept = run_dir(dir / "runs.db", 1), failed = run_dir(dir / "runs.db", 2),
                   forgotten = run_dir(dir / "runs.db", 3);
    {
        store::RunStore db(dir / "runs.db");
        db.db().exec("UPDATE runs SET status = 'failed' WHERE id = 2");
        db.db().exec("DELETE FROM runs WHERE id = 3");
    }
    const Finished gc = run_distill(dir.path(), {"runs", "gc", "--db", "runs.db"});
    ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;
    EXPECT_TRUE(fs::exists(kept / "best.pt"));
    EXPECT_FALSE(fs::exists(failed));
    EXPECT_FALSE(fs::exists(forgotten));
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_TRUE(db.artifacts(2).empty());
    EXPECT_EQ(db.artifacts(1).size(), 2u);
}

// The run path without a subprocess: what the CLI calls.
TEST(RunSession, RunsInProcessAndReportsItsFiles) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 2\n", kLosses);
    host::PluginRegistry registry;
    registry.load_all(host::PluginRegistry::search_path({DISTILL_PLUGIN_DIR}));
    struct Collect final : session::SessionListener {
        int steps = 0, epochs = 0;
        void step_done(const StepReport&) override { ++steps; }
        void epoch_done(const EpochReport&) override { ++epochs; }
    } listener;
    session::RunRequest request;
    request.db_path = dir / "runs.db";
    request.experiment_file = exp;
    const session::RunResult result = session::run_experiment(request, registry, listener, nullptr);
    EXPECT_EQ(result.status, "completed");
    EXPECT_EQ(listener.steps, 2 * kStepsPerEpoch);
    EXPECT_EQ(listener.epochs, 2);
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(result.uuid, db.run(result.run_id).uuid);
    EXPECT_EQ(result.run_dir, db.files_root() / result.uuid);
    int64_t bytes = 0;
    for (const auto& entry : fs::directory_iterator(result.run_dir)) bytes += static_cast<int64_t>(entry.file_size());
    EXPECT_EQ(result.bytes_on_disk, bytes);

    // Resuming a completed run is refused as bad input, and changes nothing.
    session::RunRequest resume;
    resume.db_path = dir / "runs.db";
    resume.resume_run = result.run_id;
    EXPECT_THROW(session::run_experiment(resume, registry, listener, nullptr), session::BadInput);
    EXPECT_EQ(db.run(result.run_id).status, "completed");
}

}  // namespace
}  // namespace distill::train::testing
