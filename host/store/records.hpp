// The plain values the store takes and gives back. No torch: the trainer
// converts its tensors to these before calling the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace distill::store {

// One optimizer step: a step_metrics row (docs/schema.md; what each value
// means: docs/reference.md#5-metrics). Doubles may be NaN
// or +-inf; they round-trip exactly (docs/schema.md, "Non-finite values").
// The optional ones are reference columns: nullopt (stored as NULL) when no
// loss entry of the experiment declares their metric (store/metric_columns.hpp).
// Which column holds which field is declared once, in metric_columns.hpp.
struct StepMetrics {
    int64_t epoch = 0, step = 0;
    int64_t steps_per_epoch = 0;  // stored twice: total_steps (its first name) and steps_per_epoch
    double train_loss = 0, learning_rate = 0, step_time_s = 0;
    std::optional<double> recon_loss, kl_loss, kl_weight, stft_loss, mag_recon_loss, if_recon_loss;
};

// One epoch: an epoch_metrics row (docs/schema.md); optionals as above.
struct EpochMetrics {
    int64_t epoch = 0, total_epochs = 0;
    double train_loss = 0, val_loss = 0, overfitting_gap = 0, learning_rate = 0, eta_seconds = 0,
           elapsed_seconds = 0;
    std::optional<double> val_recon_loss, val_kl_loss, kl_divergence, val_stft_loss, val_mag_recon_loss,
        val_if_recon_loss;
};

// One loss plugin's value. step = -1 means "not tied to a step" (e.g. val),
// stored as NULL.
struct LossTermRow {
    int64_t epoch = 0, step = -1;
    std::string split;  // "train" | "val"
    std::string term;
    double raw = 0, weighted = 0;
};

// epoch/step = -1 mean "none" (stored as NULL). data_json empty = NULL.
struct Event {
    int64_t epoch = -1, step = -1;
    std::string kind, message, data_json;
};

struct RunInfo {
    std::string uuid;  // empty: create_run makes a new one
    int64_t experiment_id = 0;
    std::optional<int64_t> sweep_id, trial_index;
    int64_t seed = 0;
    std::string device, host_version;
};

struct PluginRow {
    std::string role;  // "model" | "loss"
    std::string plugin_id, version, library_path, library_sha256;
    std::optional<double> weight;  // losses only
};

// One file a run left behind. `path` is as stored: relative to the
// database's folder, or absolute when the file lies outside it.
struct ArtifactRow {
    std::string kind;  // checkpoint | best | last | audio | report | log
    std::string path;
    int64_t bytes = 0;
    std::string sha256, created_at;
};

// One row of `distill oracle`: a file's round trip (file empty: the total).
struct OracleRow {
    std::string file;
    int64_t chunks = 0;
    double spectral_convergence = 0, log_spectral_distance_db = 0, mrstft = 0, mel_error = 0, if_error = 0;
};

// What a sweep recorded about itself, enough to rebuild every trial.
struct SweepRecord {
    int64_t id = 0, experiment_id = 0;
    std::string name, grid_json, experiment_text;
    std::string source_path;             // the file as the sweep was started with
    std::vector<std::string> overrides;  // its --set list
};

// One trial of a sweep as `sweep show` ranks it.
struct TrialSummary {
    int64_t trial_index = 0, run_id = 0;
    std::string status;
    std::optional<double> best_val_loss;
    std::optional<int64_t> best_epoch;
    std::string swept_params;  // "key=value, ..." from the run's sweep.* params
};

// What `runs show` and the tests read back about one run.
struct RunRecord {
    int64_t id = 0, experiment_id = 0;
    std::string uuid;
    std::optional<int64_t> sweep_id, trial_index;
    std::string status, device, host_version, started_at, hostname;
    std::optional<std::string> ended_at, error, heartbeat_at;
    int64_t seed = 0, pid = 0;
};

}  // namespace distill::store
