#include "store/row_sql.hpp"

#include "store/metric_columns.hpp"
#include "store/nonfinite.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace distill::store {

namespace {

template <class Row>
std::string column_list(const MetricTable<Row>& table) {
    std::string list;
    for (const Column<Row>& c : table) list += (list.empty() ? "" : ", ") + std::string(c.name);
    return list;
}

// INSERT INTO t (run_id, <columns>) VALUES (?1, ?2, ...): column i is
// parameter i + 2.
template <class Row>
std::string insert_sql(const MetricTable<Row>& table) {
    std::string values = "?1";
    for (size_t i = 0; i < table.count; ++i) values += ", ?" + std::to_string(i + 2);
    return std::string("INSERT INTO ") + table.name + " (run_id, " + column_list(table) + ") VALUES (" + values + ")";
}

// SELECT <columns> FROM t WHERE run_id = ?1: column i is result column i.
template <class Row>
std::string select_sql(const MetricTable<Row>& table) {
    return "SELECT " + column_list(table) + " FROM " + table.name + " WHERE run_id = ?1 ORDER BY " + table.order_by;
}

template <class Row>
std::string bind_row(SQLite::Statement& stmt, int64_t run_id, const MetricTable<Row>& table, const Row& row) {
    stmt.bind(1, run_id);
    NonFiniteList nf;
    // Values first, so the list is complete when its own columns are bound.
    for (size_t i = 0; i < table.count; ++i) {
        const Column<Row>& c = table.columns[i];
        const int index = static_cast<int>(i) + 2;
        switch (c.kind) {
            case ColumnKind::kInteger: stmt.bind(index, row.*c.integer); break;
            case ColumnKind::kIndex:
                if (row.*c.integer < 0) stmt.bind(index); else stmt.bind(index, row.*c.integer);
                break;
            case ColumnKind::kText: stmt.bind(index, row.*c.text); break;
            case ColumnKind::kReal: nf.bind(stmt, index, c.name, row.*c.real); break;
            case ColumnKind::kReference: nf.bind(stmt, index, c.name, row.*c.reference); break;
            case ColumnKind::kNonfiniteList:
            case ColumnKind::kNonfiniteFlag: break;
        }
    }
    for (size_t i = 0; i < table.count; ++i) {
        const int index = static_cast<int>(i) + 2;
        if (table.columns[i].kind == ColumnKind::kNonfiniteList) nf.bind_list(stmt, index);
        if (table.columns[i].kind == ColumnKind::kNonfiniteFlag) stmt.bind(index, nf.empty() ? 0 : 1);
    }
    return nf.text();
}

template <class Row>
Row read_row(const SQLite::Statement& stmt, const MetricTable<Row>& table) {
    std::string nonfinite;
    for (size_t i = 0; i < table.count; ++i) {
        const SQLite::Column v = stmt.getColumn(static_cast<int>(i));
        if (table.columns[i].kind == ColumnKind::kNonfiniteList && !v.isNull()) nonfinite = v.getString();
    }
    Row row;
    for (size_t i = 0; i < table.count; ++i) {
        const Column<Row>& c = table.columns[i];
        const int index = static_cast<int>(i);
        const SQLite::Column v = stmt.getColumn(index);
        switch (c.kind) {
            case ColumnKind::kInteger: row.*c.integer = v.getInt64(); break;
            case ColumnKind::kIndex: row.*c.integer = v.isNull() ? -1 : v.getInt64(); break;
            case ColumnKind::kText: row.*c.text = v.getString(); break;
            case ColumnKind::kReal: row.*c.real = read_metric(stmt, index); break;
            case ColumnKind::kReference:
                if (!v.isNull()) row.*c.reference = v.getDouble();
                else if (listed_as_nan(nonfinite, c.name)) row.*c.reference = read_metric(stmt, index);
                else row.*c.reference = std::nullopt;
                break;
            case ColumnKind::kNonfiniteList:
            case ColumnKind::kNonfiniteFlag: break;
        }
    }
    return row;
}

}  // namespace

const std::string kInsertStep = insert_sql(kStepTable);
const std::string kInsertEpoch = insert_sql(kEpochTable);
const std::string kInsertLossTerm = insert_sql(kLossTermTable);
const char* const kInsertEvent =
    "INSERT INTO events (run_id, epoch, step, kind, message, data, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const std::string kSelectSteps = select_sql(kStepTable);
const std::string kSelectEpochs = select_sql(kEpochTable);
const std::string kSelectLossTerms = select_sql(kLossTermTable);

std::string bind_step(SQLite::Statement& stmt, int64_t run_id, const StepMetrics& m) {
    return bind_row(stmt, run_id, kStepTable, m);
}

std::string bind_epoch(SQLite::Statement& stmt, int64_t run_id, const EpochMetrics& m) {
    return bind_row(stmt, run_id, kEpochTable, m);
}

std::string bind_loss_term(SQLite::Statement& stmt, int64_t run_id, const LossTermRow& row) {
    return bind_row(stmt, run_id, kLossTermTable, row);
}

void bind_event(SQLite::Statement& stmt, int64_t run_id, const Event& event, const std::string& at) {
    stmt.bind(1, run_id);
    if (event.epoch < 0) stmt.bind(2); else stmt.bind(2, event.epoch);
    if (event.step < 0) stmt.bind(3); else stmt.bind(3, event.step);
    stmt.bind(4, event.kind);
    stmt.bind(5, event.message);
    if (event.data_json.empty()) stmt.bind(6); else stmt.bind(6, event.data_json);
    stmt.bind(7, at);
}

StepMetrics read_step(const SQLite::Statement& stmt) { return read_row(stmt, kStepTable); }
EpochMetrics read_epoch(const SQLite::Statement& stmt) { return read_row(stmt, kEpochTable); }
LossTermRow read_loss_term(const SQLite::Statement& stmt) { return read_row(stmt, kLossTermTable); }

std::string metric_column_list(const std::string& table) {
    if (table == kStepTable.name) return column_list(kStepTable);
    if (table == kEpochTable.name) return column_list(kEpochTable);
    if (table == kLossTermTable.name) return column_list(kLossTermTable);
    throw std::invalid_argument("'" + table + "' is not a metrics table");
}

Event non_finite_event(const char* table, int64_t epoch, int64_t step, const std::string& nonfinite) {
    Event e;
    e.epoch = epoch;
    e.step = step;
    e.kind = "non_finite";
    e.message = std::string("non-finite value in ") + table + ": " + nonfinite;
    e.data_json = nlohmann::json{{"table", table}, {"fields", nonfinite}}.dump();
    return e;
}

}  // namespace distill::store
