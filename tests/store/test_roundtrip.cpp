// Every metrics field comes back exactly as written, NaN and +-inf included.
#include "store/metrics_writer.hpp"
#include "store/run_store.hpp"
#include "store/sha256.hpp"
#include "store_test_util.hpp"

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace distill::store {
namespace {

using test::TempDir;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

const std::vector<std::pair<const char*, double StepMetrics::*>> kStepFields = {
    {"train_loss", &StepMetrics::train_loss},       {"recon_loss", &StepMetrics::recon_loss},
    {"kl_loss", &StepMetrics::kl_loss},             {"kl_weight", &StepMetrics::kl_weight},
    {"learning_rate", &StepMetrics::learning_rate}, {"step_time_s", &StepMetrics::step_time_s},
    {"stft_loss", &StepMetrics::stft_loss},         {"mag_recon_loss", &StepMetrics::mag_recon_loss},
    {"if_recon_loss", &StepMetrics::if_recon_loss}};

const std::vector<std::pair<const char*, double EpochMetrics::*>> kEpochFields = {
    {"train_loss", &EpochMetrics::train_loss},         {"val_loss", &EpochMetrics::val_loss},
    {"val_recon_loss", &EpochMetrics::val_recon_loss}, {"val_kl_loss", &EpochMetrics::val_kl_loss},
    {"kl_divergence", &EpochMetrics::kl_divergence},   {"overfitting_gap", &EpochMetrics::overfitting_gap},
    {"learning_rate", &EpochMetrics::learning_rate},   {"eta_seconds", &EpochMetrics::eta_seconds},
    {"elapsed_seconds", &EpochMetrics::elapsed_seconds}, {"val_stft_loss", &EpochMetrics::val_stft_loss},
    {"val_mag_recon_loss", &EpochMetrics::val_mag_recon_loss},
    {"val_if_recon_loss", &EpochMetrics::val_if_recon_loss}};

// Same value, with NaN == NaN and the sign of infinity checked.
void expect_same(double expected, double actual, const std::string& what) {
    if (std::isnan(expected)) {
        EXPECT_TRUE(std::isnan(actual)) << what << ": expected NaN, got " << actual;
    } else {
        EXPECT_EQ(expected, actual) << what;
    }
}

// Values chosen to need all 17 significant digits (1/3 scaled), plus the
// three non-finite values and a denormal, so any rounding or NULL mapping
// shows up. (-0.0 is not tested: SQLite stores integral REALs as integers.)
double finite_value(size_t field, int64_t row) { return (1.0 / 3.0) * static_cast<double>(field + 1) + 1e-3 * row; }

TEST(StoreRoundTrip, EveryStepFieldIncludingNonFinite) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    const int64_t run = test::make_run(store);
    std::vector<StepMetrics> written;
    // Row 0: all finite. Then for each field, three rows with that field NaN,
    // +inf, -inf (the others finite). Last row: a denormal and the largest double.
    for (size_t special = 0; special <= kStepFields.size() * 3 + 1; ++special) {
        StepMetrics m;
        m.epoch = 0;
        m.step = static_cast<int64_t>(special);
        m.total_steps = 1000 + static_cast<int64_t>(special);
        for (size_t f = 0; f < kStepFields.size(); ++f) m.*kStepFields[f].second = finite_value(f, m.step);
        if (special >= 1 && special <= kStepFields.size() * 3) {
            const size_t f = (special - 1) / 3;
            const double values[] = {kNaN, kInf, -kInf};
            m.*kStepFields[f].second = values[(special - 1) % 3];
        } else if (special == kStepFields.size() * 3 + 1) {
            m.train_loss = std::numeric_limits<double>::denorm_min();
            m.kl_loss = -std::numeric_limits<double>::max();
        }
        written.push_back(m);
    }
    {
        MetricsWriter writer(store, run);
        for (const auto& m : written) writer.write_step(m);
        writer.close();
    }
    const auto read = store.steps(run);
    ASSERT_EQ(read.size(), written.size());
    for (size_t i = 0; i < read.size(); ++i) {
        EXPECT_EQ(read[i].epoch, written[i].epoch);
        EXPECT_EQ(read[i].step, written[i].step);
        EXPECT_EQ(read[i].total_steps, written[i].total_steps);
        for (const auto& [name, field] : kStepFields)
            expect_same(written[i].*field, read[i].*field, "row " + std::to_string(i) + " " + name);
    }

    // The trace a SQL user sees: row 1 has train_loss NaN, row 3 has
    // train_loss -inf; one non_finite event per non-finite row (27 rows).
    SQLite::Statement nf(store.db(), "SELECT nonfinite FROM step_metrics WHERE run_id = ?1 ORDER BY step");
    nf.bind(1, run);
    std::vector<std::string> lists;
    while (nf.executeStep()) lists.push_back(nf.getColumn(0).isNull() ? "NULL" : nf.getColumn(0).getString());
    EXPECT_EQ(lists[0], "NULL");
    EXPECT_EQ(lists[1], "train_loss=nan");
    EXPECT_EQ(lists[2], "train_loss=inf");
    EXPECT_EQ(lists[3], "train_loss=-inf");
    EXPECT_EQ(lists[27], "if_recon_loss=-inf");
    EXPECT_EQ(lists[28], "NULL");
    const auto events = store.events(run, "non_finite");
    ASSERT_EQ(events.size(), kStepFields.size() * 3);
    EXPECT_EQ(events[0].step, 1);
    EXPECT_EQ(events[0].epoch, 0);
    EXPECT_NE(events[0].message.find("train_loss=nan"), std::string::npos) << events[0].message;
}

TEST(StoreRoundTrip, EveryEpochFieldIncludingNonFinite) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    const int64_t run = test::make_run(store);
    std::vector<EpochMetrics> written;
    for (size_t special = 0; special <= kEpochFields.size() * 3; ++special) {
        EpochMetrics m;
        m.epoch = static_cast<int64_t>(special);
        m.total_epochs = 500;
        for (size_t f = 0; f < kEpochFields.size(); ++f) m.*kEpochFields[f].second = finite_value(f, m.epoch);
        if (special >= 1) {
            const double values[] = {kNaN, kInf, -kInf};
            m.*kEpochFields[(special - 1) / 3].second = values[(special - 1) % 3];
        }
        written.push_back(m);
    }
    {
        MetricsWriter writer(store, run);
        for (const auto& m : written) writer.write_epoch(m);
        writer.flush();
    }
    const auto read = store.epochs(run);
    ASSERT_EQ(read.size(), written.size());
    for (size_t i = 0; i < read.size(); ++i) {
        EXPECT_EQ(read[i].epoch, written[i].epoch);
        EXPECT_EQ(read[i].total_epochs, 500);
        for (const auto& [name, field] : kEpochFields)
            expect_same(written[i].*field, read[i].*field, "epoch " + std::to_string(i) + " " + name);
    }
    // 12 fields x 3 non-finite values = 36 rows, each with one event.
    EXPECT_EQ(store.events(run, "non_finite").size(), 36u);
}

