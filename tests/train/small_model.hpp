// A small model and its losses, for the tests that drive train::Trainer
// directly (no CLI, no SQL). Only test_train links the plugin host.
#pragma once

#include "plugins/plugin_registry.hpp"
#include "train/weighted_losses.hpp"

#include <map>
#include <memory>
#include <string>

namespace distill::train::testing {

// For driving train::Trainer directly: the built plugins and the test
// plugins, a conv_vae on [2, 32, 16] maps with latent 4 (its other
// parameters as given), and the loss entries a test adds. Seconds, not minutes.
struct SmallModel {
    explicit SmallModel(const std::string& device = "cpu", const std::map<std::string, host::ParamValue>& model = {});
    void add_loss(const std::string& plugin, const std::map<std::string, host::ParamValue>& params,
                  WeightSchedule schedule);
    // The four reference losses with their weights, the STFT at resolutions
    // (64, 16) and (128, 32) that fit a 512-sample map.
    void add_reference_losses();

    std::string device;
    host::PluginRegistry registry;
    std::unique_ptr<host::ModelInstance> model;
    WeightedLosses losses;
};

}  // namespace distill::train::testing
