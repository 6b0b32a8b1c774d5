// What a step and a resume mean must not depend on the LibTorch linked:
// 1.13's zero_grad() zero-fills gradients where 2.x drops them, and 2.2+
// parses the optimizer-state keys of a 1.x checkpoint as other numbers.
// The trainer drops gradients itself (reset_gradients) and checks the
// optimizer state it loads (check_optimizer_state).
#include "train/checkpoint.hpp"
#include "train/optimizer_step.hpp"
#include "train_fixture.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <stdexcept>

namespace distill::train {
namespace {

struct TwoParameters {
    explicit TwoParameters(const std::string& optimizer = "adamw") {
        at::manual_seed(5);
        named = {{"reached", at::randn({3}).requires_grad_(true)}, {"unreached", at::randn({2}).requires_grad_(true)}};
        experiment::TrainSpec spec;
        spec.optimizer = optimizer;
        spec.lr = 1e-2;
        spec.weight_decay = 0.1;  // a zero-filled gradient would still decay `unreached`
        opt = make_optimizer(spec, named);
    }
    std::vector<at::Tensor> params() const { return {named[0].second, named[1].second}; }
    // One step on a loss that reaches both parameters, or only the first.
    void backward(bool both) {
        reset_gradients(params());
        at::Tensor loss = (named[0].second * named[0].second).sum();
        if (both) loss = loss + (named[1].second * 3.0).sum();
        loss.backward();
    }
    NamedTensors named;
    std::unique_ptr<torch::optim::Optimizer> opt;
};

int64_t step_count(torch::optim::Optimizer& opt, int64_t numel) {
    for (const auto& [key, state] : opt.state()) {
        const auto& adamw = static_cast<const torch::optim::AdamWParamState&>(*state);
        if (adamw.exp_avg().numel() == numel) return adamw.step();
    }
    return -1;
}

TEST(ResetGradients, DropsEveryGradient) {
    TwoParameters t;
    t.backward(true);
    ASSERT_TRUE(t.named[1].second.grad().defined());
    reset_gradients(t.params());
    EXPECT_FALSE(t.named[0].second.grad().defined());
    EXPECT_FALSE(t.named[1].second.grad().defined());
}

// After a step that reached it, a parameter the next loss does not reach is
// left exactly as it is: by torch's step and by the masked one alike.
TEST(ResetGradients, AParameterNoLossReachesIsNotStepped) {
    for (const bool masked : {false, true}) {
        TwoParameters t;
        std::unique_ptr<MaskedAdamStep> masked_step;
        if (masked) masked_step = std::make_unique<MaskedAdamStep>(*t.opt);
        const auto step = [&] {
            if (masked)
                masked_step->step(at::ones({}, at::kBool));
            else
                t.opt->step();
        };
        t.backward(true);
        step();
        const at::Tensor unreached = t.named[1].second.detach().clone();
        const at::Tensor reached = t.named[0].second.detach().clone();
        t.backward(false);
        EXPECT_FALSE(t.named[1].second.grad().defined());
        step();
        if (masked) masked_step->store_step_counts();
        EXPECT_TRUE(at::equal(t.named[1].second, unreached)) << (masked ? "masked" : "torch");
        EXPECT_FALSE(at::equal(t.named[0].second, reached)) << (masked ? "masked" : "torch");
        EXPECT_EQ(step_count(*t.opt, 2), 1) << (masked ? "masked" : "torch");
        EXPECT_EQ(step_count(*t.opt, 3), 2) << (masked ? "masked" : "torch");
    }
}

std::string check_message(torch::optim::Optimizer& opt, const NamedTensors& named) {
    try {
        check_optimizer_state(opt, named);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

TEST(CheckOptimizerState, AcceptsTheStateTorchMade) {
    for (const std::string optimizer : {"adam", "adamw"}) {
        TwoParameters t(optimizer);
        EXPECT_EQ(check_message(*t.opt, t.named), "") << "no state yet";
        t.backward(false);
        t.opt->step();
        EXPECT_EQ(check_message(*t.opt, t.named), "") << "a state for one of two";
        t.backward(true);
        t.opt->step();
        EXPECT_EQ(check_message(*t.opt, t.named), "") << optimizer;
    }
}

// What LibTorch 2.2+ makes of a 1.x checkpoint: states moved between
// parameters, empty ones, or ones under keys no parameter has.
TEST(CheckOptimizerState, RefusesStateThatDoesNotFitNamingTheParameter) {
    TwoParameters t;
    t.backward(true);
    t.opt->step();
    auto& states = t.opt->state();
    auto& unreached = static_cast<torch::optim::AdamWParamState&>(*std::find_if(states.begin(), states.end(), [](const auto& s) {
        return static_cast<const torch::optim::AdamWParamState&>(*s.second).exp_avg().numel() == 2;
    })->second);
    unreached.exp_avg(at::zeros({3}));
    EXPECT_EQ(check_message(*t.opt, t.named), "parameter 'unreached' has moments of shape [3], the parameter [2]");

    TwoParameters emptied;
    emptied.backward(true);
    emptied.opt->step();
    emptied.opt->state().begin()->second.reset();
    EXPECT_NE(check_message(*emptied.opt, emptied.named).find("has no Adam state"), std::string::npos);

    // The second parameter's state, moved into an optimizer that has only the first.
    TwoParameters one;
    one.backward(true);
    one.opt->step();
    experiment::TrainSpec spec;
    const NamedTensors first_only{one.named[0]};
    auto smaller = make_optimizer(spec, first_only);
    for (auto& [key, state] : one.opt->state()) smaller->state()[key] = std::move(state);
    EXPECT_EQ(check_message(*smaller, first_only), "1 of 2 states belong to no parameter of this model");
}

// Through a checkpoint: an optimizer state saved for other parameters is
// refused on loading, naming the file, instead of training on it.
TEST(CheckOptimizerState, ACheckpointWhoseStateDoesNotFitIsRefused) {
    const testing::TempDir dir;
    TwoParameters saved;
    saved.backward(true);
    saved.opt->step();
    // The same names and shapes for the model, but the optimizer state
    // saved is the one of parameters in the other order.
    const NamedTensors swapped{{"reached", saved.named[1].second}, {"unreached", saved.named[0].second}};
    experiment::TrainSpec spec;
    auto other = make_optimizer(spec, swapped);
    for (auto& [key, state] : saved.opt->state()) other->state()[key] = std::move(state);
    CheckpointContent content;
    content.run_uuid = "6f1c2a9e-0000-4000-8000-000000000001";
    content.norm.mode = "scale";
    const auto file = dir / checkpoint_name(1, 0);
    save_checkpoint(file, saved.named, {}, other.get(), content);

    TwoParameters resumed;
    const at::Tensor before = resumed.named[0].second.detach().clone();
    try {
        load_checkpoint(file, resumed.named, {}, resumed.opt.get(), content.run_uuid);
        FAIL() << "loaded";
    } catch (const CheckpointError& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find(file.string()), std::string::npos) << message;
        EXPECT_NE(message.find("optimizer state does not fit this model: parameter 'reached' has moments of shape [2]"),
                  std::string::npos)
            << message;
    }
    EXPECT_TRUE(at::equal(resumed.named[0].second, before)) << "the model is untouched by a refused checkpoint";
}

}  // namespace
}  // namespace distill::train
