// Loss plugins whose values the trainer tests choose, so the divergence and
// non-finite rules can be driven to exact epochs and steps.
#include <distill/sdk.hpp>

#include <ATen/ATen.h>

#include <limits>
#include <string>
#include <vector>

namespace {

// 0 * sum(recon): the loss stays connected to the model's graph, so the
// trainer has something to step on, without changing the value.
at::Tensor zero_from(const distill::TensorMap& inputs) {
    return distill::require_input(inputs, "recon").sum() * 0.0;
}

// per_epoch[min(epoch, size - 1)] as the loss value of every step of that
// epoch (training and validation alike).
class ScriptedLoss : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        return {"scripted",
                "1.0.0",
                "test loss: the value per_epoch[epoch] at every step",
                {distill::param::float_list("per_epoch", {1.0}, "loss value of each epoch (the last repeats)")}};
    }
    ScriptedLoss(const distill::Params& params, const std::string&) : values_(params.get_float_list("per_epoch")) {
        if (values_.empty()) throw std::invalid_argument("scripted: per_epoch must not be empty");
    }
    distill::TensorMap compute(const distill::TensorMap& inputs, const distill::StepContext& context) override {
        const size_t i = std::min(static_cast<size_t>(context.epoch), values_.size() - 1);
        return {{"loss", zero_from(inputs) + values_[i]}};
    }

private:
    std::vector<double> values_;
};

// NaN at one training step (epoch, step); 0 elsewhere.
class NanAtLoss : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        return {"nan_at",
                "1.0.0",
                "test loss: NaN at one training step, 0 elsewhere",
                {distill::param::integer("epoch", 0, "epoch of the NaN step"),
                 distill::param::integer("step", 0, "step of the NaN step")}};
    }
    NanAtLoss(const distill::Params& params, const std::string&)
        : epoch_(params.get_int("epoch")), step_(params.get_int("step")) {}
    distill::TensorMap compute(const distill::TensorMap& inputs, const distill::StepContext& context) override {
        const bool hit = context.training && context.epoch == epoch_ && context.step == step_;
        return {{"loss", zero_from(inputs) + (hit ? std::numeric_limits<double>::quiet_NaN() : 0.0)}};
    }

private:
    int64_t epoch_, step_;
};

// NaN at every call, training and validation (attached to the graph).
class AlwaysNanLoss : public distill::LossPlugin {
public:
    static distill::PluginInfo info() { return {"always_nan", "1.0.0", "test loss: NaN at every call", {}}; }
    AlwaysNanLoss(const distill::Params&, const std::string&) {}
    distill::TensorMap compute(const distill::TensorMap& inputs, const distill::StepContext&) override {
        return {{"loss", zero_from(inputs) + std::numeric_limits<double>::quiet_NaN()}};
    }
};

// mean |recon - target| over channel 0 as its loss, half of it as the
// sub-term "half"; it declares stft_loss and kl_divergence (from "half") --
// reference metrics of other plugins, to prove the host reads declarations,
// not ids.
class DeclaringLoss : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        return {"declaring", "1.0.0", "test loss: declares reference metrics its id has nothing to do with", {},
                {{"stft_loss"}, {"kl_divergence", "half"}}};
    }
    DeclaringLoss(const distill::Params&, const std::string&) {}
    distill::TensorMap compute(const distill::TensorMap& inputs, const distill::StepContext&) override {
        const at::Tensor recon = distill::require_input(inputs, "recon").select(1, 0);
        const at::Tensor target = distill::require_input(inputs, "target").select(1, 0);
        const at::Tensor loss = (recon - target).abs().mean();
        return {{"loss", loss}, {"half", loss.detach() * 0.5}};
    }
};

// A loss computed from a detached copy of recon: its value is real, but it
// is not attached to the model's graph, so training on it does nothing.
class DetachedLoss : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        return {"detached", "1.0.0", "test loss: mean recon, detached from the graph", {}};
    }
    DetachedLoss(const distill::Params&, const std::string&) {}
    distill::TensorMap compute(const distill::TensorMap& inputs, const distill::StepContext&) override {
        return {{"loss", distill::require_input(inputs, "recon").detach().mean()}};
    }
};

// One loss value per item ([B]) instead of one scalar.
class PerItemLoss : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        return {"per_item", "1.0.0", "test loss: a [B] vector instead of a scalar", {}};
    }
    PerItemLoss(const distill::Params&, const std::string&) {}
    distill::TensorMap compute(const distill::TensorMap& inputs, const distill::StepContext&) override {
        const at::Tensor recon = distill::require_input(inputs, "recon");
        return {{"loss", recon.reshape({recon.size(0), -1}).mean(1)}};
    }
};

}  // namespace

DISTILL_PLUGIN_LIBRARY("distill-train-test-losses", "1.0.0", ScriptedLoss, NanAtLoss, AlwaysNanLoss, DeclaringLoss,
                       DetachedLoss, PerItemLoss)
