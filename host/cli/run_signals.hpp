// SIGINT/SIGTERM during a run: the first asks the trainer to finish the
// current step, flush, checkpoint and return; a second stops the process at
// once, after the forced-exit action (if any) has recorded the run as
// interrupted, so a run is never left `running` by a process that is gone.
// SIGHUP (also what a sweep's trial gets when the sweep dies) asks for the
// graceful stop only, however often it arrives.
#pragma once

#include <atomic>
#include <functional>

namespace distill::cli {

// Installs the handlers (once) and returns the flag the trainer polls; it
// holds the signal number once one arrived.
const std::atomic<int>* install_stop_handlers();

// The signal that stopped the run (SIGINT = 2 -> exit 130, SIGTERM = 15 -> 143).
int last_stop_signal();

// What to do on a second signal before exiting (runs on a watcher thread,
// bounded by a 5 s alarm). Replaces any earlier action.
void set_forced_exit_action(std::function<void()> action);

}  // namespace distill::cli
