// [sweep] grids: the Cartesian product of the swept lists, each point a
// fully validated Experiment (or the reason it is not valid).
#pragma once

#include "experiment/experiment.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace distill::experiment {

struct Trial {
    int64_t index = 0;  // 0-based position in the grid
    // The swept keys (in [sweep] order) and this trial's TOML-formatted values.
    std::vector<std::pair<std::string, std::string>> params;
    Experiment experiment;  // valid only when error is empty
    // Why this trial's values are invalid ("FILE:LINE:COL: ..."); the runner
    // fails this trial alone with it and runs the others.
    std::string error;
};

struct Sweep {
    std::vector<std::string> keys;  // [sweep] keys in file order, minus those fixed by --set
    std::vector<Trial> trials;      // first key varies slowest
    // {"key": [values...], ...} in key order (text::json_text), for the sweeps
    // table; its bytes are part of the sweep's identity.
    std::string grid_json;
};

// Expands FILE's [sweep] (no [sweep], or every key fixed by --set: one trial).
// Each trial is the document with --set applied, then that trial's values
// applied as if by --set, then validated like load_experiment. The special
// key "losses" is a list of lists of [[loss]] entry names: each trial keeps
// only those entries. Throws ExperimentError for anything wrong before any
// trial could run: TOML syntax, a bad --set, a malformed [sweep], a swept
// key or loss name that does not exist (UnknownKeyError), or an error that
// every trial shares (a fault of the file, not of a grid point).
Sweep expand_sweep(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                   const host::PluginRegistry& registry);
// A grid larger than this is refused unless the user raises the limit.
constexpr int64_t kDefaultMaxTrials = 10000;

// The same from a recorded text (see ExperimentSource). The grid is counted
// before anything is built: more than `max_trials` trials is an
// ExperimentError naming the count.
Sweep expand_sweep(const ExperimentSource& source, const std::vector<std::string>& overrides,
                   const host::PluginRegistry& registry, int64_t max_trials);

// Only trial `index` of the grid (what one trial's process needs): nothing
// else is built. ExperimentError when the index is outside the grid.
Trial sweep_trial(const ExperimentSource& source, const std::vector<std::string>& overrides,
                  const host::PluginRegistry& registry, int64_t index);

}  // namespace distill::experiment
