// `distill report`, `runs diff`, `runs list --sort/--where` and `sweep show
// --rank-by` through the built binary: default paths, artifacts, exit
// status 2 with a message naming what was wrong.
#include "report_test_util.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

namespace distill::report_test {
namespace {

using test_support::Finished;
using test_support::run_distill;

// The first token of every line that starts with a digit (ids, ranks).
std::vector<std::vector<std::string>> data_lines(const std::string& out) {
    std::vector<std::vector<std::string>> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
        std::istringstream words(line);
        std::vector<std::string> tokens;
        for (std::string w; words >> w;) tokens.push_back(w);
        lines.push_back(tokens);
    }
    return lines;
}

std::vector<std::string> column(const std::vector<std::vector<std::string>>& lines, size_t i) {
    std::vector<std::string> out;
    for (const auto& l : lines) out.push_back(l.at(i));
    return out;
}

class ReportCli : public ::testing::Test {
protected:
    Finished distill(const std::vector<std::string>& args) {
        std::vector<std::string> full = args;
        full.insert(full.end(), {"--db", "runs.db"});
        return run_distill(dir.path(), full);
    }
    TempDir dir;
};

TEST_F(ReportCli, RunsDiffOfTwoRealRunsShowsExactlyTheChangedKey) {
    test_support::write_corpus(dir / "corpus");
    // The same file, one key changed between the runs (no --set, which
    // would itself be a recorded difference).
    const fs::path exp = write_tiny_experiment(dir.path(), "exp.toml", 1, "1e-3");
    Finished f = run_distill(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    write_tiny_experiment(dir.path(), "exp.toml", 1, "2e-3");
    f = run_distill(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;

    f = distill({"runs", "diff", "1", "2", "--format", "json"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    const auto rows = nlohmann::json::parse(f.out);
    std::vector<std::string> params, plugins;
    int metrics = 0;
    for (const auto& row : rows) {
        if (row["section"] == "param") params.push_back(row["key"]);
        if (row["section"] == "plugin") plugins.push_back(row["key"]);
        if (row["section"] == "metric") {
            ++metrics;
            EXPECT_TRUE(row.contains("run_1") && row.contains("run_2")) << row;
        }
    }
    EXPECT_EQ(params, std::vector<std::string>{"train.lr"}) << f.out;
    EXPECT_TRUE(plugins.empty()) << f.out;
    EXPECT_GT(metrics, 10) << f.out;  // final and best metrics side by side

    f = distill({"runs", "diff", "1", "2", "--format", "csv"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_EQ(f.out.rfind("section,key,run_1,run_2\n", 0), 0u) << f.out;
    f = distill({"runs", "diff", "1", "2"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_NE(f.out.find("param    train.lr"), std::string::npos) << f.out;

    f = distill({"runs", "diff", "1", "9"});
    EXPECT_EQ(f.exit_code, 2);
    EXPECT_NE(f.err.find("no run 9"), std::string::npos) << f.err;
    f = distill({"runs", "diff", "1"});
    EXPECT_EQ(f.exit_code, 2);
    EXPECT_NE(f.err.find("which two runs"), std::string::npos) << f.err;
}

TEST_F(ReportCli, RenderFirstAddsTheRunsValidationReconstructionsAndSamples) {
    test_support::write_corpus(dir / "corpus");
    const fs::path exp = write_tiny_experiment(dir.path(), "exp.toml", 1);
    Finished f = run_distill(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;

    f = distill({"report", "1", "--render", "-o", "heard.html"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    const auto data = nlohmann::json::parse(data_section(test_support::read_file(dir / "heard.html")));
    // The corpus's split holds 2 validation files: both reconstructed, plus 2 samples.
    const auto& audio = data["runs"][0]["audio"];
    ASSERT_EQ(audio.size(), 4u) << audio;
    int reconstructions = 0, samples = 0;
    for (const auto& entry : audio) {
        const std::string path = entry["path"];
        EXPECT_EQ(entry["src"].get<std::string>().rfind("data:audio/wav;base64,", 0), 0u) << path;
        reconstructions += path.find("sample") == std::string::npos;
        samples += path.find("sample") != std::string::npos;
    }
    EXPECT_EQ(reconstructions, 2) << audio;
    EXPECT_EQ(samples, 2) << audio;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(db.artifacts(1, "audio").size(), 4u);
}

TEST_F(ReportCli, RenderOfARunWithoutCheckpointsWarnsAndStillWritesThePage) {
    {
        store::RunStore db(dir / "runs.db");
        seed_run(db, {});  // rows only: no best.pt to render from
    }
    const Finished f = distill({"report", "1", "--render", "-o", "silent.html"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    EXPECT_NE(f.err.find("run 1 not rendered"), std::string::npos) << f.err;
    const auto data = nlohmann::json::parse(data_section(test_support::read_file(dir / "silent.html")));
    EXPECT_TRUE(data["runs"][0]["audio"].empty());
}

TEST_F(ReportCli, DefaultOutputIsTheRunsFolderAndIsRecorded) {
    {
        store::RunStore db(dir / "runs.db");
        seed_run(db, {});
        seed_sweep(db);
    }
    Finished f = distill({"report", "1"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    const fs::path expected = db.files_root() / db.run(1).uuid / "report.html";
    EXPECT_EQ(f.out, expected.string() + "\n");
    ASSERT_TRUE(fs::is_regular_file(expected));
    // Written twice: still one artifact row for the one file.
    f = distill({"report", "1"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    const auto artifacts = db.artifacts(1, "report");
    ASSERT_EQ(artifacts.size(), 1u);
    EXPECT_EQ(db.resolve(artifacts[0].path), expected);
    EXPECT_EQ(artifacts[0].bytes, static_cast<int64_t>(fs::file_size(expected)));

    f = distill({"report", "--sweep", "1"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    EXPECT_EQ(f.out, (db.files_root() / "sweep-1" / "report.html").string() + "\n");
    // A sweep's page is no single run's file.
    for (int64_t run = 2; run <= 5; ++run) EXPECT_TRUE(db.artifacts(run, "report").empty()) << run;

    f = distill({"report", "1", "2", "-o", "both.html"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    EXPECT_TRUE(fs::is_regular_file(dir / "both.html"));
    const auto data = nlohmann::json::parse(data_section(test_support::read_file(dir / "both.html")));
    EXPECT_EQ(data["runs"].size(), 2u);
}

TEST_F(ReportCli, BadInputExits2WithAClearMessage) {
    Finished f = distill({"report", "1"});
    EXPECT_EQ(f.exit_code, 2);
    EXPECT_NE(f.err.find("runs.db"), std::string::npos) << f.err;  // no database yet
    {
        store::RunStore db(dir / "runs.db");
        seed_run(db, {});
    }
    const struct {
        std::vector<std::string> args;
        std::string message;
    } cases[] = {
        {{"report", "99"}, "no run 99"},
        {{"report", "1", "99"}, "no run 99"},
        {{"report", "--sweep", "5"}, "no sweep 5"},
        {{"report", "1", "-o", "missing/dir/r.html"}, "folder missing/dir does not exist"},
        {{"report", "1", "--rank-by", "nope"}, "unknown metric 'nope'"},
        {{"report"}, "give run ids or --sweep ID"},
        {{"report", "1", "--sweep", "1"}, "give run ids or --sweep ID"},
        {{"report", "1", "--format", "x"}, "unrecognised option"},
    };
    for (const auto& c : cases) {
        f = distill(c.args);
        EXPECT_EQ(f.exit_code, 2) << c.args.back() << ": " << f.out << f.err;
        EXPECT_NE(f.err.find(c.message), std::string::npos) << c.message << " in: " << f.err;
    }
    EXPECT_FALSE(fs::exists(dir / "missing"));
}

TEST_F(ReportCli, RunWithoutEpochRowsIsReportedAndSaysSo) {
    {
        store::RunStore db(dir / "runs.db");
        SeededRun spec;
        spec.epochs = 0;
        spec.partial_steps = 2;
        spec.finish = false;  // still running, mid first epoch
        seed_run(db, spec);
    }
    const Finished f = distill({"report", "1", "-o", "r.html"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    EXPECT_NE(f.err.find("run 1 has no epoch rows yet (status running)"), std::string::npos) << f.err;
    const std::string html = test_support::read_file(dir / "r.html");
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_NE(html.find("</html>"), std::string::npos);
    EXPECT_NE(html.find("has no epoch rows yet"), std::string::npos);
}

TEST_F(ReportCli, RunsListSortsAndFiltersReadOnly) {
    {
        store::RunStore db(dir / "runs.db");
        for (double base : {3.0, 1.0, 2.0}) {
            SeededRun spec;
            spec.val_base = base;
            seed_run(db, spec);
        }
    }
    Finished f = distill({"runs", "list"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_EQ(column(data_lines(f.out), 0), (std::vector<std::string>{"1", "2", "3"})) << f.out;
    f = distill({"runs", "list", "--sort", "best_val_loss"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_EQ(column(data_lines(f.out), 0), (std::vector<std::string>{"2", "3", "1"})) << f.out;
    // An epoch_metrics column ranks by its best epoch and is printed.
    f = distill({"runs", "list", "--sort", "val_stft_loss", "--desc"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_EQ(column(data_lines(f.out), 0), (std::vector<std::string>{"1", "3", "2"})) << f.out;
    EXPECT_NE(f.out.find("val_stft_loss (best)"), std::string::npos) << f.out;
    EXPECT_EQ(data_lines(f.out)[0].back(), "1.2") << f.out;  // 0.4 * val_base 3
    f = distill({"runs", "list", "--where", "run_id >= 2 AND status = 'completed'", "--sort", "run_id", "--desc"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_EQ(column(data_lines(f.out), 0), (std::vector<std::string>{"3", "2"})) << f.out;
    f = distill({"runs", "list", "--where", "run_id > 100"});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_NE(f.out.find("(no run matches)"), std::string::npos) << f.out;

    // Writing is refused: one statement, read-only, as for `distill query`.
    for (const std::string bad : {"1); DELETE FROM runs; --", "1; DROP TABLE runs", "nosuchcolumn = 1"}) {
        f = distill({"runs", "list", "--where", bad});
        EXPECT_EQ(f.exit_code, 2) << bad << ": " << f.out;
        EXPECT_NE(f.err.find("runs list --where '" + bad + "'"), std::string::npos) << f.err;
    }
    f = distill({"runs", "list", "--sort", "val_los"});
    EXPECT_EQ(f.exit_code, 2);
    EXPECT_NE(f.err.find("unknown metric 'val_los' (did you mean 'val_loss'?)"), std::string::npos) << f.err;
    f = distill({"runs", "show", "1", "--sort", "val_loss"});
    EXPECT_EQ(f.exit_code, 2);
    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    EXPECT_EQ(db.run(3).status, "completed");
}

TEST_F(ReportCli, SweepShowRanksByAnyMetric) {
    {
        store::RunStore db(dir / "runs.db");
        seed_sweep(db);
    }
    Finished f = distill({"sweep", "show", "1"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    auto lines = data_lines(f.out);
    EXPECT_EQ(column(lines, 1), (std::vector<std::string>{"3", "1", "0", "2"})) << f.out;
    EXPECT_EQ(column(lines, 4), (std::vector<std::string>{"1", "1.5", "2", "3"})) << f.out;
    EXPECT_NE(f.out.find("best val"), std::string::npos);

    // kl_divergence is 1.5 at epoch 0 in every trial but trial 2 (NaN there:
    // its best is 2.5 at epoch 1); ties keep trial order.
    f = distill({"sweep", "show", "1", "--rank-by", "kl_divergence"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    lines = data_lines(f.out);
    EXPECT_EQ(column(lines, 1), (std::vector<std::string>{"0", "1", "3", "2"})) << f.out;
    EXPECT_EQ(lines.back().at(4), "2.5") << f.out;
    EXPECT_EQ(lines.back().at(5), "2") << f.out;  // epoch, 1-based as `sweep show` prints it
    EXPECT_NE(f.out.find("best kl_divergence"), std::string::npos) << f.out;

    f = distill({"sweep", "show", "1", "--rank-by", "duration_s"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    EXPECT_EQ(data_lines(f.out).size(), 4u);

    f = distill({"sweep", "show", "1", "--rank-by", "val_stft"});
    EXPECT_EQ(f.exit_code, 2);
    EXPECT_NE(f.err.find("unknown metric 'val_stft'"), std::string::npos) << f.err;
    f = distill({"sweep", "show", "4"});
    EXPECT_EQ(f.exit_code, 2);
    EXPECT_NE(f.err.find("no sweep 4"), std::string::npos) << f.err;
}

}  // namespace
}  // namespace distill::report_test
