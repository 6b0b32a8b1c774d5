// The report page in a real browser: headless Chromium loads the pages of a
// real small run, a real 2x2 sweep and a run with no epoch rows, and the
// page itself says whether every chart drew (report.js counts the painted
// pixels of each canvas after Chart.js rendered it, and writes any script
// error into the page). Skipped, with the reason, only where Chromium
// cannot start at all.
#include "report_test_util.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

namespace distill::report_test {
namespace {

using test_support::Finished;
using test_support::run_distill;

class ReportBrowser : public ::testing::Test {
protected:
    void SetUp() override {
        std::string why;
        fs::create_directories(dir / "probe");
        if (!chromium_starts(dir / "probe", why)) GTEST_SKIP() << "Chromium cannot start here: " << why;
    }

    Finished distill(const std::vector<std::string>& args) {
        std::vector<std::string> full = args;
        full.insert(full.end(), {"--db", "runs.db"});
        return run_distill(dir.path(), full);
    }

    // Loads `page` and checks that exactly `charts` charts exist and drew,
    // with no script error; returns the DOM.
    std::string expect_page_drew(const fs::path& page, int charts, const std::string& name) {
        const fs::path scratch = dir / ("chromium-" + name);
        fs::create_directories(scratch);
        const fs::path shot = dir / (name + ".png");
        const BrowserRun run = open_in_chromium(page, shot, scratch);
        EXPECT_TRUE(run.started) << run.why;
        EXPECT_EQ(run.exit_code, 0) << run.log;
        const PageState s = page_state(run.dom);
        EXPECT_EQ(s.errors, "") << name;
        EXPECT_EQ(s.state, "ready") << name << ": " << run.log.substr(0, 2000);
        EXPECT_EQ(s.expected, charts) << name;
        EXPECT_EQ(s.drawn, charts) << name;
        EXPECT_EQ(s.canvases, charts) << name;
        EXPECT_EQ(s.canvases_with_ink, charts) << name;

        // The screenshot: a PNG of the whole window.
        std::ifstream png(shot, std::ios::binary);
        char signature[8] = {};
        png.read(signature, 8);
        EXPECT_EQ(std::string(signature, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << shot;
        std::error_code ec;
        const auto bytes = fs::file_size(shot, ec);
        EXPECT_GT(bytes, 20000u) << shot;  // a blank 1280x2400 page compresses to a few KB
        std::cout << "screenshot of the " << name << " page: " << bytes << " bytes (1280x2400)\n";
        RecordProperty(name + "_screenshot_bytes", static_cast<int>(bytes));
        if (const char* keep = std::getenv("DISTILL_REPORT_SCREENSHOT_DIR"))
            fs::copy_file(shot, fs::path(keep) / shot.filename(), fs::copy_options::overwrite_existing, ec);
        return run.dom;
    }

    TempDir dir;
};

TEST_F(ReportBrowser, SmallRunPageDrawsEveryChart) {
    test_support::write_corpus(dir / "corpus");
    const fs::path exp = write_tiny_experiment(dir.path(), "exp.toml", 2);
    Finished f = run_distill(dir.path(), {"run", exp.string(), "--db", "runs.db"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    f = distill({"report", "1"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    const fs::path page = f.out.substr(0, f.out.size() - 1);
    // Loss per epoch, loss terms raw and weighted, train loss per step,
    // learning rate + KL weight.
    const std::string dom = expect_page_drew(page, 5, "run");
    EXPECT_NE(dom.find("run 1: train-test"), std::string::npos);
    EXPECT_NE(dom.find("Loss terms per epoch, weighted"), std::string::npos);
    EXPECT_NE(dom.find("libloss_mag_l1.so"), std::string::npos);  // plugins with their libraries
}

TEST_F(ReportBrowser, SmallSweepPageDrawsEveryChartAndHighlightsTheBest) {
    test_support::write_corpus(dir / "corpus");
    const fs::path exp = write_tiny_experiment(dir.path(), "exp.toml", 1, "1e-3",
                                               "\"train.lr\" = [1e-3, 5e-3]\n\"loss.kl.weight\" = [0.01, 0.02]\n");
    Finished f = run_distill(dir.path(), {"sweep", exp.string(), "--db", "runs.db"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    f = distill({"report", "--sweep", "1", "--rank-by", "val_stft_loss"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    const fs::path page = f.out.substr(0, f.out.size() - 1);
    EXPECT_EQ(page, dir / "runs.runs" / "sweep-1" / "report.html");
    // The 5 of a run, val_stft_loss per epoch, and one per swept key.
    const std::string dom = expect_page_drew(page, 8, "sweep");
    size_t best_rows = 0;
    for (size_t p = dom.find("<tr class=\"best\">"); p != std::string::npos; p = dom.find("<tr class=\"best\">", p + 1))
        ++best_rows;
    EXPECT_EQ(best_rows, 1u);
    EXPECT_NE(dom.find("4 trials ranked by val_stft_loss"), std::string::npos);
    EXPECT_NE(dom.find("train.lr against val_stft_loss"), std::string::npos);
    EXPECT_NE(dom.find("loss.kl.weight against val_stft_loss"), std::string::npos);
}

TEST_F(ReportBrowser, RunWithoutEpochRowsIsStillAWorkingPage) {
    {
        store::RunStore db(dir / "runs.db");
        SeededRun spec;
        spec.epochs = 0;
        spec.partial_steps = 2;
        spec.finish = false;
        seed_run(db, spec);
    }
    const Finished f = distill({"report", "1", "-o", "partial.html"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    // No epoch chart; the step-level ones (terms, train loss, lr) draw.
    const std::string dom = expect_page_drew(dir / "partial.html", 4, "partial");
    EXPECT_NE(dom.find("run 1 has no epoch rows yet"), std::string::npos);
}

TEST_F(ReportBrowser, NonFiniteValuesAreGapsListedUnderTheirChart) {
    {
        store::RunStore db(dir / "runs.db");
        seed_sweep(db);  // trial 2 holds NaN, +inf and -inf values
    }
    const Finished f = distill({"report", "--sweep", "1", "-o", "nonfinite.html"});
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    // The 5 of a run (ranked by val_loss: no extra metric chart) and 2 keys.
    const std::string dom = expect_page_drew(dir / "nonfinite.html", 7, "nonfinite");
    // Stored at epochs 1, 0 and 1: the page counts epochs from 1, as the console does.
    EXPECT_NE(dom.find("Not drawn (not finite): run 3 (trial 2) epoch 2 val_loss = inf"), std::string::npos);
    EXPECT_NE(dom.find("run 3 (trial 2) epoch 1 step 1 train_loss = nan"), std::string::npos);
    EXPECT_NE(dom.find("kl train epoch 2 step 0 = -inf"), std::string::npos);
}

}  // namespace
}  // namespace distill::report_test
