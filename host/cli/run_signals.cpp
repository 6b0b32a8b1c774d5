#include "cli/run_signals.hpp"

#include <csignal>
#include <unistd.h>

namespace distill::cli {
namespace {

std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free, "the flag is written from a signal handler");

extern "C" void on_stop_signal(int signal_number) {
    int expected = 0;
    if (!g_stop.compare_exchange_strong(expected, signal_number)) _exit(128 + signal_number);
}

}  // namespace

const std::atomic<int>* install_stop_handlers() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    return &g_stop;
}

int last_stop_signal() { return g_stop.load(); }

}  // namespace distill::cli
