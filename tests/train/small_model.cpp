#include "small_model.hpp"

namespace distill::train::testing {

SmallModel::SmallModel(const std::string& device_name, const std::map<std::string, host::ParamValue>& model_params)
    : device(device_name) {
    registry.load_all({DISTILL_PLUGIN_DIR, DISTILL_TRAIN_TEST_PLUGIN_DIR});
    std::map<std::string, host::ParamValue> given{
        {"latent_dim", int64_t{4}}, {"n_mels", int64_t{32}}, {"frames", int64_t{16}}};
    for (const auto& [key, value] : model_params) given[key] = value;
    const auto& vae = registry.require("conv_vae", DISTILL_KIND_MODEL);
    model = std::make_unique<host::ModelInstance>(vae, host::resolve_params(*vae.descriptor, given), device);
}

void SmallModel::add_loss(const std::string& plugin, const std::map<std::string, host::ParamValue>& params,
                          WeightSchedule schedule) {
    const auto& loaded = registry.require(plugin, DISTILL_KIND_LOSS);
    losses.add(plugin,
               std::make_unique<host::LossInstance>(loaded, host::resolve_params(*loaded.descriptor, params), device),
               schedule);
}

void SmallModel::add_reference_losses() {
    add_loss("stft", {{"fft_sizes", std::vector<int64_t>{64, 128}}, {"hop_sizes", std::vector<int64_t>{16, 32}}},
             WeightSchedule::constant(1.0));
    add_loss("mag_l1", {}, WeightSchedule::constant(1.0));
    add_loss("if_l1", {}, WeightSchedule::constant(0.5));
    add_loss("kl", {}, WeightSchedule::constant(0.01));
}

}  // namespace distill::train::testing