TEST(StoreRoundTrip, LossTermsAndEventsKeepNoneAsNull) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    const int64_t run = test::make_run(store);
    {
        MetricsWriter writer(store, run);
        writer.write_loss_terms({{0, 3, "train", "stft", 1.25, 0.125}, {0, -1, "val", "kl", kNaN, -kInf}});
        writer.write_event({-1, -1, "checkpoint", "saved", "{\"path\":\"ckpt/epoch_0.pt\"}"});
        writer.write_event({2, 7, "divergence", "total loss increased", ""});
    }
    const auto terms = store.loss_terms(run);
    ASSERT_EQ(terms.size(), 2u);
    EXPECT_EQ(terms[0].step, 3);
    EXPECT_EQ(terms[0].split, "train");
    EXPECT_EQ(terms[0].term, "stft");
    EXPECT_EQ(terms[0].raw, 1.25);
    EXPECT_EQ(terms[0].weighted, 0.125);
    EXPECT_EQ(terms[1].step, -1);
    EXPECT_TRUE(std::isnan(terms[1].raw));
    EXPECT_EQ(terms[1].weighted, -kInf);
    // Written events plus the non_finite event for the val/kl row, in order.
    const auto events = store.events(run);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].kind, "non_finite");
    EXPECT_EQ(events[1].kind, "checkpoint");
    EXPECT_EQ(events[1].epoch, -1);
    EXPECT_EQ(events[1].data_json, "{\"path\":\"ckpt/epoch_0.pt\"}");
    EXPECT_EQ(events[2].epoch, 2);
    EXPECT_EQ(events[2].step, 7);
    EXPECT_EQ(events[2].data_json, "");
    SQLite::Statement nulls(store.db(), "SELECT count(*) FROM events WHERE run_id = ?1 AND epoch IS NULL AND data IS NULL");
    nulls.bind(1, run);
    nulls.executeStep();
    EXPECT_EQ(nulls.getColumn(0).getInt(), 0) << "the checkpoint event has data; only NULL epoch";
}

