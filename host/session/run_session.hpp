// One `distill run`, start to finish: open the database, build the
// experiment (from the file, or from what was recorded when resuming), load
// the data and plugins, record the run, train, record how it ended. The CLI
// only parses options and maps the result to an exit status; tests drive
// this directly.
#pragma once

#include "plugins/plugin_registry.hpp"
#include "train/trainer.hpp"
#include "train/training_listener.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace distill::session {

// Bad input of any kind (file, key, plugin, database, run id, checkpoint):
// the run was not started, or was left exactly as it was. Exit status 2.
class BadInput : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct RunRequest {
    std::filesystem::path db_path = "runs.db";
    // A new run: the experiment file and its --set list. A sweep trial gives
    // sweep_id + trial_index and no file: its text is the sweep's record.
    std::optional<std::filesystem::path> experiment_file;
    std::vector<std::string> overrides;
    std::optional<int64_t> sweep_id, trial_index;
    // Continue this run from its newest usable checkpoint.
    std::optional<int64_t> resume_run;
};

// What a person is told, besides the trainer's steps and epochs.
class SessionListener : public train::TrainingListener {
public:
    virtual void info(const std::string& line) { (void)line; }
    // The run exists in the database from now on (for a forced exit to mark).
    virtual void run_recorded(const std::filesystem::path& db_path, int64_t run_id) { (void)db_path, (void)run_id; }
};

struct RunResult {
    int64_t run_id = 0;
    std::string uuid;
    train::Outcome outcome = train::Outcome::completed;
    std::string status;  // as recorded: completed | diverged | interrupted | failed
    std::string reason;
    double best_val_loss = 0.0;
    int64_t best_epoch = -1;
    std::filesystem::path run_dir;  // where the run's files are
    int64_t bytes_on_disk = 0;      // of the files recorded when it ended
};

// Runs the request; BadInput for anything wrong before training started.
// An error during training is recorded (status failed) and rethrown.
RunResult run_experiment(const RunRequest& request, const host::PluginRegistry& registry, SessionListener& listener,
                         const std::atomic<int>* stop_requested);

// The experiment's model and loss plugin instances on `device`; BadInput
// naming the plugin when one refuses its configuration. `validate` makes
// them on the CPU (cheap) so every check a plugin makes runs before data loads.
struct PluginSet {
    std::unique_ptr<host::ModelInstance> model;
    train::WeightedLosses losses;
};
PluginSet create_plugins(const experiment::Experiment& exp, const host::PluginRegistry& registry,
                         const std::string& device);

// "1.2 MB"
std::string format_bytes(int64_t bytes);

}  // namespace distill::session
