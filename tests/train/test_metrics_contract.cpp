// Issue 18, metrics contract v2, through a real `distill run`: the reference
// columns of step_metrics and epoch_metrics are filled from what each loss
// plugin declares (a test plugin declaring metrics of other plugins fills
// them) and are NULL -- not 0 -- where no entry declares their metric.
#include "train_fixture.hpp"

#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <sstream>

namespace distill::train::testing {
namespace {

TEST(MetricsContract, ReferenceColumnsFollowTheDeclarationsAndAreNullWhereNoneDeclares) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 2\n",
                                          "[[loss]]\nplugin = \"declaring\"\n"
                                          "[[loss]]\nplugin = \"mag_l1\"\nweight = 0.5\n");
    const Finished f = run_with_test_plugins(dir.path(), exp);
    ASSERT_EQ(f.exit_code, 0) << f.out << f.err;
    // The console prints "-" for the components nobody fills.
    EXPECT_NE(f.out.find("  kl -  kl_w -  "), std::string::npos) << f.out;
    EXPECT_EQ(f.out.find("stft -"), std::string::npos) << f.out;

    store::RunStore db(dir / "runs.db", store::OpenMode::kReadOnly);
    std::map<std::pair<int64_t, int64_t>, std::map<std::string, store::LossTermRow>> terms;
    for (const auto& t : db.loss_terms(1)) terms[{t.epoch, t.split == "val" ? -1 : t.step}][t.term] = t;

    const auto steps = db.steps(1);
    ASSERT_EQ(static_cast<int64_t>(steps.size()), 2 * kStepsPerEpoch);
    for (const auto& row : steps) {
        auto& m = terms[{row.epoch, row.step}];
        ASSERT_TRUE(m.count("declaring") && m.count("mag_l1")) << where(row);
        ASSERT_TRUE(row.stft_loss && row.mag_recon_loss && row.recon_loss) << where(row);
        EXPECT_NEAR(*row.stft_loss, m["declaring"].raw, 1e-7) << where(row);
        EXPECT_NEAR(*row.mag_recon_loss, m["mag_l1"].raw, 1e-7) << where(row);
        EXPECT_NEAR(*row.recon_loss, m["mag_l1"].weighted, 1e-7) << "only mag_l1 declares recon_loss: " << where(row);
        EXPECT_FALSE(row.kl_loss.has_value()) << where(row);
        EXPECT_FALSE(row.kl_weight.has_value()) << where(row);
        EXPECT_FALSE(row.if_recon_loss.has_value()) << where(row);
    }
    const auto epochs = db.epochs(1);
    ASSERT_EQ(epochs.size(), 2u);
    for (const auto& e : epochs) {
        auto& m = terms[{e.epoch, -1}];
        ASSERT_TRUE(m.count("declaring") && m.count("declaring.half")) << "epoch " << e.epoch;
        ASSERT_TRUE(e.val_stft_loss && e.kl_divergence) << "epoch " << e.epoch;
        EXPECT_NEAR(*e.val_stft_loss, m["declaring"].raw, 1e-7) << "epoch " << e.epoch;
        EXPECT_NEAR(*e.kl_divergence, m["declaring.half"].raw, 1e-7) << "from its declared sub-term";
        EXPECT_FALSE(e.val_kl_loss.has_value()) << "epoch " << e.epoch;
        EXPECT_FALSE(e.val_if_recon_loss.has_value()) << "epoch " << e.epoch;
    }
    // In SQL: NULL, and not counted as non-finite.
    SQLite::Statement sql(db.db(), "SELECT count(*) FROM step_metrics WHERE run_id = 1 AND kl_loss IS NULL AND "
                                   "if_recon_loss IS NULL AND has_nonfinite = 0 AND nonfinite IS NULL");
    ASSERT_TRUE(sql.executeStep());
    EXPECT_EQ(sql.getColumn(0).getInt64(), 2 * kStepsPerEpoch);

    // `runs show` prints "-" for them, not "nan".
    const Finished show = run_distill(dir.path(), {"runs", "show", "1", "--db", "runs.db"});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    const size_t from = show.out.find("last epochs:"), to = show.out.find("files:");
    ASSERT_TRUE(from != std::string::npos && to != std::string::npos && from < to) << show.out;
    const std::string table = show.out.substr(from, to - from);
    EXPECT_EQ(table.find("nan"), std::string::npos) << table;
    EXPECT_NE(table.find(" -  "), std::string::npos) << table;
}

// `runs show` tells NaN from absent: an epoch whose totals were all NaN
// prints "nan" for them, a reference column nobody fills "-".
TEST(MetricsContract, RunsShowPrintsNanForNanAndDashForAbsent) {
    TempDir dir;
    write_corpus(dir / "corpus");
    const fs::path exp = write_experiment(dir.path(), "exp.toml", "epochs = 1\nmax_non_finite_steps = 100\n",
                                          "[[loss]]\nplugin = \"always_nan\"\n"
                                          "[[loss]]\nplugin = \"mag_l1\"\n");
    const Finished f = run_with_test_plugins(dir.path(), exp);
    EXPECT_EQ(f.exit_code, 1) << "no optimizer step succeeded: " << f.out << f.err;
    const Finished show = run_distill(dir.path(), {"runs", "show", "1", "--db", "runs.db"});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    const size_t from = show.out.find("last epochs:"), to = show.out.find("files:");
    ASSERT_TRUE(from != std::string::npos && to != std::string::npos && from < to) << show.out;
    std::istringstream table(show.out.substr(from, to - from));
    std::string header, line;
    std::getline(table, header);  // "last epochs:"
    std::getline(table, header);  // column names
    ASSERT_TRUE(std::getline(table, line)) << show.out;
    std::istringstream cells(line);
    std::string epoch, train, val, val_recon, val_kl;
    cells >> epoch >> train >> val >> val_recon >> val_kl;
    EXPECT_EQ(epoch, "1") << line;
    EXPECT_EQ(train, "nan") << line;
    EXPECT_EQ(val, "nan") << line;
    EXPECT_NE(val_recon, "nan") << "mag_l1 alone is finite: " << line;
    EXPECT_NE(val_recon, "-") << line;
    EXPECT_EQ(val_kl, "-") << "no KL loss: " << line;
}

}  // namespace
}  // namespace distill::train::testing
