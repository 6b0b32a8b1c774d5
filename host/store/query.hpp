// `distill query`: one read-only SQL statement against a run database, the
// result as text cells for the CLI's table/csv/json printers.
#pragma once

#include <SQLiteCpp/Database.h>

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

struct QueryCell {
    enum class Type { kNull, kInteger, kReal, kText, kBlob } type = Type::kNull;
    std::string text;  // integers and reals as shortest round-trip text; "inf", "-inf"
};

struct QueryResult {
    std::vector<std::string> columns;
    std::vector<std::vector<QueryCell>> rows;
};

// Runs `sql` on `db` (opened read-only by the caller). Refuses anything that
// is not a single read-only statement before running it.
QueryResult run_query(SQLite::Database& db, const std::string& sql);

}  // namespace distill::store
