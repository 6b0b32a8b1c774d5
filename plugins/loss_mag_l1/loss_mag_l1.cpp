// Magnitude L1: mean |recon[:,0] - target[:,0]| over B*H*W.
#include <distill/sdk.hpp>

#include <ATen/ATen.h>

#include <stdexcept>
#include <string>

namespace {

std::string shape_of(const at::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
}

class MagL1Loss : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        return {"mag_l1", "1.0.0", "mean absolute error on the magnitude channel (channel 0)", {},
                {{"mag_recon_loss"}, {"recon_loss"}}};
    }
    MagL1Loss(const distill::Params&, const std::string&) {}

    distill::TensorMap compute(const distill::TensorMap& inputs, const distill::StepContext&) override {
        const at::Tensor& recon = distill::require_input(inputs, "recon");
        const at::Tensor& target = distill::require_input(inputs, "target");
        if (recon.dim() != 4 || recon.size(1) < 1 || !recon.sizes().equals(target.sizes()))
            throw std::invalid_argument("mag_l1: expected recon and target of the same shape [B, C>=1, H, W], got recon " +
                                        shape_of(recon) + " and target " + shape_of(target));
        return {{"loss", (recon.select(1, 0) - target.select(1, 0)).abs().mean()}};
    }
};

}  // namespace

DISTILL_PLUGIN_LIBRARY("loss_mag_l1", "1.0.0", MagL1Loss)
