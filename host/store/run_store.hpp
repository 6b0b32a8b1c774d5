// The run database as the trainer, the sweep runner and the CLI see it: one
// object per process, used from one thread. Metrics rows go through
// MetricsWriter (metrics_writer.hpp), which has its own connection.
#pragma once

#include "store/database.hpp"
#include "store/records.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace distill::store {

// A run on another host is taken as dead when its heartbeat is older than
// this (the writer refreshes it at least every kHeartbeatSeconds).
constexpr double kStaleAfterSeconds = 300.0;
constexpr double kHeartbeatSeconds = 30.0;

// Valid values of runs.status.
bool is_valid_status(const std::string& status);

// A fresh random (version 4) UUID as lower-case text: a run's identity.
std::string new_uuid();

// What makes a sweep the same sweep in any database (its shards merge into
// one): a hash of its experiment text, grid and --set list.
std::string sweep_identity(const std::string& experiment_text, const std::string& grid_json,
                           const std::vector<std::string>& overrides);

// Rows a run holds before a training position (epoch, next step): what a
// checkpoint taken there needs to be consistent with the database.
struct RowsBefore {
    int64_t step_rows = 0;   // step_metrics rows at earlier positions
    int64_t epoch_rows = 0;  // epoch_metrics rows of earlier epochs
};

class RunStore {
public:
    // Opens or creates (and migrates) the database; StoreError naming the file
    // on any problem, including a file this process cannot write (kCreate).
    // kReadOnly never creates or changes the file.
    explicit RunStore(std::filesystem::path path, OpenMode mode = OpenMode::kCreate);
    // For commands that continue something already recorded (--resume): a
    // missing file is an error, never a new empty database.
    static std::unique_ptr<RunStore> open_existing(const std::filesystem::path& path);
    ~RunStore();
    RunStore(const RunStore&) = delete;
    RunStore& operator=(const RunStore&) = delete;

    const std::filesystem::path& path() const { return path_; }
    SQLite::Database& db() { return *db_; }

    // Same TOML text (by SHA-256) -> same id; the first name recorded stays.
    int64_t record_experiment(const std::string& name, const std::string& toml_text);
    int64_t create_sweep(int64_t experiment_id, const std::string& name, const std::string& grid_json,
                         const std::string& source_path = "", const std::vector<std::string>& overrides = {});
    std::optional<SweepRecord> find_sweep_record(int64_t sweep_id);
    // The TOML text recorded for an experiment id (StoreError when missing).
    std::string experiment_text(int64_t experiment_id);
    // The newest sweep of this experiment text with this grid, if any.
    std::optional<int64_t> find_sweep(int64_t experiment_id, const std::string& grid_json);
    std::optional<int64_t> find_sweep_by_identity(const std::string& identity);
    // The sweep's grid JSON, or nullopt when there is no such sweep.
    std::optional<std::string> sweep_grid(int64_t sweep_id);
    bool trial_completed(int64_t sweep_id, int64_t trial_index);
    // The trial's newest run, if it has any.
    std::optional<RunRecord> latest_trial_run(int64_t sweep_id, int64_t trial_index);
    // One row per trial that has runs: its completed run, else its newest.
    std::vector<TrialSummary> sweep_trials(int64_t sweep_id);

    // Marks stale runs interrupted first, then inserts the run as `running`
    // with its uuid (a new one when info.uuid is empty), this process's pid,
    // hostname and a fresh heartbeat.
    int64_t create_run(const RunInfo& info);
    void record_params(int64_t run_id, const std::vector<std::pair<std::string, std::string>>& params);
    void record_plugins(int64_t run_id, const std::vector<PluginRow>& plugins);

    // status: completed | failed | diverged | interrupted. Sets ended_at;
    // error empty = NULL.
    void finish_run(int64_t run_id, const std::string& status, const std::string& error = "");
    // E.g. back to `running` on resume: clears ended_at and error, takes over
    // the run with this process's pid/hostname and a fresh heartbeat.
    void set_status(int64_t run_id, const std::string& status);
    // Runs left `running` by a process that is gone: on this host, its pid no
    // longer exists; on another host, its heartbeat is older than
    // stale_after_s. Each becomes `interrupted` (ended_at = last heartbeat)
    // with an `interrupted` event. Returns how many.
    int mark_stale_runs_interrupted(double stale_after_s = kStaleAfterSeconds);
    // For resume from the checkpoint of `epoch`: removes step_metrics,
    // epoch_metrics and loss_terms rows with a later epoch.
    void delete_rows_after(int64_t run_id, int64_t epoch);
    // For resume at a position inside an epoch (`epoch` unfinished, `step`
    // the next step to run): removes every step row at or after it, the
    // epoch rows from `epoch` on, their loss_terms, and the non_finite /
    // divergence events the redone steps will write again.
    void delete_rows_from(int64_t run_id, int64_t epoch, int64_t step);
    // Appends one event now (outside any writer), e.g. `resumed`.
    void add_event(int64_t run_id, const Event& event);
    RowsBefore rows_before(int64_t run_id, int64_t epoch, int64_t next_step);

    // Where runs' files live by default: <db dir>/<db stem>.runs/
    std::filesystem::path files_root() const;
    // Records a file the run wrote (size and SHA-256 read now); the same path
    // again replaces the row. The path is stored relative to the database's
    // folder when it lies inside it.
    void record_artifact(int64_t run_id, const std::string& kind, const std::filesystem::path& file);
    void remove_artifact(int64_t run_id, const std::filesystem::path& file);
    void remove_artifacts(int64_t run_id);
    // In creation order; kind empty = all.
    std::vector<ArtifactRow> artifacts(int64_t run_id, const std::string& kind = "");
    // An artifact's stored path as an absolute path.
    std::filesystem::path resolve(const std::string& stored_path) const;
    std::optional<RunRecord> find_run_by_uuid(const std::string& uuid);

    // The oracle's rows for these settings and corpus (empty: never measured).
    std::vector<OracleRow> oracle_results(const std::string& settings_hash, const std::string& corpus_fingerprint);
    void record_oracle(const std::string& settings_hash, const std::string& settings_json,
                       const std::string& corpus_fingerprint, const std::vector<OracleRow>& rows);
    std::vector<RunRecord> runs_with_status(const std::string& status);

    // Readers for the CLI and tests.
    std::optional<RunRecord> find_run(int64_t run_id);
    RunRecord run(int64_t run_id);  // StoreError when missing
    std::vector<std::pair<std::string, std::string>> params(int64_t run_id);
    std::vector<PluginRow> plugins(int64_t run_id);
    std::vector<StepMetrics> steps(int64_t run_id);     // ordered by epoch, step
    std::vector<EpochMetrics> epochs(int64_t run_id);   // ordered by epoch
    std::vector<LossTermRow> loss_terms(int64_t run_id);
    std::vector<Event> events(int64_t run_id, const std::string& kind = "");  // in insertion order
    // Rows of `table` (a metrics/params/events table name) for a run.
    int64_t count_rows(const std::string& table, int64_t run_id);

private:
    std::string stored_path(const std::filesystem::path& file) const;
    RunRecord read_run(SQLite::Statement& select);

    std::filesystem::path path_;
    std::unique_ptr<SQLite::Database> db_;
};

}  // namespace distill::store
