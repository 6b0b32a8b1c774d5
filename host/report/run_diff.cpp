#include "report/run_diff.hpp"

#include "report/errors.hpp"
#include "report/ranking.hpp"
#include "store/nonfinite.hpp"

#include <map>
#include <set>

namespace distill::report {
namespace {

using store::QueryCell;

QueryCell text_cell(const std::string& s) { return {QueryCell::Type::kText, s}; }

bool is_loss(const std::string& column) {
    return column.size() > 5 && column.compare(column.size() - 5, 5, "_loss") == 0;
}

bool same(const QueryCell& x, const QueryCell& y) { return x.type == y.type && x.text == y.text; }

// The run's metrics as one row of cells, through run_query so numbers print
// exactly as `distill query` prints them. The ids are integers: safe to splice.
std::map<std::string, QueryCell> metric_cells(store::RunStore& db, int64_t run_id, std::vector<std::string>& order) {
    const std::string id = std::to_string(run_id);
    std::string select = "SELECT ";
    std::vector<std::string> names;
    // final_/best_ loss columns of run_summary would repeat the epoch rows below.
    const std::set<std::string> summary_numbers = {"final_epoch", "best_val_epoch", "divergence_events", "duration_s"};
    for (const auto& name : metric_names(db.db())) {
        if (summary_numbers.count(name)) {
            select += "s." + name + ", ";
            names.push_back(name);
        }
    }
    std::vector<std::string> epoch_columns;
    for (const auto& name : metric_names(db.db())) {
        const Metric m = resolve_metric(db.db(), name);
        if (m.epoch_sql.empty()) continue;
        epoch_columns.push_back(name);
        select += "f.\"" + name + "\", ";
        names.push_back("final " + name);
        // Lowest is best for losses only (not for learning_rate, elapsed_seconds...).
        if (is_loss(name)) {
            select += m.value_sql + ", ";
            names.push_back("best " + name);
        }
    }
    select += "f.nonfinite FROM run_summary s LEFT JOIN (SELECT * FROM epoch_metrics WHERE run_id = " + id +
              " ORDER BY epoch DESC LIMIT 1) f ON 1 WHERE s.run_id = " + id;
    const store::QueryResult result = store::run_query(db.db(), select);
    std::map<std::string, QueryCell> cells;
    if (result.rows.empty()) return cells;
    const auto& row = result.rows[0];
    const std::string nonfinite = row.back().type == QueryCell::Type::kText ? row.back().text : "";
    for (size_t i = 0; i < names.size(); ++i) cells[names[i]] = row[i];
    // The final row's NaNs: NULL in the column, named in nonfinite.
    for (const auto& name : epoch_columns)
        if (store::listed_as_nan(nonfinite, name.c_str())) cells["final " + name] = text_cell("nan");
    if (order.empty()) order = names;
    return cells;
}

std::map<std::string, QueryCell> plugin_cells(store::RunStore& db, int64_t run_id) {
    const store::QueryResult r = store::run_query(
        db.db(), "SELECT role || '.' || plugin_id, version, library_sha256, weight FROM run_plugins WHERE run_id = " +
                     std::to_string(run_id) + " ORDER BY role DESC, plugin_id");
    std::map<std::string, QueryCell> cells;
    for (const auto& row : r.rows) {
        cells[row[0].text + ".version"] = row[1];
        cells[row[0].text + ".sha256"] = row[2];
        cells[row[0].text + ".weight"] = row[3];
    }
    return cells;
}

// Rows for every key whose cells differ (a key one side lacks is NULL there).
void add_differing(store::QueryResult& out, const std::string& section, const std::map<std::string, QueryCell>& a,
                   const std::map<std::string, QueryCell>& b) {
    std::set<std::string> keys;
    for (const auto& [k, v] : a) keys.insert(k);
    for (const auto& [k, v] : b) keys.insert(k);
    for (const auto& key : keys) {
        const auto ia = a.find(key), ib = b.find(key);
        const QueryCell ca = ia == a.end() ? QueryCell{} : ia->second;
        const QueryCell cb = ib == b.end() ? QueryCell{} : ib->second;
        if (!same(ca, cb)) out.rows.push_back({text_cell(section), text_cell(key), ca, cb});
    }
}

}  // namespace

store::QueryResult diff_runs(store::RunStore& db, int64_t a, int64_t b) {
    if (a == b) throw ReportError("runs diff: give two different runs (both are " + std::to_string(a) + ")");
    std::optional<store::RunRecord> runs[2] = {db.find_run(a), db.find_run(b)};
    for (int i = 0; i < 2; ++i)
        if (!runs[i])
            throw ReportError("no run " + std::to_string(i == 0 ? a : b) + " in '" + db.path().string() + "'");

    store::QueryResult out;
    out.columns = {"section", "key", "run_" + std::to_string(a), "run_" + std::to_string(b)};
    const auto experiment = [&](int64_t id) {
        return store::run_query(db.db(), "SELECT experiment FROM run_summary WHERE run_id = " + std::to_string(id))
            .rows.at(0)
            .at(0);
    };
    out.rows.push_back({text_cell("run"), text_cell("experiment"), experiment(a), experiment(b)});
    out.rows.push_back({text_cell("run"), text_cell("seed"), {QueryCell::Type::kInteger, std::to_string(runs[0]->seed)},
                        {QueryCell::Type::kInteger, std::to_string(runs[1]->seed)}});
    out.rows.push_back({text_cell("run"), text_cell("device"), text_cell(runs[0]->device), text_cell(runs[1]->device)});
    out.rows.push_back({text_cell("run"), text_cell("status"), text_cell(runs[0]->status), text_cell(runs[1]->status)});

    std::map<std::string, QueryCell> params[2];
    for (int i = 0; i < 2; ++i)
        for (const auto& [key, value] : db.params(runs[i]->id)) params[i][key] = text_cell(value);
    add_differing(out, "param", params[0], params[1]);
    add_differing(out, "plugin", plugin_cells(db, a), plugin_cells(db, b));

    std::vector<std::string> order;
    const auto ma = metric_cells(db, a, order);
    const auto mb = metric_cells(db, b, order);
    for (const auto& name : order) {
        const auto ia = ma.find(name), ib = mb.find(name);
        out.rows.push_back({text_cell("metric"), text_cell(name),
                            ia == ma.end() ? QueryCell{} : ia->second, ib == mb.end() ? QueryCell{} : ib->second});
    }
    return out;
}

}  // namespace distill::report
