#include "store/query.hpp"

#include <sqlite3.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <memory>

namespace distill::store {
namespace {

std::string format_real(double v) {
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[32];
    // %.17g round-trips every double; try shorter first for readability.
    for (int precision = 6; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

bool only_whitespace_or_semicolons(const char* p) {
    for (; *p; ++p)
        if (!std::isspace(static_cast<unsigned char>(*p)) && *p != ';') return false;
    return true;
}

}  // namespace

QueryResult run_query(SQLite::Database& db, const std::string& sql) {
    sqlite3* handle = db.getHandle();
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    if (sqlite3_prepare_v2(handle, sql.c_str(), static_cast<int>(sql.size()) + 1, &raw, &tail) != SQLITE_OK)
        throw QueryError(sqlite3_errmsg(handle));
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, &sqlite3_finalize);
    if (!stmt) throw QueryError("empty query");
    if (tail && !only_whitespace_or_semicolons(tail)) throw QueryError("one statement at a time, please");
    if (!sqlite3_stmt_readonly(stmt.get()))
        throw QueryError("refusing to run a statement that writes: `distill query` is read-only");

    QueryResult result;
    const int n = sqlite3_column_count(stmt.get());
    for (int i = 0; i < n; ++i) result.columns.emplace_back(sqlite3_column_name(stmt.get(), i));
    for (;;) {
        const int rc = sqlite3_step(stmt.get());
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) throw QueryError(sqlite3_errmsg(handle));
        std::vector<QueryCell> row(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) {
            QueryCell& cell = row[static_cast<size_t>(i)];
            switch (sqlite3_column_type(stmt.get(), i)) {
                case SQLITE_INTEGER:
                    cell.type = QueryCell::Type::kInteger;
                    cell.text = std::to_string(sqlite3_column_int64(stmt.get(), i));
                    break;
                case SQLITE_FLOAT:
                    cell.type = QueryCell::Type::kReal;
                    cell.text = format_real(sqlite3_column_double(stmt.get(), i));
                    break;
                case SQLITE_TEXT:
                    cell.type = QueryCell::Type::kText;
                    cell.text = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), i));
                    break;
                case SQLITE_BLOB:
                    cell.type = QueryCell::Type::kBlob;
                    cell.text = "<blob " + std::to_string(sqlite3_column_bytes(stmt.get(), i)) + " bytes>";
                    break;
                default:
                    break;
            }
        }
        result.rows.push_back(std::move(row));
    }
    return result;
}

}  // namespace distill::store
