// Metrics contract v2 (issue 18): the metrics tables are what their column
// declarations (store/metric_columns.hpp) say, whether made fresh or
// migrated; a database written by distill at schema version 2 upgrades in
// place with its values intact; every declared column is documented.
#include "store/merge.hpp"
#include "store/metric_columns.hpp"
#include "store/metrics_writer.hpp"
#include "store/run_store.hpp"
#include "store/schema.hpp"
#include "store_test_util.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace distill::store {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const fs::path kFixture = fs::path(DISTILL_SOURCE_DIR) / "tests" / "store" / "fixtures" / "schema_v2.db";


template <class Row>
std::vector<std::string> declared_columns(const MetricTable<Row>& table) {
    std::vector<std::string> names{"run_id"};
    for (const Column<Row>& c : table) names.push_back(c.name);
    return names;
}

void expect_tables_as_declared(SQLite::Database& db) {
    EXPECT_EQ(table_columns(db, "step_metrics"), declared_columns(kStepTable));
    EXPECT_EQ(table_columns(db, "epoch_metrics"), declared_columns(kEpochTable));
    EXPECT_EQ(table_columns(db, "loss_terms"), declared_columns(kLossTermTable));
}

// Every row of `table` (ordered by rowid) as text, column name -> value
// ("NULL" for NULL), for the columns version 2 had.
using Rows = std::vector<std::map<std::string, std::string>>;
Rows rows_of(SQLite::Database& db, const std::string& table, const std::vector<std::string>& columns) {
    std::string list;
    for (const auto& c : columns) list += (list.empty() ? "" : ", ") + c;
    SQLite::Statement select(db, "SELECT " + list + " FROM " + table + " ORDER BY rowid");
    Rows rows;
    while (select.executeStep()) {
        auto& row = rows.emplace_back();
        for (size_t i = 0; i < columns.size(); ++i) {
            const SQLite::Column v = select.getColumn(static_cast<int>(i));
            row[columns[i]] = v.isNull() ? "NULL" : v.getString();
        }
    }
    return rows;
}

const std::vector<std::string> kV2Step = {"run_id", "epoch", "step", "total_steps", "train_loss", "recon_loss",
                                          "kl_loss", "kl_weight", "learning_rate", "step_time_s", "stft_loss",
                                          "mag_recon_loss", "if_recon_loss", "nonfinite"};
const std::vector<std::string> kV2Epoch = {"run_id", "epoch", "total_epochs", "train_loss", "val_loss",
                                           "val_recon_loss", "val_kl_loss", "kl_divergence", "overfitting_gap",
                                           "learning_rate", "eta_seconds", "elapsed_seconds", "val_stft_loss",
                                           "val_mag_recon_loss", "val_if_recon_loss", "nonfinite"};
const std::vector<std::string> kV2Terms = {"run_id", "epoch", "step", "split", "term", "raw", "weighted", "nonfinite"};

// The fixture's runs (tests/store/fixtures/README.md): 1 has every plugin,
// 2 stft + kl, 3 mag_l1 + nan_at. The columns version 2 filled with 0 because
// the run lacked their plugin.
const std::map<std::string, std::map<int, std::set<std::string>>> kNulledByMigration = {
    {"step_metrics", {{2, {"mag_recon_loss", "if_recon_loss", "recon_loss"}},
                      {3, {"stft_loss", "if_recon_loss", "kl_loss", "kl_weight"}}}},
    {"epoch_metrics", {{2, {"val_mag_recon_loss", "val_if_recon_loss", "val_recon_loss"}},
                       {3, {"val_stft_loss", "val_if_recon_loss", "val_kl_loss", "kl_divergence"}}}},
};

int scalar_int(SQLite::Database& db, const std::string& sql) { return db.execAndGet(sql).getInt(); }

