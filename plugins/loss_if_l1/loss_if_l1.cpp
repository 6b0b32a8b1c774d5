// Magnitude-weighted IF L1: loud bins matter more for instantaneous
// frequency, silent ones (whose phase is noise) hardly at all.
#include <distill/sdk.hpp>

#include <ATen/ATen.h>

#include <stdexcept>
#include <string>

namespace {

constexpr double kMeanEpsilon = 1e-8;  // keeps an all-silent batch finite

std::string shape_of(const at::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
}

class IfL1Loss : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        return {"if_l1", "1.0.0",
                "L1 on the IF channel (1) weighted by target magnitude / (its batch mean + 1e-8)", {},
                {{"if_recon_loss"}, {"recon_loss"}}};
    }
    IfL1Loss(const distill::Params&, const std::string&) {}

    distill::TensorMap compute(const distill::TensorMap& inputs, const distill::StepContext&) override {
        const at::Tensor& recon = distill::require_input(inputs, "recon");
        const at::Tensor& target = distill::require_input(inputs, "target");
        if (recon.dim() != 4 || recon.size(1) < 2 || !recon.sizes().equals(target.sizes()))
            throw std::invalid_argument("if_l1: expected recon and target of the same shape [B, C>=2, H, W], got recon " +
                                        shape_of(recon) + " and target " + shape_of(target));
        const at::Tensor magnitude = target.select(1, 0);
        const at::Tensor weight = magnitude / (magnitude.mean() + kMeanEpsilon);
        const at::Tensor loss = ((recon.select(1, 1) - target.select(1, 1)).abs() * weight).mean();
        return {{"loss", loss}};
    }
};

}  // namespace

DISTILL_PLUGIN_LIBRARY("loss_if_l1", "1.0.0", IfL1Loss)
