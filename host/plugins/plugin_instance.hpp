// Live plugin instances as the trainer sees them: C++ objects whose calls go
// through the C ABI and whose failures come back as PluginCallError naming
// the plugin and the call.
#pragma once

#include "plugins/abi_check.hpp"
#include "plugins/param_schema.hpp"
#include "plugins/plugin_registry.hpp"

#include <distill/bridge.hpp>

#include <stdexcept>
#include <string>

namespace distill::host {

// "plugin 'stft': compute failed: <the plugin's message>"
class PluginCallError : public std::runtime_error {
public:
    PluginCallError(const std::string& plugin_id, const std::string& call, const std::string& message, int code)
        : std::runtime_error("plugin '" + plugin_id + "': " + call + " failed: " + message),
          plugin_id_(plugin_id), call_(call), code_(code) {}
    const std::string& plugin_id() const { return plugin_id_; }
    const std::string& call() const { return call_; }
    int code() const { return code_; }  // a DISTILL_ERROR_* value
    // The plugin says the input was wrong or asks for what it cannot do, or
    // (PluginResultError) what it returned cannot be used: the user's to fix
    // (exit 2), not a failure of the run.
    bool is_bad_input() const { return code_ == DISTILL_ERROR_BAD_INPUT || code_ == DISTILL_ERROR_UNSUPPORTED; }

protected:
    struct FullText {};
    PluginCallError(FullText, const std::string& text, const std::string& plugin_id, const std::string& call, int code)
        : std::runtime_error(text), plugin_id_(plugin_id), call_(call), code_(code) {}

private:
    std::string plugin_id_, call_;
    int code_;
};

// The call succeeded, but what the plugin returned breaks the ABI's contract
// (a "loss" that is not a scalar or not attached to the autograd graph, a
// declared sub-term missing): the plugin cannot be used as it is, which is
// the user's to fix (another plugin, or a fixed one), exit 2 like a refused
// library. "loss 'stft_hi' (plugin 'stft'): compute returned ..."
class PluginResultError : public PluginCallError {
public:
    // `entry`: the experiment's loss entry, "" when there is none.
    PluginResultError(const std::string& plugin_id, const std::string& entry, const std::string& call,
                      const std::string& message)
        : PluginCallError(FullText{},
                          (entry.empty() || entry == plugin_id ? "plugin '" + plugin_id + "'"
                                                               : "loss '" + entry + "' (plugin '" + plugin_id + "')") +
                              ": " + call + " returned " + message,
                          plugin_id, call, DISTILL_ERROR_BAD_INPUT) {}
};

// Owns one distill_instance; destroy() runs in the destructor.
class PluginInstance {
public:
    PluginInstance(const LoadedPlugin& plugin, const ParamValues& params, const std::string& device);
    ~PluginInstance();
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    const std::string& id() const { return id_; }
    const LoadedPlugin& plugin() const { return plugin_; }
    const ParamValues& params() const { return params_; }

protected:
    // Reads and releases an error; throws PluginCallError when there was one.
    void check(distill_error* error, const char* call) const;
    distill_instance* handle() const { return instance_; }

private:
    LoadedPlugin plugin_;
    std::string id_;
    ParamValues params_;
    distill_instance* instance_ = nullptr;
};

class ModelInstance : public PluginInstance {
public:
    ModelInstance(const LoadedPlugin& plugin, const ParamValues& params, const std::string& device);
    TensorMap forward(const TensorMap& inputs);
    NamedTensors parameters();
    NamedTensors buffers();
    void set_training(bool training);
    TensorMap decode(const at::Tensor& latents);

private:
    const distill_model_api& api() const { return *plugin().descriptor->model; }
};

class LossInstance : public PluginInstance {
public:
    LossInstance(const LoadedPlugin& plugin, const ParamValues& params, const std::string& device);
    // The plugin's "loss" and sub-terms; PluginResultError if "loss" is missing.
    TensorMap compute(const TensorMap& inputs, const distill_step_context& context);
    // The reference metrics its values fill, as its descriptor declares them.
    const std::vector<MetricSource>& metrics() const { return metrics_; }

private:
    std::vector<MetricSource> metrics_;
};

// What a loss plugin's compute returned, checked the same way by `run` (each
// step) and `plugins check`: "loss" and every sub-term one value (a scalar),
// every sub-term the plugin declares as a metric source present, and -- when
// `needs_gradient` and some input requires grad -- "loss" attached to the
// autograd graph (else it cannot train anything). `entry` names the loss
// entry in the message ("" for none). Throws PluginResultError.
void check_loss_result(const LossInstance& loss, const std::string& entry, const TensorMap& inputs,
                       const TensorMap& result, bool needs_gradient);

}  // namespace distill::host
