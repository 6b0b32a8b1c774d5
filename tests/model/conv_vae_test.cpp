// The conv_vae model plugin, driven through the C ABI by the host's registry
// and ModelInstance, the way the trainer drives it. Expected numbers come from
// docs/reference.md#2-model-conv_vae; the full-size model is built only where the test is
// about the full size, everything else uses small shapes to stay fast.
#include "plugins/param_schema.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_registry.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>

namespace {

using distill::host::ModelInstance;
using distill::host::ParamValue;
using distill::host::PluginCallError;

const distill::host::LoadedPlugin& conv_vae_plugin() {
    static const distill::host::PluginRegistry* registry = [] {
        auto* r = new distill::host::PluginRegistry();
        r->load_directory(DISTILL_PLUGIN_DIR);
        return r;
    }();
    for (const auto& refusal : registry->refusals()) ADD_FAILURE() << refusal.line();
    return registry->require("conv_vae", DISTILL_KIND_MODEL);
}

std::unique_ptr<ModelInstance> make_model(const std::map<std::string, ParamValue>& given) {
    const auto& plugin = conv_vae_plugin();
    return std::make_unique<ModelInstance>(plugin, distill::host::resolve_params(*plugin.descriptor, given), "cpu");
}

// Small enough to run a forward in milliseconds: 32x32 pads to itself, so the
// bottleneck is 1x1 (F = 1024) and the layers' spatial work is tiny.
std::unique_ptr<ModelInstance> small_model(int64_t latent = 8) {
    return make_model({{"latent_dim", latent}, {"n_mels", int64_t{32}}, {"frames", int64_t{32}}});
}

int64_t count(const distill::NamedTensors& params, const std::string& prefix = "") {
    int64_t n = 0;
    for (const auto& [name, t] : params)
        if (name.rfind(prefix, 0) == 0 && t.requires_grad()) n += t.numel();
    return n;
}

// An input shaped like a real batch: non-negative magnitude, IF in [-1, 1].
at::Tensor spectrogram(int64_t batch, int64_t n_mels, int64_t frames) {
    return at::cat({at::rand({batch, 1, n_mels, frames}) * 5, at::rand({batch, 1, n_mels, frames}) * 2 - 1}, 1);
}

void expect_output_ranges(const at::Tensor& recon) {
    ASSERT_TRUE(at::isfinite(recon).all().item<bool>());
    EXPECT_GE(recon.select(1, 0).min().item<float>(), 0.0f) << "magnitude channel must be non-negative";
    EXPECT_GE(recon.select(1, 1).min().item<float>(), -1.0f) << "IF channel must be >= -1";
    EXPECT_LE(recon.select(1, 1).max().item<float>(), 1.0f) << "IF channel must be <= 1";
}

// The formula of docs/reference.md#2-model-conv_vae: 12,544,898 + 3*F*L + 2*L + F with
// F = 1024*ceil(H/32)*ceil(W/32). The constant is every conv/BN layer
// (independent of L and F); fc_mu + fc_logvar give 2*(F*L + L), decoder.fc
// gives L*F + F.
int64_t expected_parameters(int64_t latent, int64_t n_mels, int64_t frames) {
    const int64_t f = 1024 * ((n_mels + 31) / 32) * ((frames + 31) / 32);
    return 12'544'898 + 3 * f * latent + 2 * latent + f;
}

TEST(ConvVae, DefaultHasExactlyTheReferenceParameterCount) {
    auto model = make_model({});
    const auto params = model->parameters();
    // docs/reference.md#2-model-conv_vae: 17,276,034 total, encoder 9,419,968, decoder 7,856,066.
    EXPECT_EQ(count(params), 17'276'034);
    EXPECT_EQ(count(params, "encoder."), 9'419'968);
    EXPECT_EQ(count(params, "decoder."), 7'856'066);
    EXPECT_EQ(expected_parameters(128, 128, 94), 17'276'034);
}

TEST(ConvVae, ParameterCountFollowsTheGeneralFormula) {
    // 64 x 47 pads to 64 x 64: F = 1024*2*2 = 4096, so the formula gives
    // 12,544,898 + 3*4096*16 + 32 + 4096 = 12,745,634.
    auto model = make_model({{"latent_dim", int64_t{16}}, {"n_mels", int64_t{64}}, {"frames", int64_t{47}}});
    EXPECT_EQ(count(model->parameters()), 12'745'634);
    EXPECT_EQ(expected_parameters(16, 64, 47), 12'745'634);
    // 100 x 200 pads to 128 x 224: F = 1024*4*7 = 28672, L = 3.
    auto other = make_model({{"latent_dim", int64_t{3}}, {"n_mels", int64_t{100}}, {"frames", int64_t{200}}});
    EXPECT_EQ(count(other->parameters()), expected_parameters(3, 100, 200));
}

TEST(ConvVae, ParameterAndBufferNamesAreTheCheckpointNames) {
    auto model = small_model(8);
    std::set<std::string> want_params, want_buffers;
    for (const char* side : {"encoder.convs.", "decoder.deconvs."}) {
        for (int i : {0, 4, 8, 12, 16}) {
            want_params.insert(side + std::to_string(i) + ".weight");
            want_params.insert(side + std::to_string(i) + ".bias");
        }
        // The encoder has a BN after every conv (1..17); the decoder's last
        // transposed conv (16) has none.
        const bool encoder = std::string(side) == "encoder.convs.";
        for (int i : {1, 5, 9, 13, 17}) {
            if (!encoder && i == 17) continue;
            const std::string bn = side + std::to_string(i);
            want_params.insert(bn + ".weight");
            want_params.insert(bn + ".bias");
            for (const char* b : {".running_mean", ".running_var", ".num_batches_tracked"}) want_buffers.insert(bn + b);
        }
    }
    for (const char* fc : {"encoder.fc_mu", "encoder.fc_logvar", "decoder.fc"}) {
        want_params.insert(std::string(fc) + ".weight");
        want_params.insert(std::string(fc) + ".bias");
    }
    std::set<std::string> got_params, got_buffers;
    std::map<std::string, at::Tensor> by_name;
    for (const auto& [name, t] : model->parameters()) {
        got_params.insert(name);
        by_name[name] = t;
    }
    for (const auto& [name, t] : model->buffers()) got_buffers.insert(name);
    EXPECT_EQ(got_params, want_params);
    EXPECT_EQ(got_buffers, want_buffers);
    // Shapes pin the layer order: Conv2d weight [out, in, 3, 3], ConvTranspose2d
    // weight [in, out, 3, 3], Linear weight [out, in]; F = 1024 at 32x32.
    EXPECT_EQ(by_name.at("encoder.convs.0.weight").sizes(), (at::IntArrayRef{64, 2, 3, 3}));
    EXPECT_EQ(by_name.at("encoder.convs.16.weight").sizes(), (at::IntArrayRef{1024, 512, 3, 3}));
    EXPECT_EQ(by_name.at("encoder.fc_mu.weight").sizes(), (at::IntArrayRef{8, 1024}));
    EXPECT_EQ(by_name.at("decoder.fc.weight").sizes(), (at::IntArrayRef{1024, 8}));
    EXPECT_EQ(by_name.at("decoder.deconvs.0.weight").sizes(), (at::IntArrayRef{1024, 512, 3, 3}));
    EXPECT_EQ(by_name.at("decoder.deconvs.16.weight").sizes(), (at::IntArrayRef{64, 2, 3, 3}));
}

TEST(ConvVae, FullSizeForwardAndDecodeGiveReferenceShapesAndRanges) {
    at::manual_seed(1);
    auto model = make_model({});
    const auto out = model->forward({{"x", spectrogram(2, 128, 94)}});
    EXPECT_EQ(out.at("recon").sizes(), (at::IntArrayRef{2, 2, 128, 94}));
    EXPECT_EQ(out.at("mu").sizes(), (at::IntArrayRef{2, 128}));
    EXPECT_EQ(out.at("logvar").sizes(), (at::IntArrayRef{2, 128}));
    EXPECT_EQ(out.at("z").sizes(), (at::IntArrayRef{2, 128}));
    expect_output_ranges(out.at("recon"));

    model->set_training(false);
    const auto decoded = model->decode(at::randn({3, 128}) * 3);
    EXPECT_EQ(decoded.at("recon").sizes(), (at::IntArrayRef{3, 2, 128, 94}));
    expect_output_ranges(decoded.at("recon"));
}

TEST(ConvVae, NonDefaultShapesWork) {
    at::manual_seed(2);
    // 47 frames is not a multiple of 32 (pads to 64); 33 mels pads to 64, 20 frames to 32.
    for (auto [n_mels, frames] : {std::pair<int64_t, int64_t>{64, 47}, {33, 20}}) {
        SCOPED_TRACE(std::to_string(n_mels) + "x" + std::to_string(frames));
        auto model = make_model({{"latent_dim", int64_t{16}}, {"n_mels", n_mels}, {"frames", frames}});
        const auto out = model->forward({{"x", spectrogram(2, n_mels, frames)}});
        EXPECT_EQ(out.at("recon").sizes(), (at::IntArrayRef{2, 2, n_mels, frames}));
        EXPECT_EQ(out.at("mu").sizes(), (at::IntArrayRef{2, 16}));
        EXPECT_EQ(out.at("logvar").sizes(), (at::IntArrayRef{2, 16}));
        expect_output_ranges(out.at("recon"));
        const auto decoded = model->decode(at::randn({3, 16}));
        EXPECT_EQ(decoded.at("recon").sizes(), (at::IntArrayRef{3, 2, n_mels, frames}));
        expect_output_ranges(decoded.at("recon"));
    }
}

TEST(ConvVae, EvalIsDeterministicAndTrainSamples) {
    at::manual_seed(3);
    auto model = small_model();
    const at::Tensor x = spectrogram(4, 32, 32);

    model->set_training(false);
    const auto a = model->forward({{"x", x}});
    const auto b = model->forward({{"x", x}});
    EXPECT_TRUE(at::equal(a.at("recon"), b.at("recon")));
    EXPECT_TRUE(at::equal(a.at("z"), a.at("mu"))) << "eval must use z = mu";
    // Sampling one item from the prior is an eval-mode decode of a batch of one.
    EXPECT_EQ(model->decode(at::randn({1, 8})).at("recon").sizes(), (at::IntArrayRef{1, 2, 32, 32}));

    model->set_training(true);
    const auto c = model->forward({{"x", x}});
    const auto d = model->forward({{"x", x}});
    EXPECT_FALSE(at::equal(c.at("z"), c.at("mu"))) << "training must sample z around mu";
    EXPECT_FALSE(at::equal(c.at("z"), d.at("z")));
    EXPECT_FALSE(at::equal(c.at("recon"), d.at("recon")));
}

TEST(ConvVae, GradientsReachEveryParameter) {
    at::manual_seed(4);
    auto model = small_model();
    const auto params = model->parameters();
    const auto out = model->forward({{"x", spectrogram(4, 32, 32)}});
    const at::Tensor loss = out.at("recon").abs().mean() + out.at("mu").pow(2).mean() + out.at("logvar").exp().mean();
    loss.backward();
    for (const auto& [name, p] : params) {
        SCOPED_TRACE(name);
        ASSERT_TRUE(p.grad().defined()) << "no gradient reached " << name;
        EXPECT_EQ(p.grad().sizes(), p.sizes());
        EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>());
        // A conv bias feeding a training-mode BatchNorm is cancelled by the
        // mean subtraction, so its gradient is zero up to rounding; every
        // other parameter must actually receive signal.
        const bool bias_before_bn = name.find(".bias") != std::string::npos &&
                                    name.rfind("decoder.deconvs.16", 0) != 0 &&
                                    (name.rfind("encoder.convs.", 0) == 0 || name.rfind("decoder.deconvs.", 0) == 0) &&
                                    std::stoi(name.substr(name.find("convs.") + 6)) % 4 == 0;
        if (!bias_before_bn) {
            EXPECT_GT(p.grad().abs().max().item<float>(), 0.0f);
        }
    }
}

