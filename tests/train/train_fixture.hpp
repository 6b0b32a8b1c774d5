// Shared by the trainer tests: the general run fixture (tests/support) plus
// what only these tests need (their test plugins, a run's folder, ...).
#pragma once

#include "store/run_store.hpp"
#include "support/run_fixture.hpp"

#include <filesystem>
#include <string>

namespace distill::train::testing {

namespace fs = std::filesystem;

using test_support::Child;
using test_support::experiment_text;
using test_support::Finished;
using test_support::kBatchSize;
using test_support::kStepsPerEpoch;
using test_support::kTrainChunks;
using test_support::run_distill;
using test_support::TempDir;
using test_support::test_device;
using test_support::write_corpus;
using test_support::write_experiment;

// A run's own folder: <db dir>/<db stem>.runs/<uuid>/.
fs::path run_dir(const fs::path& db, int64_t run_id);

// Where the test plugins were built (passed with --plugin-path).
fs::path test_plugin_dir();

// `distill run EXP --db runs.db --plugin-path <test plugins>` in `dir`.
Finished run_with_test_plugins(const fs::path& dir, const fs::path& experiment);

// The uid of `nobody` (65534 when not found).
int nobody_uid();

// "epoch 3 step 1: ..." for assertion messages.
std::string where(const store::StepMetrics& row);

}  // namespace distill::train::testing
