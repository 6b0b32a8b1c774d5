#include "store/database.hpp"

#include "store/schema.hpp"

#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <ctime>
#include <thread>

namespace distill::store {
namespace fs = std::filesystem;

namespace {

// Back-off between whole-transaction retries once the busy timeout has
// already been spent: 8 tries cover minutes of contention.
constexpr int kBusyRetries = 8;

[[noreturn]] void fail(const fs::path& path, const std::string& cause) {
    throw StoreError("run database '" + path.string() + "': " + cause);
}

// Runs a statement that needs a lock outside any transaction (PRAGMA
// journal_mode), retrying while another process holds it.
void exec_retrying(SQLite::Database& db, const char* sql) {
    for (int attempt = 0;; ++attempt) {
        try {
            db.exec(sql);
            return;
        } catch (const SQLite::Exception& e) {
            if (!is_busy(e) || attempt >= kBusyRetries) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(50 << attempt));
        }
    }
}

fs::path wal_path(const fs::path& db) { return db.string() + "-wal"; }

// A WAL database needs its -shm file even to be read; SQLite creates it when
// missing, which fails in a folder the user cannot write ("attempt to write a
// readonly database"). There the only way in is the immutable URI parameter:
// no locks, no -shm, and the -wal file is ignored. That is only right when
// nobody else is writing, which holds exactly when the -shm is absent (a
// writer creates it before its first write): then every committed
// transaction is in the main file, unless a writer crashed and left a -wal
// behind (warned about by the caller).
bool needs_immutable_open(const fs::path& path, const fs::path& dir) {
    std::error_code ec;
    if (fs::exists(path.string() + "-shm", ec) || ::access(dir.c_str(), W_OK) == 0) return false;
    // Header bytes 18 and 19 (file format write/read version) are 2 in WAL mode.
    std::ifstream in(path, std::ios::binary);
    char header[20] = {};
    return in.read(header, sizeof header) && header[18] == 2 && header[19] == 2;
}

// file: URI with the immutable parameter; '?' and '#' in the path escaped.
std::string immutable_uri(const fs::path& path) {
    std::string uri = "file:";
    for (const char c : fs::absolute(path).string()) {
        if (c == '?') uri += "%3f";
        else if (c == '#') uri += "%23";
        else if (c == '%') uri += "%25";
        else uri += c;
    }
    return uri + "?immutable=1";
}

int read_user_version(SQLite::Database& db) {
    return db.execAndGet("PRAGMA user_version").getInt();
}

void check_version(const fs::path& path, int version) {
    if (version > kSchemaVersion)
        fail(path, "schema version " + std::to_string(version) + " is newer than this distill knows (" +
                       std::to_string(kSchemaVersion) + "); use a newer distill (the file was not changed)");
}

void migrate(SQLite::Database& db, const fs::path& path) {
    // Two processes creating the same file at once both get here: BEGIN
    // IMMEDIATE serialises them and the second one re-reads the version and
    // finds nothing to do.
    write_transaction(db, [&] {
        const int version = read_user_version(db);
        check_version(path, version);
        for (int v = version; v < kSchemaVersion; ++v) apply_migration(db, v + 1);
        if (version != kSchemaVersion) db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
    });
}

}  // namespace

bool is_busy(const SQLite::Exception& e) {
    const int code = e.getErrorCode() & 0xff;
    return code == SQLITE_BUSY || code == SQLITE_LOCKED;
}

void write_transaction(SQLite::Database& db, const std::function<void()>& body) {
    for (int attempt = 0;; ++attempt) {
        try {
            db.exec("BEGIN IMMEDIATE");
        } catch (const SQLite::Exception& e) {
            if (!is_busy(e) || attempt >= kBusyRetries) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
            continue;
        }
        try {
            body();
            db.exec("COMMIT");
            return;
        } catch (const SQLite::Exception& e) {
            db.tryExec("ROLLBACK");
            if (!is_busy(e) || attempt >= kBusyRetries) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
        } catch (...) {
            db.tryExec("ROLLBACK");
            throw;
        }
    }
}

std::unique_ptr<SQLite::Database> open_database(const fs::path& path, OpenMode mode) {
    std::error_code ec;
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    if (!fs::is_directory(dir, ec)) fail(path, "directory '" + dir.string() + "' does not exist");
    const bool exists = fs::exists(path, ec);
    if (mode == OpenMode::kReadOnly && !exists)
        fail(path, "no such file (give an existing database with --db PATH)");
    if (exists && !fs::is_regular_file(path, ec)) fail(path, "not a regular file");
    // WAL needs the -wal and -shm files next to the database, so a writer
    // needs a writable directory even when the database file exists.
    if (mode == OpenMode::kCreate && ::access(dir.c_str(), W_OK) != 0)
        fail(path, "directory '" + dir.string() + "' is not writable");

    std::unique_ptr<SQLite::Database> db;
    const bool immutable = mode == OpenMode::kReadOnly && needs_immutable_open(path, dir);
    try {
        const int flags = mode == OpenMode::kReadOnly ? SQLite::OPEN_READONLY
                                                      : (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        const std::string name = immutable ? immutable_uri(path) : path.string();
        db = std::make_unique<SQLite::Database>(name, flags | SQLITE_OPEN_NOMUTEX | (immutable ? SQLITE_OPEN_URI : 0),
                                                kBusyTimeoutMs);
    } catch (const SQLite::Exception& e) {
        fail(path, std::string("cannot open: ") + e.what());
    }
    if (immutable && fs::file_size(wal_path(path), ec) > 0 && !ec)
        std::cerr << "distill: warning: " << path.string() << ": read as immutable (its folder is not writable), so "
                  << "the transactions still in " << wal_path(path).filename().string()
                  << " are not seen; open it once with write access to fold them in\n";
    try {
        // Read the version before anything writes: a newer or foreign file
        // must be left byte-for-byte as it was.
        int version = 0;
        try {
            version = read_user_version(*db);
        } catch (const SQLite::Exception& e) {
            if ((e.getErrorCode() & 0xff) == SQLITE_NOTADB) fail(path, "not a SQLite database");
            throw;
        }
        check_version(path, version);
        db->exec("PRAGMA foreign_keys = ON");
        if (mode == OpenMode::kReadOnly) {
            if (version < kSchemaVersion)
                fail(path, version == 0 ? "not a distill run database (no schema)"
                                        : "schema version " + std::to_string(version) +
                                              " is older than this distill's; open it once with `distill run` to migrate");
            return db;
        }
        exec_retrying(*db, "PRAGMA journal_mode = WAL");
        // NORMAL in WAL mode: a process crash never loses a committed
        // transaction; only a power cut may lose the last few.
        db->exec("PRAGMA synchronous = NORMAL");
        migrate(*db, path);
    } catch (const SQLite::Exception& e) {
        fail(path, e.what());
    }
    return db;
}

std::string now_iso8601() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t secs = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

std::string hostname() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
    return buf;
}

}  // namespace distill::store