class Migration : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(fs::exists(kFixture)) << kFixture;
        fs::copy_file(kFixture, db_path);
        SQLite::Database v2(db_path.string(), SQLite::OPEN_READONLY);
        ASSERT_EQ(scalar_int(v2, "PRAGMA user_version"), 2);
        before_steps = rows_of(v2, "step_metrics", kV2Step);
        before_epochs = rows_of(v2, "epoch_metrics", kV2Epoch);
        before_terms = rows_of(v2, "loss_terms", kV2Terms);
    }
    TempDir dir;
    fs::path db_path = dir / "runs.db";
    Rows before_steps, before_epochs, before_terms;
};

TEST(Schema, AFreshDatabaseHasTheDeclaredColumnsInOrder) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    EXPECT_EQ(scalar_int(store.db(), "PRAGMA user_version"), kSchemaVersion);
    expect_tables_as_declared(store.db());
}

// Every reference column names a reference metric, and every reference
// metric fills at least one column.
TEST(Schema, ReferenceColumnsAndMetricsMatch) {
    std::set<std::string> used;
    auto check = [&](const char* table, const char* column, const char* metric) {
        EXPECT_GE(reference_metric_index(metric), 0) << table << "." << column << " names '" << metric << "'";
        used.insert(metric);
    };
    for (const auto& c : kStepTable)
        if (c.kind == ColumnKind::kReference) check("step_metrics", c.name, c.metric);
    for (const auto& c : kEpochTable)
        if (c.kind == ColumnKind::kReference) check("epoch_metrics", c.name, c.metric);
    for (const ReferenceMetric& m : kReferenceMetrics) EXPECT_EQ(used.count(m.name), 1u) << m.name << " fills nothing";
}

TEST_F(Migration, AVersion2DatabaseUpgradesInPlaceWithItsValuesIntact) {
    {
        RunStore store(db_path);  // opening for writing migrates
        EXPECT_EQ(scalar_int(store.db(), "PRAGMA user_version"), 3);
        expect_tables_as_declared(store.db());
    }
    SQLite::Database db(db_path.string(), SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("PRAGMA quick_check").getString(), "ok");
    const Rows steps = rows_of(db, "step_metrics", kV2Step);
    const Rows epochs = rows_of(db, "epoch_metrics", kV2Epoch);
    ASSERT_EQ(steps.size(), before_steps.size());
    ASSERT_EQ(steps.size(), 18u);
    ASSERT_EQ(epochs.size(), before_epochs.size());
    ASSERT_EQ(epochs.size(), 6u);
    EXPECT_EQ(rows_of(db, "loss_terms", kV2Terms), before_terms);
    // Every value is as version 2 wrote it, except the 0 of a reference
    // column whose plugin the run did not have, which is NULL now.
    int nulled = 0;
    auto compare = [&](const char* table, const Rows& before, const Rows& after) {
        for (size_t i = 0; i < before.size(); ++i) {
            const int run = std::stoi(before[i].at("run_id"));
            const auto& rule = kNulledByMigration.at(table);
            const auto found = rule.find(run);
            for (const auto& [column, value] : before[i]) {
                const std::string where = std::string(table) + " row " + std::to_string(i) + " (run " +
                                          std::to_string(run) + ") " + column;
                if (found != rule.end() && found->second.count(column)) {
                    EXPECT_EQ(value, "0.0") << where << ": version 2 wrote 0 for an absent plugin";
                    EXPECT_EQ(after[i].at(column), "NULL") << where;
                    ++nulled;
                } else {
                    EXPECT_EQ(after[i].at(column), value) << where;
                }
            }
        }
    };
    compare("step_metrics", before_steps, steps);
    compare("epoch_metrics", before_epochs, epochs);
    EXPECT_EQ(nulled, 6 * 3 + 6 * 4 + 2 * 3 + 2 * 4);
    // The run with every plugin keeps every reference column filled.
    EXPECT_EQ(scalar_int(db, "SELECT count(*) FROM step_metrics WHERE run_id = 1 AND (stft_loss IS NULL OR "
                             "recon_loss IS NULL OR kl_loss IS NULL OR kl_weight IS NULL OR mag_recon_loss IS NULL "
                             "OR if_recon_loss IS NULL)"),
              0);

    // steps_per_epoch is backfilled from total_steps; has_nonfinite from nonfinite.
    EXPECT_EQ(scalar_int(db, "SELECT count(*) FROM step_metrics WHERE steps_per_epoch IS NOT total_steps"), 0);
    EXPECT_EQ(scalar_int(db, "SELECT count(*) FROM step_metrics WHERE steps_per_epoch = 3"), 18);
    for (const char* table : {"step_metrics", "epoch_metrics", "loss_terms"})
        EXPECT_EQ(scalar_int(db, std::string("SELECT count(*) FROM ") + table +
                                     " WHERE has_nonfinite IS NOT (nonfinite IS NOT NULL)"),
                  0)
            << table;
    // The fixture's NaN step (run 3, epoch 0 step 1) is found by the flag.
    SQLite::Statement flagged(db, "SELECT run_id, epoch, step, nonfinite FROM step_metrics WHERE has_nonfinite = 1");
    ASSERT_TRUE(flagged.executeStep());
    EXPECT_EQ(flagged.getColumn(0).getInt(), 3);
    EXPECT_EQ(flagged.getColumn(1).getInt(), 0);
    EXPECT_EQ(flagged.getColumn(2).getInt(), 1);
    EXPECT_EQ(flagged.getColumn(3).getString(), "train_loss=nan");
    EXPECT_FALSE(flagged.executeStep());
    EXPECT_GT(scalar_int(db, "SELECT count(*) FROM loss_terms WHERE has_nonfinite = 1"), 0);
}

