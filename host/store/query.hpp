// `distill query`: one read-only SQL statement against a run database. Rows
// are handed on as SQLite produces them, as text cells for the CLI's
// table/csv/json printers; nothing is accumulated, so an endless query runs
// in constant memory.
#pragma once

#include <SQLiteCpp/Database.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace distill::store {

// Invalid SQL, several statements, or a statement that would write. The
// message is SQLite's own where SQLite produced one.
class QueryError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The query ran past QueryOptions::timeout and was interrupted; the rows
// handed on before that stand.
class QueryTimeout : public std::runtime_error {
public:
    QueryTimeout(double seconds, int64_t rows);
    double seconds;
    int64_t rows;
};

struct QueryCell {
    enum class Type { kNull, kInteger, kReal, kText, kBlob } type = Type::kNull;
    std::string text;  // integers and reals as shortest round-trip text; "inf", "-inf"
};

struct QueryOptions {
    // Wall-clock limit for the whole statement, checked while SQLite works
    // (a progress handler) and between rows; none by default.
    std::optional<std::chrono::duration<double>> timeout;
};

using ColumnsSink = std::function<void(const std::vector<std::string>& names)>;
using RowSink = std::function<void(const std::vector<QueryCell>& row)>;

// Runs `sql` on `db` (opened read-only by the caller): `on_columns` once,
// then `on_row` for each row as it comes (the row is reused: copy what you
// keep). Refuses anything that is not a single read-only statement before
// running it. Returns the number of rows; throws QueryTimeout past the
// timeout, QueryError for SQLite's errors.
int64_t stream_query(SQLite::Database& db, const std::string& sql, const QueryOptions& options,
                     const ColumnsSink& on_columns, const RowSink& on_row);

// A whole (small) result at once, for callers that rank or compare rows
// (runs list, runs diff); the same checks as stream_query.
struct QueryResult {
    std::vector<std::string> columns;
    std::vector<std::vector<QueryCell>> rows;
};
QueryResult run_query(SQLite::Database& db, const std::string& sql);

}  // namespace distill::store
