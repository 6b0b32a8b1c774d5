// An out-of-tree loss plugin: everything it needs comes from the installed SDK.
#include <distill/sdk.hpp>

#include <ATen/ATen.h>

class AbsMean final : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        return {"oot_abs_mean", "0.9.0", "mean |recon - target| (out-of-tree example)",
                {distill::param::real("scale", 1.0, "factor on the mean absolute error")}};
    }
    AbsMean(const distill::Params& params, const std::string&) : scale_(params.get_float("scale")) {}
    distill::TensorMap compute(const distill::TensorMap& in, const distill::StepContext&) override {
        const auto& recon = distill::require_input(in, "recon");
        const auto& target = distill::require_input(in, "target");
        return {{"loss", (recon - target).abs().mean() * scale_}};
    }

private:
    double scale_;
};

DISTILL_PLUGIN_LIBRARY("oot-example", "0.9.0", AbsMean)
