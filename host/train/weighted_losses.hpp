// The experiment's loss entries, each a loss plugin instance with a weight
// schedule, combined into the one differentiable total the trainer steps on.
// Everything stays a tensor: reading values back every step would make a GPU
// wait, so the trainer decides when to call .item().
#pragma once

#include "experiment/experiment.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "train/loss_schedule.hpp"

#include <distill/bridge.hpp>
#include <distill/plugin.h>

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace distill::train {

struct LossEntry {
    std::string name;  // unique; the plugin id unless the experiment named it
    std::unique_ptr<host::LossInstance> instance;
    WeightSchedule schedule;
};

// One entry's share of a step.
struct LossTerm {
    std::string name;
    std::string plugin;
    at::Tensor raw;       // the plugin's "loss", unweighted (scalar)
    double weight = 0.0;  // the schedule's weight at this epoch
    at::Tensor weighted;  // weight * raw; exactly 0 when weight is 0, whatever raw is
    TensorMap sub_terms;  // every other tensor the plugin returned ("sc", "kl_raw", ...)
    // The reference metrics its plugin declares it fills (owned by the entry).
    const std::vector<host::MetricSource>* metrics = nullptr;
};

struct LossResult {
    at::Tensor total;  // sum of the weighted terms, differentiable
    std::vector<LossTerm> terms;  // in entry order

    // nullptr when no entry has that name.
    const LossTerm* find(const std::string& name) const;
};

class WeightedLosses {
public:
    // Throws std::invalid_argument when the name (or, if `name` is empty,
    // the plugin id) is already taken, or the instance is null.
    void add(std::string name, std::unique_ptr<host::LossInstance> instance, WeightSchedule schedule);
    // Creates the plugin instance of an experiment's [[loss]] entry (its
    // params already resolved) and adds it.
    void add(const experiment::LossSpec& spec, const host::PluginRegistry& registry, const std::string& device);

    // Runs every plugin on `inputs`; weights come from context.epoch and
    // context.total_epochs. Plugin failures propagate as host::PluginCallError;
    // a result host::check_loss_result refuses (not a scalar, or, in a
    // training step with gradients on and a weight other than 0, not attached
    // to the graph) as host::PluginResultError naming the entry and plugin.
    LossResult compute(const TensorMap& inputs, const distill_step_context& context) const;

    // One line for the start of a run: each entry, its plugin, weight,
    // schedule and resolved parameters, e.g. "losses: stft (stft) weight 1
    // constant {fft_sizes = [512, 1024, 2048], hop_sizes = [128, 256, 512],
    // win_lengths = [], channel = 0}; kl (kl) ..."
    std::string summary() const;

    const std::vector<LossEntry>& entries() const { return entries_; }
    bool empty() const { return entries_.empty(); }

private:
    std::vector<LossEntry> entries_;
};

}  // namespace distill::train
