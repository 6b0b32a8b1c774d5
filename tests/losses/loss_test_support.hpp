// Shared by the loss tests: the plugins come from the build's plugin folder
// through the host registry, as the trainer loads them.
#pragma once

#include "plugins/param_schema.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_registry.hpp"

#include <distill/plugin.h>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>

namespace losses_test {

inline const distill::host::PluginRegistry& registry() {
    static const distill::host::PluginRegistry loaded = [] {
        distill::host::PluginRegistry r;
        r.load_directory(DISTILL_PLUGIN_DIR);
        return r;
    }();
    return loaded;
}

inline std::unique_ptr<distill::host::LossInstance> make_loss(
    const std::string& id, const std::map<std::string, distill::host::ParamValue>& given = {}) {
    const distill::host::LoadedPlugin& plugin = registry().require(id, DISTILL_KIND_LOSS);
    return std::make_unique<distill::host::LossInstance>(
        plugin, distill::host::resolve_params(*plugin.descriptor, given), "cpu");
}

inline distill_step_context context(int64_t epoch = 0, int64_t total_epochs = 10) {
    distill_step_context c{};
    c.struct_size = sizeof(distill_step_context);
    c.epoch = epoch;
    c.total_epochs = total_epochs;
    c.step = 0;
    c.steps_per_epoch = 1;
    c.training = 1;
    return c;
}

inline double value(const at::Tensor& t) { return t.item<double>(); }

// |actual - expected| <= 1e-5 * |expected|.
inline void expect_rel(double actual, double expected, const std::string& what) {
    const double tolerance = 1e-5 * std::abs(expected);
    EXPECT_NEAR(actual, expected, tolerance) << what;
}

inline bool all_finite(const at::Tensor& t) { return at::isfinite(t).all().item<bool>(); }

}  // namespace losses_test
