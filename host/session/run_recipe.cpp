#include "session/run_recipe.hpp"

#include "data/dataset.hpp"
#include "experiment/sweep.hpp"
#include "session/run_session.hpp"

#include <torch/cuda.h>

#include <map>
#include <set>

namespace distill::session {
namespace fs = std::filesystem;

Recipe recorded_recipe(store::RunStore& db, const store::RunRecord& run) {
    Recipe recipe;
    std::map<int, std::string> sets;
    for (const auto& [key, value] : db.params(run.id)) {
        if (key == "experiment.file") recipe.source.file = value;
        if (key == "experiment.cwd") recipe.source.working_dir = value;
        if (key.rfind("experiment.set.", 0) == 0) sets[std::stoi(key.substr(15))] = value;
    }
    if (recipe.source.file.empty()) throw BadInput("run " + std::to_string(run.id) + " has no recorded experiment");
    for (const auto& [index, value] : sets) recipe.overrides.push_back(value);
    recipe.trial_index = run.trial_index;
    recipe.source.text = db.experiment_text(run.experiment_id);
    return recipe;
}

// A sweep trial is the experiment of that grid point (the same expansion
// `distill sweep` made), so resume and sweeps rebuild it the same way.
experiment::Experiment build_experiment(const Recipe& recipe, const host::PluginRegistry& registry,
                                        std::vector<std::pair<std::string, std::string>>& swept) {
    try {
        if (!recipe.trial_index) return experiment::load_experiment(recipe.source, recipe.overrides, registry);
        // Only this grid point is built, whatever the size of the grid.
        experiment::Trial trial =
            experiment::sweep_trial(recipe.source, recipe.overrides, registry, *recipe.trial_index);
        if (!trial.error.empty()) throw BadInput(trial.error);
        swept = trial.params;
        return std::move(trial.experiment);
    } catch (const experiment::ExperimentError& e) {
        throw BadInput(e.what());
    }
}

c10::Device resolve_device(const std::string& requested) {
    if (requested == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
    const c10::Device device(requested);  // "cpu", "cuda", "cuda:1"
    if (device.is_cuda()) {
        if (!torch::cuda::is_available())
            throw BadInput("device = \"" + requested + "\" but LibTorch sees no GPU (use \"auto\" or \"cpu\")");
        const int64_t index = device.has_index() ? device.index() : 0;
        if (index >= static_cast<int64_t>(torch::cuda::device_count()))
            throw BadInput("device = \"" + requested + "\" but only " + std::to_string(torch::cuda::device_count()) +
                           " GPU(s) are visible");
        return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    return device;
}

fs::path run_dir_for(const experiment::Experiment& exp, store::RunStore& db, const std::string& uuid,
                     const fs::path& working_dir) {
    if (exp.output.dir.empty()) return db.files_root() / uuid;
    fs::path dir(exp.output.dir);
    if (dir.is_relative()) dir = working_dir / dir;
    return (dir / uuid).lexically_normal();
}

std::vector<std::filesystem::path> validation_files(const experiment::Experiment& exp, std::optional<int64_t> max) {
    data::LoadOptions quiet;
    quiet.log = [](const std::string&) {};
    data::Dataset ds;
    try {
        ds = data::load_dataset(exp.data.dir, exp.data.pipeline, exp.data.split, exp.data.cache_dir, quiet);
    } catch (const data::DataError& e) {
        throw BadInput(std::string("data.dir: ") + e.what());
    }
    const std::set<int64_t> val(ds.val_file_of.begin(), ds.val_file_of.end());
    std::vector<std::filesystem::path> files;
    for (const int64_t f : val) files.emplace_back(ds.files[static_cast<size_t>(f)]);
    if (max && static_cast<int64_t>(files.size()) > *max) files.resize(static_cast<size_t>(*max));
    return files;
}

}  // namespace distill::session
