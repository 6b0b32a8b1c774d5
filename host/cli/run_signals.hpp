// SIGINT/SIGTERM during a run: the first asks the trainer to finish the
// current step, flush, checkpoint and return; a second exits at once (SQLite's
// WAL keeps the database consistent; the run is marked interrupted the next
// time a run starts on that database).
#pragma once

#include <atomic>

namespace distill::cli {

// Installs the handlers (once) and returns the flag the trainer polls; it
// holds the signal number once one arrived.
const std::atomic<int>* install_stop_handlers();

// The signal that stopped the run (SIGINT = 2 -> exit 130, SIGTERM = 15 -> 143).
int last_stop_signal();

}  // namespace distill::cli