TEST(ConvVae, LogvarIsClampedAndParametersAreTheLiveTensors) {
    at::manual_seed(5);
    auto model = small_model();
    model->set_training(false);
    // parameters() hands out the module's own tensors (an optimizer or a
    // checkpoint loader writes through them): push logvar far out of range.
    for (const auto& [name, p] : model->parameters()) {
        if (name != "encoder.fc_logvar.bias") continue;
        at::NoGradGuard no_grad;
        p.copy_(at::tensor({100.f, -100.f, 100.f, -100.f, 100.f, -100.f, 100.f, -100.f}));
    }
    const at::Tensor logvar = model->forward({{"x", spectrogram(2, 32, 32)}}).at("logvar");
    // docs/reference.md#2-model-conv_vae: logvar clamped to [-20, 20]; a +-100 bias dominates the
    // small initial weights, so every entry sits on the bound its sign picks.
    EXPECT_TRUE(at::equal(logvar.select(1, 0), at::full({2}, 20.f)));
    EXPECT_TRUE(at::equal(logvar.select(1, 1), at::full({2}, -20.f)));
    EXPECT_LE(logvar.abs().max().item<float>(), 20.f);
}

// Runs f, which must fail with a bad-input error (code 2) naming both shapes.
template <class F>
void expect_bad_input(F&& f, const std::string& expected, const std::string& actual) {
    try {
        f();
        ADD_FAILURE() << "no error for input " << actual;
    } catch (const PluginCallError& e) {
        EXPECT_EQ(e.code(), 2) << e.what();
        EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(actual), std::string::npos) << e.what();
    }
}

