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
#include <optional>

namespace distill::store {
namespace {

using test::TempDir;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// A double field of a row: a plain one or a reference column (optional).
template <class Row>
struct Field {
    const char* name;
    double Row::*real = nullptr;
    std::optional<double> Row::*reference = nullptr;
    void set(Row& row, double v) const {
        if (real != nullptr) row.*real = v; else row.*reference = v;
    }
    // A reference column read back as absent throws here (bad_optional_access).
    double get(const Row& row) const { return real != nullptr ? row.*real : (row.*reference).value(); }
};
using S = StepMetrics;
using E = EpochMetrics;

// In table order (the `nonfinite` lists follow it).
const std::vector<Field<S>> kStepFields = {
    {"train_loss", &S::train_loss},         {"recon_loss", nullptr, &S::recon_loss},
    {"kl_loss", nullptr, &S::kl_loss},      {"kl_weight", nullptr, &S::kl_weight},
    {"learning_rate", &S::learning_rate},   {"step_time_s", &S::step_time_s},
    {"stft_loss", nullptr, &S::stft_loss},  {"mag_recon_loss", nullptr, &S::mag_recon_loss},
    {"if_recon_loss", nullptr, &S::if_recon_loss}};

const std::vector<Field<E>> kEpochFields = {
    {"train_loss", &E::train_loss},
    {"val_loss", &E::val_loss},
    {"val_recon_loss", nullptr, &E::val_recon_loss},
    {"val_kl_loss", nullptr, &E::val_kl_loss},
    {"kl_divergence", nullptr, &E::kl_divergence},
    {"overfitting_gap", &E::overfitting_gap},
    {"learning_rate", &E::learning_rate},
    {"eta_seconds", &E::eta_seconds},
    {"elapsed_seconds", &E::elapsed_seconds},
    {"val_stft_loss", nullptr, &E::val_stft_loss},
    {"val_mag_recon_loss", nullptr, &E::val_mag_recon_loss},
    {"val_if_recon_loss", nullptr, &E::val_if_recon_loss}};

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
        m.steps_per_epoch = 1000 + static_cast<int64_t>(special);
        for (size_t f = 0; f < kStepFields.size(); ++f) kStepFields[f].set(m, finite_value(f, m.step));
        if (special >= 1 && special <= kStepFields.size() * 3) {
            const size_t f = (special - 1) / 3;
            const double values[] = {kNaN, kInf, -kInf};
            kStepFields[f].set(m, values[(special - 1) % 3]);
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
        EXPECT_EQ(read[i].steps_per_epoch, written[i].steps_per_epoch);
        for (const auto& field : kStepFields)
            expect_same(field.get(written[i]), field.get(read[i]), "row " + std::to_string(i) + " " + field.name);
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
        for (size_t f = 0; f < kEpochFields.size(); ++f) kEpochFields[f].set(m, finite_value(f, m.epoch));
        if (special >= 1) {
            const double values[] = {kNaN, kInf, -kInf};
            kEpochFields[(special - 1) / 3].set(m, values[(special - 1) % 3]);
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
        for (const auto& field : kEpochFields)
            expect_same(field.get(written[i]), field.get(read[i]), "epoch " + std::to_string(i) + " " + field.name);
    }
    // 12 fields x 3 non-finite values = 36 rows, each with one event.
    EXPECT_EQ(store.events(run, "non_finite").size(), 36u);
}

// Metrics contract v2 (issue 18): a reference column no loss entry fills is
// NULL and reads back absent -- not NaN, not 0, not in `nonfinite`; a NaN one
// is NULL too but named there. has_nonfinite flags the rows users filter on;
// steps_per_epoch and total_steps hold the same value.
TEST(StoreRoundTrip, AbsentReferenceColumnsAreNullAndNotNonFinite) {
    TempDir dir;
    RunStore store(dir / "runs.db");
    const int64_t run = test::make_run(store);
    StepMetrics absent;  // every reference column absent
    absent.epoch = 0;
    absent.step = 0;
    absent.steps_per_epoch = 7;
    absent.train_loss = 1.5;
    StepMetrics nan_kl = absent;  // kl_loss NaN, stft_loss filled, the rest absent
    nan_kl.step = 1;
    nan_kl.kl_loss = kNaN;
    nan_kl.stft_loss = 0.25;
    EpochMetrics epoch;
    epoch.epoch = 0;
    epoch.total_epochs = 1;
    epoch.val_loss = 2.0;
    epoch.kl_divergence = 0.5;
    {
        MetricsWriter writer(store, run);
        writer.write_step(absent);
        writer.write_step(nan_kl);
        writer.write_epoch(epoch);
        writer.write_loss_terms({{0, 0, "train", "kl", kNaN, 0.0}, {0, 0, "train", "stft", 0.25, 0.25}});
        writer.close();
    }
    const auto steps = store.steps(run);
    ASSERT_EQ(steps.size(), 2u);
    for (const auto& field : kStepFields) {
        if (field.reference == nullptr) continue;
        EXPECT_FALSE((steps[0].*field.reference).has_value()) << field.name;
    }
    ASSERT_TRUE(steps[1].kl_loss.has_value());
    EXPECT_TRUE(std::isnan(*steps[1].kl_loss));
    EXPECT_EQ(steps[1].stft_loss, 0.25);
    EXPECT_FALSE(steps[1].recon_loss.has_value());
    EXPECT_EQ(steps[0].steps_per_epoch, 7);
    const auto epochs = store.epochs(run);
    ASSERT_EQ(epochs.size(), 1u);
    EXPECT_EQ(epochs[0].kl_divergence, 0.5);
    EXPECT_FALSE(epochs[0].val_kl_loss.has_value());
    EXPECT_FALSE(epochs[0].val_recon_loss.has_value());

    SQLite::Statement sql(store.db(),
                          "SELECT step, stft_loss IS NULL, kl_loss IS NULL, nonfinite, has_nonfinite, total_steps, "
                          "steps_per_epoch FROM step_metrics WHERE run_id = ?1 ORDER BY step");
    sql.bind(1, run);
    ASSERT_TRUE(sql.executeStep());
    EXPECT_EQ(sql.getColumn(1).getInt(), 1);
    EXPECT_EQ(sql.getColumn(2).getInt(), 1);
    EXPECT_TRUE(sql.getColumn(3).isNull()) << "absent is not non-finite";
    EXPECT_EQ(sql.getColumn(4).getInt(), 0);
    EXPECT_EQ(sql.getColumn(5).getInt(), 7);
    EXPECT_EQ(sql.getColumn(6).getInt(), 7);
    ASSERT_TRUE(sql.executeStep());
    EXPECT_EQ(sql.getColumn(1).getInt(), 0);
    EXPECT_EQ(sql.getColumn(2).getInt(), 1);
    EXPECT_EQ(sql.getColumn(3).getString(), "kl_loss=nan");
    EXPECT_EQ(sql.getColumn(4).getInt(), 1);
    // The flag is what users filter on, in every metrics table.
    for (const char* table : {"step_metrics", "epoch_metrics", "loss_terms"}) {
        SQLite::Statement flagged(store.db(), std::string("SELECT count(*) FROM ") + table +
                                                  " WHERE run_id = ?1 AND has_nonfinite = 1 AND nonfinite IS NOT NULL");
        flagged.bind(1, run);
        ASSERT_TRUE(flagged.executeStep());
        EXPECT_EQ(flagged.getColumn(0).getInt(), std::string(table) == "epoch_metrics" ? 0 : 1) << table;
        SQLite::Statement unflagged(store.db(), std::string("SELECT count(*) FROM ") + table +
                                                    " WHERE run_id = ?1 AND has_nonfinite = 0 AND nonfinite IS NOT NULL");
        unflagged.bind(1, run);
        ASSERT_TRUE(unflagged.executeStep());
        EXPECT_EQ(unflagged.getColumn(0).getInt(), 0) << table;
    }
    // The non_finite event's data is JSON built by a JSON library.
    const auto events = store.events(run, "non_finite");
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].data_json, "{\"fields\":\"kl_loss=nan\",\"table\":\"step_metrics\"}");
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
