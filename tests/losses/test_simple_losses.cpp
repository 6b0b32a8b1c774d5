// mag_l1, if_l1 and kl on hand-made tensors.
#include "loss_test_support.hpp"

#include <cmath>
#include <vector>

using namespace losses_test;

namespace {

// [B, 2, H, W] from per-channel values listed item by item, row-major.
at::Tensor maps(int64_t b, int64_t h, int64_t w, const std::vector<float>& mag, const std::vector<float>& inf) {
    at::Tensor m = at::tensor(mag).reshape({b, 1, h, w});
    at::Tensor f = at::tensor(inf).reshape({b, 1, h, w});
    return at::cat({m, f}, 1);
}

}  // namespace

TEST(MagL1, MeanAbsoluteErrorOnMagnitudeChannelOnly) {
    auto loss = make_loss("mag_l1");
    // B=2, H=1, W=2. Channel 0 differences: |1-0|, |2-0|, |3-3|, |4-8| = 1, 2, 0, 4 -> mean 7/4.
    // Channel 1 differs wildly and must not matter.
    const at::Tensor recon = maps(2, 1, 2, {1, 2, 3, 4}, {100, -100, 50, 7});
    const at::Tensor target = maps(2, 1, 2, {0, 0, 3, 8}, {0, 0, 0, 0});
    const auto out = loss->compute({{"recon", recon}, {"target", target}}, context());
    expect_rel(value(out.at("loss")), 1.75, "mag_l1");
}

TEST(MagL1, RejectsMismatchedShapesAndMissingInputs) {
    auto loss = make_loss("mag_l1");
    const at::Tensor a = at::zeros({2, 2, 3, 4});
    try {
        loss->compute({{"recon", a}, {"target", at::zeros({2, 2, 3, 5})}}, context());
        FAIL() << "mismatched shapes accepted";
    } catch (const distill::host::PluginCallError& e) {
        EXPECT_EQ(e.code(), 2);
        EXPECT_NE(std::string(e.what()).find("recon [2, 2, 3, 4] and target [2, 2, 3, 5]"), std::string::npos)
            << e.what();
    }
    try {
        loss->compute({{"recon", a}}, context());
        FAIL() << "missing target accepted";
    } catch (const distill::host::PluginCallError& e) {
        EXPECT_NE(std::string(e.what()).find("missing input 'target'"), std::string::npos) << e.what();
    }
}

TEST(IfL1, MagnitudeWeightedMeanAbsoluteError) {
    auto loss = make_loss("if_l1");
    // B=1, H=1, W=4. Target magnitude {1, 3, 0, 4}: mean 2, so w = {0.5, 1.5, 0, 2}
    // (the 1e-8 changes w by ~5e-9 relative). |IF differences| = {2, 1, 5, 0.5};
    // weighted {1, 1.5, 0, 1}, sum 3.5, mean over 4 -> 0.875.
    const at::Tensor recon = maps(1, 1, 4, {9, 9, 9, 9}, {2, -1, 5, 0.5});
    const at::Tensor target = maps(1, 1, 4, {1, 3, 0, 4}, {0, 0, 0, 0});
    const auto out = loss->compute({{"recon", recon}, {"target", target}}, context());
    expect_rel(value(out.at("loss")), 0.875, "if_l1");
}

TEST(IfL1, WeightsAreNonNegativeForNonNegativeMagnitudes) {
    auto loss = make_loss("if_l1");
    at::manual_seed(3);
    // recon IF > target IF everywhere, so d loss / d recon_IF = w / N exactly,
    // which exposes every weight: it must be >= 0 and equal mag / (mean + 1e-8) / N.
    const at::Tensor target = at::rand({2, 2, 3, 5});
    at::Tensor recon = target.clone();
    recon.select(1, 1).add_(1.0);
    recon.requires_grad_(true);
    const at::Tensor out = loss->compute({{"recon", recon}, {"target", target}}, context()).at("loss");
    out.backward();
    const at::Tensor grad = recon.grad().select(1, 1);
    EXPECT_TRUE(grad.ge(0).all().item<bool>());
    const at::Tensor mag = target.select(1, 0).to(at::kDouble);
    const at::Tensor expected = mag / (mag.mean() + 1e-8) / static_cast<double>(mag.numel());
    EXPECT_TRUE(at::allclose(grad.to(at::kDouble), expected, 1e-5, 0.0));
}

