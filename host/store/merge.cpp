#include "store/merge.hpp"

#include "store/row_sql.hpp"
#include "store/run_store.hpp"

#include <SQLiteCpp/Statement.h>

namespace distill::store {
namespace fs = std::filesystem;
namespace {

// Tables copied per run, with the columns that follow run_id (the metrics
// tables' from their declarations in store/metric_columns.hpp).
struct PerRunTable {
    const char* name;
    std::string columns;
};
const std::vector<PerRunTable>& per_run_tables() {
    static const std::vector<PerRunTable> tables = {
        {"run_params", "key, value"},
        {"run_plugins", "role, plugin_id, version, library_path, library_sha256, weight"},
        {"step_metrics", metric_column_list("step_metrics")},
        {"epoch_metrics", metric_column_list("epoch_metrics")},
        {"loss_terms", metric_column_list("loss_terms")},
        {"events", "epoch, step, kind, message, data, at"},
    };
    return tables;
}

void check_input(const fs::path& input) {
    try {
        RunStore db(input, OpenMode::kReadOnly);  // refuses a missing file, another schema version, not SQLite
        const std::string check = db.db().execAndGet("PRAGMA quick_check").getString();
        if (check != "ok") throw StoreError("run database '" + input.string() + "' is damaged: " + check);
    } catch (const SQLite::Exception& e) {
        throw StoreError("run database '" + input.string() + "' is damaged: " + e.what());
    }
}

// An artifact path as stored in `from_db`, rewritten for `to_db`.
std::string rebase(const std::string& stored, const fs::path& from_db, const fs::path& to_db) {
    fs::path file(stored);
    if (file.is_relative()) file = fs::absolute(from_db).lexically_normal().parent_path() / file;
    const fs::path out_dir = fs::absolute(to_db).lexically_normal().parent_path();
    const fs::path relative = file.lexically_normal().lexically_relative(out_dir);
    return relative.empty() ? file.string() : relative.string();
}

int64_t add(MergeCounts& counts, const char* table, int64_t n) {
    counts.rows[table] += n;
    return n;
}

MergeCounts merge_one(SQLite::Database& out, const fs::path& out_path, const fs::path& input) {
    MergeCounts counts;
    SQLite::Statement attach(out, "ATTACH DATABASE ?1 AS src");
    attach.bind(1, fs::absolute(input).string());
    attach.exec();
    try {
        write_transaction(out, [&] {
            counts = MergeCounts{};
            add(counts, "experiments",
                out.exec("INSERT OR IGNORE INTO main.experiments (name, toml, hash, created_at) "
                         "SELECT name, toml, hash, created_at FROM src.experiments"));
            // Sweeps by identity (older rows without one: by experiment and grid).
            SQLite::Statement sweeps(out,
                                     "SELECT s.id, s.name, s.grid, s.created_at, s.overrides, s.source_path, s.identity, e.hash "
                                     "FROM src.sweeps s JOIN src.experiments e ON e.id = s.experiment_id");
            std::map<int64_t, int64_t> sweep_ids;
            while (sweeps.executeStep()) {
                SQLite::Statement find(out,
                                       "SELECT s.id FROM main.sweeps s JOIN main.experiments e ON e.id = s.experiment_id "
                                       "WHERE (?1 IS NOT NULL AND s.identity = ?1) OR "
                                       "(?1 IS NULL AND e.hash = ?2 AND s.grid = ?3) ORDER BY s.id LIMIT 1");
                if (sweeps.getColumn(6).isNull()) find.bind(1); else find.bind(1, sweeps.getColumn(6).getString());
                find.bind(2, sweeps.getColumn(7).getString());
                find.bind(3, sweeps.getColumn(2).getString());
                if (find.executeStep()) {
                    sweep_ids[sweeps.getColumn(0).getInt64()] = find.getColumn(0).getInt64();
                    continue;
                }
                SQLite::Statement insert(out,
                                         "INSERT INTO main.sweeps (experiment_id, name, grid, created_at, overrides, "
                                         "source_path, identity) SELECT e.id, ?2, ?3, ?4, ?5, ?6, ?7 FROM main.experiments e "
                                         "WHERE e.hash = ?1");
                insert.bind(1, sweeps.getColumn(7).getString());
                for (int c = 1; c <= 6; ++c) {
                    if (sweeps.getColumn(c).isNull()) insert.bind(c + 1); else insert.bind(c + 1, sweeps.getColumn(c).getString());
                }
                insert.exec();
                sweep_ids[sweeps.getColumn(0).getInt64()] = out.getLastInsertRowid();
                add(counts, "sweeps", 1);
            }

            SQLite::Statement runs(out, "SELECT r.id, r.uuid, r.heartbeat_at, e.hash FROM src.runs r "
                                        "JOIN src.experiments e ON e.id = r.experiment_id ORDER BY r.id");
            while (runs.executeStep()) {
                const int64_t src_id = runs.getColumn(0).getInt64();
                const std::string uuid = runs.getColumn(1).getString();
                SQLite::Statement existing(out, "SELECT id, heartbeat_at FROM main.runs WHERE uuid = ?1");
                existing.bind(1, uuid);
                if (existing.executeStep()) {
                    if (existing.getColumn(1).getString() >= runs.getColumn(2).getString()) {
                        ++counts.runs_unchanged;
                        continue;
                    }
                    // The shard ran on after the last merge: its copy wins.
                    SQLite::Statement del(out, "DELETE FROM main.runs WHERE id = ?1");
                    del.bind(1, existing.getColumn(0).getInt64());
                    del.exec();
                    ++counts.runs_replaced;
                } else {
                    ++counts.runs_added;
                }
                SQLite::Statement insert(out,
                                         "INSERT INTO main.runs (experiment_id, sweep_id, trial_index, status, seed, device, "
                                         "started_at, ended_at, error, host_version, pid, hostname, heartbeat_at, uuid) "
                                         "SELECT (SELECT id FROM main.experiments WHERE hash = ?2), ?3, trial_index, status, "
                                         "seed, device, started_at, ended_at, error, host_version, pid, hostname, "
                                         "heartbeat_at, uuid FROM src.runs WHERE id = ?1");
                insert.bind(1, src_id);
                insert.bind(2, runs.getColumn(3).getString());
                SQLite::Statement sweep_of(out, "SELECT sweep_id FROM src.runs WHERE id = ?1");
                sweep_of.bind(1, src_id);
                sweep_of.executeStep();
                if (sweep_of.getColumn(0).isNull()) insert.bind(3); else insert.bind(3, sweep_ids.at(sweep_of.getColumn(0).getInt64()));
                insert.exec();
                add(counts, "runs", 1);
                const int64_t out_id = out.getLastInsertRowid();
                for (const auto& table : per_run_tables()) {
                    SQLite::Statement copy(out, std::string("INSERT INTO main.") + table.name + " (run_id, " +
                                                    table.columns + ") SELECT ?2, " + table.columns + " FROM src." +
                                                    table.name + " WHERE run_id = ?1 ORDER BY rowid");
                    copy.bind(1, src_id);
                    copy.bind(2, out_id);
                    add(counts, table.name, copy.exec());
                }
                SQLite::Statement artifacts(out, "SELECT kind, path, bytes, sha256, created_at FROM src.artifacts "
                                                 "WHERE run_id = ?1 ORDER BY rowid");
                artifacts.bind(1, src_id);
                while (artifacts.executeStep()) {
                    SQLite::Statement a(out, "INSERT INTO main.artifacts (run_id, kind, path, bytes, sha256, created_at) "
                                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
                    a.bind(1, out_id);
                    a.bind(2, artifacts.getColumn(0).getString());
                    a.bind(3, rebase(artifacts.getColumn(1).getString(), input, out_path));
                    a.bind(4, artifacts.getColumn(2).getInt64());
                    a.bind(5, artifacts.getColumn(3).getString());
                    a.bind(6, artifacts.getColumn(4).getString());
                    a.exec();
                    add(counts, "artifacts", 1);
                }
            }
        });
    } catch (...) {
        out.exec("DETACH DATABASE src");
        throw;
    }
    out.exec("DETACH DATABASE src");
    return counts;
}

}  // namespace

std::vector<MergeCounts> merge_databases(const fs::path& out, const std::vector<fs::path>& inputs) {
    for (const auto& input : inputs) {
        check_input(input);
        std::error_code ec;
        if (fs::exists(out, ec) && fs::equivalent(out, input, ec))
            throw StoreError("db merge: '" + input.string() + "' is the output database itself");
    }
    RunStore db(out);
    std::vector<MergeCounts> all;
    // One input attached at a time (SQLite allows 10 at once).
    for (const auto& input : inputs) {
        try {
            all.push_back(merge_one(db.db(), out, input));
        } catch (const SQLite::Exception& e) {
            throw StoreError("db merge: cannot merge '" + input.string() + "' into '" + out.string() + "': " + e.what());
        }
    }
    return all;
}

}  // namespace distill::store
