// Multi-resolution STFT loss on one channel of the [B, C, H, W] maps, each
// item's [H, W] map read row-major as a 1-D signal of H*W samples.
//
// Framing is done here (reflect pad, unfold, window, rfft) rather than with
// at::stft, whose centre/padding arguments differ between LibTorch 1.13 and
// 2.x; the result is the same as torch.stft(center=True, pad_mode="reflect").
//
// |X| is a custom autograd function (SpectrumMagnitude), for speed only: its
// forward computes the bits of the plain formula
// view_as_real(rfft(frames)).pow(2).sum(-1).clamp_min(1e-8).sqrt()
// (tests/losses/test_stft_loss.cpp checks that), and its backward is one
// inverse real FFT where LibTorch 1.13's rfft backward is a full
// complex-to-complex transform (docs/performance.md, "The real trainer
// against the bare step").
#include <distill/sdk.hpp>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr double kPowerFloor = 1e-8;  // |X| >= 1e-4, so ln|X| and its gradient stay finite on silence
// The largest float below float(kPowerFloor): a float power is <= it exactly when it
// is < the floor (clamp_min compares in the tensor's type).
const double kBelowFloatFloor = std::nextafter(static_cast<float>(kPowerFloor), 0.0f);

std::string shape_of(const at::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
}

struct Resolution {
    int64_t fft, hop, win;
};

// re^2 + im^2 of a complex spectrum. Squaring the [..., 2] real view (x*x, which
// is what pow(x, 2) computes) and adding its two halves gives the bits of the plain
// .pow(2).sum(-1) (a sum of two terms is one rounded add), without the
// reduction over a last dimension of 2, which is what made it slow.
at::Tensor power_of(const at::Tensor& spectrum) {
    const at::Tensor parts = at::view_as_real(spectrum);
    const at::Tensor squares = parts * parts;
    return squares.select(-1, 0) + squares.select(-1, 1);
}

// |rfft(frames, fft)| with the power floored at kPowerFloor:
// sqrt(clamp_min(re^2 + im^2, 1e-8)), [..., fft] real -> [..., fft/2 + 1].
//
// Backward, for real frames x and X = rfft(x): with G_k = grad_k * mask_k *
// X_k / |X_k| (mask_k = power_k >= 1e-8, where clamp_min passes the
// gradient), dL/dx_n = sum_k Re(G_k e^{2 pi i k n / N}) over the one-sided
// bins k = 0 .. N/2. That is N * irfft(Z, N) with Z_k = G_k at k = 0 and (N
// even) k = N/2, and G_k / 2 at the others, since irfft counts each of those
// twice (as k and N - k). irfft with norm "forward" does not divide by N.
// irfft reads only the real part of bins 0 and N/2; G's imaginary part there
// is 0 anyway, as the imaginary part of X is for a real signal.
// The backward is not itself differentiable (no double backward; nothing in
// distill asks for one). bench/peer/peer_step.py does the same ops, so the
// peer check (Peer.FirstStepsMatchDistill) still finds the same parameters.
struct SpectrumMagnitude : public torch::autograd::Function<SpectrumMagnitude> {
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& frames, int64_t fft) {
        const at::Tensor spectrum = at::fft_rfft(frames, fft, -1);
        const at::Tensor power = power_of(spectrum);
        const at::Tensor mag = power.clamp_min(kPowerFloor).sqrt();
        ctx->save_for_backward({spectrum, power, mag});
        ctx->saved_data["fft"] = fft;
        return mag;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        const torch::autograd::variable_list saved = ctx->get_saved_variables();
        const at::Tensor& spectrum = saved[0];
        const at::Tensor& power = saved[1];
        const at::Tensor& mag = saved[2];
        const int64_t fft = ctx->saved_data["fft"].toInt();
        // grad * mask / |X|. For float, threshold_backward(g, p, t) is g where p > t,
        // else 0, in one pass (a compare and masked_fill_ take three times as long);
        // t is the largest float below the floor, so this passes p >= 1e-8 as
        // clamp_min does. Other types take the compare.
        at::Tensor scale = grads[0] / mag;
        if (power.scalar_type() == at::kFloat)
            scale = at::threshold_backward(scale, power, kBelowFloatFloor);
        else
            scale.masked_fill_(power < kPowerFloor, 0.0);
        const int64_t bins = scale.size(-1);
        const int64_t twice = fft % 2 == 0 ? bins - 2 : bins - 1;  // bins 1 .. (N-1)/2, excluding N/2
        if (twice > 0) scale.narrow(-1, 1, twice).mul_(0.5);
        // Z = X * scale, written as two real products into the halves of Z's real
        // view: a product broadcast over a last dimension of 2 is twice as slow.
        const at::Tensor parts = at::view_as_real(spectrum);
        const at::Tensor z_parts = at::empty_like(parts);
        at::Tensor z_re = z_parts.select(-1, 0), z_im = z_parts.select(-1, 1);
        at::mul_out(z_re, parts.select(-1, 0), scale);
        at::mul_out(z_im, parts.select(-1, 1), scale);
        const at::Tensor z = at::view_as_complex(z_parts);
        return {at::fft_irfft(z, fft, -1, "forward"), at::Tensor()};
    }
};

