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
        throw PluginCallError(id(), "compute", "put no tensor named 'loss'", 1);
    return result;
}

}  // namespace distill::host
