// A run database in a folder the user cannot write: `distill query` and
// `distill runs list` must still read it (a WAL database needs its -shm file,
// which cannot be created there).
#include "store/run_store.hpp"
#include "store_test_util.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

namespace distill::store {
namespace {

namespace fs = std::filesystem;
using test::run_command;
using test::TempDir;

// Root may write anywhere whatever the mode bits, so as root the command
// runs as nobody (setpriv, util-linux); otherwise chmod alone takes the
// write permission away.
std::string as_unprivileged(const std::string& command) {
    return ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " + command : command;
}

class ReadOnlyFolder : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() == 0 && run_command("setpriv --reuid=65534 --regid=65534 --clear-groups true").first != 0)
            GTEST_SKIP() << "running as root without setpriv: no way to take write permission away";
        folder = tmp / "ro";
        fs::create_directories(folder);
        db = folder / "runs.db";
        {
            RunStore store(db);
            store.finish_run(test::make_run(store, "quick"), "completed");
        }  // last connection closed: SQLite removes the -wal and -shm files
        ASSERT_FALSE(fs::exists(db.string() + "-shm"));
        fs::permissions(tmp.path(), fs::perms::owner_all | fs::perms::others_exec | fs::perms::group_exec);
        fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::others_read |
                                    fs::perms::others_exec | fs::perms::group_read | fs::perms::group_exec);
    }
    void TearDown() override {
        std::error_code ec;
        fs::permissions(folder, fs::perms::owner_all, fs::perm_options::add, ec);
    }
    std::pair<int, std::string> distill(const std::string& args) {
        return run_command(as_unprivileged(std::string(DISTILL_BINARY) + " " + args + " --db " + db.string()));
    }
    TempDir tmp;
    fs::path folder, db;
};

TEST_F(ReadOnlyFolder, QueryAndRunsListRead) {
    // The premise: this user really cannot create a file there.
    ASSERT_NE(run_command(as_unprivileged("touch " + (folder / "probe").string())).first, 0);

    auto [code, out] = distill("query --format csv \"SELECT experiment, status FROM run_summary\"");
    EXPECT_EQ(code, 0) << out;
    EXPECT_EQ(out, "experiment,status\nquick,completed\n");
    std::tie(code, out) = distill("runs list");
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("quick"), std::string::npos) << out;
    EXPECT_NE(out.find("completed"), std::string::npos) << out;
    // Nothing was written next to the database.
    EXPECT_FALSE(fs::exists(db.string() + "-shm"));
    EXPECT_FALSE(fs::exists(db.string() + "-wal"));
}

TEST_F(ReadOnlyFolder, LeftOverWalIsNamedInAWarning) {
    // A writer that crashed leaves its -wal behind; read as immutable, its
    // transactions are invisible, and the user is told so.
    fs::permissions(folder, fs::perms::owner_write, fs::perm_options::add);
    {
        std::ofstream wal(db.string() + "-wal");
        wal << std::string(64, 'x');
    }
    fs::permissions(folder, fs::perms::owner_write, fs::perm_options::remove);
    const auto [code, out] = distill("runs list");
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("runs.db-wal are not seen"), std::string::npos) << out;
}

}  // namespace
}  // namespace distill::store
