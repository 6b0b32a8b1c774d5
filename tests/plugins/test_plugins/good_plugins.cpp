// Small, well-behaved and deliberately misbehaving plugins built with the
// SDK, used by the host's plugin tests.
#include <distill/sdk.hpp>

#include <ATen/ATen.h>

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

}  // namespace

DISTILL_PLUGIN_LIBRARY("distill-test-plugins", "0.1.0", SquareLoss, ThrowingLoss, FailingCreate)
