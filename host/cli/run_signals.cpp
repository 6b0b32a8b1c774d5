#include "cli/run_signals.hpp"

#include <csignal>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace distill::cli {
namespace {

std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free, "the flag is written from a signal handler");

// The second signal is handed to a watcher thread through a pipe: a signal
// handler may not touch SQLite, the watcher may.
int g_forced_pipe[2] = {-1, -1};
std::mutex g_action_mutex;
std::function<void()> g_forced_exit_action;

extern "C" void on_stop_signal(int signal_number) {
    int expected = 0;
    if (g_stop.compare_exchange_strong(expected, signal_number)) return;
    // A watcher that hangs (a locked database) must not keep the process: the
    // alarm's default action ends it.
    alarm(5);
    const char code = static_cast<char>(signal_number);
    if (g_forced_pipe[1] < 0 || write(g_forced_pipe[1], &code, 1) != 1) _exit(128 + signal_number);
}

// SIGHUP (a closed terminal, or a sweep's trial whose sweep died: the
// parent-death signal) asks for the same graceful stop but never escalates:
// the kernel may send a parent-death signal once per thread of a dying
// multi-threaded parent, and those repeats must not count as a second Ctrl-C.
extern "C" void on_hangup(int signal_number) {
    int expected = 0;
    g_stop.compare_exchange_strong(expected, signal_number);
}

void watch_forced_exit() {
    char code = 0;
    while (read(g_forced_pipe[0], &code, 1) != 1) {
    }
    {
        std::lock_guard<std::mutex> lock(g_action_mutex);
        if (g_forced_exit_action) g_forced_exit_action();
    }
    _exit(128 + code);
}

}  // namespace

const std::atomic<int>* install_stop_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (pipe(g_forced_pipe) == 0) std::thread(watch_forced_exit).detach();
        struct sigaction action {};
        action.sa_handler = on_stop_signal;
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, nullptr);
        sigaction(SIGTERM, &action, nullptr);
        struct sigaction hangup {};
        hangup.sa_handler = on_hangup;
        sigemptyset(&hangup.sa_mask);
        sigaction(SIGHUP, &hangup, nullptr);
    });
    return &g_stop;
}

int last_stop_signal() { return g_stop.load(); }

void set_forced_exit_action(std::function<void()> action) {
    std::lock_guard<std::mutex> lock(g_action_mutex);
    g_forced_exit_action = std::move(action);
}

}  // namespace distill::cli
