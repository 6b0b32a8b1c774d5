#include "session/run_session.hpp"

#include "session/run_recipe.hpp"

#include "common/allocator.hpp"

#include "audio/oracle.hpp"
#include "common/text.hpp"
#include "data/dataset.hpp"
#include "experiment/experiment.hpp"
#include "experiment/sweep.hpp"
#include "store/metrics_writer.hpp"
#include "store/run_store.hpp"
#include "store/sha256.hpp"
#include "train/checkpoint.hpp"

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <thread>

namespace distill::session {
namespace fs = std::filesystem;
namespace {

// Connects the trainer's rows and files to the run database. Rows go through
// the batching writer; files are recorded at once (the trainer has flushed
// the rows before it reports one).
class StoreSink final : public train::MetricsSink {
public:
    StoreSink(store::MetricsWriter& writer, store::RunStore& db, int64_t run_id)
        : writer_(writer), db_(db), run_id_(run_id) {}
    void step(const store::StepMetrics& row) override { writer_.write_step(row); }
    void epoch(const store::EpochMetrics& row) override { writer_.write_epoch(row); }
    void loss_terms(const std::vector<store::LossTermRow>& rows) override { writer_.write_loss_terms(rows); }
    void event(const store::Event& event) override { writer_.write_event(event); }
    void flush() override { writer_.flush(); }
    void file_written(const std::string& kind, const fs::path& file) override { db_.record_artifact(run_id_, kind, file); }
    void file_removed(const fs::path& file) override { db_.remove_artifact(run_id_, file); }

private:
    store::MetricsWriter& writer_;
    store::RunStore& db_;
    int64_t run_id_;
};

// Everything a run needs, built and checked before the run row exists.
struct Prepared {
    experiment::Experiment exp;
    std::vector<std::pair<std::string, std::string>> swept;  // a sweep trial's grid values
    c10::Device device = c10::Device(c10::kCPU);
    data::Dataset data;
    std::unique_ptr<host::ModelInstance> model;
    train::WeightedLosses losses;
};

std::unique_ptr<store::RunStore> open_store(const RunRequest& request) {
    try {
        if (request.resume_run || (request.sweep_id && !request.experiment_file))
            return store::RunStore::open_existing(request.db_path);
        return std::make_unique<store::RunStore>(request.db_path);
    } catch (const store::StoreError& e) {
        throw BadInput(e.what());
    }
}

}  // namespace

PluginSet create_plugins(const experiment::Experiment& exp, const host::PluginRegistry& registry,
                         const std::string& device) {
    PluginSet set;
    try {
        set.model = std::make_unique<host::ModelInstance>(registry.require(exp.model.plugin, DISTILL_KIND_MODEL),
                                                          exp.model.params, device);
        for (const auto& loss : exp.losses) set.losses.add(loss, registry, device);
    } catch (const host::PluginCallError& e) {
        // A plugin that refuses its (schema-valid) configuration is bad input.
        throw BadInput(e.what());
    }
    return set;
}

namespace {

Prepared prepare(const Recipe& recipe, const host::PluginRegistry& registry, SessionListener& listener) {
    Prepared p;
    p.exp = build_experiment(recipe, registry, p.swept);
    p.device = resolve_device(p.exp.device);
    if (const int64_t empty = audio::empty_mel_bands(p.exp.data.pipeline); empty > 0)
        listener.warning(std::to_string(empty) + " of " + std::to_string(p.exp.data.pipeline.n_mels) +
                         " mel bands are empty at n_fft " + std::to_string(p.exp.data.pipeline.n_fft) +
                         " (no STFT bin falls in them): they carry nothing");
    // threads = 0 means every core (LibTorch's own default can be 1 under OpenMP).
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    at::set_num_threads(static_cast<int>(p.exp.threads > 0 ? p.exp.threads : cores));
    common::keep_freed_memory_for_reuse();
    // Every random choice from here on (initial weights, shuffles, dropout,
    // sampling) follows the experiment's seed. The plugins are made before
    // the data load, so a combination only a plugin judges (stft hop > win)
    // is refused before any audio is decoded.
    at::manual_seed(p.exp.seed);
    PluginSet plugins = create_plugins(p.exp, registry, p.device.str());
    p.model = std::move(plugins.model);
    p.losses = std::move(plugins.losses);
    try {
        data::LoadOptions options;
        options.log = [&listener](const std::string& line) { listener.info(line); };
        p.data = data::load_dataset(p.exp.data.dir, p.exp.data.pipeline, p.exp.data.split, p.exp.data.cache_dir, options,
                                    p.exp.data.augment);
    } catch (const data::DataError& e) {
        throw BadInput(std::string("data.dir: ") + e.what());
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

// What resume needs to rebuild the same experiment, recorded with the run's
// parameters: the file it came from (relative paths in the text start
// there), the working directory (relative paths in --set start there) and
// the --set list. The text itself is the run's experiments row.
std::vector<std::pair<std::string, std::string>> run_params(const Prepared& p, const Recipe& recipe) {
    auto params = p.exp.resolved;
    for (const auto& [key, value] : p.swept) params.emplace_back("sweep." + key, value);
    params.emplace_back("experiment.file", fs::absolute(recipe.source.file).lexically_normal().string());
    params.emplace_back("experiment.cwd", recipe.source.working_dir.string());
    for (size_t i = 0; i < recipe.overrides.size(); ++i)
        params.emplace_back("experiment.set." + std::to_string(i), recipe.overrides[i]);
    // Which GPU a trial of `sweep --gpus` was given (the run's device is cuda:0 of it).
    if (const char* mask = std::getenv("CUDA_VISIBLE_DEVICES")) params.emplace_back("host.cuda_visible_devices", mask);
    return params;
}

Recipe new_run_recipe(const RunRequest& request, store::RunStore& db) {
    Recipe recipe;
    recipe.source.working_dir = fs::current_path();
    recipe.trial_index = request.trial_index;
    if (request.experiment_file) {
        try {
            const auto source = experiment::read_experiment_source(*request.experiment_file);
            recipe.source.file = source.file;
            recipe.source.text = source.text;
        } catch (const experiment::ExperimentError& e) {
            throw BadInput(e.what());
        }
        recipe.overrides = request.overrides;
        return recipe;
    }
    // A trial of a recorded sweep: the sweep's text and --set list, so every
    // trial trains what the sweep recorded, whatever the file says now.
    const auto sweep = db.find_sweep_record(*request.sweep_id);
    if (!sweep) throw BadInput("sweep " + std::to_string(*request.sweep_id) + " does not exist in " + db.path().string());
    if (!request.trial_index) throw BadInput("a sweep's run needs --trial-index");
    recipe.source.file = sweep->source_path;
    recipe.source.text = sweep->experiment_text;
    recipe.overrides = sweep->overrides;
    recipe.overrides.insert(recipe.overrides.end(), request.overrides.begin(), request.overrides.end());
    return recipe;
}

// Resume rebuilds the run from what was recorded, never from the file on
// disk: an edited file would otherwise train something else under the same id.
Recipe resume_recipe(store::RunStore& db, int64_t run_id, SessionListener& listener) {
    auto run = db.find_run(run_id);
    if (!run) throw BadInput("run " + std::to_string(run_id) + " does not exist in " + db.path().string());
    if (run->status == "running") {
        // Its process may be gone (kill -9, a second Ctrl-C, a crash): look now.
        db.mark_stale_runs_interrupted();
        run = db.find_run(run_id);
        if (run->status == "running")
            throw BadInput("run " + std::to_string(run_id) + " is still running (pid " + std::to_string(run->pid) +
                           " on " + run->hostname + ")");
    }
    if (run->status == "completed")
        throw BadInput("run " + std::to_string(run_id) + " is already completed; nothing to resume");
    Recipe recipe = recorded_recipe(db, *run);
    try {
        const auto on_disk = experiment::read_experiment_source(recipe.source.file);
        if (on_disk.text != recipe.source.text)
            listener.info("note: " + recipe.source.file.string() + " has changed since run " + std::to_string(run_id) +
                          " started; resuming with the experiment recorded in " + db.path().string());
    } catch (const experiment::ExperimentError&) {
        listener.info("note: " + recipe.source.file.string() + " is gone; resuming with the recorded experiment");
    }
    return recipe;
}

// The newest recorded checkpoint whose rows are all in the database. A
// checkpoint whose rows never committed (the process died in between) would
// continue past a hole: it is passed over, with a line saying so.
fs::path choose_checkpoint(store::RunStore& db, int64_t run_id, int64_t steps_per_epoch, SessionListener& listener) {
    struct Candidate {
        int64_t epoch, next_step;
        fs::path file;
    };
    std::vector<Candidate> candidates;
    for (const auto& artifact : db.artifacts(run_id, "checkpoint")) {
        const fs::path file = db.resolve(artifact.path);
        int64_t epoch = 0, next_step = 0;
        if (train::parse_checkpoint_name(file.filename().string(), epoch, next_step))
            candidates.push_back({epoch, next_step, file});
    }
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        return std::make_pair(a.epoch, a.next_step) > std::make_pair(b.epoch, b.next_step);
    });
    for (const auto& c : candidates) {
        std::error_code ec;
        if (!fs::is_regular_file(c.file, ec)) {
            listener.info("note: checkpoint " + c.file.string() + " is recorded but missing; trying an older one");
            continue;
        }
        const store::RowsBefore rows = db.rows_before(run_id, c.epoch, c.next_step);
        if (rows.epoch_rows != c.epoch || rows.step_rows != c.epoch * steps_per_epoch + c.next_step) {
            listener.info("note: checkpoint " + c.file.string() + " is ahead of the database (" +
                          std::to_string(rows.step_rows) + " step rows and " + std::to_string(rows.epoch_rows) +
                          " epoch rows before its position, expected " +
                          std::to_string(c.epoch * steps_per_epoch + c.next_step) + " and " + std::to_string(c.epoch) +
                          "); trying an older one");
            continue;
        }
        return c.file;
    }
    throw BadInput("run " + std::to_string(run_id) + " has no usable checkpoint in " + db.path().string() +
                   (candidates.empty() ? " (none was recorded)" : " (see the notes above)"));
}

const char* status_for(train::Outcome outcome) {
    switch (outcome) {
        case train::Outcome::completed: return "completed";
        case train::Outcome::diverged: return "diverged";
        case train::Outcome::interrupted: return "interrupted";
        case train::Outcome::failed: return "failed";
    }
    return "failed";
}

}  // namespace

std::string format_bytes(int64_t bytes) {
    const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1000.0 && unit < 4) value /= 1000.0, ++unit;
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
}

