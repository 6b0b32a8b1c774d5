// `distill query` on a result that never ends: rows are printed as they
// come, in bounded memory, and --timeout stops it with a clear message and
// exit status 124; Ctrl-C stops it too.
#include "store/run_store.hpp"
#include "store_test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

namespace distill::store {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const char* const kEndless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c";

struct Outcome {
    int status = -1;         // wait status
    std::string head, tail;  // first and last bytes of stdout
    int64_t stdout_bytes = 0;
    std::string err;
    int64_t max_rss_kb = 0;
};

// Runs distill with `args`, reading its stdout as it comes (keeping only
// both ends). After `interrupt_after` bytes of output, sends SIGINT. A hang
// guard of 120 s kills the child so a broken build fails instead of hanging.
Outcome run_distill(const std::vector<std::string>& args, int64_t interrupt_after = -1) {
    int out_pipe[2], err_pipe[2];
    if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) throw std::runtime_error("pipe");
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        ::close(out_pipe[0]);
        ::close(err_pipe[0]);
        std::vector<char*> argv{const_cast<char*>(DISTILL_BINARY)};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(DISTILL_BINARY, argv.data());
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    Outcome o;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    bool interrupted = false;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[65536];
    while (open_fds > 0) {
        if (std::chrono::steady_clock::now() > give_up) {
            ::kill(pid, SIGKILL);
            ADD_FAILURE() << "distill did not finish within 120 s";
            break;
        }
        if (::poll(fds, 2, 1000) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
                continue;
            }
            if (i == 1) {
                o.err.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (o.head.size() < 256) o.head.append(buf, std::min<size_t>(static_cast<size_t>(n), 256 - o.head.size()));
            o.tail = (o.tail + std::string(buf, static_cast<size_t>(n)));
            if (o.tail.size() > 256) o.tail.erase(0, o.tail.size() - 256);
            o.stdout_bytes += n;
            if (interrupt_after >= 0 && !interrupted && o.stdout_bytes >= interrupt_after) {
                ::kill(pid, SIGINT);
                interrupted = true;
            }
        }
    }
    rusage usage{};
    ::wait4(pid, &o.status, 0, &usage);
    o.max_rss_kb = usage.ru_maxrss;
    return o;
}

class EndlessQuery : public ::testing::Test {
protected:
    void SetUp() override {
        db = (tmp / "runs.db").string();
        RunStore store(db);
    }
    TempDir tmp;
    std::string db;
};

TEST_F(EndlessQuery, TimeoutPrintsRowsThenStopsWithExit124InBoundedMemory) {
    const Outcome small = run_distill({"query", "--db", db, "--format", "csv", "SELECT 1 AS x"});
    ASSERT_TRUE(WIFEXITED(small.status) && WEXITSTATUS(small.status) == 0) << small.err;

    const Outcome o = run_distill({"query", "--db", db, "--format", "csv", "--timeout", "2", kEndless});
    ASSERT_TRUE(WIFEXITED(o.status)) << o.err;
    EXPECT_EQ(WEXITSTATUS(o.status), 124) << o.err;
    EXPECT_EQ(o.head.rfind("x\n1\n2\n3\n", 0), 0u) << o.head;
    EXPECT_GT(o.stdout_bytes, 100000) << "rows should stream out while the query runs";
    EXPECT_NE(o.err.find("distill: query: query stopped by its timeout of 2 s after "), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("the output above is incomplete"), std::string::npos) << o.err;
    // Millions of rows went by; the process grew no more than a few MB
    // beyond a one-row query (holding them would take hundreds).
    EXPECT_LE(o.max_rss_kb, small.max_rss_kb + 16 * 1024) << "one-row query: " << small.max_rss_kb << " kB";
}

TEST_F(EndlessQuery, TableAndJsonStreamToo) {
    Outcome o = run_distill({"query", "--db", db, "--timeout", "1", kEndless});
    EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 124) << o.err;
    EXPECT_EQ(o.head.rfind("x\n---\n1\n2\n", 0), 0u) << o.head;  // the rule is as wide as "100"
    EXPECT_NE(o.tail.find(" rows)\n"), std::string::npos) << o.tail;
    o = run_distill({"query", "--db", db, "--format", "json", "--timeout", "1", kEndless});
    EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 124) << o.err;
    EXPECT_EQ(o.head.rfind("[\n {\"x\": 1},\n {\"x\": 2},", 0), 0u) << o.head;
    EXPECT_EQ(o.tail.substr(o.tail.size() - 4), "}\n]\n") << o.tail;  // the array is closed
}

TEST_F(EndlessQuery, CtrlCStopsIt) {
    const Outcome o = run_distill({"query", "--db", db, "--format", "csv", kEndless}, 1 << 20);
    EXPECT_TRUE(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGINT) << o.status << " " << o.err;
    EXPECT_GE(o.stdout_bytes, 1 << 20);
}

TEST_F(EndlessQuery, TimeoutAlsoStopsAQueryThatYieldsNoRows) {
    const Outcome o = run_distill({"query", "--db", db, "--format", "csv", "--timeout", "1",
                                   "SELECT count(*) FROM (" + std::string(kEndless) + ")"});
    EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 124) << o.err;
    EXPECT_EQ(o.head, "count(*)\n");
    EXPECT_NE(o.err.find("after 0 rows"), std::string::npos) << o.err;
}

TEST_F(EndlessQuery, BadTimeoutIsRefused) {
    for (const char* bad : {"0", "-1", "nan"}) {
        const Outcome o = run_distill({"query", "--db", db, "--timeout", bad, "SELECT 1"});
        EXPECT_TRUE(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 2) << bad << ": " << o.err;
        EXPECT_NE(o.err.find("--timeout"), std::string::npos) << o.err;
    }
}

}  // namespace
}  // namespace distill::store