TEST(IfL1, AllZeroMagnitudeGivesFiniteLoss) {
    auto loss = make_loss("if_l1");
    at::Tensor recon = at::rand({2, 2, 3, 5}).requires_grad_(true);
    const at::Tensor target = at::zeros({2, 2, 3, 5});
    const at::Tensor out = loss->compute({{"recon", recon}, {"target", target}}, context()).at("loss");
    // w = 0 / (0 + 1e-8) = 0 everywhere, so the loss is exactly 0.
    EXPECT_EQ(value(out), 0.0);
    out.backward();
    EXPECT_TRUE(all_finite(recon.grad()));
}

TEST(Kl, FreeBitsFloorWhenPosteriorIsThePrior) {
    auto loss = make_loss("kl");
    // mu = 0, logvar = 0: every element's KL is -0.5 (1 + 0 - 0 - 1) = 0 < 0.1, so each
    // costs 0.1 and each item 0.1 * L; the raw KL is 0.
    const int64_t latent = 7;
    at::Tensor mu = at::zeros({3, latent}).requires_grad_(true);
    at::Tensor logvar = at::zeros({3, latent}).requires_grad_(true);
    const auto out = loss->compute({{"mu", mu}, {"logvar", logvar}}, context());
    EXPECT_FLOAT_EQ(out.at("loss").item<float>(), 0.1f * latent);
    EXPECT_EQ(value(out.at("kl_raw")), 0.0);
    out.at("loss").backward();
    EXPECT_TRUE(mu.grad().eq(0).all().item<bool>());
    EXPECT_TRUE(logvar.grad().eq(0).all().item<bool>());
}

TEST(Kl, HandComputedValuesAndGradients) {
    auto loss = make_loss("kl", {{"free_bits", 0.1}});
    // Element KL = -0.5 (1 + lv - mu^2 - e^lv):
    //   (mu 1,   lv 0)    -> 0.5
    //   (mu 0.1, lv 0)    -> 0.005          (under the floor -> 0.1, no gradient)
    //   (mu 0.5, lv -1)   -> 0.5 (0.25 + e^-1) = 0.3089397...
    //   (mu 2,   lv 0)    -> 2
    // Rows: 0.5 + 0.1 = 0.6 and 2.3089397 -> loss = mean = 1.4544698...
    // Raw rows: 0.505 and 2.3089397 -> kl_raw = 1.4069698...
    const double e1 = 0.5 * (0.25 + std::exp(-1.0));
    at::Tensor mu = at::tensor(std::vector<float>{1.0f, 0.1f, 0.5f, 2.0f}).reshape({2, 2}).requires_grad_(true);
    at::Tensor logvar = at::tensor(std::vector<float>{0.0f, 0.0f, -1.0f, 0.0f}).reshape({2, 2}).requires_grad_(true);
    const auto out = loss->compute({{"mu", mu}, {"logvar", logvar}, {"z", mu.detach()}}, context());
    expect_rel(value(out.at("loss")), (0.6 + e1 + 2.0) / 2.0, "kl loss");
    expect_rel(value(out.at("kl_raw")), (0.505 + e1 + 2.0) / 2.0, "kl_raw");
    out.at("loss").backward();
    // d/dmu = mu / B and d/dlogvar = -0.5 (1 - e^lv) / B above the floor; 0 below it.
    const at::Tensor gmu = mu.grad().to(at::kDouble);
    const at::Tensor glv = logvar.grad().to(at::kDouble);
    expect_rel(gmu[0][0].item<double>(), 0.5, "dmu (1)");
    EXPECT_EQ(gmu[0][1].item<double>(), 0.0);
    EXPECT_EQ(glv[0][1].item<double>(), 0.0);
    expect_rel(gmu[1][0].item<double>(), 0.25, "dmu (0.5)");
    expect_rel(glv[1][0].item<double>(), -0.25 * (1.0 - std::exp(-1.0)), "dlogvar (-1)");
    expect_rel(gmu[1][1].item<double>(), 1.0, "dmu (2)");
}

TEST(Kl, RejectsMismatchedShapesAndBadFreeBits) {
    auto loss = make_loss("kl");
    try {
        loss->compute({{"mu", at::zeros({2, 4})}, {"logvar", at::zeros({2, 5})}}, context());
        FAIL() << "mismatched shapes accepted";
    } catch (const distill::host::PluginCallError& e) {
        EXPECT_NE(std::string(e.what()).find("mu [2, 4] and logvar [2, 5]"), std::string::npos) << e.what();
    }
    EXPECT_THROW(make_loss("kl", {{"free_bits", -1.0}}), std::invalid_argument);
}
