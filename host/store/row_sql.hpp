// SQL for the metrics rows, shared by MetricsWriter (inserts) and RunStore
// (inserts of single events, readers), so the column lists live in one place.
#pragma once

#include "store/records.hpp"

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>

#include <string>

namespace distill::store {

extern const char* const kInsertStep;
extern const char* const kInsertEpoch;
extern const char* const kInsertLossTerm;
extern const char* const kInsertEvent;
extern const char* const kSelectSteps;   // ?1 = run_id
extern const char* const kSelectEpochs;  // ?1 = run_id

// Each binds every parameter of its statement and returns the row's
// `nonfinite` text ("" when all values are finite).
std::string bind_step(SQLite::Statement& stmt, int64_t run_id, const StepMetrics& m);
std::string bind_epoch(SQLite::Statement& stmt, int64_t run_id, const EpochMetrics& m);
std::string bind_loss_term(SQLite::Statement& stmt, int64_t run_id, const LossTermRow& row);
void bind_event(SQLite::Statement& stmt, int64_t run_id, const Event& event, const std::string& at);

StepMetrics read_step(const SQLite::Statement& stmt);
EpochMetrics read_epoch(const SQLite::Statement& stmt);

// The `non_finite` event that accompanies a row with non-finite values.
Event non_finite_event(const char* table, int64_t epoch, int64_t step, const std::string& nonfinite);

}  // namespace distill::store
