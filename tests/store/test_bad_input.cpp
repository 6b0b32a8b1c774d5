// Bad database paths and files: a clear error naming the file, and the file
// (or its absence) left exactly as it was.
#include "store/run_store.hpp"
#include "store_test_util.hpp"

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace distill::store {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// The StoreError message from opening `path`, or "" when it opened.
std::string open_error(const fs::path& path, OpenMode mode = OpenMode::kCreate) {
    try {
        RunStore store(path, mode);
    } catch (const StoreError& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

TEST(StoreBadInput, MissingDirectory) {
    TempDir dir;
    const auto path = dir / "no/such/dir/runs.db";
    const std::string error = open_error(path);
    EXPECT_TRUE(contains(error, path.string())) << error;
    EXPECT_TRUE(contains(error, "does not exist")) << error;
    EXPECT_FALSE(fs::exists(dir / "no"));
}

TEST(StoreBadInput, ReadOnlyDirectory) {
    TempDir dir;
    const auto ro = dir / "ro";
    fs::create_directory(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                            fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
    fs::permissions(dir.path(), fs::perms::others_exec | fs::perms::group_exec, fs::perm_options::add);
    // root ignores directory permissions, so as root the check runs in a
    // child that has dropped to `nobody` (65534); the result is the same.
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
        const std::string error = open_error(ro / "runs.db");
        if (error.empty()) ::_exit(11);
        if (!contains(error, (ro / "runs.db").string()) || !contains(error, "not writable")) {
            std::cerr << "unexpected message: " << error << "\n";
            ::_exit(12);
        }
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    // 10: could not drop privileges; 11: opened anyway; 12: wrong message.
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_FALSE(fs::exists(ro / "runs.db"));
}

TEST(StoreBadInput, FileThatIsNotSqlite) {
    TempDir dir;
    const auto path = dir / "notes.db";
    std::string text;
    for (int i = 0; i < 200; ++i) text += "these are my notes, not a database\n";
    std::ofstream(path, std::ios::binary) << text;
    for (OpenMode mode : {OpenMode::kCreate, OpenMode::kReadOnly}) {
        const std::string error = open_error(path, mode);
        EXPECT_TRUE(contains(error, path.string())) << error;
        EXPECT_TRUE(contains(error, "not a SQLite database")) << error;
    }
    EXPECT_EQ(slurp(path), text);
    EXPECT_FALSE(fs::exists(dir / "notes.db-wal"));
}

TEST(StoreBadInput, NewerSchemaVersion) {
    TempDir dir;
    const auto path = dir / "runs.db";
    { RunStore store(path); }
    {
        SQLite::Database raw(path.string(), SQLite::OPEN_READWRITE);
        raw.exec("PRAGMA journal_mode = DELETE");  // a single file to compare byte for byte
        raw.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion + 1));
    }
    const std::string before = slurp(path);
    for (OpenMode mode : {OpenMode::kCreate, OpenMode::kReadOnly}) {
        const std::string error = open_error(path, mode);
        EXPECT_TRUE(contains(error, path.string())) << error;
        EXPECT_TRUE(contains(error, "schema version " + std::to_string(kSchemaVersion + 1) + " is newer")) << error;
    }
    EXPECT_EQ(slurp(path), before) << "the newer database was modified";
}

TEST(StoreBadInput, ReadOnlyOpenOfMissingFileCreatesNothing) {
    TempDir dir;
    const auto path = dir / "runs.db";
    const std::string error = open_error(path, OpenMode::kReadOnly);
    EXPECT_TRUE(contains(error, path.string())) << error;
    EXPECT_TRUE(contains(error, "no such file")) << error;
    EXPECT_FALSE(fs::exists(path));
}

TEST(StoreBadInput, ReopeningMigratesNothingAndKeepsData) {
    TempDir dir;
    const auto path = dir / "runs.db";
    int64_t run = 0;
    {
        RunStore store(path);
        run = test::make_run(store);
    }
    RunStore again(path);
    EXPECT_EQ(again.db().execAndGet("PRAGMA user_version").getInt(), kSchemaVersion);
    EXPECT_EQ(again.db().execAndGet("PRAGMA journal_mode").getString(), "wal");
    EXPECT_EQ(again.db().execAndGet("PRAGMA foreign_keys").getInt(), 1);
    EXPECT_EQ(again.run(run).status, "running");
}

}  // namespace
}  // namespace distill::store
