// Ranking runs by a named metric, shared by `sweep show --rank-by`,
// `runs list --sort` and the report's trials table. A metric is either a
// column of the run_summary view, taken as it is (final_val_loss,
// duration_s, ...), or an epoch_metrics column taken at the run's best
// (lowest) epoch (val_loss, val_stft_loss, ...: a column added to
// epoch_metrics is rankable with no code change). Lower ranks first; runs
// with no value (no epoch rows, every value NaN) rank last.
#pragma once

#include "store/records.hpp"
#include "store/run_store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace distill::report {

struct Metric {
    std::string name;         // as asked for: "val_loss", "duration_s"
    std::string description;  // "lowest val_loss over the run's epochs"
    // SQL expressions over the view run_summary aliased `s`, built from
    // column names read from the schema only, so they are safe to splice.
    std::string value_sql;
    std::string epoch_sql;    // the epoch where the value was reached; empty for run_summary columns
    bool numeric = true;      // false for text columns (experiment, status, ...): sortable, not rankable
};

// Every name resolve_metric accepts (epoch_metrics columns first).
std::vector<std::string> metric_names(SQLite::Database& db, bool include_text = false);

// ReportError naming the metric, with the nearest known name and the list,
// when `name` is no metric (or a text column and !allow_text).
Metric resolve_metric(SQLite::Database& db, const std::string& name, bool allow_text = false);

struct RankedTrial {
    store::TrialSummary trial;
    std::optional<double> value;   // NULL (missing, or NaN) -> nullopt
    std::optional<int64_t> epoch;  // where the value was reached (epoch metrics)
    int rank = 0;                  // 1 = best
};

// The sweep's trials (one run each, as RunStore::sweep_trials picks them)
// ranked by `metric`; ties keep trial order. ReportError when the sweep does
// not exist or has no runs.
std::vector<RankedTrial> rank_sweep(store::RunStore& db, int64_t sweep_id, const Metric& metric);

// The value of `metric` for one run.
std::optional<double> metric_value(store::RunStore& db, int64_t run_id, const Metric& metric);

}  // namespace distill::report
