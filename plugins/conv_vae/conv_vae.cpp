// Model plugin `conv_vae`: the v2 2-channel convolutional VAE of
// docs/reference.md#2-model-conv_vae. Input [B, 2, n_mels, frames] (channel 0
// magnitude, channel 1 instantaneous frequency); outputs recon, mu, logvar and z.
#include <distill/sdk.hpp>

#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr int64_t kInChannels = 2;
// Five stride-2 blocks: the padded input must divide by 2^5.
constexpr int64_t kDownsample = 32;
constexpr std::array<int64_t, 6> kChannels = {2, 64, 128, 256, 512, 1024};
constexpr int64_t kBottleneckChannels = kChannels.back();
constexpr double kLogvarLimit = 20.0;
// A Sequential block is conv, BN, ReLU, Dropout2d: the conv of block i sits
// at index 4*i, which fixes the checkpoint names encoder.convs.{0,4,...}.
constexpr int64_t kBlocks = 5;

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

std::string shape_string(at::IntArrayRef sizes) {
    std::string s = "[";
    for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
    return s + "]";
}

// The geometry every layer is built from, fixed at construction.
struct Geometry {
    int64_t latent_dim, n_mels, frames;
    double dropout;
    int64_t padded_h() const { return round_up(n_mels, kDownsample); }
    int64_t padded_w() const { return round_up(frames, kDownsample); }
    int64_t bottleneck_h() const { return padded_h() / kDownsample; }
    int64_t bottleneck_w() const { return padded_w() / kDownsample; }
    int64_t flat() const { return kBottleneckChannels * bottleneck_h() * bottleneck_w(); }
};

void add_block(torch::nn::Sequential& seq, torch::nn::AnyModule conv, int64_t out_channels, double dropout) {
    seq->push_back(std::move(conv));
    seq->push_back(torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(out_channels).eps(1e-5).momentum(0.1)));
    seq->push_back(torch::nn::ReLU());
    seq->push_back(torch::nn::Dropout2d(torch::nn::Dropout2dOptions(dropout)));
}

struct EncoderImpl : torch::nn::Module {
    EncoderImpl(const Geometry& g) {
        for (int64_t i = 0; i < kBlocks; ++i) {
            torch::nn::Conv2d conv(torch::nn::Conv2dOptions(kChannels[i], kChannels[i + 1], 3).stride(2).padding(1));
            add_block(convs, torch::nn::AnyModule(conv), kChannels[i + 1], g.dropout);
        }
        fc_mu = torch::nn::Linear(g.flat(), g.latent_dim);
        fc_logvar = torch::nn::Linear(g.flat(), g.latent_dim);
        register_module("convs", convs);
        register_module("fc_mu", fc_mu);
        register_module("fc_logvar", fc_logvar);
    }

    // x: [B, 2, Hp, Wp], already padded. Returns (mu, logvar).
    std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x) {
        const at::Tensor flat = convs->forward(x).flatten(1);  // C, H, W order
        // The clamp keeps exp(logvar) finite in the KL term and the sampler.
        return {fc_mu->forward(flat), at::clamp(fc_logvar->forward(flat), -kLogvarLimit, kLogvarLimit)};
    }

    torch::nn::Sequential convs;
    torch::nn::Linear fc_mu{nullptr}, fc_logvar{nullptr};
};
TORCH_MODULE(Encoder);

struct DecoderImpl : torch::nn::Module {
    DecoderImpl(const Geometry& g) : geometry(g) {
        fc = torch::nn::Linear(g.latent_dim, g.flat());
        for (int64_t i = kBlocks; i > 1; --i) {
            torch::nn::ConvTranspose2d deconv(torch::nn::ConvTranspose2dOptions(kChannels[i], kChannels[i - 1], 3)
                                                  .stride(2).padding(1).output_padding(1));
            add_block(deconvs, torch::nn::AnyModule(deconv), kChannels[i - 1], g.dropout);
        }
        // The output layer has no BN, ReLU or dropout: the split activation follows.
        deconvs->push_back(torch::nn::ConvTranspose2d(
            torch::nn::ConvTranspose2dOptions(kChannels[1], kInChannels, 3).stride(2).padding(1).output_padding(1)));
        register_module("fc", fc);
        register_module("deconvs", deconvs);
    }

    // z: [N, L] -> [N, 2, n_mels, frames].
    at::Tensor forward(const at::Tensor& z) {
        const at::Tensor h = fc->forward(z).view(
            {z.size(0), kBottleneckChannels, geometry.bottleneck_h(), geometry.bottleneck_w()});
        const at::Tensor raw = deconvs->forward(h).narrow(2, 0, geometry.n_mels).narrow(3, 0, geometry.frames);
        // Magnitude must be non-negative, instantaneous frequency lies in [-1, 1].
        const at::Tensor magnitude = at::softplus(raw.narrow(1, 0, 1), /*beta=*/1, /*threshold=*/20);
        const at::Tensor frequency = at::tanh(raw.narrow(1, 1, 1));
        return at::cat({magnitude, frequency}, 1);
    }

    Geometry geometry;
    torch::nn::Linear fc{nullptr};
    torch::nn::Sequential deconvs;
};
TORCH_MODULE(Decoder);

struct VaeImpl : torch::nn::Module {
    VaeImpl(const Geometry& g) : encoder(g), decoder(g) {
        register_module("encoder", encoder);
        register_module("decoder", decoder);
    }
    Encoder encoder;
    Decoder decoder;
};
TORCH_MODULE(Vae);

