// The data section of a report: everything the page draws, read from the
// run database as JSON. Each metrics/events table of a run is given exactly
// as stored ({"columns": [...], "rows": [[...], ...]}, the run's rows in
// order), with one encoding for what JSON cannot hold (docs/report.md):
//   finite REAL or INTEGER -> JSON number
//   +inf / -inf            -> the strings "inf" / "-inf"
//   NULL named as `col=nan` in the row's `nonfinite` column -> the string "nan"
//   any other NULL         -> null (missing)
// The `nonfinite` column itself is kept as stored.
#pragma once

#include "store/run_store.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace distill::report {

struct ReportRequest {
    std::vector<int64_t> run_ids;     // the runs to show (empty with a sweep)
    std::optional<int64_t> sweep_id;  // a sweep: its trials' runs, ranked
    std::string rank_by = "val_loss"; // see ranking.hpp
    bool link_audio = false;          // reference audio files instead of inlining them
    std::filesystem::path output;     // where the page goes (audio links are relative to it)
};

// Tables given for every run, in this order, with the ORDER BY used.
struct RunTable {
    const char* name;
    const char* order_by;
};
extern const RunTable kRunTables[4];

// ReportError for an unknown run, sweep or metric.
nlohmann::json report_data(store::RunStore& db, const ReportRequest& request);

// One stored cell as the report encodes it (see above); `nonfinite` is the
// row's nonfinite text (empty when NULL).
nlohmann::json encode_cell(const SQLite::Column& cell, const std::string& column, const std::string& nonfinite);

}  // namespace distill::report
