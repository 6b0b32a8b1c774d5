// KL(N(mu, exp(logvar)) || N(0, I)) with free bits: each latent element
// below the floor costs the floor and gets no gradient, so the encoder is
// not pushed to collapse dimensions that already carry little information.
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

class KlLoss : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        // kl_loss is the free-bits value it trains on, kl_divergence the KL
        // itself (kl_raw); kl_weight records the weight schedule.
        return {"kl", "1.0.0", "KL divergence to N(0, I) with free bits per latent element",
                {distill::param::real("free_bits", 0.1, "floor on each element's KL (nats)").at_least(0.0)},
                {{"kl_loss"}, {"kl_weight"}, {"kl_divergence", "kl_raw"}}};
    }
    KlLoss(const distill::Params& params, const std::string&) : free_bits_(params.get_float("free_bits")) {
        if (!(free_bits_ >= 0.0))
            throw std::invalid_argument("kl: free_bits must be >= 0, got " + std::to_string(free_bits_));
    }

    distill::TensorMap compute(const distill::TensorMap& inputs, const distill::StepContext&) override {
        const at::Tensor& mu = distill::require_input(inputs, "mu");
        const at::Tensor& logvar = distill::require_input(inputs, "logvar");
        if (mu.dim() != 2 || !mu.sizes().equals(logvar.sizes()))
            throw std::invalid_argument("kl: expected mu and logvar of the same shape [B, L], got mu " + shape_of(mu) +
                                        " and logvar " + shape_of(logvar));
        const at::Tensor kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp());
        const at::Tensor floored = kl.clamp_min(free_bits_);
        return {{"loss", floored.sum(1).mean()}, {"kl_raw", kl.sum(1).mean()}};
    }

private:
    double free_bits_;
};

}  // namespace

DISTILL_PLUGIN_LIBRARY("loss_kl", "1.0.0", KlLoss)
