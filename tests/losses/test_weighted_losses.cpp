// Weight schedules and the weighted total, with real plugins behind the C ABI.
#include "loss_test_support.hpp"
#include "store/metric_columns.hpp"
#include "train/loss_schedule.hpp"
#include "train/loss_values.hpp"
#include "train/weighted_losses.hpp"

#include <cmath>
#include <limits>

using namespace losses_test;
using distill::train::WeightedLosses;
using distill::train::WeightSchedule;

TEST(WeightSchedule, LinearWarmupOverThirtyPercent) {
    // The KL default: 0.01 over 30% of 10 epochs -> warmup = floor(3.0) = 3 epochs;
    // weight(e) = 0.01 * min(1, e / 3).
    const WeightSchedule s = WeightSchedule::linear_warmup(0.01, 0.3);
    EXPECT_EQ(s.warmup_epochs(10), 3);
    EXPECT_EQ(s.weight_at(0, 10), 0.0);                 // epoch 0: off
    EXPECT_DOUBLE_EQ(s.weight_at(1, 10), 0.01 / 3.0);   // epoch 1
    EXPECT_DOUBLE_EQ(s.weight_at(2, 10), 0.02 / 3.0);   // warmup - 1
    EXPECT_DOUBLE_EQ(s.weight_at(3, 10), 0.01);         // warmup: full
    EXPECT_DOUBLE_EQ(s.weight_at(9, 10), 0.01);         // last epoch
    // 200 epochs (the default run): floor(60) = 60.
    EXPECT_EQ(s.warmup_epochs(200), 60);
    EXPECT_DOUBLE_EQ(s.weight_at(30, 200), 0.005);
}

TEST(WeightSchedule, NoWarmupEpochsMeansFullWeight) {
    // Fraction 0 -> warmup 0 -> full weight from epoch 0.
    const WeightSchedule zero = WeightSchedule::linear_warmup(0.5, 0.0);
    EXPECT_EQ(zero.warmup_epochs(100), 0);
    EXPECT_EQ(zero.weight_at(0, 100), 0.5);
    // floor(3 * 0.3) = floor(0.9) = 0: also full weight rather than a division by zero.
    EXPECT_EQ(WeightSchedule::linear_warmup(0.5, 0.3).weight_at(0, 3), 0.5);
    const WeightSchedule constant = WeightSchedule::constant(0.1);
    EXPECT_EQ(constant.weight_at(0, 10), 0.1);
    EXPECT_EQ(constant.weight_at(9, 10), 0.1);
}

TEST(WeightSchedule, ParseRejectsBadInput) {
    EXPECT_EQ(WeightSchedule::parse("linear_warmup", 0.01, 0.3).describe(), "linear_warmup(0.3)");
    EXPECT_EQ(WeightSchedule::parse("constant", 1.0, 0.3).describe(), "constant");
    try {
        WeightSchedule::parse("cosine", 1.0, 0.3);
        FAIL() << "unknown schedule accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "unknown weight schedule 'cosine' (expected constant or linear_warmup)");
    }
    EXPECT_THROW(WeightSchedule::parse("constant", -1.0, 0.3), std::invalid_argument);
    EXPECT_THROW(WeightSchedule::parse("constant", std::nan(""), 0.3), std::invalid_argument);
    EXPECT_THROW(WeightSchedule::parse("linear_warmup", 1.0, 1.5), std::invalid_argument);
}

namespace {

// The default loss set of docs/reference.md#3-losses, on a small STFT.
WeightedLosses default_losses() {
    WeightedLosses losses;
    losses.add("", make_loss("stft", {{"fft_sizes", std::vector<int64_t>{16, 32}},
                                      {"hop_sizes", std::vector<int64_t>{4, 8}}}),
               WeightSchedule::constant(1.0));
    losses.add("", make_loss("mag_l1"), WeightSchedule::constant(0.1));
    losses.add("", make_loss("if_l1"), WeightSchedule::constant(0.05));
    losses.add("", make_loss("kl"), WeightSchedule::linear_warmup(0.01, 0.3));
    return losses;
}

}  // namespace