int64_t positive_int(const distill::Params& params, const char* name) {
    const int64_t value = params.get_int(name);
    if (value < 1)
        throw std::invalid_argument(std::string("conv_vae: parameter '") + name + "' must be >= 1, got " +
                                    std::to_string(value));
    return value;
}

Geometry geometry_from(const distill::Params& params) {
    Geometry g{};
    g.latent_dim = positive_int(params, "latent_dim");
    g.n_mels = positive_int(params, "n_mels");
    g.frames = positive_int(params, "frames");
    g.dropout = params.get_float("dropout");
    if (!(g.dropout >= 0.0 && g.dropout < 1.0))
        throw std::invalid_argument("conv_vae: parameter 'dropout' must be in [0, 1), got " +
                                    std::to_string(g.dropout));
    return g;
}

c10::Device parse_device(const std::string& device) {
    try {
        return c10::Device(device);
    } catch (const c10::Error& e) {
        throw std::invalid_argument("conv_vae: invalid device '" + device + "': " + e.what_without_backtrace());
    }
}

class ConvVae final : public distill::ModelPlugin {
public:
    static distill::PluginInfo info() {
        using namespace distill::param;
        return {"conv_vae",
                "1.0.0",
                "2-channel convolutional VAE (magnitude + instantaneous frequency); see docs/reference.md#2-model-conv_vae",
                {integer("latent_dim", 128, "size of the latent vector z").at_least(1).at_most(8192),
                 real("dropout", 0.2, "Dropout2d probability after every hidden block, in [0, 1)").range(0.0, 1.0),
                 integer("n_mels", 128, "mel bins (input height)").at_least(1),
                 integer("frames", 94, "time frames (input width)").at_least(1)}};
    }

    ConvVae(const distill::Params& params, const std::string& device)
        : geometry_(geometry_from(params)), device_(parse_device(device)), net_(geometry_) {
        net_->to(device_);
    }

    distill::TensorMap forward(const distill::TensorMap& inputs) override {
        const at::Tensor& x = distill::require_input(inputs, "x");
        check_input(x);
        const at::Tensor padded = at::constant_pad_nd(
            x, {0, geometry_.padded_w() - geometry_.frames, 0, geometry_.padded_h() - geometry_.n_mels}, 0);
        auto [mu, logvar] = net_->encoder->forward(padded);
        // Eval uses z = mu so that validation loss is deterministic.
        const at::Tensor z = net_->is_training() ? mu + at::exp(0.5 * logvar) * at::randn_like(mu) : mu;
        return {{"recon", net_->decoder->forward(z)}, {"mu", mu}, {"logvar", logvar}, {"z", z}};
    }

    distill::TensorMap decode(const at::Tensor& latents) override {
        const std::string expected = "[N, " + std::to_string(geometry_.latent_dim) + "]";
        check_tensor("latents", latents, {-1, geometry_.latent_dim}, expected);
        check_batch_norm_batch("latents", latents);
        return {{"recon", net_->decoder->forward(latents)}};
    }

    distill::NamedTensors parameters() override {
        distill::NamedTensors out;
        for (const auto& item : net_->named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
        return out;
    }

    distill::NamedTensors buffers() override {
        distill::NamedTensors out;
        for (const auto& item : net_->named_buffers(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
        return out;
    }

    void set_training(bool training) override { net_->train(training); }

private:
    void check_input(const at::Tensor& x) const {
        const std::string expected = "[B, 2, " + std::to_string(geometry_.n_mels) + ", " +
                                     std::to_string(geometry_.frames) + "]";
        check_tensor("x", x, {-1, kInChannels, geometry_.n_mels, geometry_.frames}, expected);
        check_batch_norm_batch("x", x);
    }

    // BatchNorm cannot normalise a single value per channel in training,
    // which a batch of one with a 1x1 bottleneck would give it.
    void check_batch_norm_batch(const std::string& name, const at::Tensor& t) const {
        if (net_->is_training() && t.size(0) * geometry_.bottleneck_h() * geometry_.bottleneck_w() == 1)
            throw std::invalid_argument("conv_vae: input '" + name + "' " + shape_string(t.sizes()) +
                                        " gives one value per channel at the bottleneck; "
                                        "BatchNorm needs a batch of at least 2 in training mode");
    }

    // `want` holds the expected sizes with -1 for the (non-empty) batch dimension.
    void check_tensor(const std::string& name, const at::Tensor& t, std::vector<int64_t> want,
                      const std::string& expected) const {
        if (!t.defined()) throw std::invalid_argument("conv_vae: input '" + name + "' is an undefined tensor");
        bool ok = t.dim() == static_cast<int64_t>(want.size()) && t.size(0) >= 1;
        for (size_t i = 1; ok && i < want.size(); ++i) ok = t.size(static_cast<int64_t>(i)) == want[i];
        if (!ok)
            throw std::invalid_argument("conv_vae: input '" + name + "' must have shape " + expected + ", got " +
                                        shape_string(t.sizes()));
        if (t.scalar_type() != at::kFloat)
            throw std::invalid_argument("conv_vae: input '" + name + "' must be float32, got " +
                                        std::string(c10::toString(t.scalar_type())));
        if (t.device() != device_)
            throw std::invalid_argument("conv_vae: input '" + name + "' is on " + t.device().str() +
                                        " but the model is on " + device_.str());
    }

    Geometry geometry_;
    c10::Device device_;
    Vae net_;
};

}  // namespace

DISTILL_PLUGIN_LIBRARY("conv_vae", "1.0.0", ConvVae)
