// `distill query` and `distill runs` through the built binary.
#include "store/metrics_writer.hpp"
#include "store/run_store.hpp"
#include "store_test_util.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace distill::store {
namespace {

using test::run_command;
using test::TempDir;

std::string distill(const std::string& args) { return std::string(DISTILL_BINARY) + " " + args; }

// One run with two epochs; val_loss 2.5 then +inf, train_loss NaN in epoch 1.
std::string make_db(const TempDir& dir) {
    const auto path = dir / "runs.db";
    RunStore store(path);
    const int64_t run = test::make_run(store, "quick");
    store.record_params(run, {{"train.lr", "0.001"}});
    MetricsWriter writer(store, run);
    writer.write_epoch({0, 2, 3.0, 2.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    writer.write_epoch({1, 2, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), 0,
                        0, 0, 0, 0, 0, 0, 0, 0, 0});
    writer.close();
    store.finish_run(run, "completed");
    return path.string();
}

TEST(QueryCli, InvalidSqlPrintsSqliteMessageAndExits2) {
    TempDir dir;
    const std::string db = make_db(dir);
    const auto [code, out] = run_command(distill("query --db " + db + " 'SELEC * FROM runs'"));
    EXPECT_EQ(code, 2) << out;
    // SQLite's own wording for this syntax error.
    EXPECT_NE(out.find("near \"SELEC\": syntax error"), std::string::npos) << out;
}

TEST(QueryCli, WritesAreRefusedAndChangeNothing) {
    TempDir dir;
    const std::string db = make_db(dir);
    for (const char* sql : {"DELETE FROM runs", "UPDATE runs SET status = 'failed'", "DROP TABLE runs",
                            "CREATE TABLE x (a)"}) {
        const auto [code, out] = run_command(distill("query --db " + db + " \"" + sql + "\""));
        EXPECT_EQ(code, 2) << sql << ": " << out;
        EXPECT_NE(out.find("read-only"), std::string::npos) << sql << ": " << out;
    }
    RunStore store(db, OpenMode::kReadOnly);
    EXPECT_EQ(store.run(1).status, "completed");
}

TEST(QueryCli, FormatsCsvAndJsonWithNonFiniteValues) {
    TempDir dir;
    const std::string db = make_db(dir);
    const std::string sql = "\"SELECT epoch, train_loss, val_loss, nonfinite FROM epoch_metrics ORDER BY epoch\"";
    auto [code, out] = run_command(distill("query --format csv --db " + db + " " + sql));
    EXPECT_EQ(code, 0) << out;
    // NaN is stored as NULL (empty CSV field), +inf as REAL inf; the
    // nonfinite column names both, quoted because it holds a comma.
    EXPECT_EQ(out,
              "epoch,train_loss,val_loss,nonfinite\n"
              "0,3,2.5,\n"
              "1,,inf,\"train_loss=nan,val_loss=inf\"\n");
    std::tie(code, out) = run_command(distill("query --format json --db " + db + " " + sql));
    EXPECT_EQ(code, 0) << out;
    EXPECT_EQ(out,
              "[\n {\"epoch\": 0, \"train_loss\": 3, \"val_loss\": 2.5, \"nonfinite\": null},\n"
              " {\"epoch\": 1, \"train_loss\": null, \"val_loss\": \"inf\", \"nonfinite\": "
              "\"train_loss=nan,val_loss=inf\"}\n]\n");
}

TEST(QueryCli, MissingDatabaseIsAnErrorAndNotCreated) {
    TempDir dir;
    const auto path = dir / "nope.db";
    for (const std::string& cmd : {"query --db " + path.string() + " 'SELECT 1'", "runs list --db " + path.string()}) {
        const auto [code, out] = run_command(distill(cmd));
        EXPECT_EQ(code, 2) << cmd << ": " << out;
        EXPECT_NE(out.find(path.string()), std::string::npos) << out;
    }
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(RunsCli, ListAndShow) {
    TempDir dir;
    const std::string db = make_db(dir);
    auto [code, out] = run_command(distill("runs list --db " + db));
    EXPECT_EQ(code, 0) << out;
    // Best val loss is epoch 0's 2.5 (inf is larger), printed as epoch 1:
    // epochs are counted from 1 wherever a person reads them.
    EXPECT_NE(out.find("quick"), std::string::npos) << out;
    EXPECT_NE(out.find("completed"), std::string::npos) << out;
    EXPECT_NE(out.find("2.5 (1)"), std::string::npos) << out;
    std::tie(code, out) = run_command(distill("runs show 1 --db " + db));
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("train.lr = 0.001"), std::string::npos) << out;
    EXPECT_NE(out.find("non_finite"), std::string::npos) << out;
    // The event of the NaN row (epoch 1 in the database) is shown as epoch 2, like every epoch a person reads.
    EXPECT_NE(out.find("non_finite   epoch 2 "), std::string::npos) << out;
    std::tie(code, out) = run_command(distill("runs show 7 --db " + db));
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("no run 7"), std::string::npos) << out;
}

}  // namespace
}  // namespace distill::store