TEST_F(Migration, TheUpgradedRowsReadBackAndTakeNewOnes) {
    RunStore store(db_path);
    // Run 2 (stft + kl): the columns of its absent plugins read as absent.
    const auto steps = store.steps(2);
    ASSERT_EQ(steps.size(), 6u);
    for (const auto& s : steps) {
        EXPECT_FALSE(s.mag_recon_loss.has_value());
        EXPECT_FALSE(s.recon_loss.has_value());
        ASSERT_TRUE(s.stft_loss.has_value());
        EXPECT_GT(*s.stft_loss, 0.0);
        EXPECT_EQ(s.steps_per_epoch, 3);
    }
    // Run 3's NaN step reads back as NaN, not as absent.
    const auto nan_run = store.steps(3);
    ASSERT_EQ(nan_run.size(), 6u);
    EXPECT_TRUE(std::isnan(nan_run[1].train_loss));
    ASSERT_TRUE(nan_run[1].mag_recon_loss.has_value());
    EXPECT_FALSE(nan_run[1].kl_loss.has_value());
    const auto epochs = store.epochs(2);
    ASSERT_EQ(epochs.size(), 2u);
    EXPECT_TRUE(epochs[0].kl_divergence.has_value());
    EXPECT_FALSE(epochs[0].val_recon_loss.has_value());
    // run_summary, which users query, still answers.
    EXPECT_EQ(scalar_int(store.db(), "SELECT count(*) FROM run_summary WHERE best_val_loss IS NOT NULL"), 3);

    // A run added to the upgraded file writes every column of version 3.
    const int64_t run = test::make_run(store, "after-upgrade");
    {
        MetricsWriter writer(store, run);
        StepMetrics m;
        m.steps_per_epoch = 4;
        m.train_loss = 0.5;
        m.stft_loss = 0.25;
        writer.write_step(m);
        writer.close();
    }
    SQLite::Statement row(store.db(), "SELECT total_steps, steps_per_epoch, stft_loss, kl_loss IS NULL, has_nonfinite "
                                      "FROM step_metrics WHERE run_id = ?1");
    row.bind(1, run);
    ASSERT_TRUE(row.executeStep());
    EXPECT_EQ(row.getColumn(0).getInt(), 4);
    EXPECT_EQ(row.getColumn(1).getInt(), 4);
    EXPECT_EQ(row.getColumn(2).getDouble(), 0.25);
    EXPECT_EQ(row.getColumn(3).getInt(), 1);
    EXPECT_EQ(row.getColumn(4).getInt(), 0);
}