TEST(WeightedLosses, TotalIsTheWeightedSumAndGradientsReachEveryInput) {
    const WeightedLosses losses = default_losses();
    at::manual_seed(11);
    at::Tensor recon = (at::rand({2, 2, 4, 16}) + 0.1).requires_grad_(true);
    const at::Tensor target = at::rand({2, 2, 4, 16}) + 0.1;
    at::Tensor mu = at::randn({2, 3}).requires_grad_(true);
    at::Tensor logvar = (0.5 * at::randn({2, 3})).requires_grad_(true);
    // Epoch 2 of 10: KL weight 0.01 * 2/3 (warmup 3).
    const auto result = losses.compute({{"recon", recon}, {"target", target}, {"mu", mu}, {"logvar", logvar}},
                                       context(2, 10));
    ASSERT_EQ(result.terms.size(), 4u);
    const double weights[] = {1.0, 0.1, 0.05, 0.02 / 3.0};
    const char* names[] = {"stft", "mag_l1", "if_l1", "kl"};
    double expected_total = 0;
    for (size_t i = 0; i < 4; ++i) {
        const auto& term = result.terms[i];
        EXPECT_EQ(term.name, names[i]);
        EXPECT_EQ(term.plugin, names[i]);
        EXPECT_DOUBLE_EQ(term.weight, weights[i]);
        expect_rel(value(term.weighted), weights[i] * value(term.raw), term.name);
        expected_total += weights[i] * value(term.raw);
    }
    expect_rel(value(result.total), expected_total, "total");
    EXPECT_EQ(result.find("stft")->sub_terms.count("sc"), 1u);
    EXPECT_EQ(result.find("stft")->sub_terms.count("log_mag"), 1u);
    EXPECT_EQ(result.find("kl")->sub_terms.count("kl_raw"), 1u);
    EXPECT_EQ(result.find("nope"), nullptr);

    result.total.backward();
    for (const at::Tensor& g : {recon.grad(), mu.grad(), logvar.grad()}) {
        ASSERT_TRUE(g.defined());
        EXPECT_TRUE(all_finite(g));
        EXPECT_GT(g.abs().sum().item<double>(), 0.0);
    }
    // Both channels of recon get gradient: channel 0 from stft/mag_l1, channel 1 from if_l1.
    EXPECT_GT(recon.grad().select(1, 0).abs().sum().item<double>(), 0.0);
    EXPECT_GT(recon.grad().select(1, 1).abs().sum().item<double>(), 0.0);
}

TEST(WeightedLosses, ZeroWeightAddsExactlyZeroEvenForInfiniteLoss) {
    const WeightedLosses losses = default_losses();
    at::manual_seed(12);
    at::Tensor recon = (at::rand({2, 2, 4, 16}) + 0.1).requires_grad_(true);
    const at::Tensor target = at::rand({2, 2, 4, 16}) + 0.1;
    // exp(1000) overflows float: the raw KL is +inf. At epoch 0 the warm-up weight is 0.
    at::Tensor mu = at::zeros({2, 3});
    at::Tensor logvar = at::full({2, 3}, 1000.0f);
    const auto result = losses.compute({{"recon", recon}, {"target", target}, {"mu", mu}, {"logvar", logvar}},
                                       context(0, 10));
    const auto* kl = result.find("kl");
    ASSERT_NE(kl, nullptr);
    EXPECT_TRUE(std::isinf(value(kl->raw)));
    EXPECT_EQ(kl->weight, 0.0);
    EXPECT_EQ(value(kl->weighted), 0.0);
    // The total is exactly the other three weighted terms, summed in entry order.
    const at::Tensor others = result.terms[0].weighted + result.terms[1].weighted + result.terms[2].weighted;
    EXPECT_TRUE(std::isfinite(value(result.total)));
    EXPECT_EQ(value(result.total), value(others));
    result.total.backward();
    EXPECT_TRUE(all_finite(recon.grad()));
}

TEST(WeightedLosses, NamesAreUniqueAndSummaryListsEveryEntry) {
    WeightedLosses losses = default_losses();
    try {
        losses.add("", make_loss("kl"), WeightSchedule::constant(1.0));
        FAIL() << "duplicate name accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("duplicate loss name 'kl'"), std::string::npos) << e.what();
    }
    losses.add("kl_strong", make_loss("kl", {{"free_bits", 0.0}}), WeightSchedule::constant(1.0));
    EXPECT_EQ(losses.summary(),
              "losses: stft (stft) weight 1.0 constant "
              "{fft_sizes = [16, 32], hop_sizes = [4, 8], win_lengths = [], channel = 0}; "
              "mag_l1 (mag_l1) weight 0.1 constant; if_l1 (if_l1) weight 0.05 constant; "
              "kl (kl) weight 0.01 linear_warmup(0.3) {free_bits = 0.1}; kl_strong (kl) weight 1.0 constant {free_bits = 0.0}");
}

TEST(WeightedLosses, AddsAnExperimentLossSpec) {
    distill::experiment::LossSpec spec;
    spec.name = "kl_term";
    spec.plugin = "kl";
    spec.weight = 0.01;
    spec.schedule = "linear_warmup";
    spec.warmup_fraction = 0.5;
    spec.params = distill::host::resolve_params(*registry().require("kl", DISTILL_KIND_LOSS).descriptor, {});
    WeightedLosses losses;
    losses.add(spec, registry(), "cpu");
    // mu = 0, logvar = 0 -> 0.1 * L = 0.2 raw; epoch 1 of 4 with warmup floor(2) = 2 -> weight 0.005.
    const auto result = losses.compute({{"mu", at::zeros({1, 2})}, {"logvar", at::zeros({1, 2})}}, context(1, 4));
    EXPECT_DOUBLE_EQ(result.terms[0].weight, 0.005);
    expect_rel(value(result.total), 0.001, "total");

    spec.schedule = "ramp";
    try {
        losses.add(spec, registry(), "cpu");
        FAIL() << "bad schedule accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("loss 'kl_term': unknown weight schedule 'ramp'"), std::string::npos)
            << e.what();
    }
}

