// The multi-resolution STFT loss against a reference written here from the
// formula: hand-rolled reflect padding and framing and a direct O(N^2) DFT
// in double precision, sharing no code with the plugin's rfft path; and
// against the plain-autograd LibTorch formula the plugin used before its
// magnitude got a hand-written backward: the same values to the bit, the same
// gradient to rounding.
#include "loss_test_support.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <functional>
#include <vector>

using namespace losses_test;

namespace {

constexpr double kPi = 3.14159265358979323846;

struct Res {
    int64_t fft, hop, win;
};

// |DFT| of every frame of one signal: centre=True reflect padding by fft/2, a
// periodic Hann of length win centred in the fft, |X| = sqrt(max(re^2+im^2, 1e-8)).
std::vector<double> frame_magnitudes(const std::vector<double>& x, const Res& r) {
    const int64_t n = static_cast<int64_t>(x.size());
    const int64_t pad = r.fft / 2;
    auto sample = [&](int64_t i) {  // index into the padded signal
        int64_t j = i - pad;
        if (j < 0) j = -j;
        if (j >= n) j = 2 * (n - 1) - j;
        return x[static_cast<size_t>(j)];
    };
    const int64_t left = (r.fft - r.win) / 2;
    std::vector<double> window(static_cast<size_t>(r.fft), 0.0);
    for (int64_t k = 0; k < r.win; ++k)
        window[static_cast<size_t>(left + k)] = 0.5 - 0.5 * std::cos(2.0 * kPi * k / r.win);
    const int64_t frames = 1 + (n + 2 * pad - r.fft) / r.hop;
    std::vector<double> out;
    for (int64_t f = 0; f < frames; ++f)
        for (int64_t bin = 0; bin <= r.fft / 2; ++bin) {
            double re = 0, im = 0;
            for (int64_t t = 0; t < r.fft; ++t) {
                const double v = sample(f * r.hop + t) * window[static_cast<size_t>(t)];
                re += v * std::cos(2.0 * kPi * bin * t / r.fft);
                im -= v * std::sin(2.0 * kPi * bin * t / r.fft);
            }
            out.push_back(std::sqrt(std::max(re * re + im * im, 1e-8)));
        }
    return out;
}

struct Terms {
    double sc, log_mag;
};

// One resolution over the batch: channel `channel` of each item, row-major.
Terms reference(const at::Tensor& recon, const at::Tensor& target, const Res& r, int64_t channel = 0) {
    double diff2 = 0, target2 = 0, log_sum = 0;
    size_t count = 0;
    for (int64_t b = 0; b < recon.size(0); ++b) {
        auto signal = [&](const at::Tensor& t) {
            const at::Tensor flat = t[b][channel].reshape({-1}).to(at::kDouble).contiguous();
            return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
        };
        const std::vector<double> mx = frame_magnitudes(signal(recon), r);
        const std::vector<double> my = frame_magnitudes(signal(target), r);
        for (size_t i = 0; i < mx.size(); ++i) {
            diff2 += (my[i] - mx[i]) * (my[i] - mx[i]);
            target2 += my[i] * my[i];
            log_sum += std::abs(std::log(mx[i]) - std::log(my[i]));
        }
        count += mx.size();
    }
    return {std::sqrt(diff2) / std::sqrt(target2), log_sum / static_cast<double>(count)};
}

std::map<std::string, distill::host::ParamValue> resolutions(const std::vector<Res>& rs) {
    std::vector<int64_t> f, h, w;
    for (const Res& r : rs) {
        f.push_back(r.fft);
        h.push_back(r.hop);
        w.push_back(r.win);
    }
    return {{"fft_sizes", f}, {"hop_sizes", h}, {"win_lengths", w}};
}

distill::TensorMap pair(const at::Tensor& recon, const at::Tensor& target) {
    return {{"recon", recon}, {"target", target}};
}

// Magnitude-like inputs: positive, [2, 2, 4, 16] -> 64-sample signals.
at::Tensor sample_maps(uint64_t seed) {
    at::manual_seed(seed);
    return at::rand({2, 2, 4, 16}) + 0.1;
}

// The loss as plain autograd composes it: reflect pad, unfold, window, rfft,
// |X| = view_as_real(X).pow(2).sum(-1).clamp_min(1e-8).sqrt(), then sc and
// log_mag averaged over resolutions. The plugin must give these bits.
struct PlainTerms {
    at::Tensor loss, sc, log_mag;
};

PlainTerms plain_autograd(const at::Tensor& recon, const at::Tensor& target, const std::vector<Res>& rs,
                          int64_t channel = 0) {
    const int64_t batch = recon.size(0);
    const at::Tensor x = recon.select(1, channel).reshape({batch, -1});
    const at::Tensor y = target.select(1, channel).reshape({batch, -1});
    auto magnitude = [](const at::Tensor& signal, const Res& r) {
        const at::Tensor padded = at::reflection_pad1d(signal.unsqueeze(1), {r.fft / 2, r.fft / 2}).squeeze(1);
        const at::Tensor hann = at::hann_window(r.win, /*periodic=*/true, signal.options().requires_grad(false));
        const int64_t left = (r.fft - r.win) / 2;
        const at::Tensor window = at::constant_pad_nd(hann, {left, r.fft - r.win - left}, 0.0);
        const at::Tensor spectrum = at::fft_rfft(padded.unfold(1, r.fft, r.hop) * window, r.fft, -1);
        return at::view_as_real(spectrum).pow(2).sum(-1).clamp_min(1e-8).sqrt();
    };
    at::Tensor sc_sum, lm_sum;
    for (const Res& r : rs) {
        const at::Tensor mx = magnitude(x, r), my = magnitude(y, r);
        const at::Tensor sc = at::linalg_vector_norm(my - mx) / at::linalg_vector_norm(my);
        const at::Tensor lm = (mx.log() - my.log()).abs().mean();
        sc_sum = sc_sum.defined() ? sc_sum + sc : sc;
        lm_sum = lm_sum.defined() ? lm_sum + lm : lm;
    }
    const double n = static_cast<double>(rs.size());
    return {sc_sum / n + lm_sum / n, sc_sum / n, lm_sum / n};
}

// Runs the plugin and the plain formula on the same inputs, forward and
// backward: loss, sc and log_mag must be equal to the bit; the gradients w.r.t.
// recon may differ by rounding only: max |plugin - plain| <= 1e-5 * max |plain|
// (elementwise relative error means nothing where terms cancel to ~0).
void expect_matches_plain_autograd(const at::Tensor& recon, const at::Tensor& target, const std::vector<Res>& rs,
                                   const std::string& what, int64_t channel = 0) {
    std::map<std::string, distill::host::ParamValue> params = resolutions(rs);
    params["channel"] = channel;
    auto loss = make_loss("stft", params);
    at::Tensor leaf = recon.clone().requires_grad_(true);
    const auto out = loss->compute(pair(leaf, target), context());
    out.at("loss").backward();
    at::Tensor plain_leaf = recon.clone().requires_grad_(true);
    const PlainTerms want = plain_autograd(plain_leaf, target, rs, channel);
    want.loss.backward();

    for (const char* term : {"loss", "sc", "log_mag"}) {
        const at::Tensor& plain = std::string(term) == "loss" ? want.loss
                                  : std::string(term) == "sc" ? want.sc
                                                              : want.log_mag;
        EXPECT_TRUE(at::equal(out.at(term), plain))
            << what << ": " << term << " " << value(out.at(term)) << " != plain " << value(plain) << " (diff "
            << value(out.at(term)) - value(plain) << ")";
    }
    ASSERT_TRUE(leaf.grad().defined()) << what;
    ASSERT_TRUE(all_finite(leaf.grad())) << what;
    const double scale = plain_leaf.grad().abs().max().item<double>();
    const double diff = (leaf.grad() - plain_leaf.grad()).abs().max().item<double>();
    EXPECT_LE(diff, 1e-5 * scale) << what << ": gradient differs by " << diff << ", max |grad| " << scale;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST(StftLoss, SingleResolutionSubTermsMatchTheFormula) {
    const Res r{16, 4, 12};  // win < fft: the window sits centred with 2 zeros each side
    auto loss = make_loss("stft", resolutions({r}));
    const at::Tensor recon = sample_maps(1), target = sample_maps(2);
    const auto out = loss->compute(pair(recon, target), context());
    const Terms want = reference(recon, target, r);
    expect_rel(value(out.at("sc")), want.sc, "sc");
    expect_rel(value(out.at("log_mag")), want.log_mag, "log_mag");
    expect_rel(value(out.at("loss")), want.sc + want.log_mag, "loss");
}

TEST(StftLoss, MultiResolutionIsTheMeanOverResolutions) {
    const std::vector<Res> rs{{16, 4, 16}, {32, 8, 24}, {8, 2, 8}};
    auto loss = make_loss("stft", resolutions(rs));
    const at::Tensor recon = sample_maps(3), target = sample_maps(4);
    const auto out = loss->compute(pair(recon, target), context());
    double sc = 0, lm = 0;
    for (const Res& r : rs) {
        const Terms t = reference(recon, target, r);
        sc += t.sc / 3.0;
        lm += t.log_mag / 3.0;
    }
    expect_rel(value(out.at("sc")), sc, "sc");
    expect_rel(value(out.at("log_mag")), lm, "log_mag");
    expect_rel(value(out.at("loss")), sc + lm, "loss");
}

TEST(StftLoss, DefaultsAndChannelParameter) {
    // Default resolutions (512/1024/2048, hop 128/256/512, win = fft) need
    // H*W > 1024: 8 x 160 = 1280 samples. Channel 1 selects the second map.
    auto loss = make_loss("stft", {{"channel", int64_t{1}}});
    at::manual_seed(5);
    const at::Tensor recon = at::rand({1, 2, 8, 160}) + 0.1;
    const at::Tensor target = at::rand({1, 2, 8, 160}) + 0.1;
    const auto out = loss->compute(pair(recon, target), context());
    double total = 0;
    for (const Res& r : {Res{512, 128, 512}, Res{1024, 256, 1024}, Res{2048, 512, 2048}}) {
        const Terms t = reference(recon, target, r, 1);
        total += (t.sc + t.log_mag) / 3.0;
    }
    expect_rel(value(out.at("loss")), total, "default-resolution loss on channel 1");
}

TEST(StftLoss, IdenticalInputsGiveZeroWithFiniteGradient) {
    auto loss = make_loss("stft", resolutions({{16, 4, 16}, {32, 8, 32}}));
    const at::Tensor target = sample_maps(6);
    at::Tensor recon = target.clone().requires_grad_(true);
    const auto out = loss->compute(pair(recon, target), context());
    EXPECT_EQ(value(out.at("loss")), 0.0);
    out.at("loss").backward();
    EXPECT_TRUE(all_finite(recon.grad()));
}

TEST(StftLoss, SilenceAndConstantSignalsStayFinite) {
    auto loss = make_loss("stft", resolutions({{16, 4, 16}, {32, 8, 32}}));
    const at::Tensor zeros = at::zeros({2, 2, 4, 16});
    const at::Tensor noise = sample_maps(7);
    struct Case {
        const char* what;
        at::Tensor recon, target;
    };
    const std::vector<Case> cases{{"silent target", noise, zeros},
                                  {"silent prediction", zeros, noise},
                                  {"both silent", zeros, zeros},
                                  {"constant signals", at::full({2, 2, 4, 16}, 0.5), at::full({2, 2, 4, 16}, 0.25)}};
    for (const Case& c : cases) {
        at::Tensor recon = c.recon.clone().requires_grad_(true);
        const auto out = loss->compute(pair(recon, c.target), context());
        EXPECT_TRUE(all_finite(out.at("loss"))) << c.what;
        out.at("loss").backward();
        EXPECT_TRUE(all_finite(recon.grad())) << c.what;
        // With the 1e-8 power floor the value is still the formula's.
        const Terms a = reference(recon.detach(), c.target, {16, 4, 16});
        const Terms b = reference(recon.detach(), c.target, {32, 8, 32});
        expect_rel(value(out.at("loss")), (a.sc + a.log_mag + b.sc + b.log_mag) / 2.0, c.what);
    }
}

TEST(StftLoss, BadResolutionsFailAtCreate) {
    const std::string mismatched = error_of([] {
        make_loss("stft", {{"fft_sizes", std::vector<int64_t>{16, 32}}, {"hop_sizes", std::vector<int64_t>{4}}});
    });
    EXPECT_NE(mismatched.find("must have the same length, got 2, 1 and 2"), std::string::npos) << mismatched;
    const std::string hop = error_of([] { make_loss("stft", resolutions({{16, 8, 4}})); });
    EXPECT_NE(hop.find("(fft 16, hop 8, win 4): hop must be <= win"), std::string::npos) << hop;
    const std::string win = error_of([] { make_loss("stft", resolutions({{16, 4, 16}, {16, 4, 32}})); });
    EXPECT_NE(win.find("resolution 1 (fft 16, hop 4, win 32): win must be <= fft"), std::string::npos) << win;
}

TEST(StftLoss, TooShortSignalFailsAtCompute) {
    // 4 x 4 = 16 samples; fft 32 needs reflect padding of 16, which must be < 16.
    auto loss = make_loss("stft", resolutions({{32, 8, 32}}));
    const at::Tensor x = at::rand({1, 2, 4, 4});
    try {
        loss->compute(pair(x, x), context());
        FAIL() << "too-short signal accepted";
    } catch (const distill::host::PluginCallError& e) {
        EXPECT_EQ(e.code(), 2);
        EXPECT_NE(std::string(e.what()).find("signal of 16 samples"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("too short for fft 32"), std::string::npos) << e.what();
    }
}

TEST(StftLoss, RejectsMismatchedShapesAndAbsentChannel) {
    const std::string shapes = error_of([] {
        make_loss("stft", resolutions({{16, 4, 16}}))
            ->compute(pair(at::zeros({2, 2, 4, 16}), at::zeros({1, 2, 4, 16})), context());
    });
    EXPECT_NE(shapes.find("got recon [2, 2, 4, 16] and target [1, 2, 4, 16]"), std::string::npos) << shapes;
    const std::string channel = error_of([] {
        auto loss = make_loss("stft", {{"fft_sizes", std::vector<int64_t>{16}}, {"hop_sizes", std::vector<int64_t>{4}},
                                       {"channel", int64_t{2}}});
        loss->compute(pair(at::zeros({1, 2, 4, 16}), at::zeros({1, 2, 4, 16})), context());
    });
    EXPECT_NE(channel.find("channel 2 out of range for inputs [1, 2, 4, 16]"), std::string::npos) << channel;
}

TEST(StftLoss, ReferenceBatchIsBitIdenticalToPlainAutograd) {
    // The trainer's case: batch 32 of [2, 128, 94] maps, default resolutions.
    at::manual_seed(11);
    const at::Tensor recon = at::rand({32, 2, 128, 94});
    const at::Tensor target = at::rand({32, 2, 128, 94});
    expect_matches_plain_autograd(recon, target, {{512, 128, 512}, {1024, 256, 1024}, {2048, 512, 2048}},
                                  "batch 32 of [2, 128, 94]");
}

TEST(StftLoss, OddSizesAreBitIdenticalToPlainAutograd) {
    // Odd fft sizes (no Nyquist bin), win < fft, odd signal lengths, channel 1,
    // signed inputs.
    at::manual_seed(12);
    expect_matches_plain_autograd(at::randn({3, 2, 5, 37}), at::randn({3, 2, 5, 37}),
                                  {{16, 4, 12}, {15, 5, 15}, {33, 7, 20}}, "[3, 2, 5, 37], odd ffts", 1);
    expect_matches_plain_autograd(at::rand({1, 3, 7, 9}), at::rand({1, 3, 7, 9}), {{9, 3, 9}, {10, 1, 7}},
                                  "[1, 3, 7, 9], fft 9 and 10");
    expect_matches_plain_autograd(sample_maps(13), sample_maps(14), {{16, 4, 16}, {32, 8, 24}, {8, 2, 8}},
                                  "[2, 2, 4, 16]");
    // float64 takes the backward's other masking branch.
    expect_matches_plain_autograd(sample_maps(16).to(at::kDouble) * 1e-4, sample_maps(17).to(at::kDouble),
                                  {{16, 4, 16}, {15, 5, 15}}, "[2, 2, 4, 16] in float64, partly under the floor");
}

TEST(StftLoss, FloorCasesMatchPlainAutograd) {
    // Bins under the power floor pass no gradient, in both.
    const at::Tensor zeros = at::zeros({2, 2, 4, 16});
    const at::Tensor noise = sample_maps(15);
    const std::vector<Res> rs{{16, 4, 16}, {32, 8, 32}};
    expect_matches_plain_autograd(noise, zeros, rs, "silent target");
    expect_matches_plain_autograd(zeros, noise, rs, "silent prediction");
    expect_matches_plain_autograd(zeros, zeros, rs, "both silent");
    expect_matches_plain_autograd(at::full({2, 2, 4, 16}, 0.5), at::full({2, 2, 4, 16}, 0.25), rs, "constant");
    expect_matches_plain_autograd(noise * 3e-5, noise, rs, "near the floor: some bins under it, some over");
}
