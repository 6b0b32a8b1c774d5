// SQL for the metrics rows, shared by MetricsWriter (inserts) and RunStore
// (inserts of single events, readers). The metrics statements, binds and
// reads are generated from the column tables in store/metric_columns.hpp.
#pragma once

#include "store/records.hpp"

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>

#include <string>

namespace distill::store {

extern const std::string kInsertStep;
extern const std::string kInsertEpoch;
extern const std::string kInsertLossTerm;
extern const char* const kInsertEvent;
extern const std::string kSelectSteps;       // ?1 = run_id
extern const std::string kSelectEpochs;      // ?1 = run_id
extern const std::string kSelectLossTerms;   // ?1 = run_id

// Each binds every parameter of its statement and returns the row's
// `nonfinite` text ("" when all values are finite).
std::string bind_step(SQLite::Statement& stmt, int64_t run_id, const StepMetrics& m);
std::string bind_epoch(SQLite::Statement& stmt, int64_t run_id, const EpochMetrics& m);
std::string bind_loss_term(SQLite::Statement& stmt, int64_t run_id, const LossTermRow& row);
void bind_event(SQLite::Statement& stmt, int64_t run_id, const Event& event, const std::string& at);

// A NULL reference column reads as NaN when the row's `nonfinite` names it,
// else as nullopt (no loss entry declared its metric).
StepMetrics read_step(const SQLite::Statement& stmt);
EpochMetrics read_epoch(const SQLite::Statement& stmt);
LossTermRow read_loss_term(const SQLite::Statement& stmt);

// "epoch, step, ..., has_nonfinite": every declared column of a metrics
// table (step_metrics, epoch_metrics, loss_terms) after run_id, in table
// order. Throws std::invalid_argument for another table.
std::string metric_column_list(const std::string& table);

// The `non_finite` event that accompanies a row with non-finite values.
Event non_finite_event(const char* table, int64_t epoch, int64_t step, const std::string& nonfinite);

}  // namespace distill::store
