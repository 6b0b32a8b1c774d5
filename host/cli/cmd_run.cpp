// distill run EXP.toml [--set K=V]... [--db PATH] | distill run --resume RUN_ID
//
// The composition root: experiment -> data + plugins -> trainer -> store.
// Everything that can be checked is checked before a run row is written, so
// bad input exits 2 and leaves the database untouched.
#include "cli/commands.hpp"
#include "cli/run_signals.hpp"
#include "data/dataset.hpp"
#include "experiment/experiment.hpp"
#include "experiment/sweep.hpp"
#include "store/metrics_writer.hpp"
#include "store/run_store.hpp"
#include "store/sha256.hpp"
#include "train/trainer.hpp"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <iostream>
#include <optional>
#include <thread>

namespace distill::cli {
namespace fs = std::filesystem;
namespace {

// Connects the trainer's rows to the SQLite writer.
class StoreSink final : public train::MetricsSink {
public:
    explicit StoreSink(store::MetricsWriter& writer) : writer_(writer) {}
    void step(const store::StepMetrics& row) override { writer_.write_step(row); }
    void epoch(const store::EpochMetrics& row) override { writer_.write_epoch(row); }
    void loss_terms(const std::vector<store::LossTermRow>& rows) override { writer_.write_loss_terms(rows); }
    void event(const store::Event& event) override { writer_.write_event(event); }
    void flush() override { writer_.flush(); }

private:
    store::MetricsWriter& writer_;
};

c10::Device resolve_device(const std::string& requested) {
    if (requested == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
    const c10::Device device(requested);  // "cpu", "cuda", "cuda:1"
    if (device.is_cuda()) {
        if (!torch::cuda::is_available())
            throw UsageError("device = \"" + requested + "\" but LibTorch sees no GPU (use \"auto\" or \"cpu\")");
        const int64_t index = device.has_index() ? device.index() : 0;
        if (index >= static_cast<int64_t>(torch::cuda::device_count()))
            throw UsageError("device = \"" + requested + "\" but only " + std::to_string(torch::cuda::device_count()) +
                             " GPU(s) are visible");
        return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    return device;
}

// Everything a run needs, built and checked before the run row exists.
struct Prepared {
    experiment::Experiment exp;
    std::vector<std::pair<std::string, std::string>> swept;  // a sweep trial's grid values
    c10::Device device = c10::Device(c10::kCPU);
    data::Dataset data;
    std::unique_ptr<host::ModelInstance> model;
    train::WeightedLosses losses;
};

// A sweep trial is the experiment of that grid point (the same expansion
// `distill sweep` made), so resume and sweeps rebuild it the same way.
experiment::Experiment load(const fs::path& file, const std::vector<std::string>& overrides,
                            const host::PluginRegistry& registry, std::optional<int64_t> trial_index,
                            std::vector<std::pair<std::string, std::string>>& swept) {
    try {
        if (!trial_index) return experiment::load_experiment(file, overrides, registry);
        experiment::Sweep sweep = experiment::expand_sweep(file, overrides, registry);
        if (*trial_index < 0 || *trial_index >= static_cast<int64_t>(sweep.trials.size()))
            throw UsageError("trial " + std::to_string(*trial_index) + " does not exist in the sweep of " +
                             file.string() + " (" + std::to_string(sweep.trials.size()) + " trials)");
        experiment::Trial& trial = sweep.trials[static_cast<size_t>(*trial_index)];
        if (!trial.error.empty()) throw UsageError(trial.error);
        swept = trial.params;
        return std::move(trial.experiment);
    } catch (const experiment::ExperimentError& e) {
        throw UsageError(e.what());
    }
}

Prepared prepare(const fs::path& file, const std::vector<std::string>& overrides, const host::PluginRegistry& registry,
                 std::optional<int64_t> trial_index) {
    Prepared p;
    p.exp = load(file, overrides, registry, trial_index, p.swept);
    p.device = resolve_device(p.exp.device);
    // threads = 0 means every core (LibTorch's own default can be 1 under OpenMP).
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    at::set_num_threads(static_cast<int>(p.exp.threads > 0 ? p.exp.threads : cores));
    try {
        p.data = data::load_dataset(p.exp.data.dir, p.exp.data.pipeline, p.exp.data.split, p.exp.data.cache_dir);
    } catch (const data::DataError& e) {
        throw UsageError(std::string("data.dir: ") + e.what());
    }
    // Every random choice from here on (initial weights, shuffles, dropout,
    // sampling) follows the experiment's seed.
    at::manual_seed(p.exp.seed);
    try {
        p.model = std::make_unique<host::ModelInstance>(
            registry.require(p.exp.model.plugin, DISTILL_KIND_MODEL), p.exp.model.params, p.device.str());
        for (const auto& loss : p.exp.losses) p.losses.add(loss, registry, p.device.str());
    } catch (const host::PluginCallError& e) {
        // A plugin that refuses its (schema-valid) configuration is bad input.
        throw UsageError(e.what());
    }
    return p;
}

std::vector<store::PluginRow> plugin_rows(const Prepared& p) {
    std::vector<store::PluginRow> rows;
    const auto row = [](const host::LoadedPlugin& plugin, const char* role, std::optional<double> weight) {
        return store::PluginRow{role,
                                plugin.id(),
                                plugin.descriptor->version,
                                plugin.library.string(),
                                store::sha256_file(plugin.library),
                                weight};
    };
    rows.push_back(row(p.model->plugin(), "model", std::nullopt));
    for (const auto& entry : p.losses.entries())
        rows.push_back(row(entry.instance->plugin(), "loss", entry.schedule.base_weight()));
    return rows;
}

// What resume needs to rebuild the same experiment: the file and the --set
// list, recorded with the run's parameters.
std::vector<std::pair<std::string, std::string>> run_params(const Prepared& p) {
    const experiment::Experiment& exp = p.exp;
    auto params = exp.resolved;
    for (const auto& [key, value] : p.swept) params.emplace_back("sweep." + key, value);
    params.emplace_back("experiment.file", fs::absolute(exp.source_path).string());
    for (size_t i = 0; i < exp.overrides.size(); ++i)
        params.emplace_back("experiment.set." + std::to_string(i), exp.overrides[i]);
    return params;
}

struct ResumeSource {
    fs::path file;
    std::vector<std::string> overrides;
    std::optional<int64_t> trial_index;
};

ResumeSource resume_source(store::RunStore& db, int64_t run_id) {
    const auto run = db.find_run(run_id);
    if (!run) throw UsageError("run " + std::to_string(run_id) + " does not exist in " + db.path().string());
    if (run->status == "completed")
        throw UsageError("run " + std::to_string(run_id) + " is already completed; nothing to resume");
    if (run->status == "running")
        throw UsageError("run " + std::to_string(run_id) + " is still running (pid " + std::to_string(run->pid) +
                         " on " + run->hostname + ")");
    ResumeSource source;
    std::map<int, std::string> sets;
    for (const auto& [key, value] : db.params(run_id)) {
        if (key == "experiment.file") source.file = value;
        if (key.rfind("experiment.set.", 0) == 0) sets[std::stoi(key.substr(15))] = value;
    }
    if (source.file.empty())
        throw UsageError("run " + std::to_string(run_id) + " has no recorded experiment file; cannot resume");
    for (const auto& [index, value] : sets) source.overrides.push_back(value);
    source.trial_index = run->trial_index;
    return source;
}

int exit_status_for(train::Outcome outcome) {
    switch (outcome) {
        case train::Outcome::completed: return kExitOk;
        case train::Outcome::diverged: return kExitRunFailed;
        case train::Outcome::interrupted: return 128 + last_stop_signal();
    }
    return kExitRunFailed;
}

const char* status_for(train::Outcome outcome) {
    switch (outcome) {
        case train::Outcome::completed: return "completed";
        case train::Outcome::diverged: return "diverged";
        case train::Outcome::interrupted: return "interrupted";
    }
    return "failed";
}

}  // namespace

int cmd_run(const Args& args) {
    po::options_description options("distill run EXP.toml [options] | distill run --resume RUN_ID [options]");
    options.add_options()("help,h", "show this help")("experiment", po::value<std::string>(), "experiment TOML file")(
        "set", po::value<std::vector<std::string>>()->composing(), "override a key: --set train.epochs=3 (repeatable)")(
        "resume", po::value<int64_t>(), "continue run RUN_ID from its last checkpoint")(
        "sweep-id", po::value<int64_t>(), "record the run as a trial of this sweep (used by `distill sweep`)")(
        "trial-index", po::value<int64_t>(), "the trial's index in its sweep");
    add_plugin_path_option(options);
    add_db_option(options);
    po::positional_options_description positional;
    positional.add("experiment", 1);
    const auto vm = parse("run", args, options, positional);
    if (vm.count("help")) {
        std::cout << options << "\n";
        return kExitOk;
    }
    const bool resuming = vm.count("resume") > 0;
    if (!resuming && !vm.count("experiment")) throw UsageError("run: which experiment? (distill run EXP.toml)");
    const auto registry = load_plugins(vm);
    const fs::path db_path = vm["db"].as<std::string>();

    std::unique_ptr<store::RunStore> db;
    const auto open_store = [&] {
        try {
            return std::make_unique<store::RunStore>(db_path);
        } catch (const store::StoreError& e) {
            throw UsageError(e.what());
        }
    };
    fs::path file;
    std::vector<std::string> overrides;
    std::optional<int64_t> trial_index;
    if (vm.count("trial-index")) trial_index = vm["trial-index"].as<int64_t>();
    int64_t run_id = 0;
    if (resuming) {
        db = open_store();
        run_id = vm["resume"].as<int64_t>();
        const ResumeSource source = resume_source(*db, run_id);
        file = source.file;
        overrides = source.overrides;
        trial_index = source.trial_index;
    } else {
        file = vm["experiment"].as<std::string>();
        if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
    }

    Prepared p = prepare(file, overrides, registry, trial_index);
    if (!db) db = open_store();
    std::cout << "experiment " << p.exp.name << ": " << p.data.train.size(0) << " train / " << p.data.val.size(0)
              << " val items " << p.data.train.sizes().slice(1) << " from " << p.data.files.size() << " files, device "
              << p.device.str() << ", " << at::get_num_threads() << " threads\n"
              << p.losses.summary() << std::endl;

    if (!resuming) {
        const int64_t experiment_id = db->record_experiment(p.exp.name, p.exp.source_text);
        store::RunInfo info;
        info.experiment_id = experiment_id;
        if (vm.count("sweep-id")) info.sweep_id = vm["sweep-id"].as<int64_t>();
        if (vm.count("trial-index")) info.trial_index = vm["trial-index"].as<int64_t>();
        info.seed = static_cast<int64_t>(p.exp.seed);
        info.device = p.device.str();
        info.host_version = DISTILL_VERSION;
        run_id = db->create_run(info);
        db->record_params(run_id, run_params(p));
        db->record_plugins(run_id, plugin_rows(p));
    }

    train::TrainerConfig config;
    config.train = p.exp.train;
    config.device = p.device;
    config.checkpoint_dir = fs::path(p.exp.output.dir) / ("run-" + std::to_string(run_id));
    config.norm = p.data.stats;
    config.config_text = p.exp.source_text;
    config.stop_requested = install_stop_handlers();

    fs::path resume_checkpoint;
    if (resuming) {
        const auto checkpoints = train::list_checkpoints(config.checkpoint_dir);
        if (checkpoints.empty())
            throw UsageError("run " + std::to_string(run_id) + " has no checkpoint in " +
                             config.checkpoint_dir.string() + " to resume from");
        resume_checkpoint = checkpoints.back();
    }

    store::MetricsWriter writer(*db, run_id);
    StoreSink sink(writer);
    try {
        train::Trainer trainer(config, *p.model, p.losses, sink, p.data.train, p.data.val);
        if (resuming) {
            try {
                trainer.resume_from(resume_checkpoint);
            } catch (const train::CheckpointError& e) {
                // A checkpoint we cannot use says nothing about the run itself:
                // leave its status and rows as they are.
                writer.close();
                std::cerr << "distill: cannot resume run " << run_id << ": " << e.what() << "\n";
                return kExitBadInput;
            }
            const auto& at = trainer.position();
            db->delete_rows_from(run_id, at.epoch, at.next_step);
            db->set_status(run_id, "running");
            db->add_event(run_id, {at.epoch, at.next_step, "resumed", "resumed from " + resume_checkpoint.string(), ""});
            std::cout << "resuming run " << run_id << " at epoch " << at.epoch + 1 << " step " << at.next_step + 1
                      << " from " << resume_checkpoint.string() << std::endl;
        } else {
            std::cout << "run " << run_id << " started (database " << db_path.string() << ")" << std::endl;
        }
        const train::TrainingResult result = trainer.run();
        writer.close();
        db->finish_run(run_id, status_for(result.outcome), result.reason);
        std::cout << "run " << run_id << " " << status_for(result.outcome)
                  << (result.reason.empty() ? "" : " (" + result.reason + ")");
        if (result.best_epoch >= 0)
            std::cout << "; best val_loss " << result.best_val_loss << " at epoch " << result.best_epoch + 1;
        std::cout << std::endl;
        return exit_status_for(result.outcome);
    } catch (const std::exception& e) {
        // Keep every row written so far, then record why the run failed.
        try {
            writer.close();
        } catch (const std::exception& flush_error) {
            std::cerr << "distill: warning: " << flush_error.what() << "\n";
        }
        db->finish_run(run_id, "failed", e.what());
        std::cerr << "distill: run " << run_id << " failed: " << e.what() << "\n";
        return dynamic_cast<const UsageError*>(&e) != nullptr ? kExitBadInput : kExitRunFailed;
    }
}

}  // namespace distill::cli
