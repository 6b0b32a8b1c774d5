#include "report/report_data.hpp"

#include "report/errors.hpp"
#include "report/ranking.hpp"
#include "store/nonfinite.hpp"

#include <SQLiteCpp/Statement.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

namespace distill::report {

namespace fs = std::filesystem;
using nlohmann::json;

const RunTable kRunTables[4] = {
    {"epoch_metrics", "epoch"},
    {"step_metrics", "epoch, step"},
    {"loss_terms", "rowid"},  // insertion order: per step, then the epoch's val terms
    {"events", "rowid"},
};

namespace {

json optional_json(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
json optional_json(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }
json optional_json(const std::optional<double>& v) {
    if (!v) return nullptr;
    if (std::isinf(*v)) return *v > 0 ? "inf" : "-inf";
    return *v;
}

json table_rows(SQLite::Database& db, const RunTable& table, int64_t run_id) {
    SQLite::Statement select(db, std::string("SELECT * FROM ") + table.name + " WHERE run_id = ?1 ORDER BY " +
                                     table.order_by);
    select.bind(1, run_id);
    json columns = json::array();
    int nonfinite_index = -1;
    for (int i = 0; i < select.getColumnCount(); ++i) {
        const std::string name = select.getColumnName(i);
        if (name == "nonfinite") nonfinite_index = i;
        columns.push_back(name);
    }
    json rows = json::array();
    while (select.executeStep()) {
        std::string nonfinite;
        if (nonfinite_index >= 0 && !select.getColumn(nonfinite_index).isNull())
            nonfinite = select.getColumn(nonfinite_index).getString();
        json row = json::array();
        for (int i = 0; i < select.getColumnCount(); ++i)
            row.push_back(encode_cell(select.getColumn(i), columns[static_cast<size_t>(i)], nonfinite));
        rows.push_back(std::move(row));
    }
    return {{"columns", std::move(columns)}, {"rows", std::move(rows)}};
}

// Base64 through OpenSSL, in blocks (EVP_EncodeBlock takes an int length).
std::string base64(const std::string& bytes) {
    constexpr size_t kBlock = 3 * 1024 * 1024;  // a multiple of 3: no padding inside
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::vector<unsigned char> buffer(kBlock / 3 * 4 + 1);
    for (size_t at = 0; at < bytes.size(); at += kBlock) {
        const size_t n = std::min(kBlock, bytes.size() - at);
        const int written = EVP_EncodeBlock(buffer.data(), reinterpret_cast<const unsigned char*>(bytes.data() + at),
                                            static_cast<int>(n));
        out.append(reinterpret_cast<const char*>(buffer.data()), static_cast<size_t>(written));
    }
    return out;
}

std::string audio_mime(const fs::path& file) {
    const std::string ext = file.extension().string();
    if (ext == ".flac") return "audio/flac";
    if (ext == ".ogg" || ext == ".oga") return "audio/ogg";
    if (ext == ".mp3") return "audio/mpeg";
    return "audio/wav";
}

// The run's artifacts of kind `audio`: inlined as data: URIs, or linked
// relative to the page.
json audio_entries(store::RunStore& db, int64_t run_id, const ReportRequest& request, json& notes) {
    json audio = json::array();
    for (const auto& artifact : db.artifacts(run_id, "audio")) {
        const fs::path file = db.resolve(artifact.path);
        json entry = {{"path", artifact.path}, {"bytes", artifact.bytes}};
        if (request.link_audio) {
            const fs::path base = fs::absolute(request.output).parent_path();
            entry["src"] = fs::absolute(file).lexically_relative(base).generic_string();
        } else {
            std::ifstream in(file, std::ios::binary);
            if (!in) {
                notes.push_back("run " + std::to_string(run_id) + ": audio file " + file.string() + " is missing");
                continue;
            }
            const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            entry["src"] = "data:" + audio_mime(file) + ";base64," + base64(bytes);
        }
        audio.push_back(std::move(entry));
    }
    return audio;
}

json run_json(store::RunStore& db, int64_t run_id, const Metric& metric, const ReportRequest& request, json& notes) {
    const auto run = db.find_run(run_id);
    if (!run) throw ReportError("no run " + std::to_string(run_id) + " in '" + db.path().string() + "'");
    SQLite::Statement summary(db.db(), "SELECT experiment, duration_s FROM run_summary WHERE run_id = ?1");
    summary.bind(1, run_id);
    summary.executeStep();
    json params = json::object();
    for (const auto& [key, value] : db.params(run_id)) params[key] = value;
    json plugins = json::array();
    for (const auto& p : db.plugins(run_id))
        plugins.push_back({{"role", p.role},
                           {"plugin_id", p.plugin_id},
                           {"version", p.version},
                           {"library_path", p.library_path},
                           {"library_sha256", p.library_sha256},
                           {"weight", optional_json(p.weight)}});
    json tables = json::object();
    for (const auto& table : kRunTables) tables[table.name] = table_rows(db.db(), table, run_id);
    if (tables["epoch_metrics"]["rows"].empty())
        notes.push_back("run " + std::to_string(run_id) + " has no epoch rows yet (status " + run->status +
                        "): no per-epoch curves for it");
    return {{"id", run->id},
            {"uuid", run->uuid},
            {"experiment", summary.getColumn(0).getString()},
            {"status", run->status},
            {"device", run->device},
            {"seed", run->seed},
            {"host_version", run->host_version},
            {"started_at", run->started_at},
            {"ended_at", optional_json(run->ended_at)},
            {"duration_s", summary.getColumn(1).isNull() ? json(nullptr) : json(summary.getColumn(1).getDouble())},
            {"error", optional_json(run->error)},
            {"sweep_id", optional_json(run->sweep_id)},
            {"trial_index", optional_json(run->trial_index)},
            {"rank_value", optional_json(metric_value(db, run_id, metric))},
            {"params", std::move(params)},
            {"plugins", std::move(plugins)},
            {"tables", std::move(tables)},
            {"audio", audio_entries(db, run_id, request, notes)}};
}

// Keys whose value is not the same in every run (missing counts as a
// value); every key when there is one run.
json params_shown(const json& runs) {
    std::set<std::string> keys;
    for (const auto& run : runs)
        for (const auto& [key, value] : run["params"].items()) keys.insert(key);
    json shown = json::array();
    for (const auto& key : keys) {
        bool differs = false;
        for (const auto& run : runs) differs = differs || run["params"].value(key, json()) != runs[0]["params"].value(key, json());
        if (runs.size() == 1 || differs) shown.push_back(key);
    }
    return shown;
}

}  // namespace

json encode_cell(const SQLite::Column& cell, const std::string& column, const std::string& nonfinite) {
    if (cell.isInteger()) return cell.getInt64();
    if (cell.isFloat()) {
        const double v = cell.getDouble();
        if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
        return v;
    }
    if (cell.isText()) return cell.getString();
    if (cell.isNull() && store::listed_as_nan(nonfinite, column.c_str())) return "nan";
    return nullptr;
}

json report_data(store::RunStore& db, const ReportRequest& request) {
    const Metric metric = resolve_metric(db.db(), request.rank_by);
    json notes = json::array();
    json runs = json::array();
    json sweep = nullptr;
    if (request.sweep_id) {
        const auto record = db.find_sweep_record(*request.sweep_id);
        if (!record)
            throw ReportError("no sweep " + std::to_string(*request.sweep_id) + " in '" + db.path().string() + "'");
        const auto ranked = rank_sweep(db, *request.sweep_id, metric);
        // ordered_json keeps the grid's key order (first key varies slowest).
        const auto grid = nlohmann::ordered_json::parse(record->grid_json, nullptr, false);
        json keys = json::array();
        if (grid.is_object())
            for (const auto& [key, values] : grid.items()) keys.push_back(key);
        json trials = json::array();
        for (const auto& r : ranked) {
            json swept = json::object();
            for (const auto& [key, value] : db.params(r.trial.run_id))
                if (key.rfind("sweep.", 0) == 0) swept[key.substr(6)] = value;
            trials.push_back({{"rank", r.rank},
                              {"trial_index", r.trial.trial_index},
                              {"run_id", r.trial.run_id},
                              {"status", r.trial.status},
                              {"value", optional_json(r.value)},
                              {"epoch", optional_json(r.epoch)},
                              {"params", std::move(swept)}});
            runs.push_back(run_json(db, r.trial.run_id, metric, request, notes));
        }
        sweep = {{"id", record->id},
                 {"name", record->name},
                 {"grid", json::parse(grid.dump())},
                 {"keys", keys},
                 {"overrides", record->overrides},
                 {"trials", std::move(trials)},
                 {"best_run_id", ranked.front().value ? json(ranked.front().trial.run_id) : json(nullptr)}};
    } else {
        if (request.run_ids.empty()) throw ReportError("which runs? (give run ids, or --sweep ID)");
        for (int64_t id : request.run_ids) runs.push_back(run_json(db, id, metric, request, notes));
    }
    json shown = params_shown(runs);
    std::string title;
    if (request.sweep_id) {
        title = "sweep " + std::to_string(*request.sweep_id) + ": " + sweep["name"].get<std::string>();
    } else {
        title = runs.size() == 1 ? "run " : "runs ";
        for (size_t i = 0; i < runs.size(); ++i)
            title += (i ? ", " : "") + std::to_string(runs[i]["id"].get<int64_t>());
        title += ": " + runs[0]["experiment"].get<std::string>();
    }
    return {{"format", "distill-report/1"},
            {"title", title},
            {"generated_at", store::now_iso8601()},
            {"database", fs::absolute(db.path()).string()},
            {"encoding",
             "numbers as JSON numbers; +inf/-inf as the strings \"inf\"/\"-inf\"; NaN (stored as NULL and named "
             "in the row's nonfinite column) as the string \"nan\"; null = missing"},
            {"rank_by", {{"name", metric.name}, {"description", metric.description},
                         {"per_epoch", !metric.epoch_sql.empty()}}},
            {"params_shown", std::move(shown)},
            {"notes", std::move(notes)},
            {"sweep", std::move(sweep)},
            {"runs", std::move(runs)}};
}

}  // namespace distill::report