RunResult run_experiment(const RunRequest& request, const host::PluginRegistry& registry, SessionListener& listener,
                         const std::atomic<int>* stop_requested) {
    // 1. The database first: a wrong --db fails before any data is loaded.
    std::unique_ptr<store::RunStore> db = open_store(request);

    // 2. What to build: the file, the sweep's record, or the run's record.
    const Recipe recipe = request.resume_run ? resume_recipe(*db, *request.resume_run, listener)
                                             : new_run_recipe(request, *db);

    // 3. Experiment, data, plugins: everything checked before a row is written.
    Prepared p = prepare(recipe, registry, listener);
    listener.info("experiment " + p.exp.name + ": " + std::to_string(p.data.train.size(0)) + " train / " +
                  text::count(p.data.val.size(0), "val item") + " " + c10::str(p.data.train.sizes().slice(1)) + " from " +
                  text::count(static_cast<int64_t>(p.data.files.size()), "file") + ", device " + p.device.str() + ", " +
                  text::count(at::get_num_threads(), "thread"));
    // The model's shape follows the data (n_mels, frames): say what that gave.
    int64_t parameters = 0;
    for (const auto& [name, t] : p.model->parameters()) parameters += t.numel();
    listener.info("model " + p.exp.model.plugin + ": " + std::to_string(parameters) + " parameters for items " +
                  c10::str(p.data.train.sizes().slice(1)));
    listener.info(p.losses.summary());

    // 4. The run's record: a new row, or the recorded one when resuming.
    RunResult result;
    if (request.resume_run) {
        const store::RunRecord run = db->run(*request.resume_run);
        result.run_id = run.id;
        result.uuid = run.uuid;
    } else {
        store::RunInfo info;
        info.uuid = store::new_uuid();
        info.experiment_id = db->record_experiment(p.exp.name, recipe.source.text);
        info.sweep_id = request.sweep_id;
        info.trial_index = request.trial_index;
        info.seed = static_cast<int64_t>(p.exp.seed);
        info.device = p.device.str();
        info.host_version = DISTILL_VERSION;
        result.run_id = db->create_run(info);
        result.uuid = info.uuid;
        db->record_params(result.run_id, run_params(p, recipe));
        db->record_plugins(result.run_id, plugin_rows(p));
    }
    listener.run_recorded(db->path(), result.run_id);
    result.run_dir = run_dir_for(p.exp, *db, result.uuid, recipe.source.working_dir);

    train::TrainerConfig config;
    config.train = p.exp.train;
    config.device = p.device;
    config.checkpoint_dir = result.run_dir;
    config.run_uuid = result.uuid;
    config.norm = p.data.stats;
    config.config_text = recipe.source.text;
    config.stop_requested = stop_requested;
    config.listener = &listener;

    store::MetricsWriter writer(*db, result.run_id);
    StoreSink sink(writer, *db, result.run_id);
    train::Trainer trainer(config, *p.model, p.losses, sink, p.data.train, p.data.val);
    if (trainer.sync_free())
        listener.info("sync-free steps: loss values read back every " + text::count(trainer.readback_every(), "step") +
                      ", the optimizer step masked on the device when a total is not finite");

    // 5. Resume: the newest checkpoint that is this run's and whose rows are
    // all recorded; the rows after it are removed and written again.
    if (request.resume_run) {
        const fs::path checkpoint = choose_checkpoint(*db, result.run_id, trainer.steps_per_epoch(), listener);
        try {
            trainer.resume_from(checkpoint);
        } catch (const train::CheckpointError& e) {
            // A checkpoint we cannot use says nothing about the run itself:
            // leave its status and rows as they are.
            writer.close();
            throw BadInput("cannot resume run " + std::to_string(result.run_id) + ": " + e.what());
        }
        const auto& at = trainer.position();
        db->delete_rows_from(result.run_id, at.epoch, at.next_step);
        db->set_status(result.run_id, "running");
        db->add_event(result.run_id, {at.epoch, at.next_step, "resumed", "resumed from " + checkpoint.string(), ""});
        listener.info("resuming run " + std::to_string(result.run_id) + " at epoch " + std::to_string(at.epoch + 1) +
                      " step " + std::to_string(at.next_step + 1) + " from " + checkpoint.string());
    } else {
        listener.info("run " + std::to_string(result.run_id) + " started (database " + db->path().string() +
                      ", files in " + result.run_dir.string() + ")");
    }

    // 6. Train, then record how it ended.
    try {
        const train::TrainingResult trained = trainer.run();
        writer.close();
        result.outcome = trained.outcome;
        result.status = status_for(trained.outcome);
        result.reason = trained.reason;
        result.best_val_loss = trained.best_val_loss;
        result.best_epoch = trained.best_epoch;
        db->finish_run(result.run_id, result.status, trained.reason);
    } catch (const std::exception& e) {
        // Keep every row written so far, then record why the run failed.
        try {
            writer.close();
        } catch (const std::exception& flush_error) {
            listener.warning(flush_error.what());
        }
        db->finish_run(result.run_id, "failed", e.what());
        // A plugin's error keeps its type (its code decides the exit status).
        if (dynamic_cast<const host::PluginCallError*>(&e) != nullptr) throw;
        throw std::runtime_error("run " + std::to_string(result.run_id) + " failed: " + e.what());
    }
    for (const auto& artifact : db->artifacts(result.run_id)) result.bytes_on_disk += artifact.bytes;
    return result;
}

}  // namespace distill::session
