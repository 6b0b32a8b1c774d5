// Test-only plugins with the parameter schemas of the real ones (issue 4 and
// docs/reference.md#2-model-conv_vae), linked into the test and registered in memory:
// the experiment module only reads schemas, so no library needs loading.
#pragma once

#include <distill/sdk.hpp>

#include <ATen/ATen.h>

namespace distill::test {

class FakeConvVae : public ModelPlugin {
public:
    static PluginInfo info() {
        return {"conv_vae", "0.0.1", "test stand-in for the ConvVAE schema",
                {param::integer("latent_dim", 128, "latent size").at_least(1),
                 param::real("dropout", 0.2, "Dropout2d p").range(0, 1),
                 param::integer("n_mels", 128, "input height (set by the host)").at_least(1),
                 param::integer("frames", 94, "input width (set by the host)").at_least(1)}};
    }
    FakeConvVae(const Params& p, const std::string&) : latent_(p.get_int("latent_dim")) {}
    TensorMap forward(const TensorMap& in) override {
        const at::Tensor& x = require_input(in, "x");
        const at::Tensor mu = at::zeros({x.size(0), latent_});
        return {{"recon", x}, {"mu", mu}, {"logvar", mu}, {"z", mu}};
    }
    NamedTensors parameters() override { return {}; }
    NamedTensors buffers() override { return {}; }
    void set_training(bool) override {}
    TensorMap decode(const at::Tensor& z) override { return {{"recon", at::zeros({z.size(0), 2, 8, 8})}}; }

private:
    int64_t latent_;
};

// recon/target mean absolute difference: enough to be a real loss.
inline TensorMap mean_abs(const TensorMap& in) {
    return {{"loss", (require_input(in, "recon") - require_input(in, "target")).abs().mean()}};
}

class FakeStft : public LossPlugin {
public:
    static PluginInfo info() {
        return {"stft", "0.0.1", "test stand-in",
                {param::int_list("fft_sizes", {512, 1024, 2048}, "FFT sizes").at_least(2),
                 param::int_list("hop_sizes", {128, 256, 512}, "hops").at_least(1),
                 param::int_list("win_lengths", {}, "windows (empty = fft_sizes)").at_least(1),
                 param::integer("channel", 0, "channel").range(0, 1)}};
    }
    FakeStft(const Params&, const std::string&) {}
    TensorMap compute(const TensorMap& in, const StepContext&) override { return mean_abs(in); }
};

class FakeMagL1 : public LossPlugin {
public:
    static PluginInfo info() { return {"mag_l1", "0.0.1", "test stand-in", {}}; }
    FakeMagL1(const Params&, const std::string&) {}
    TensorMap compute(const TensorMap& in, const StepContext&) override { return mean_abs(in); }
};

class FakeIfL1 : public LossPlugin {
public:
    static PluginInfo info() { return {"if_l1", "0.0.1", "test stand-in", {}}; }
    FakeIfL1(const Params&, const std::string&) {}
    TensorMap compute(const TensorMap& in, const StepContext&) override { return mean_abs(in); }
};

class FakeKl : public LossPlugin {
public:
    static PluginInfo info() {
        return {"kl", "0.0.1", "test stand-in", {param::real("free_bits", 0.1, "per-element floor").at_least(0)}};
    }
    FakeKl(const Params&, const std::string&) {}
    TensorMap compute(const TensorMap& in, const StepContext&) override {
        return {{"loss", require_input(in, "mu").pow(2).mean()}};
    }
};

}  // namespace distill::test
