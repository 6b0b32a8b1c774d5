// How a run's experiment is rebuilt, shared by `run --resume` and `render`:
// from the text, --set list and grid point recorded in the database, never
// from the file on disk.
#pragma once

#include "experiment/experiment.hpp"
#include "plugins/plugin_registry.hpp"
#include "store/run_store.hpp"

#include <c10/core/Device.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace distill::session {

// What to build: the experiment text, where it came from, its --set list
// and, for a sweep trial, its index in the grid.
struct Recipe {
    experiment::ExperimentSource source;
    std::vector<std::string> overrides;
    std::optional<int64_t> trial_index;
};

// The recipe recorded for `run` (its experiments row and experiment.* params).
// BadInput when the run has no recorded experiment.
Recipe recorded_recipe(store::RunStore& db, const store::RunRecord& run);

// The experiment of a recipe; a sweep trial's grid values go to `swept`.
// BadInput for an experiment that no longer loads (message names file and key).
experiment::Experiment build_experiment(const Recipe& recipe, const host::PluginRegistry& registry,
                                        std::vector<std::pair<std::string, std::string>>& swept);

// "auto" | "cpu" | "cuda" | "cuda:N" -> a device LibTorch can use; BadInput otherwise.
c10::Device resolve_device(const std::string& requested);

// Where a run's files live: output.dir/<uuid> when the experiment sets it
// (relative to the working directory it was started in), else beside the
// database (db.files_root()/<uuid>).
std::filesystem::path run_dir_for(const experiment::Experiment& exp, store::RunStore& db, const std::string& uuid,
                                  const std::filesystem::path& working_dir);

// The experiment's validation files, exactly as a run of it splits them
// (the data loads from the feature cache when warm), sorted; at most `max`
// when given. BadInput naming data.dir when the data cannot be loaded.
std::vector<std::filesystem::path> validation_files(const experiment::Experiment& exp,
                                                    std::optional<int64_t> max = std::nullopt);

}  // namespace distill::session