TEST(ConvVae, WrongInputsAreBadInputErrorsNamingBothShapes) {
    auto model = small_model(8);
    const std::string want = "[B, 2, 32, 32]";
    expect_bad_input([&] { model->forward({{"x", at::zeros({2, 3, 32, 32})}}); }, want, "[2, 3, 32, 32]");
    expect_bad_input([&] { model->forward({{"x", at::zeros({2, 2, 16, 32})}}); }, want, "[2, 2, 16, 32]");
    expect_bad_input([&] { model->forward({{"x", at::zeros({2, 2, 32, 31})}}); }, want, "[2, 2, 32, 31]");
    expect_bad_input([&] { model->forward({{"x", at::zeros({2, 32, 32})}}); }, want, "[2, 32, 32]");
    expect_bad_input([&] { model->forward({{"x", at::zeros({0, 2, 32, 32})}}); }, want, "[0, 2, 32, 32]");
    expect_bad_input([&] { model->forward({{"x", at::zeros({2, 2, 32, 32}, at::kDouble)}}); }, "float32",
                     "Double");
    expect_bad_input([&] { model->forward({{"input", at::zeros({2, 2, 32, 32})}}); }, "missing input 'x'",
                     "given: input");
    // In training, one item with a 1x1 bottleneck leaves BatchNorm one value per channel.
    expect_bad_input([&] { model->forward({{"x", at::zeros({1, 2, 32, 32})}}); }, "at least 2", "[1, 2, 32, 32]");
    expect_bad_input([&] { model->decode(at::zeros({1, 8})); }, "at least 2", "[1, 8]");
    expect_bad_input([&] { model->decode(at::zeros({3, 7})); }, "[N, 8]", "[3, 7]");
    expect_bad_input([&] { model->decode(at::zeros({8})); }, "[N, 8]", "[8]");
}

TEST(ConvVae, BadParametersAndDevicesAreRefusedWithReasons) {
    const auto& plugin = conv_vae_plugin();
    // The schema rejects these before the plugin sees them.
    EXPECT_THROW(distill::host::resolve_params(*plugin.descriptor, {{"latent_dim", int64_t{0}}}),
                 std::invalid_argument);
    EXPECT_THROW(distill::host::resolve_params(*plugin.descriptor, {{"dropout", -0.1}}), std::invalid_argument);
    // dropout = 1 passes the inclusive schema range but would zero every
    // activation; the plugin refuses it at create.
    expect_bad_input([&] { make_model({{"dropout", 1.0}}); }, "[0, 1)", "got 1");
    try {
        ModelInstance bad(plugin, distill::host::resolve_params(*plugin.descriptor, {}), "toaster:0");
        ADD_FAILURE() << "no error for device toaster:0";
    } catch (const PluginCallError& e) {
        EXPECT_EQ(e.code(), 2);
        EXPECT_NE(std::string(e.what()).find("toaster:0"), std::string::npos) << e.what();
    }
}

}  // namespace