TEST(StoreRoundTrip, ExperimentsDedupByContentHash) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    const int64_t a = store.record_experiment("a", "seed = 1\n");
    const int64_t b = store.record_experiment("a-again", "seed = 1\n");
    const int64_t c = store.record_experiment("a", "seed = 2\n");
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    SQLite::Statement hash(store.db(), "SELECT hash FROM experiments WHERE id = ?1");
    hash.bind(1, a);
    ASSERT_TRUE(hash.executeStep());
    // printf 'seed = 1\n' | sha256sum
    EXPECT_EQ(hash.getColumn(0).getString(), sha256_hex("seed = 1\n"));
    // FIPS 180-4 test vector for "abc".
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(StoreLifecycle, FinishResumeAndDeleteRowsAfter) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    const int64_t run = test::make_run(store);
    EXPECT_EQ(store.run(run).status, "running");
    store.record_params(run, {{"train.lr", "0.001"}, {"model.latent_dim", "32"}});
    store.record_plugins(run, {{"model", "conv_vae", "2.0.0", "/p/libconv_vae.so", "ab12", std::nullopt},
                               {"loss", "stft", "1.0.0", "/p/libloss_stft.so", "cd34", 1.0}});
    {
        MetricsWriter writer(store, run);
        for (int64_t e = 0; e < 4; ++e) {
            for (int64_t s = 0; s < 3; ++s) writer.write_step({e, s, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1});
            writer.write_loss_terms({{e, -1, "val", "stft", 1, 1}});
            // val_loss 4, 2, 3, 5: the best is 2 at epoch 1.
            const double val[] = {4, 2, 3, 5};
            writer.write_epoch({e, 4, 10.0 - e, val[e], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        }
        writer.write_event({3, -1, "divergence", "total loss increased for 5 consecutive epochs", ""});
        writer.write_event({3, -1, "checkpoint", "periodic: ckpt-e0004-s00000.pt", ""});
    }
    SQLite::Statement summary(store.db(),
                              "SELECT experiment, status, params, final_train_loss, final_val_loss, best_val_loss, "
                              "best_val_epoch, divergence_events, duration_s FROM run_summary WHERE run_id = ?1");
    summary.bind(1, run);
    ASSERT_TRUE(summary.executeStep());
    EXPECT_EQ(summary.getColumn(0).getString(), "exp");
    EXPECT_EQ(summary.getColumn(1).getString(), "running");
    EXPECT_EQ(summary.getColumn(2).getString(), "model.latent_dim=32\ntrain.lr=0.001");
    EXPECT_EQ(summary.getColumn(3).getDouble(), 7.0);  // epoch 3: 10 - 3
    EXPECT_EQ(summary.getColumn(4).getDouble(), 5.0);
    EXPECT_EQ(summary.getColumn(5).getDouble(), 2.0);
    EXPECT_EQ(summary.getColumn(6).getInt(), 1);
    EXPECT_EQ(summary.getColumn(7).getInt(), 1);
    EXPECT_GE(summary.getColumn(8).getDouble(), 0.0);

    // Resume from the checkpoint of epoch 1: epochs 2 and 3 go.
    store.delete_rows_after(run, 1);
    EXPECT_EQ(store.count_rows("step_metrics", run), 6);
    EXPECT_EQ(store.count_rows("epoch_metrics", run), 2);
    EXPECT_EQ(store.count_rows("loss_terms", run), 2);
    // The divergence event of epoch 3 goes (the redone epoch writes it again
    // if it still holds); the checkpoint event is history and stays.
    const auto kept = store.events(run);
    ASSERT_EQ(kept.size(), 1u);
    EXPECT_EQ(kept[0].kind, "checkpoint");

    store.finish_run(run, "failed", "plugin stft: compute failed");
    auto r = store.run(run);
    EXPECT_EQ(r.status, "failed");
    EXPECT_EQ(r.error.value_or(""), "plugin stft: compute failed");
    EXPECT_TRUE(r.ended_at.has_value());
    store.set_status(run, "running");
    r = store.run(run);
    EXPECT_EQ(r.status, "running");
    EXPECT_FALSE(r.error.has_value());
    EXPECT_FALSE(r.ended_at.has_value());
    store.finish_run(run, "completed");
    EXPECT_EQ(store.run(run).status, "completed");
    EXPECT_THROW(store.finish_run(run, "done"), StoreError);
    EXPECT_THROW(store.finish_run(run + 100, "completed"), StoreError);
    const auto plugins = store.plugins(run);
    ASSERT_EQ(plugins.size(), 2u);
    EXPECT_FALSE(plugins[0].weight.has_value());
    EXPECT_EQ(plugins[1].weight.value_or(-1), 1.0);
}

}  // namespace
}  // namespace distill::store
