// Store test helpers: a run with its experiment in a new database, and a
// shell command's status and output (temporary folders: tests/support).
#pragma once

#include "store/run_store.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <string>

namespace distill::store::test {

using test_support::TempDir;

// Records a small experiment and creates a run for it; returns the run id.
int64_t make_run(RunStore& store, const std::string& experiment = "exp", int64_t seed = 1);

// Runs a shell command, returns {exit status, stdout+stderr}.
std::pair<int, std::string> run_command(const std::string& command);

}  // namespace distill::store::test