class StftLoss : public distill::LossPlugin {
public:
    static distill::PluginInfo info() {
        using namespace distill::param;
        return {"stft", "1.0.0",
                "multi-resolution STFT loss (spectral convergence + log magnitude) on one channel",
                {int_list("fft_sizes", {512, 1024, 2048}, "FFT size per resolution"),
                 int_list("hop_sizes", {128, 256, 512}, "hop per resolution"),
                 int_list("win_lengths", {}, "periodic Hann window length per resolution; empty = fft_sizes"),
                 integer("channel", 0, "channel of recon/target the loss looks at").at_least(0)},
                {{"stft_loss"}}};
    }

    StftLoss(const distill::Params& params, const std::string&) : channel_(params.get_int("channel")) {
        const std::vector<int64_t> ffts = params.get_int_list("fft_sizes");
        const std::vector<int64_t> hops = params.get_int_list("hop_sizes");
        std::vector<int64_t> wins = params.get_int_list("win_lengths");
        if (wins.empty()) wins = ffts;
        if (ffts.empty()) throw std::invalid_argument("stft: fft_sizes is empty; give at least one resolution");
        if (hops.size() != ffts.size() || wins.size() != ffts.size())
            throw std::invalid_argument("stft: fft_sizes, hop_sizes and win_lengths must have the same length, got " +
                                        std::to_string(ffts.size()) + ", " + std::to_string(hops.size()) + " and " +
                                        std::to_string(wins.size()));
        if (channel_ < 0) throw std::invalid_argument("stft: channel must be >= 0, got " + std::to_string(channel_));
        for (size_t r = 0; r < ffts.size(); ++r) {
            const std::string at = "stft: resolution " + std::to_string(r) + " (fft " + std::to_string(ffts[r]) +
                                   ", hop " + std::to_string(hops[r]) + ", win " + std::to_string(wins[r]) + "): ";
            if (hops[r] < 1) throw std::invalid_argument(at + "hop must be >= 1");
            if (hops[r] > wins[r]) throw std::invalid_argument(at + "hop must be <= win");
            if (wins[r] > ffts[r]) throw std::invalid_argument(at + "win must be <= fft");
            resolutions_.push_back({ffts[r], hops[r], wins[r]});
        }
    }

    distill::TensorMap compute(const distill::TensorMap& inputs, const distill::StepContext&) override {
        const at::Tensor& recon = distill::require_input(inputs, "recon");
        const at::Tensor& target = distill::require_input(inputs, "target");
        if (recon.dim() != 4 || !recon.sizes().equals(target.sizes()))
            throw std::invalid_argument("stft: expected recon and target of the same shape [B, C, H, W], got recon " +
                                        shape_of(recon) + " and target " + shape_of(target));
        if (channel_ >= recon.size(1))
            throw std::invalid_argument("stft: channel " + std::to_string(channel_) + " out of range for inputs " +
                                        shape_of(recon));
        const int64_t batch = recon.size(0);
        const at::Tensor x = recon.select(1, channel_).reshape({batch, -1});
        const at::Tensor y = target.select(1, channel_).reshape({batch, -1});
        const int64_t length = x.size(1);

        at::Tensor sc_sum, lm_sum;
        for (const Resolution& r : resolutions_) {
            if (r.fft / 2 >= length)
                throw std::invalid_argument("stft: signal of " + std::to_string(length) + " samples (H*W of " +
                                            shape_of(recon) + ") is too short for fft " + std::to_string(r.fft) +
                                            ": reflect padding needs fft/2 < signal length");
            const at::Tensor mag_x = magnitude(x, r);
            const at::Tensor mag_y = magnitude(y, r);
            // linalg_vector_norm's backward is 0 (not NaN) at a zero difference.
            const at::Tensor sc = at::linalg_vector_norm(mag_y - mag_x) / at::linalg_vector_norm(mag_y);
            const at::Tensor lm = (mag_x.log() - mag_y.log()).abs().mean();
            sc_sum = sc_sum.defined() ? sc_sum + sc : sc;
            lm_sum = lm_sum.defined() ? lm_sum + lm : lm;
        }
        const double n = static_cast<double>(resolutions_.size());
        const at::Tensor sc = sc_sum / n;
        const at::Tensor lm = lm_sum / n;
        return {{"loss", sc + lm}, {"sc", sc}, {"log_mag", lm}};
    }

private:
    // |STFT| of [B, T] signals -> [B, frames, fft/2 + 1].
    at::Tensor magnitude(const at::Tensor& signal, const Resolution& r) const {
        const at::Tensor padded =
            at::reflection_pad1d(signal.unsqueeze(1), {r.fft / 2, r.fft / 2}).squeeze(1);
        const at::Tensor frames = padded.unfold(1, r.fft, r.hop) * window(r, signal.options());
        if (!frames.requires_grad())  // the target: no graph, nothing saved for a backward
            return power_of(at::fft_rfft(frames, r.fft, -1)).clamp_min(kPowerFloor).sqrt();
        return SpectrumMagnitude::apply(frames, r.fft);
    }

    // Periodic Hann of length win, zero-padded to fft and centred (as torch.stft does).
    static at::Tensor window(const Resolution& r, const at::TensorOptions& options) {
        const at::Tensor hann = at::hann_window(r.win, /*periodic=*/true, options.requires_grad(false));
        const int64_t left = (r.fft - r.win) / 2;
        return at::constant_pad_nd(hann, {left, r.fft - r.win - left}, 0.0);
    }

    int64_t channel_;
    std::vector<Resolution> resolutions_;
};

}  // namespace

DISTILL_PLUGIN_LIBRARY("loss_stft", "1.0.0", StftLoss)
