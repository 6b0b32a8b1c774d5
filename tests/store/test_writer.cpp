// The batching writer: completeness, order, visibility after flush, and
// errors surfacing on the caller's next call.
#include "store/metrics_writer.hpp"
#include "store/run_store.hpp"
#include "store_test_util.hpp"

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

namespace distill::store {
namespace {

using test::TempDir;

TEST(MetricsWriter, HundredThousandStepsArriveCompleteAndInOrder) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    const int64_t run = test::make_run(store);
    constexpr int64_t kSteps = 100000, kPerEpoch = 1000;
    {
        MetricsWriter writer(store, run);
        for (int64_t i = 0; i < kSteps; ++i) {
            StepMetrics m;
            m.epoch = i / kPerEpoch;
            m.step = i % kPerEpoch;
            m.steps_per_epoch = kPerEpoch;
            m.train_loss = static_cast<double>(i);  // the row's global index, checked below
            writer.write_step(m);
        }
        writer.close();
        EXPECT_EQ(writer.committed_rows(), kSteps);
    }
    // Insertion order (rowid) must match write order: row k has train_loss k.
    SQLite::Statement select(store.db(),
                             "SELECT epoch, step, train_loss FROM step_metrics WHERE run_id = ?1 ORDER BY rowid");
    select.bind(1, run);
    int64_t k = 0;
    while (select.executeStep()) {
        ASSERT_EQ(select.getColumn(0).getInt64(), k / kPerEpoch) << "row " << k;
        ASSERT_EQ(select.getColumn(1).getInt64(), k % kPerEpoch) << "row " << k;
        ASSERT_EQ(select.getColumn(2).getDouble(), static_cast<double>(k)) << "row " << k;
        ++k;
    }
    EXPECT_EQ(k, kSteps);
}

TEST(MetricsWriter, FlushMakesRowsVisibleToOtherConnections) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    const int64_t run = test::make_run(store);
    // A batch size and delay that would never trigger on their own: only
    // flush() can commit these rows.
    MetricsWriter writer(store, run, WriterOptions{1000000, std::chrono::milliseconds(3600 * 1000)});
    for (int64_t s = 0; s < 10; ++s) writer.write_step({0, s, 10, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    writer.flush();
    RunStore reader(dir / "runs.db", OpenMode::kReadOnly);
    EXPECT_EQ(reader.count_rows("step_metrics", run), 10);
    writer.write_epoch({0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    writer.flush();
    EXPECT_EQ(reader.count_rows("epoch_metrics", run), 1);
    writer.close();
    EXPECT_THROW(writer.write_step({}), StoreError) << "closed writers refuse rows";
}

TEST(MetricsWriter, FailedRowIsReportedOnNextCallAndOnlyItIsLost) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    const int64_t run = test::make_run(store);
    MetricsWriter writer(store, run);
    writer.write_step({0, 0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    writer.write_step({0, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    writer.write_step({0, 1, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2});  // same (epoch, step): a trainer bug
    writer.write_step({0, 2, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    try {
        writer.flush();
        FAIL() << "the duplicate step must be reported";
    } catch (const StoreError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("runs.db"), std::string::npos) << what;
        EXPECT_NE(what.find("step_metrics epoch 0 step 1"), std::string::npos) << what;
        EXPECT_NE(what.find("UNIQUE"), std::string::npos) << what;
    }
    // Reported once; the rest of the batch was kept.
    EXPECT_NO_THROW(writer.flush());
    EXPECT_EQ(store.count_rows("step_metrics", run), 3);
    const auto steps = store.steps(run);
    EXPECT_EQ(steps[1].train_loss, 1.0) << "the first write of step 1 stays";
}

TEST(MetricsWriter, CommitsRefreshTheHeartbeat) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    const int64_t run = test::make_run(store);
    // Force an old heartbeat, then commit one row: it must move forward.
    store.db().exec("UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000Z'");
    MetricsWriter writer(store, run);
    writer.write_step({});
    writer.flush();
    EXPECT_GT(store.run(run).heartbeat_at.value_or(""), "2000-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace distill::store
