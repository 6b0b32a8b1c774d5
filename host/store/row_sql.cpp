#include "store/row_sql.hpp"

#include "store/nonfinite.hpp"

namespace distill::store {

const char* const kInsertStep =
    "INSERT INTO step_metrics (run_id, epoch, step, total_steps, train_loss, recon_loss, kl_loss, kl_weight, "
    "learning_rate, step_time_s, stft_loss, mag_recon_loss, if_recon_loss, nonfinite) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
const char* const kInsertEpoch =
    "INSERT INTO epoch_metrics (run_id, epoch, total_epochs, train_loss, val_loss, val_recon_loss, val_kl_loss, "
    "kl_divergence, overfitting_gap, learning_rate, eta_seconds, elapsed_seconds, val_stft_loss, "
    "val_mag_recon_loss, val_if_recon_loss, nonfinite) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
const char* const kInsertLossTerm =
    "INSERT INTO loss_terms (run_id, epoch, step, split, term, raw, weighted, nonfinite) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const char* const kInsertEvent =
    "INSERT INTO events (run_id, epoch, step, kind, message, data, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const char* const kSelectSteps =
    "SELECT epoch, step, total_steps, train_loss, recon_loss, kl_loss, kl_weight, learning_rate, step_time_s, "
    "stft_loss, mag_recon_loss, if_recon_loss FROM step_metrics WHERE run_id = ?1 ORDER BY epoch, step";
const char* const kSelectEpochs =
    "SELECT epoch, total_epochs, train_loss, val_loss, val_recon_loss, val_kl_loss, kl_divergence, "
    "overfitting_gap, learning_rate, eta_seconds, elapsed_seconds, val_stft_loss, val_mag_recon_loss, "
    "val_if_recon_loss FROM epoch_metrics WHERE run_id = ?1 ORDER BY epoch";

namespace {

void bind_optional_index(SQLite::Statement& stmt, int index, int64_t value) {
    if (value < 0) {
        stmt.bind(index);
    } else {
        stmt.bind(index, value);
    }
}

void bind_optional_text(SQLite::Statement& stmt, int index, const std::string& value) {
    if (value.empty()) {
        stmt.bind(index);
    } else {
        stmt.bind(index, value);
    }
}

}  // namespace

std::string bind_step(SQLite::Statement& stmt, int64_t run_id, const StepMetrics& m) {
    stmt.bind(1, run_id);
    stmt.bind(2, m.epoch);
    stmt.bind(3, m.step);
    stmt.bind(4, m.total_steps);
    NonFiniteList nf;
    nf.bind(stmt, 5, "train_loss", m.train_loss);
    nf.bind(stmt, 6, "recon_loss", m.recon_loss);
    nf.bind(stmt, 7, "kl_loss", m.kl_loss);
    nf.bind(stmt, 8, "kl_weight", m.kl_weight);
    nf.bind(stmt, 9, "learning_rate", m.learning_rate);
    nf.bind(stmt, 10, "step_time_s", m.step_time_s);
    nf.bind(stmt, 11, "stft_loss", m.stft_loss);
    nf.bind(stmt, 12, "mag_recon_loss", m.mag_recon_loss);
    nf.bind(stmt, 13, "if_recon_loss", m.if_recon_loss);
    nf.bind_list(stmt, 14);
    return nf.text();
}

std::string bind_epoch(SQLite::Statement& stmt, int64_t run_id, const EpochMetrics& m) {
    stmt.bind(1, run_id);
    stmt.bind(2, m.epoch);
    stmt.bind(3, m.total_epochs);
    NonFiniteList nf;
    nf.bind(stmt, 4, "train_loss", m.train_loss);
    nf.bind(stmt, 5, "val_loss", m.val_loss);
    nf.bind(stmt, 6, "val_recon_loss", m.val_recon_loss);
    nf.bind(stmt, 7, "val_kl_loss", m.val_kl_loss);
    nf.bind(stmt, 8, "kl_divergence", m.kl_divergence);
    nf.bind(stmt, 9, "overfitting_gap", m.overfitting_gap);
    nf.bind(stmt, 10, "learning_rate", m.learning_rate);
    nf.bind(stmt, 11, "eta_seconds", m.eta_seconds);
    nf.bind(stmt, 12, "elapsed_seconds", m.elapsed_seconds);
    nf.bind(stmt, 13, "val_stft_loss", m.val_stft_loss);
    nf.bind(stmt, 14, "val_mag_recon_loss", m.val_mag_recon_loss);
    nf.bind(stmt, 15, "val_if_recon_loss", m.val_if_recon_loss);
    nf.bind_list(stmt, 16);
    return nf.text();
}

std::string bind_loss_term(SQLite::Statement& stmt, int64_t run_id, const LossTermRow& row) {
    stmt.bind(1, run_id);
    stmt.bind(2, row.epoch);
    bind_optional_index(stmt, 3, row.step);
    stmt.bind(4, row.split);
    stmt.bind(5, row.term);
    NonFiniteList nf;
    nf.bind(stmt, 6, "raw", row.raw);
    nf.bind(stmt, 7, "weighted", row.weighted);
    nf.bind_list(stmt, 8);
    return nf.text();
}

void bind_event(SQLite::Statement& stmt, int64_t run_id, const Event& event, const std::string& at) {
    stmt.bind(1, run_id);
    bind_optional_index(stmt, 2, event.epoch);
    bind_optional_index(stmt, 3, event.step);
    stmt.bind(4, event.kind);
    stmt.bind(5, event.message);
    bind_optional_text(stmt, 6, event.data_json);
    stmt.bind(7, at);
}

StepMetrics read_step(const SQLite::Statement& stmt) {
    StepMetrics m;
    m.epoch = stmt.getColumn(0).getInt64();
    m.step = stmt.getColumn(1).getInt64();
    m.total_steps = stmt.getColumn(2).getInt64();
    m.train_loss = read_metric(stmt, 3);
    m.recon_loss = read_metric(stmt, 4);
    m.kl_loss = read_metric(stmt, 5);
    m.kl_weight = read_metric(stmt, 6);
    m.learning_rate = read_metric(stmt, 7);
    m.step_time_s = read_metric(stmt, 8);
    m.stft_loss = read_metric(stmt, 9);
    m.mag_recon_loss = read_metric(stmt, 10);
    m.if_recon_loss = read_metric(stmt, 11);
    return m;
}

EpochMetrics read_epoch(const SQLite::Statement& stmt) {
    EpochMetrics m;
    m.epoch = stmt.getColumn(0).getInt64();
    m.total_epochs = stmt.getColumn(1).getInt64();
    m.train_loss = read_metric(stmt, 2);
    m.val_loss = read_metric(stmt, 3);
    m.val_recon_loss = read_metric(stmt, 4);
    m.val_kl_loss = read_metric(stmt, 5);
    m.kl_divergence = read_metric(stmt, 6);
    m.overfitting_gap = read_metric(stmt, 7);
    m.learning_rate = read_metric(stmt, 8);
    m.eta_seconds = read_metric(stmt, 9);
    m.elapsed_seconds = read_metric(stmt, 10);
    m.val_stft_loss = read_metric(stmt, 11);
    m.val_mag_recon_loss = read_metric(stmt, 12);
    m.val_if_recon_loss = read_metric(stmt, 13);
    return m;
}

Event non_finite_event(const char* table, int64_t epoch, int64_t step, const std::string& nonfinite) {
    Event e;
    e.epoch = epoch;
    e.step = step;
    e.kind = "non_finite";
    e.message = std::string("non-finite value in ") + table + ": " + nonfinite;
    // nonfinite is "name=nan,..." with identifier names and nan/inf/-inf, so
    // it needs no JSON escaping.
    e.data_json = std::string("{\"table\":\"") + table + "\",\"fields\":\"" + nonfinite + "\"}";
    return e;
}

}  // namespace distill::store