// Issue 18, metrics contract v2: the reference columns come from what each
// plugin declares (plugin.h, distill_metric_binding), whatever the entries are
// called and however many use one plugin; a metric nobody declares is absent.
TEST(ReferenceValues, ComeFromThePluginsDeclarations) {
    using distill::store::reference_metric_index;
    WeightedLosses losses;
    losses.add("coarse", make_loss("mag_l1"), WeightSchedule::constant(0.1));
    losses.add("fine", make_loss("mag_l1"), WeightSchedule::constant(0.2));
    losses.add("prior", make_loss("kl", {{"free_bits", 0.5}}), WeightSchedule::constant(0.5));
    at::manual_seed(13);
    const at::Tensor recon = (at::rand({2, 2, 4, 16}) + 0.1).requires_grad_(true);
    const at::Tensor mu = at::randn({2, 3}).requires_grad_(true);
    const at::Tensor logvar = (0.5 * at::randn({2, 3})).requires_grad_(true);
    const auto result = losses.compute(
        {{"recon", recon}, {"target", at::rand({2, 2, 4, 16})}, {"mu", mu}, {"logvar", logvar}}, context(0, 1));
    const distill::train::LossValues values = distill::train::read_loss_values(result);
    const distill::store::ReferenceValues refs = distill::train::reference_values(result, values);
    auto at = [&](const char* metric) { return refs[static_cast<size_t>(reference_metric_index(metric))]; };
    // mag_recon_loss: the first entry that declares it; recon_loss: both weighted.
    EXPECT_EQ(at("mag_recon_loss"), values.raw[0]);
    ASSERT_TRUE(at("recon_loss").has_value());
    EXPECT_EQ(*at("recon_loss"), values.weighted[0] + values.weighted[1]);
    EXPECT_NE(values.raw[0], values.weighted[0]);
    EXPECT_EQ(at("kl_loss"), values.raw[2]);
    EXPECT_EQ(at("kl_weight"), 0.5);
    ASSERT_EQ(values.sub[2].size(), 1u);
    EXPECT_EQ(values.sub[2][0].first, "kl_raw");
    EXPECT_EQ(at("kl_divergence"), values.sub[2][0].second);
    EXPECT_LT(*at("kl_divergence"), *at("kl_loss")) << "free bits 0.5 raise every element below it";
    EXPECT_FALSE(at("stft_loss").has_value());
    EXPECT_FALSE(at("if_recon_loss").has_value());

    const distill::store::StepMetrics row = distill::train::step_row(result, values, 3, 4, 5, 1e-3, 0.25);
    EXPECT_EQ(row.epoch, 3);
    EXPECT_EQ(row.step, 4);
    EXPECT_EQ(row.steps_per_epoch, 5);
    EXPECT_EQ(row.train_loss, values.total);
    EXPECT_EQ(row.mag_recon_loss, at("mag_recon_loss"));
    EXPECT_EQ(row.recon_loss, at("recon_loss"));
    EXPECT_EQ(row.kl_loss, at("kl_loss"));
    EXPECT_EQ(row.kl_weight, 0.5);
    EXPECT_FALSE(row.stft_loss.has_value());
    EXPECT_FALSE(row.if_recon_loss.has_value());
}

// A loss a training step steps on must be attached to the graph: one that is
// not (here kl, its inputs given without grad while recon has it) is an error
// naming the entry and the plugin -- but only where it would be trained on.
TEST(WeightedLosses, ADetachedLossWithAWeightIsAnErrorNamingIt) {
    const at::Tensor recon = at::rand({2, 2, 4, 16}).requires_grad_(true);
    const distill::TensorMap inputs{{"recon", recon}, {"target", at::rand({2, 2, 4, 16})},
                                    {"mu", at::zeros({2, 3})}, {"logvar", at::zeros({2, 3})}};
    WeightedLosses losses;
    losses.add("", make_loss("mag_l1"), WeightSchedule::constant(1.0));
    losses.add("prior", make_loss("kl"), WeightSchedule::constant(0.5));
    try {
        losses.compute(inputs, context(0, 1));
        FAIL() << "a detached loss was trained on";
    } catch (const distill::host::PluginResultError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("loss 'prior' (plugin 'kl'): compute returned a 'loss' that is not attached to the "
                            "autograd graph"),
                  std::string::npos)
            << what;
        EXPECT_TRUE(e.is_bad_input()) << "the user's to fix: exit 2";
    }
    // Validation (training = 0), no-grad mode and a weight of 0 train on nothing.
    distill_step_context validation = context(0, 1);
    validation.training = 0;
    EXPECT_NO_THROW(losses.compute(inputs, validation));
    {
        at::NoGradGuard no_grad;
        EXPECT_NO_THROW(losses.compute(inputs, context(0, 1)));
    }
    WeightedLosses logged_only;
    logged_only.add("", make_loss("mag_l1"), WeightSchedule::constant(1.0));
    logged_only.add("prior", make_loss("kl"), WeightSchedule::constant(0.0));
    EXPECT_NO_THROW(logged_only.compute(inputs, context(0, 1)));
}
