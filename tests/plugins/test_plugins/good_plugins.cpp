// Small, well-behaved and deliberately misbehaving plugins built with the
// SDK, used by the host's plugin tests.
#include <distill/sdk.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>

namespace {

// loss = scale * mean((recon - target)^2): simple enough to check gradients
// against the same expression computed in the host.
class SquareLoss final : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        return {"test_square", "1.2.3", "scale * mean squared error (test plugin)",
                {distill::param::real("scale", 1.0, "factor on the mean squared error").at_least(0.0)}};
    }
    SquareLoss(const distill::Params& params, const std::string&) : scale_(params.get_float("scale")) {}
    distill::TensorMap compute(const distill::TensorMap& in, const distill::StepContext&) override {
        const at::Tensor diff = distill::require_input(in, "recon") - distill::require_input(in, "target");
        const at::Tensor mse = diff.pow(2).mean();
        return {{"loss", mse * scale_}, {"mse", mse.detach()}};
    }

private:
    double scale_;
};

// Throws from compute in the way `mode` says, to prove no exception crosses
// the ABI.
class ThrowingLoss final : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        return {"test_throwing", "1.0.0", "throws from compute (test plugin)",
                {distill::param::string("mode", "c10", "what to throw").one_of({"c10", "std", "unknown", "none"})}};
    }
    ThrowingLoss(const distill::Params& params, const std::string&) : mode_(params.get_string("mode")) {}
    distill::TensorMap compute(const distill::TensorMap& in, const distill::StepContext&) override {
        if (mode_ == "c10") TORCH_CHECK(false, "deliberate c10 error in compute");
        if (mode_ == "std") throw std::runtime_error("deliberate std error in compute");
        if (mode_ == "unknown") throw 42;
        return {{"loss", distill::require_input(in, "recon").sum()}};
    }

private:
    std::string mode_;
};

class FailingCreate final : public distill::LossPlugin {
public:
    static distill::PluginInfo info() { return {"test_create_fails", "1.0.0", "its constructor throws (test plugin)", {}}; }
    FailingCreate(const distill::Params&, const std::string&) {
        throw std::runtime_error("deliberate failure in the constructor");
    }
    distill::TensorMap compute(const distill::TensorMap&, const distill::StepContext&) override { return {}; }
};

// Loss plugins that load fine but return what `run` and `plugins check` must
// refuse or report (issue 18), one way each (`plugins check` creates a plugin
// with its defaults, so each way is a plugin of its own):
//   test_detached      "loss" computed from a detached copy of recon
//   test_per_item      "loss" of shape [B]
//   test_sub_per_item  a scalar "loss" with a sub-term of shape [B]
//   test_nan           "loss" NaN (attached to the graph)
//   test_no_source     declares kl_divergence from sub-term "kl_raw" but never puts it
// Each declares mag_recon_loss and kl_divergence (from "kl_raw").
enum class Odd { detached, per_item, sub_per_item, nan, no_source };

template <Odd kOdd>
class OddLoss final : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        const char* ids[] = {"test_detached", "test_per_item", "test_sub_per_item", "test_nan", "test_no_source"};
        return {ids[static_cast<int>(kOdd)], "1.0.0", "returns an odd result (test plugin)", {},
                {{"mag_recon_loss"}, {"kl_divergence", "kl_raw"}}};
    }
    OddLoss(const distill::Params&, const std::string&) {}
    distill::TensorMap compute(const distill::TensorMap& in, const distill::StepContext&) override {
        const at::Tensor recon = distill::require_input(in, "recon");
        const at::Tensor per_item = recon.reshape({recon.size(0), -1}).mean(1);
        const at::Tensor kl_raw = per_item.detach().mean();
        switch (kOdd) {
            case Odd::detached: return {{"loss", recon.detach().mean()}, {"kl_raw", kl_raw}};
            case Odd::per_item: return {{"loss", per_item}, {"kl_raw", kl_raw}};
            case Odd::sub_per_item: return {{"loss", per_item.mean()}, {"kl_raw", per_item}};
            case Odd::nan: return {{"loss", recon.mean() * std::nan("")}, {"kl_raw", kl_raw}};
            case Odd::no_source: break;
        }
        return {{"loss", per_item.mean()}};
    }
};

}  // namespace

DISTILL_PLUGIN_LIBRARY("distill-test-plugins", "0.1.0", SquareLoss, ThrowingLoss, FailingCreate,
                       OddLoss<Odd::detached>, OddLoss<Odd::per_item>, OddLoss<Odd::sub_per_item>, OddLoss<Odd::nan>,
                       OddLoss<Odd::no_source>)
