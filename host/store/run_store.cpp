#include "store/run_store.hpp"

#include "store/row_sql.hpp"
#include "store/sha256.hpp"

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <uuid/uuid.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <unistd.h>

namespace distill::store {
namespace {

void bind_optional(SQLite::Statement& stmt, int index, const std::optional<int64_t>& value) {
    if (value) {
        stmt.bind(index, *value);
    } else {
        stmt.bind(index);
    }
}

std::optional<int64_t> optional_int(const SQLite::Column& c) {
    if (c.isNull()) return std::nullopt;
    return c.getInt64();
}

std::optional<std::string> optional_text(const SQLite::Column& c) {
    if (c.isNull()) return std::nullopt;
    return c.getString();
}

bool process_exists(int64_t pid) {
    if (pid <= 0) return false;
    // EPERM means it exists but belongs to someone else.
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

bool is_valid_status(const std::string& status) {
    return status == "running" || status == "completed" || status == "failed" || status == "diverged" ||
           status == "interrupted";
}

std::string sweep_identity(const std::string& experiment_text, const std::string& grid_json,
                           const std::vector<std::string>& overrides) {
    return sha256_hex(nlohmann::json{{"experiment", experiment_text}, {"grid", grid_json}, {"set", overrides}}.dump());
}

std::string new_uuid() {
    uuid_t id;
    uuid_generate_random(id);
    char text[37];
    uuid_unparse_lower(id, text);
    return text;
}

constexpr const char* kRunColumns =
    "SELECT id, experiment_id, sweep_id, trial_index, status, seed, device, started_at, ended_at, error, "
    "host_version, pid, hostname, heartbeat_at, uuid FROM runs ";

RunStore::RunStore(std::filesystem::path path, OpenMode mode) : path_(std::move(path)), db_(open_database(path_, mode)) {
    // SQLite opens a file it may not write read-only without a word; a run
    // would then fail at its first row, after the data has loaded.
    if (mode == OpenMode::kCreate && sqlite3_db_readonly(db_->getHandle(), "main") == 1)
        throw StoreError("run database '" + path_.string() + "': the file is read-only for this user (choose another with --db)");
}

std::unique_ptr<RunStore> RunStore::open_existing(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        throw StoreError("run database '" + path.string() + "': no such file (give the database the run was recorded in with --db)");
    return std::make_unique<RunStore>(path);
}

std::filesystem::path RunStore::files_root() const {
    const std::filesystem::path absolute = std::filesystem::absolute(path_).lexically_normal();
    return absolute.parent_path() / (absolute.stem().string() + ".runs");
}

std::string RunStore::stored_path(const std::filesystem::path& file) const {
    const std::filesystem::path dir = std::filesystem::absolute(path_).lexically_normal().parent_path();
    const std::filesystem::path absolute = std::filesystem::absolute(file).lexically_normal();
    const std::filesystem::path relative = absolute.lexically_relative(dir);
    if (relative.empty() || *relative.begin() == "..") return absolute.string();
    return relative.string();
}

std::filesystem::path RunStore::resolve(const std::string& stored) const {
    const std::filesystem::path p(stored);
    if (p.is_absolute()) return p;
    return std::filesystem::absolute(path_).lexically_normal().parent_path() / p;
}

void RunStore::record_artifact(int64_t run_id, const std::string& kind, const std::filesystem::path& file) {
    const int64_t bytes = static_cast<int64_t>(std::filesystem::file_size(file));
    const std::string digest = sha256_file(file);
    write_transaction(*db_, [&] {
        SQLite::Statement insert(*db_,
                                 "INSERT OR REPLACE INTO artifacts (run_id, kind, path, bytes, sha256, created_at) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        insert.bind(1, run_id);
        insert.bind(2, kind);
        insert.bind(3, stored_path(file));
        insert.bind(4, bytes);
        insert.bind(5, digest);
        insert.bind(6, now_iso8601());
        insert.exec();
    });
}

void RunStore::remove_artifact(int64_t run_id, const std::filesystem::path& file) {
    write_transaction(*db_, [&] {
        SQLite::Statement del(*db_, "DELETE FROM artifacts WHERE run_id = ?1 AND path = ?2");
        del.bind(1, run_id);
        del.bind(2, stored_path(file));
        del.exec();
    });
}

void RunStore::remove_artifacts(int64_t run_id) {
    write_transaction(*db_, [&] {
        SQLite::Statement del(*db_, "DELETE FROM artifacts WHERE run_id = ?1");
        del.bind(1, run_id);
        del.exec();
    });
}

std::vector<ArtifactRow> RunStore::artifacts(int64_t run_id, const std::string& kind) {
    SQLite::Statement select(*db_,
                             "SELECT kind, path, bytes, sha256, created_at FROM artifacts WHERE run_id = ?1 "
                             "AND (?2 = '' OR kind = ?2) ORDER BY rowid");
    select.bind(1, run_id);
    select.bind(2, kind);
    std::vector<ArtifactRow> out;
    while (select.executeStep())
        out.push_back({select.getColumn(0).getString(), select.getColumn(1).getString(), select.getColumn(2).getInt64(),
                       select.getColumn(3).getString(), select.getColumn(4).getString()});
    return out;
}

RowsBefore RunStore::rows_before(int64_t run_id, int64_t epoch, int64_t next_step) {
    RowsBefore out;
    SQLite::Statement steps(*db_,
                            "SELECT count(*) FROM step_metrics WHERE run_id = ?1 AND (epoch < ?2 OR (epoch = ?2 AND step < ?3))");
    steps.bind(1, run_id);
    steps.bind(2, epoch);
    steps.bind(3, next_step);
    steps.executeStep();
    out.step_rows = steps.getColumn(0).getInt64();
    SQLite::Statement epochs(*db_, "SELECT count(*) FROM epoch_metrics WHERE run_id = ?1 AND epoch < ?2");
    epochs.bind(1, run_id);
    epochs.bind(2, epoch);
    epochs.executeStep();
    out.epoch_rows = epochs.getColumn(0).getInt64();
    return out;
}

std::string RunStore::experiment_text(int64_t experiment_id) {
    SQLite::Statement select(*db_, "SELECT toml FROM experiments WHERE id = ?1");
    select.bind(1, experiment_id);
    if (!select.executeStep())
        throw StoreError("run database '" + path_.string() + "' has no experiment " + std::to_string(experiment_id));
    return select.getColumn(0).getString();
}

std::optional<SweepRecord> RunStore::find_sweep_record(int64_t sweep_id) {
    SQLite::Statement select(*db_,
                             "SELECT s.id, s.experiment_id, s.name, s.grid, e.toml, s.source_path, s.overrides "
                             "FROM sweeps s JOIN experiments e ON e.id = s.experiment_id WHERE s.id = ?1");
    select.bind(1, sweep_id);
    if (!select.executeStep()) return std::nullopt;
    SweepRecord r;
    r.id = select.getColumn(0).getInt64();
    r.experiment_id = select.getColumn(1).getInt64();
    r.name = select.getColumn(2).getString();
    r.grid_json = select.getColumn(3).getString();
    r.experiment_text = select.getColumn(4).getString();
    if (!select.getColumn(5).isNull()) r.source_path = select.getColumn(5).getString();
    r.overrides = nlohmann::json::parse(select.getColumn(6).getString()).get<std::vector<std::string>>();
    return r;
}

std::optional<RunRecord> RunStore::latest_trial_run(int64_t sweep_id, int64_t trial_index) {
    SQLite::Statement select(*db_, std::string(kRunColumns) +
                                       "WHERE sweep_id = ?1 AND trial_index = ?2 ORDER BY id DESC LIMIT 1");
    select.bind(1, sweep_id);
    select.bind(2, trial_index);
    if (!select.executeStep()) return std::nullopt;
    return read_run(select);
}

std::optional<RunRecord> RunStore::find_run_by_uuid(const std::string& uuid) {
    SQLite::Statement select(*db_, std::string(kRunColumns) + "WHERE uuid = ?1");
    select.bind(1, uuid);
    if (!select.executeStep()) return std::nullopt;
    return read_run(select);
}

std::vector<OracleRow> RunStore::oracle_results(const std::string& settings_hash, const std::string& corpus_fingerprint) {
    SQLite::Statement select(*db_,
                             "SELECT file, chunks, spectral_convergence, log_spectral_distance_db, mrstft, mel_error, "
                             "if_error FROM oracle_results WHERE settings_hash = ?1 AND corpus_fingerprint = ?2 "
                             "ORDER BY file = '', rowid");
    select.bind(1, settings_hash);
    select.bind(2, corpus_fingerprint);
    std::vector<OracleRow> rows;
    while (select.executeStep())
        rows.push_back({select.getColumn(0).getString(), select.getColumn(1).getInt64(), select.getColumn(2).getDouble(),
                        select.getColumn(3).getDouble(), select.getColumn(4).getDouble(), select.getColumn(5).getDouble(),
                        select.getColumn(6).getDouble()});
    return rows;
}

void RunStore::record_oracle(const std::string& settings_hash, const std::string& settings_json,
                             const std::string& corpus_fingerprint, const std::vector<OracleRow>& rows) {
    write_transaction(*db_, [&] {
        SQLite::Statement insert(*db_,
                                 "INSERT OR REPLACE INTO oracle_results (settings_hash, settings, corpus_fingerprint, file, "
                                 "chunks, spectral_convergence, log_spectral_distance_db, mrstft, mel_error, if_error, "
                                 "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
        for (const auto& r : rows) {
            insert.bind(1, settings_hash);
            insert.bind(2, settings_json);
            insert.bind(3, corpus_fingerprint);
            insert.bind(4, r.file);
            insert.bind(5, r.chunks);
            insert.bind(6, r.spectral_convergence);
            insert.bind(7, r.log_spectral_distance_db);
            insert.bind(8, r.mrstft);
            insert.bind(9, r.mel_error);
            insert.bind(10, r.if_error);
            insert.bind(11, now_iso8601());
            insert.exec();
            insert.reset();
        }
    });
}

std::vector<RunRecord> RunStore::runs_with_status(const std::string& status) {
    SQLite::Statement select(*db_, std::string(kRunColumns) + "WHERE status = ?1 ORDER BY id");
    select.bind(1, status);
    std::vector<RunRecord> out;
    while (select.executeStep()) out.push_back(read_run(select));
    return out;
}

RunStore::~RunStore() = default;

int64_t RunStore::record_experiment(const std::string& name, const std::string& toml_text) {
    const std::string hash = sha256_hex(toml_text);
    int64_t id = 0;
    write_transaction(*db_, [&] {
        SQLite::Statement insert(*db_,
                                 "INSERT OR IGNORE INTO experiments (name, toml, hash, created_at) VALUES (?1, ?2, ?3, ?4)");
        insert.bind(1, name);
        insert.bind(2, toml_text);
        insert.bind(3, hash);
        insert.bind(4, now_iso8601());
        insert.exec();
        SQLite::Statement select(*db_, "SELECT id FROM experiments WHERE hash = ?1");
        select.bind(1, hash);
        select.executeStep();
        id = select.getColumn(0).getInt64();
    });
    return id;
}

int64_t RunStore::create_sweep(int64_t experiment_id, const std::string& name, const std::string& grid_json,
                               const std::string& source_path, const std::vector<std::string>& overrides) {
    int64_t id = 0;
    write_transaction(*db_, [&] {
        SQLite::Statement insert(*db_,
                                 "INSERT INTO sweeps (experiment_id, name, grid, created_at, source_path, overrides, identity) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        insert.bind(1, experiment_id);
        insert.bind(2, name);
        insert.bind(3, grid_json);
        insert.bind(4, now_iso8601());
        if (source_path.empty()) {
            insert.bind(5);
        } else {
            insert.bind(5, source_path);
        }
        insert.bind(6, nlohmann::json(overrides).dump());
        insert.bind(7, sweep_identity(experiment_text(experiment_id), grid_json, overrides));
        insert.exec();
        id = db_->getLastInsertRowid();
    });
    return id;
}

int64_t RunStore::create_run(const RunInfo& info) {
    mark_stale_runs_interrupted();
    int64_t id = 0;
    write_transaction(*db_, [&] {
        SQLite::Statement insert(*db_,
                                 "INSERT INTO runs (experiment_id, sweep_id, trial_index, status, seed, device, "
                                 "started_at, host_version, pid, hostname, heartbeat_at, uuid) "
                                 "VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?6, ?10)");
        insert.bind(1, info.experiment_id);
        bind_optional(insert, 2, info.sweep_id);
        bind_optional(insert, 3, info.trial_index);
        insert.bind(4, info.seed);
        insert.bind(5, info.device);
        insert.bind(6, now_iso8601());
        insert.bind(7, info.host_version);
        insert.bind(8, static_cast<int64_t>(::getpid()));
        insert.bind(9, hostname());
        insert.bind(10, info.uuid.empty() ? new_uuid() : info.uuid);
        insert.exec();
        id = db_->getLastInsertRowid();
    });
    return id;
}

void RunStore::record_params(int64_t run_id, const std::vector<std::pair<std::string, std::string>>& params) {
    write_transaction(*db_, [&] {
        SQLite::Statement insert(*db_, "INSERT OR REPLACE INTO run_params (run_id, key, value) VALUES (?1, ?2, ?3)");
        for (const auto& [key, value] : params) {
            insert.bind(1, run_id);
            insert.bind(2, key);
            insert.bind(3, value);
            insert.exec();
            insert.reset();
        }
    });
}

void RunStore::record_plugins(int64_t run_id, const std::vector<PluginRow>& plugins) {
    write_transaction(*db_, [&] {
        SQLite::Statement insert(*db_,
                                 "INSERT INTO run_plugins (run_id, role, plugin_id, version, library_path, "
                                 "library_sha256, weight) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        for (const auto& p : plugins) {
            insert.bind(1, run_id);
            insert.bind(2, p.role);
            insert.bind(3, p.plugin_id);
            insert.bind(4, p.version);
            insert.bind(5, p.library_path);
            insert.bind(6, p.library_sha256);
            if (p.weight) {
                insert.bind(7, *p.weight);
            } else {
                insert.bind(7);
            }
            insert.exec();
            insert.reset();
        }
    });
}

void RunStore::finish_run(int64_t run_id, const std::string& status, const std::string& error) {
    if (!is_valid_status(status) || status == "running")
        throw StoreError("finish_run: '" + status + "' is not a final status (completed, failed, diverged, interrupted)");
    write_transaction(*db_, [&] {
        SQLite::Statement update(*db_,
                                 "UPDATE runs SET status = ?2, error = ?3, ended_at = ?4, heartbeat_at = ?4 WHERE id = ?1");
        update.bind(1, run_id);
        update.bind(2, status);
        if (error.empty()) {
            update.bind(3);
        } else {
            update.bind(3, error);
        }
        update.bind(4, now_iso8601());
        if (update.exec() != 1) throw StoreError("finish_run: no run " + std::to_string(run_id) + " in '" + path_.string() + "'");
    });
}

void RunStore::set_status(int64_t run_id, const std::string& status) {
    if (!is_valid_status(status)) throw StoreError("set_status: unknown status '" + status + "'");
    if (status != "running") return finish_run(run_id, status);
    write_transaction(*db_, [&] {
        SQLite::Statement update(*db_,
                                 "UPDATE runs SET status = 'running', error = NULL, ended_at = NULL, pid = ?2, "
                                 "hostname = ?3, heartbeat_at = ?4 WHERE id = ?1");
        update.bind(1, run_id);
        update.bind(2, static_cast<int64_t>(::getpid()));
        update.bind(3, hostname());
        update.bind(4, now_iso8601());
        if (update.exec() != 1) throw StoreError("set_status: no run " + std::to_string(run_id) + " in '" + path_.string() + "'");
    });
}

int RunStore::mark_stale_runs_interrupted(double stale_after_s) {
    const std::string here = hostname();
    int marked = 0;
    write_transaction(*db_, [&] {
        marked = 0;
        SQLite::Statement select(*db_,
                                 "SELECT id, pid, hostname, heartbeat_at, "
                                 "(julianday('now') - julianday(heartbeat_at)) * 86400.0 FROM runs "
                                 "WHERE status = 'running'");
        std::vector<std::pair<int64_t, std::string>> stale;
        while (select.executeStep()) {
            const int64_t pid = select.getColumn(1).getInt64();
            const std::string host = select.getColumn(2).getString();
            const double age_s = select.getColumn(4).getDouble();
            // Our own process is alive by definition, whatever the heartbeat.
            const bool dead = host == here ? !process_exists(pid) : age_s > stale_after_s;
            if (dead) stale.emplace_back(select.getColumn(0).getInt64(), select.getColumn(3).getString());
        }
        SQLite::Statement update(*db_,
                                 "UPDATE runs SET status = 'interrupted', ended_at = ?2 WHERE id = ?1 AND status = 'running'");
        SQLite::Statement event(*db_, kInsertEvent);
        for (const auto& [id, heartbeat] : stale) {
            update.bind(1, id);
            update.bind(2, heartbeat);
            update.exec();
            update.reset();
            Event e;
            e.kind = "interrupted";
            e.message = "process stopped without finishing the run (last heartbeat " + heartbeat + ")";
            bind_event(event, id, e, now_iso8601());
            event.exec();
            event.reset();
            ++marked;
        }
    });
    return marked;
}

void RunStore::delete_rows_after(int64_t run_id, int64_t epoch) { delete_rows_from(run_id, epoch + 1, 0); }

void RunStore::delete_rows_from(int64_t run_id, int64_t epoch, int64_t step) {
    // Rows without a step (validation loss_terms, epoch-level events) belong
    // to the end of their epoch, which comes after any step of it.
    static const char* const kDeletes[] = {
        "DELETE FROM step_metrics WHERE run_id = ?1 AND (epoch > ?2 OR (epoch = ?2 AND step >= ?3))",
        "DELETE FROM epoch_metrics WHERE run_id = ?1 AND epoch >= ?2",
        "DELETE FROM loss_terms WHERE run_id = ?1 AND (epoch > ?2 OR (epoch = ?2 AND (step IS NULL OR step >= ?3)))",
        "DELETE FROM events WHERE run_id = ?1 AND kind IN ('non_finite', 'divergence') AND "
        "(epoch > ?2 OR (epoch = ?2 AND (step IS NULL OR step >= ?3)))"};
    write_transaction(*db_, [&] {
        for (const char* sql : kDeletes) {
            SQLite::Statement del(*db_, sql);
            del.bind(1, run_id);
            del.bind(2, epoch);
            if (del.getBindParameterCount() >= 3) del.bind(3, step);  // epoch_metrics has no step
            del.exec();
        }
    });
}

std::optional<int64_t> RunStore::find_sweep(int64_t experiment_id, const std::string& grid_json) {
    SQLite::Statement select(*db_, "SELECT id FROM sweeps WHERE experiment_id = ?1 AND grid = ?2 ORDER BY id DESC LIMIT 1");
    select.bind(1, experiment_id);
    select.bind(2, grid_json);
    if (!select.executeStep()) return std::nullopt;
    return select.getColumn(0).getInt64();
}

std::optional<int64_t> RunStore::find_sweep_by_identity(const std::string& identity) {
    SQLite::Statement select(*db_, "SELECT id FROM sweeps WHERE identity = ?1 ORDER BY id LIMIT 1");
    select.bind(1, identity);
    if (!select.executeStep()) return std::nullopt;
    return select.getColumn(0).getInt64();
}

std::optional<std::string> RunStore::sweep_grid(int64_t sweep_id) {
    SQLite::Statement select(*db_, "SELECT grid FROM sweeps WHERE id = ?1");
    select.bind(1, sweep_id);
    if (!select.executeStep()) return std::nullopt;
    return select.getColumn(0).getString();
}

bool RunStore::trial_completed(int64_t sweep_id, int64_t trial_index) {
    SQLite::Statement select(*db_,
                             "SELECT 1 FROM runs WHERE sweep_id = ?1 AND trial_index = ?2 AND status = 'completed'");
    select.bind(1, sweep_id);
    select.bind(2, trial_index);
    return select.executeStep();
}

std::vector<TrialSummary> RunStore::sweep_trials(int64_t sweep_id) {
    SQLite::Statement select(*db_, R"sql(
        SELECT s.trial_index, s.run_id, s.status, s.best_val_loss, s.best_val_epoch,
               (SELECT group_concat(substr(key, 7) || '=' || value, ', ')
                  FROM (SELECT key, value FROM run_params p WHERE p.run_id = s.run_id AND key LIKE 'sweep.%'
                        ORDER BY key)) AS swept
          FROM run_summary s
         WHERE s.sweep_id = ?1
           AND s.run_id = (SELECT r.id FROM runs r WHERE r.sweep_id = ?1 AND r.trial_index = s.trial_index
                           ORDER BY (r.status = 'completed') DESC, r.id DESC LIMIT 1)
         ORDER BY s.trial_index)sql");
    select.bind(1, sweep_id);
    std::vector<TrialSummary> trials;
    while (select.executeStep()) {
        TrialSummary t;
        t.trial_index = select.getColumn(0).getInt64();
        t.run_id = select.getColumn(1).getInt64();
        t.status = select.getColumn(2).getString();
        if (!select.getColumn(3).isNull()) t.best_val_loss = select.getColumn(3).getDouble();
        if (!select.getColumn(4).isNull()) t.best_epoch = select.getColumn(4).getInt64();
        if (!select.getColumn(5).isNull()) t.swept_params = select.getColumn(5).getString();
        trials.push_back(std::move(t));
    }
    return trials;
}

void RunStore::add_event(int64_t run_id, const Event& event) {
    write_transaction(*db_, [&] {
        SQLite::Statement insert(*db_, kInsertEvent);
        bind_event(insert, run_id, event, now_iso8601());
        insert.exec();
    });
}

std::optional<RunRecord> RunStore::find_run(int64_t run_id) {
    SQLite::Statement select(*db_, std::string(kRunColumns) + "WHERE id = ?1");
    select.bind(1, run_id);
    if (!select.executeStep()) return std::nullopt;
    return read_run(select);
}

RunRecord RunStore::read_run(SQLite::Statement& select) {
    RunRecord r;
    r.id = select.getColumn(0).getInt64();
    r.experiment_id = select.getColumn(1).getInt64();
    r.sweep_id = optional_int(select.getColumn(2));
    r.trial_index = optional_int(select.getColumn(3));
    r.status = select.getColumn(4).getString();
    r.seed = select.getColumn(5).getInt64();
    r.device = select.getColumn(6).getString();
    r.started_at = select.getColumn(7).getString();
    r.ended_at = optional_text(select.getColumn(8));
    r.error = optional_text(select.getColumn(9));
    r.host_version = select.getColumn(10).getString();
    r.pid = select.getColumn(11).getInt64();
    r.hostname = select.getColumn(12).getString();
    r.heartbeat_at = optional_text(select.getColumn(13));
    r.uuid = select.getColumn(14).getString();
    return r;
}

RunRecord RunStore::run(int64_t run_id) {
    auto r = find_run(run_id);
    if (!r) throw StoreError("no run " + std::to_string(run_id) + " in '" + path_.string() + "'");
    return *r;
}

std::vector<std::pair<std::string, std::string>> RunStore::params(int64_t run_id) {
    SQLite::Statement select(*db_, "SELECT key, value FROM run_params WHERE run_id = ?1 ORDER BY key");
    select.bind(1, run_id);
    std::vector<std::pair<std::string, std::string>> out;
    while (select.executeStep()) out.emplace_back(select.getColumn(0).getString(), select.getColumn(1).getString());
    return out;
}

std::vector<PluginRow> RunStore::plugins(int64_t run_id) {
    SQLite::Statement select(*db_,
                             "SELECT role, plugin_id, version, library_path, library_sha256, weight FROM run_plugins "
                             "WHERE run_id = ?1 ORDER BY rowid");
    select.bind(1, run_id);
    std::vector<PluginRow> out;
    while (select.executeStep()) {
        PluginRow p{select.getColumn(0).getString(), select.getColumn(1).getString(), select.getColumn(2).getString(),
                    select.getColumn(3).getString(), select.getColumn(4).getString(), std::nullopt};
        if (!select.getColumn(5).isNull()) p.weight = select.getColumn(5).getDouble();
        out.push_back(std::move(p));
    }
    return out;
}

std::vector<StepMetrics> RunStore::steps(int64_t run_id) {
    SQLite::Statement select(*db_, kSelectSteps);
    select.bind(1, run_id);
    std::vector<StepMetrics> out;
    while (select.executeStep()) out.push_back(read_step(select));
    return out;
}

std::vector<EpochMetrics> RunStore::epochs(int64_t run_id) {
    SQLite::Statement select(*db_, kSelectEpochs);
    select.bind(1, run_id);
    std::vector<EpochMetrics> out;
    while (select.executeStep()) out.push_back(read_epoch(select));
    return out;
}

std::vector<LossTermRow> RunStore::loss_terms(int64_t run_id) {
    SQLite::Statement select(*db_, kSelectLossTerms);
    select.bind(1, run_id);
    std::vector<LossTermRow> out;
    while (select.executeStep()) out.push_back(read_loss_term(select));
    return out;
}

std::vector<Event> RunStore::events(int64_t run_id, const std::string& kind) {
    SQLite::Statement select(*db_,
                             "SELECT epoch, step, kind, message, data FROM events WHERE run_id = ?1 "
                             "AND (?2 = '' OR kind = ?2) ORDER BY rowid");
    select.bind(1, run_id);
    select.bind(2, kind);
    std::vector<Event> out;
    while (select.executeStep()) {
        Event e;
        e.epoch = select.getColumn(0).isNull() ? -1 : select.getColumn(0).getInt64();
        e.step = select.getColumn(1).isNull() ? -1 : select.getColumn(1).getInt64();
        e.kind = select.getColumn(2).getString();
        e.message = select.getColumn(3).getString();
        e.data_json = select.getColumn(4).isNull() ? "" : select.getColumn(4).getString();
        out.push_back(std::move(e));
    }
    return out;
}

int64_t RunStore::count_rows(const std::string& table, int64_t run_id) {
    static const char* const kTables[] = {"step_metrics", "epoch_metrics", "loss_terms", "events", "run_params",
                                          "run_plugins"};
    bool known = false;
    for (const char* t : kTables) known = known || table == t;
    if (!known) throw StoreError("count_rows: '" + table + "' is not a per-run table");
    SQLite::Statement select(*db_, "SELECT count(*) FROM " + table + " WHERE run_id = ?1");
    select.bind(1, run_id);
    select.executeStep();
    return select.getColumn(0).getInt64();
}

}  // namespace distill::store
