// `distill runs diff A B`: what differs between two runs, as rows the CLI
// prints like a query result (table, csv, json). Columns: section, key,
// run_<A>, run_<B>. Sections:
//   run     experiment, seed, device, status (always)
//   param   only the resolved parameters whose values differ (missing = NULL)
//   plugin  only the plugin fields that differ: <role>.<id>.version|sha256|weight
//   metric  always: final_epoch, best_val_epoch, divergence_events,
//           duration_s, then every epoch_metrics column's final value and,
//           for the *_loss columns, its best (lowest) value
// NaN (stored as NULL, named in `nonfinite`) is the text "nan"; +-inf are
// reals printed "inf"/"-inf".
#pragma once

#include "store/query.hpp"
#include "store/run_store.hpp"

#include <cstdint>

namespace distill::report {

// ReportError naming the run when either is missing, or when a == b.
store::QueryResult diff_runs(store::RunStore& db, int64_t a, int64_t b);

}  // namespace distill::report
