// `distill sweep`: grid listing, parallel trials sharing one database, an
// invalid trial failing alone, and `sweep show` ranking.
#include "sweep_fixture.hpp"

#include <SQLiteCpp/Statement.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <thread>

namespace distill::sweep_test {
namespace {

TEST_F(SweepTest, DryRunListsTheGridInOrderAndRunsNothing) {
    write("exp.toml", experiment_toml("grid", "\"loss.if_l1.weight\" = [0.0, 0.05, 0.1]\n"
                                              "\"train.lr\" = [1e-3, 5e-4]\n"));
    const auto [code, out] = distill("sweep exp.toml --dry-run");
    ASSERT_EQ(code, 0) << out;
    // 3 x 2 = 6; the first key varies slowest; values print as TOML writes
    // them back (1e-3 -> 0.001).
    EXPECT_NE(out.find("6 trials over 2 swept keys\n"), std::string::npos) << out;
    const std::vector<std::string> expected{
        "  trial 0: loss.if_l1.weight=0.0, train.lr=0.001",  "  trial 1: loss.if_l1.weight=0.0, train.lr=0.0005",
        "  trial 2: loss.if_l1.weight=0.05, train.lr=0.001", "  trial 3: loss.if_l1.weight=0.05, train.lr=0.0005",
        "  trial 4: loss.if_l1.weight=0.1, train.lr=0.001",  "  trial 5: loss.if_l1.weight=0.1, train.lr=0.0005"};
    EXPECT_EQ(lines_with(out, "  trial "), expected) << out;
    EXPECT_EQ(out.find("invalid"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(db_path())) << "a dry run must not create the database";
}

TEST_F(SweepTest, UnknownSweptKeyExits2NamingItBeforeAnythingRuns) {
    write("exp.toml", experiment_toml("typo", "\"loss.if_l1.weight\" = [0.0, 0.1]\n\"train.lrr\" = [1e-3]\n"));
    for (const char* args : {"sweep exp.toml --dry-run", "sweep exp.toml"}) {
        const auto [code, out] = distill(args);
        EXPECT_EQ(code, 2) << args << ": " << out;
        EXPECT_NE(out.find("train.lrr"), std::string::npos) << args << ": " << out;
        EXPECT_EQ(out.find("started"), std::string::npos) << args << ": " << out;
    }
    EXPECT_FALSE(fs::exists(db_path())) << "nothing may be recorded for a sweep that cannot run";
    EXPECT_FALSE(fs::exists(dir() / "runs.runs"));
}

// Issue 19: `--dry-run` of a 10^9-trial grid printed nothing in 20 s while
// memory grew. Counted first, it is refused at once, naming the count.
TEST_F(SweepTest, AHugeGridIsRefusedNamingTheCount) {
    std::string values = "[";
    for (int i = 1; i <= 1000; ++i) values += (i > 1 ? ", " : "") + std::to_string(i) + "e-6";
    values += "]";
    write("exp.toml", experiment_toml("huge", "\"train.lr\" = " + values + "\n\"train.eps\" = " + values +
                                                  "\n\"train.eta_min\" = " + values + "\n"));
    for (const char* args : {"sweep exp.toml --dry-run", "sweep exp.toml --max-trials 500"}) {
        const auto [code, out] = distill(args);
        EXPECT_EQ(code, 2) << args << ": " << out;
        EXPECT_NE(out.find("1000000000 trials"), std::string::npos) << args << ": " << out;
        EXPECT_NE(out.find("--max-trials"), std::string::npos) << args << ": " << out;
    }
    EXPECT_FALSE(fs::exists(db_path()));
}

TEST_F(SweepTest, AnErrorEveryTrialSharesExits2BeforeAnythingRuns) {
    // A missing corpus folder is the file's fault, not a grid point's: it is
    // reported once, like `distill run` would, and no trial is recorded.
    write("exp.toml", experiment_toml("nodata", "\"loss.if_l1.weight\" = [0.0, 0.1]\n"));
    const auto [code, out] = distill("sweep exp.toml --set data.dir=does-not-exist");
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("data.dir"), std::string::npos) << out;
    EXPECT_EQ(out.find("started"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(db_path())) << "nothing may be recorded for a sweep that cannot run";
}

// Best val loss per trial straight from epoch_metrics (not the view the CLI
// reads), completed runs only.
std::map<int64_t, double> best_val_by_trial(const fs::path& db_path, int64_t sweep_id) {
    store::RunStore db(db_path, store::OpenMode::kReadOnly);
    SQLite::Statement select(db.db(),
                             "SELECT r.trial_index, min(e.val_loss) FROM runs r JOIN epoch_metrics e ON e.run_id = r.id "
                             "WHERE r.sweep_id = ?1 AND r.status = 'completed' GROUP BY r.id");
    select.bind(1, sweep_id);
    std::map<int64_t, double> best;
    while (select.executeStep()) best[select.getColumn(0).getInt64()] = select.getColumn(1).getDouble();
    return best;
}

TEST_F(SweepTest, ThreeJobsShareOneDatabaseAndEveryRowArrives) {
    write("exp.toml", experiment_toml("jobs", "\"loss.if_l1.weight\" = [0.0, 0.1]\n\"train.lr\" = [1e-3, 5e-4]\n"));
    const auto [code, out] = distill("sweep exp.toml --jobs 3");
    ASSERT_EQ(code, 0) << out;
    std::string everything = out;
    for (int i = 0; i < 4; ++i) everything += read_text(dir() / "runs.runs" / "sweep-1" / ("trial-" + std::to_string(i) + ".log"));
    EXPECT_EQ(everything.find("database is locked"), std::string::npos) << everything;
    // 2 x 2 grid; with 3 jobs the fourth trial waits for a slot.
    EXPECT_EQ(lines_with(out, " started: ").size(), 4u) << out;
    EXPECT_EQ(lines_with(out, "finished (exit 0)").size(), 4u) << out;

    store::RunStore db(db_path(), store::OpenMode::kReadOnly);
    SQLite::Statement sweeps(db.db(), "SELECT count(*), min(id), max(grid) FROM sweeps");
    ASSERT_TRUE(sweeps.executeStep());
    EXPECT_EQ(sweeps.getColumn(0).getInt64(), 1);
    EXPECT_EQ(sweeps.getColumn(1).getInt64(), 1);
    EXPECT_EQ(sweeps.getColumn(2).getString(), "{\"loss.if_l1.weight\": [0.0, 0.1], \"train.lr\": [0.001, 0.0005]}");

    const auto runs = sweep_runs(1);
    ASSERT_EQ(runs.size(), 4u);
    const char* weights[] = {"0.0", "0.0", "0.1", "0.1"};
    const char* lrs[] = {"0.001", "0.0005", "0.001", "0.0005"};
    for (size_t i = 0; i < runs.size(); ++i) {
        const auto& run = runs[i];
        SCOPED_TRACE("run " + std::to_string(run.id));
        EXPECT_EQ(run.sweep_id, 1);
        EXPECT_EQ(run.trial_index, static_cast<int64_t>(i));
        EXPECT_EQ(run.status, "completed");
        EXPECT_FALSE(run.error.has_value());
        EXPECT_EQ(db.count_rows("step_metrics", run.id), kEpochs * kStepsPerEpoch);
        EXPECT_EQ(db.count_rows("epoch_metrics", run.id), kEpochs);
        const auto epochs = db.epochs(run.id);
        for (int64_t e = 0; e < static_cast<int64_t>(epochs.size()); ++e) EXPECT_EQ(epochs[e].epoch, e);
        const auto steps = db.steps(run.id);
        for (size_t s = 0; s < steps.size(); ++s) {
            EXPECT_EQ(steps[s].epoch, static_cast<int64_t>(s) / kStepsPerEpoch);
            EXPECT_EQ(steps[s].step, static_cast<int64_t>(s) % kStepsPerEpoch);
        }
        std::map<std::string, std::string> params;
        for (const auto& [k, v] : db.params(run.id)) params[k] = v;
        EXPECT_EQ(params["sweep.loss.if_l1.weight"], weights[i]);
        EXPECT_EQ(params["sweep.train.lr"], lrs[i]);
        EXPECT_EQ(params["train.lr"], lrs[i]);
        // The CPU is split between the jobs: 3 at once on N cores.
        EXPECT_EQ(params["threads"], std::to_string(std::max(1u, std::thread::hardware_concurrency() / 3)));
    }
    // The summary has one completed line per trial.
    EXPECT_EQ(lines_with(out, " completed ").size(), 4u) << out;

    // sweep show: ranked by best val loss, lowest first, rank 1..4.
    const auto best = best_val_by_trial(db_path(), 1);
    ASSERT_EQ(best.size(), 4u);
    std::vector<std::pair<double, int64_t>> order;
    for (const auto& [trial, loss] : best) order.emplace_back(loss, trial);
    std::sort(order.begin(), order.end());
    const auto [show_code, shown] = distill("sweep show 1");
    ASSERT_EQ(show_code, 0) << shown;
    const auto rows = lines_with(shown, " completed ");
    ASSERT_EQ(rows.size(), 4u) << shown;
    for (size_t r = 0; r < rows.size(); ++r) {
        std::istringstream row(rows[r]);
        int64_t rank = 0, trial = 0, run = 0;
        std::string status;
        double loss = 0;
        row >> rank >> trial >> run >> status >> loss;
        EXPECT_EQ(rank, static_cast<int64_t>(r) + 1) << rows[r];
        EXPECT_EQ(trial, order[r].second) << shown;
        EXPECT_NEAR(loss, order[r].first, 1e-5 * order[r].first) << rows[r];  // printed with 6 digits
    }
}

TEST_F(SweepTest, InvalidTrialFailsAloneWithItsMessage) {
    write("exp.toml", experiment_toml("bad-lr", "\"train.lr\" = [1e-3, -1.0]\n"));
    const auto [code, out] = distill("sweep exp.toml");
    EXPECT_EQ(code, 1) << out;  // a trial did not complete: kExitRunFailed
    // The message names the file position of the bad value and the key.
    const auto invalid = lines_with(out, "trial 1 invalid: ");
    ASSERT_EQ(invalid.size(), 1u) << out;
    EXPECT_NE(invalid[0].find("exp.toml:"), std::string::npos) << invalid[0];
    EXPECT_NE(invalid[0].find("lr"), std::string::npos) << invalid[0];
    EXPECT_EQ(lines_with(out, " started: ").size(), 1u) << "only the valid trial runs: " << out;

    const auto runs = sweep_runs(1);
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0].trial_index, 0);
    EXPECT_EQ(runs[0].status, "completed");
    EXPECT_EQ(runs[1].trial_index, 1);
    EXPECT_EQ(runs[1].status, "failed");
    ASSERT_TRUE(runs[1].error.has_value());
    const std::string message = invalid[0].substr(invalid[0].find("invalid: ") + 9);
    EXPECT_EQ(*runs[1].error, message);
    // Summary: the failed trial's row and its error under it.
    EXPECT_EQ(lines_with(out, " failed ").size(), 1u) << out;
    EXPECT_EQ(lines_with(out, "      error: " + message).size(), 1u) << out;
    EXPECT_EQ(lines_with(out, " completed ").size(), 1u) << out;
}

}  // namespace
}  // namespace distill::sweep_test
