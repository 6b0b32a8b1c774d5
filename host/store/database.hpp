// Opening a run database: checks that give a clear error naming the file,
// WAL, busy timeout, foreign keys, schema migration; and the retrying write
// transaction every writer uses.
#pragma once

#include <SQLiteCpp/Database.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

namespace distill::store {

// Every store failure: the message names the database file and the cause.
class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The schema version this binary writes (PRAGMA user_version).
constexpr int kSchemaVersion = 3;

// How long one statement waits on another process's lock before the retry
// loop in write_transaction takes over.
constexpr int kBusyTimeoutMs = 10000;

enum class OpenMode {
    kCreate,    // read-write; creates the file and schema when missing, migrates old schemas
    // SQLITE_OPEN_READONLY; the file must exist with a known schema. A WAL
    // database in a folder this user cannot write, with no -shm file, is
    // opened immutable (docs/schema.md: reading a database you cannot write).
    kReadOnly,
};

// Opens `path`. Throws StoreError for a missing or read-only directory, a
// file that is not SQLite, or a schema newer than kSchemaVersion; in each case
// the file is left as it was.
std::unique_ptr<SQLite::Database> open_database(const std::filesystem::path& path, OpenMode mode);

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT. The write lock is taken up
// front so the busy timeout applies (a deferred transaction that upgrades can
// fail at once with SQLITE_BUSY in WAL mode); when the lock is still busy the
// whole transaction is retried with back-off. Other errors roll back and
// propagate.
void write_transaction(SQLite::Database& db, const std::function<void()>& body);

// True for SQLITE_BUSY / SQLITE_LOCKED (any extended code).
bool is_busy(const SQLite::Exception& e);

// UTC wall-clock time as ISO 8601 with milliseconds, e.g.
// 2024-05-01T12:00:00.123Z: sortable as text and readable by SQLite's
// julianday().
std::string now_iso8601();

std::string hostname();

}  // namespace distill::store
