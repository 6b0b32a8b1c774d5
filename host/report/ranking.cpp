#include "report/ranking.hpp"

#include "common/suggest.hpp"
#include "report/errors.hpp"
#include "store/schema.hpp"

#include <SQLiteCpp/Statement.h>

#include <algorithm>
#include <set>

namespace distill::report {
namespace {

// epoch_metrics columns that are positions or bookkeeping, not metrics.
const std::set<std::string> kEpochNonMetrics = {"run_id", "epoch", "total_epochs", "nonfinite"};
// run_summary columns holding text: they sort, but rank nothing.
const std::set<std::string> kSummaryText = {"experiment", "status", "params", "started_at", "ended_at"};

std::string quoted(const std::string& identifier) {
    std::string out = "\"";
    for (char c : identifier) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

}  // namespace

std::vector<std::string> metric_names(SQLite::Database& db, bool include_text) {
    std::vector<std::string> names;
    for (const auto& c : store::table_columns(db, "epoch_metrics"))
        if (!kEpochNonMetrics.count(c)) names.push_back(c);
    for (const auto& c : store::table_columns(db, "run_summary"))
        if (include_text || !kSummaryText.count(c)) names.push_back(c);
    return names;
}

Metric resolve_metric(SQLite::Database& db, const std::string& name, bool allow_text) {
    Metric m;
    m.name = name;
    const auto epoch_columns = store::table_columns(db, "epoch_metrics");
    if (!kEpochNonMetrics.count(name) &&
        std::find(epoch_columns.begin(), epoch_columns.end(), name) != epoch_columns.end()) {
        const std::string col = "e." + quoted(name);
        m.description = "lowest " + name + " over the run's epochs";
        m.value_sql = "(SELECT min(" + col + ") FROM epoch_metrics e WHERE e.run_id = s.run_id)";
        m.epoch_sql = "(SELECT e.epoch FROM epoch_metrics e WHERE e.run_id = s.run_id AND " + col +
                      " IS NOT NULL ORDER BY " + col + ", e.epoch LIMIT 1)";
        return m;
    }
    const auto summary_columns = store::table_columns(db, "run_summary");
    if (std::find(summary_columns.begin(), summary_columns.end(), name) != summary_columns.end() &&
        (allow_text || !kSummaryText.count(name))) {
        m.description = name + " from run_summary";
        m.value_sql = "s." + quoted(name);
        m.numeric = !kSummaryText.count(name);
        return m;
    }
    const auto names = metric_names(db, allow_text);
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw ReportError("unknown metric '" + name + "'" + did_you_mean(name, names) + "; known: " + list);
}

std::optional<double> metric_value(store::RunStore& db, int64_t run_id, const Metric& metric) {
    SQLite::Statement select(db.db(), "SELECT " + metric.value_sql + " FROM run_summary s WHERE s.run_id = ?1");
    select.bind(1, run_id);
    if (!select.executeStep() || select.getColumn(0).isNull()) return std::nullopt;
    return select.getColumn(0).getDouble();
}

std::vector<RankedTrial> rank_sweep(store::RunStore& db, int64_t sweep_id, const Metric& metric) {
    if (!db.sweep_grid(sweep_id))
        throw ReportError("no sweep " + std::to_string(sweep_id) + " in '" + db.path().string() + "'");
    std::vector<RankedTrial> ranked;
    for (auto& trial : db.sweep_trials(sweep_id)) {
        RankedTrial r;
        r.trial = std::move(trial);
        SQLite::Statement select(db.db(), "SELECT " + metric.value_sql + ", " +
                                              (metric.epoch_sql.empty() ? "NULL" : metric.epoch_sql) +
                                              " FROM run_summary s WHERE s.run_id = ?1");
        select.bind(1, r.trial.run_id);
        if (select.executeStep()) {
            if (!select.getColumn(0).isNull()) r.value = select.getColumn(0).getDouble();
            if (!select.getColumn(1).isNull()) r.epoch = select.getColumn(1).getInt64();
        }
        ranked.push_back(std::move(r));
    }
    if (ranked.empty())
        throw ReportError("sweep " + std::to_string(sweep_id) + " has no runs in '" + db.path().string() + "'");
    std::stable_sort(ranked.begin(), ranked.end(), [](const RankedTrial& a, const RankedTrial& b) {
        if (a.value.has_value() != b.value.has_value()) return a.value.has_value();
        return a.value && *a.value < *b.value;
    });
    for (size_t i = 0; i < ranked.size(); ++i) ranked[i].rank = static_cast<int>(i) + 1;
    return ranked;
}

}  // namespace distill::report
