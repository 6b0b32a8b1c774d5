#include "plugins/plugin_instance.hpp"

namespace distill::host {

PluginInstance::PluginInstance(const LoadedPlugin& plugin, const ParamValues& params, const std::string& device)
    : plugin_(plugin), id_(plugin.id()), params_(params) {
    ParamListView view(params_);
    distill_instance* made = nullptr;
    check(plugin_.descriptor->create(view.get(), device.c_str(), &made), "create");
    if (made == nullptr) throw PluginCallError(id_, "create", "returned success but no instance", 1);
    instance_ = made;
}

PluginInstance::~PluginInstance() {
    if (instance_ != nullptr) plugin_.descriptor->destroy(instance_);
}

void PluginInstance::check(distill_error* error, const char* call) const {
    if (error == nullptr) return;
    const std::string message = error->message != nullptr ? error->message : "(no message)";
    const int code = error->code;
    if (error->release != nullptr) error->release(error);
    throw PluginCallError(id_, call, message, code);
}

ModelInstance::ModelInstance(const LoadedPlugin& plugin, const ParamValues& params, const std::string& device)
    : PluginInstance(plugin, params, device) {}

TensorMap ModelInstance::forward(const TensorMap& inputs) {
    TensorListView in(inputs);
    CollectingSink out;
    check(api().forward(handle(), in.get(), out.get()), "forward");
    return out.map();
}

NamedTensors ModelInstance::parameters() {
    CollectingSink out;
    check(api().parameters(handle(), out.get()), "parameters");
    return out.items();
}

NamedTensors ModelInstance::buffers() {
    CollectingSink out;
    check(api().buffers(handle(), out.get()), "buffers");
    return out.items();
}

void ModelInstance::set_training(bool training) { check(api().set_training(handle(), training ? 1 : 0), "set_training"); }

TensorMap ModelInstance::decode(const at::Tensor& latents) {
    CollectingSink out;
    check(api().decode(handle(), to_handle(latents), out.get()), "decode");
    return out.map();
}

LossInstance::LossInstance(const LoadedPlugin& plugin, const ParamValues& params, const std::string& device)
    : PluginInstance(plugin, params, device), metrics_(declared_metrics(*plugin.descriptor)) {}

TensorMap LossInstance::compute(const TensorMap& inputs, const distill_step_context& context) {
    TensorListView in(inputs);
    CollectingSink out;
    check(plugin().descriptor->loss->compute(handle(), in.get(), &context, out.get()), "compute");
    TensorMap result = out.map();
    if (result.find("loss") == result.end())
        throw PluginResultError(id(), "", "compute", "no tensor named 'loss'");
    return result;
}

namespace {

std::string shape_of(const at::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
}

std::string names_of(const TensorMap& tensors) {
    std::string names;
    for (const auto& [name, t] : tensors) names += (names.empty() ? "" : ", ") + name;
    return names;
}

}  // namespace

void check_loss_result(const LossInstance& loss, const std::string& entry, const TensorMap& inputs,
                       const TensorMap& result, bool needs_gradient) {
    auto fail = [&](const std::string& message) { throw PluginResultError(loss.id(), entry, "compute", message); };
    const auto found = result.find("loss");
    if (found == result.end()) fail("no tensor named 'loss' (it put: " + names_of(result) + ")");
    const at::Tensor& value = found->second;
    if (!value.defined()) fail("an undefined 'loss' tensor");
    if (value.numel() != 1)
        fail("a 'loss' of shape " + shape_of(value) + ", not a scalar: the loss must be one value (e.g. a mean)");
    for (const auto& [name, t] : result) {
        if (name == "loss") continue;
        if (!t.defined()) fail("an undefined sub-term '" + name + "'");
        if (t.numel() != 1)
            fail("sub-term '" + name + "' of shape " + shape_of(t) + ", not a scalar: sub-terms are logged as one value each");
    }
    for (const MetricSource& m : loss.metrics())
        if (result.find(m.source) == result.end())
            fail("no '" + m.source + "', which the plugin declares as the source of reference metric '" + m.name +
                 "' (it put: " + names_of(result) + ")");
    if (!needs_gradient || value.requires_grad()) return;
    for (const auto& [name, t] : inputs) {
        if (!t.defined() || !t.requires_grad()) continue;
        fail("a 'loss' that is not attached to the autograd graph (input '" + name +
             "' requires grad, the loss does not: computed under no-grad, detached, or only from inputs "
             "without grad such as 'target'?), so it cannot train the model; give it weight 0 to log it "
             "without training on it");
    }
}

}  // namespace distill::host
