#include "store/query.hpp"

#include <sqlite3.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

// How often SQLite's progress handler runs, in virtual machine instructions:
// cheap enough to be invisible, frequent enough to stop within milliseconds.
constexpr int kProgressOps = 10000;

class Deadline {
public:
    explicit Deadline(const std::optional<std::chrono::duration<double>>& timeout) {
        if (!timeout) return;
        seconds_ = timeout->count();
        end_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(*timeout);
        armed_ = true;
    }
    bool armed() const { return armed_; }
    bool passed() const { return armed_ && std::chrono::steady_clock::now() >= end_; }
    double seconds() const { return seconds_; }

private:
    bool armed_ = false;
    double seconds_ = 0;
    std::chrono::steady_clock::time_point end_;
};

// Installs the progress handler for the statement's lifetime.
class ProgressGuard {
public:
    ProgressGuard(sqlite3* db, const Deadline* deadline) : db_(db) {
        if (deadline == nullptr) return;
        sqlite3_progress_handler(
            db, kProgressOps, [](void* d) { return static_cast<const Deadline*>(d)->passed() ? 1 : 0; },
            const_cast<Deadline*>(deadline));
    }
    ~ProgressGuard() { sqlite3_progress_handler(db_, 0, nullptr, nullptr); }
    ProgressGuard(const ProgressGuard&) = delete;
    ProgressGuard& operator=(const ProgressGuard&) = delete;

private:
    sqlite3* db_;
};

}  // namespace

QueryTimeout::QueryTimeout(double limit_seconds, int64_t rows_done)
    : std::runtime_error("query stopped by its timeout of " + format_real(limit_seconds) + " s after " +
                         std::to_string(rows_done) + (rows_done == 1 ? " row" : " rows")),
      seconds(limit_seconds),
      rows(rows_done) {}

int64_t stream_query(SQLite::Database& db, const std::string& sql, const QueryOptions& options,
                     const ColumnsSink& on_columns, const RowSink& on_row) {
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

    Deadline deadline(options.timeout);
    // SQLite calls this every kProgressOps virtual machine instructions, so
    // a statement that yields no rows for a long time is stopped too.
    ProgressGuard progress(handle, deadline.armed() ? &deadline : nullptr);

    const int n = sqlite3_column_count(stmt.get());
    std::vector<std::string> columns;
    for (int i = 0; i < n; ++i) columns.emplace_back(sqlite3_column_name(stmt.get(), i));
    on_columns(columns);
    std::vector<QueryCell> row(static_cast<size_t>(n));
    int64_t rows = 0;
    for (;;) {
        const int rc = sqlite3_step(stmt.get());
        if (rc == SQLITE_DONE) break;
        if (rc == SQLITE_INTERRUPT && deadline.passed()) throw QueryTimeout(deadline.seconds(), rows);
        if (rc != SQLITE_ROW) throw QueryError(sqlite3_errmsg(handle));
        for (int i = 0; i < n; ++i) {
            QueryCell& cell = row[static_cast<size_t>(i)];
            cell.text.clear();
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
                    cell.type = QueryCell::Type::kNull;
                    break;
            }
        }
        on_row(row);
        ++rows;
        // Between rows too: printing (a slow pipe) is not SQLite's time.
        if (deadline.passed()) throw QueryTimeout(deadline.seconds(), rows);
    }
    return rows;
}

QueryResult run_query(SQLite::Database& db, const std::string& sql) {
    QueryResult result;
    stream_query(
        db, sql, QueryOptions{}, [&](const std::vector<std::string>& names) { result.columns = names; },
        [&](const std::vector<QueryCell>& row) { result.rows.push_back(row); });
    return result;
}

}  // namespace distill::store