// Where version 2 recorded no loss plugins for a run, nothing says its zeros
// were filler: they stay.
TEST_F(Migration, ARunWithoutRecordedLossPluginsKeepsItsValues) {
    {
        SQLite::Database v2(db_path.string(), SQLite::OPEN_READWRITE);
        v2.exec("DELETE FROM run_plugins WHERE run_id = 2");
    }
    RunStore store(db_path);
    EXPECT_EQ(scalar_int(store.db(), "SELECT count(*) FROM step_metrics WHERE run_id = 2 AND recon_loss = 0.0 "
                                     "AND mag_recon_loss = 0.0 AND if_recon_loss = 0.0"),
              6);
    EXPECT_EQ(scalar_int(store.db(), "SELECT count(*) FROM step_metrics WHERE run_id = 3 AND kl_loss IS NULL"), 6);
}

// `db merge` copies every declared column of an upgraded database.
TEST_F(Migration, AnUpgradedDatabaseMergesWithEveryColumn) {
    { RunStore store(db_path); }
    const fs::path out = dir / "merged.db";
    const auto counts = merge_databases(out, {db_path});
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0].rows.at("step_metrics"), 18);
    EXPECT_EQ(counts[0].rows.at("epoch_metrics"), 6);
    RunStore merged(out, OpenMode::kReadOnly);
    for (const char* table : {"step_metrics", "epoch_metrics", "loss_terms"}) {
        const std::string columns = "SELECT * FROM " + std::string(table) + " ORDER BY run_id, rowid";
        SQLite::Database source(db_path.string(), SQLite::OPEN_READONLY);
        SQLite::Statement a(source, columns), b(merged.db(), columns);
        int rows = 0;
        while (a.executeStep()) {
            ASSERT_TRUE(b.executeStep()) << table;
            for (int c = 0; c < a.getColumnCount(); ++c)
                EXPECT_EQ(a.getColumn(c).isNull() ? "NULL" : a.getColumn(c).getString(),
                          b.getColumn(c).isNull() ? "NULL" : b.getColumn(c).getString())
                    << table << " row " << rows << " column " << a.getColumnName(c);
            ++rows;
        }
        EXPECT_FALSE(b.executeStep()) << table;
        EXPECT_GT(rows, 0) << table;
    }
}

// docs/schema.md documents every declared column of each metrics table (in
// the table's own section) and every reference metric.
TEST(Schema, EveryDeclaredColumnIsDocumented) {
    std::ifstream in(fs::path(DISTILL_SOURCE_DIR) / "docs" / "schema.md");
    ASSERT_TRUE(in) << "docs/schema.md";
    std::stringstream text;
    text << in.rdbuf();
    const std::string doc = text.str();
    // The section from "### <table>" to the next "###" or "## ".
    auto section = [&](const std::string& table) {
        const size_t start = doc.find("### " + table);
        EXPECT_NE(start, std::string::npos) << "no section for " << table;
        if (start == std::string::npos) return std::string();
        size_t end = doc.find("\n#", start + 1);
        return doc.substr(start, end == std::string::npos ? std::string::npos : end - start);
    };
    auto check = [&](const std::string& table, const std::vector<std::string>& columns) {
        const std::string s = section(table);
        for (const auto& c : columns) EXPECT_NE(s.find("`" + c + "`"), std::string::npos) << table << "." << c;
    };
    check("step_metrics", declared_columns(kStepTable));
    check("epoch_metrics", declared_columns(kEpochTable));
    check("loss_terms", declared_columns(kLossTermTable));
    const std::string references = section("Reference columns");
    for (const ReferenceMetric& m : kReferenceMetrics)
        EXPECT_NE(references.find("`" + std::string(m.name) + "`"), std::string::npos) << m.name;
}

}  // namespace
}  // namespace distill::store
