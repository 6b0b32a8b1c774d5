// An experiment as the rest of the host sees it: parsed from TOML, every
// --set override applied, validated against the plugins' schemas, defaults
// filled in. Nothing here loads data or touches torch.
#pragma once

#include "data/pipeline_config.hpp"
#include "plugins/param_schema.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace distill::experiment {

// Bad experiment input. what() is "FILE:LINE:COL: message" whenever the
// fault has a place in the file (or "--set KEY: message" for overrides).
class ExperimentError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A key that exists nowhere in the format (or a [[loss]] entry name that
// exists nowhere in the file). A sweep treats it as fatal before any trial
// runs, where a bad *value* only fails the trial that carries it.
class UnknownKeyError : public ExperimentError {
public:
    using ExperimentError::ExperimentError;
};

struct DataSpec {
    std::string dir;                     // corpus folder (required)
    // Feature cache. Empty: the user's cache ($XDG_CACHE_HOME/distill, else
    // ~/.cache/distill), shared by every database and working directory.
    std::string cache_dir;
    data::PipelineConfig pipeline;
    data::SplitConfig split;             // split.seed = the experiment seed
    data::AugmentConfig augment;         // [data.augment]; seed = the experiment seed
};

struct ModelSpec {
    std::string plugin = "conv_vae";
    host::ParamValues params;  // resolved against the plugin schema (n_mels/frames from data)
};

struct LossSpec {
    std::string name;          // unique within the experiment; defaults to plugin
    std::string plugin;
    double weight = 1.0;
    std::string schedule = "constant";  // "constant" | "linear_warmup"
    double warmup_fraction = 0.3;       // of train.epochs, for linear_warmup
    host::ParamValues params;  // resolved against the plugin schema
};

struct TrainSpec {
    int64_t epochs = 200;
    int64_t batch_size = 32;
    std::string optimizer = "adamw";   // adamw | adam
    double lr = 1e-3;
    std::vector<double> betas{0.9, 0.999};
    double eps = 1e-8;
    double weight_decay = 0.01;
    std::string scheduler = "cosine";  // cosine | constant
    double eta_min = 0.0;
    double grad_clip = 1.0;            // global L2 norm; 0 = off
    int64_t checkpoint_every = 10;     // epochs; 0 = only at the end
    int64_t keep_checkpoints = 1;      // step checkpoints kept while training
    bool keep_step_checkpoints = false;  // after a completed run (else only best.pt + last.pt stay)
    int64_t divergence_window = 5;
    bool stop_on_divergence = false;
    int64_t max_non_finite_steps = 10;  // in a row, then the run is `diverged`
    int64_t log_every = 10;            // steps (every step in epoch 0)
    int64_t readback_every = 0;        // steps whose loss values are read back in one copy; 0 = 1 on the CPU, 16 on a GPU
};

struct OutputSpec {
    // Empty: a run's files go beside the database, <db dir>/<db stem>.runs/<uuid>/;
    // else DIR/<uuid>/ (relative to the working directory).
    std::string dir;
};

struct Experiment {
    std::string name;
    uint64_t seed = 0;
    std::string device = "auto";       // auto | cpu | cuda | cuda:N
    int64_t threads = 0;               // 0 = all cores
    DataSpec data;
    ModelSpec model;
    std::vector<LossSpec> losses;
    TrainSpec train;
    OutputSpec output;

    std::string source_path;           // the file as given
    std::string source_text;           // its text, as read (stored with the run)
    std::vector<std::string> overrides;  // --set KEY=VALUE, in order
    // Every resolved setting as (dotted key, TOML-formatted value), sorted:
    // what `validate` prints and what run_params records.
    std::vector<std::pair<std::string, std::string>> resolved;
};

}  // namespace distill::experiment

namespace distill::host { class PluginRegistry; }

namespace distill::experiment {

// An experiment's text and where it came from. Relative paths in the text
// are relative to `file`'s folder, those given with --set to `working_dir`
// (empty: the current directory), so a run rebuilt later from its recorded
// text resolves them exactly as it did the first time.
struct ExperimentSource {
    std::filesystem::path file;
    std::string text;
    std::filesystem::path working_dir;
};

// Reads FILE; ExperimentError "FILE: ..." when it cannot.
ExperimentSource read_experiment_source(const std::filesystem::path& file);

Experiment load_experiment(const ExperimentSource& source, const std::vector<std::string>& overrides,
                           const host::PluginRegistry& registry);

// Reads FILE, applies each "--set dotted.key=value" in order, validates
// everything (plugins and their parameters against `registry`) and fills in
// every default. A [sweep] table is checked for shape and otherwise ignored
// (see sweep.hpp). Throws ExperimentError ("FILE:LINE:COL: ..." or
// "--set KEY: ...") on any bad input; nothing heavy happens before that.
Experiment load_experiment(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                           const host::PluginRegistry& registry);

}  // namespace distill::experiment
