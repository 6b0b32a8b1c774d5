// The optimizer and gradient clipping, in the two forms the trainer uses.
//
// On the CPU the trainer reads every loss value back before it steps (a
// readback costs nothing there) and calls torch's own Adam/AdamW only when
// the total is finite. On a GPU that readback would make the host wait for
// the device every step, so the trainer uses MaskedAdamStep instead: the
// same update, done where a device-side flag says the total is finite, and
// an exact no-op where it is not, with nothing read back.
#pragma once

#include "experiment/experiment.hpp"

#include <distill/bridge.hpp>

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
}

namespace distill::train {

// Adam or AdamW over `parameters` (one group), as the experiment says.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const experiment::TrainSpec& spec,
                                                        const NamedTensors& parameters);

// Scales the gradients of `parameters` so their global L2 norm is at most
// max_norm: the arithmetic of torch::nn::utils::clip_grad_norm_ (so the same
// bits), without its final read-back of the norm.
void clip_gradient_norm(const std::vector<at::Tensor>& parameters, double max_norm);

// Drops every gradient before a step's backward: what zero_grad(set_to_none
// = true) does, the default of LibTorch 2.x and of Python's optimizers,
// where LibTorch 1.13's zero_grad() zero-fills. Written out so a step means
// the same with either LibTorch: a parameter no loss reaches in this step
// has no gradient, and neither torch's step nor MaskedAdamStep moves it (no
// weight decay, no momentum). Reached parameters get the same bits either way.
void reset_gradients(const std::vector<at::Tensor>& parameters);

// After an optimizer state is loaded: every state belongs to one of the
// optimizer's parameters (`names`, in its order, say which) and is Adam's or
// AdamW's with moments of that parameter's shape. Throws
// std::runtime_error saying which parameter is wrong otherwise. (A 1.x
// checkpoint read by LibTorch 2.2 or later gives such a state: 1.x keys the
// state by a hex string of a pointer, 2.2 parses its keys as decimal.)
void check_optimizer_state(torch::optim::Optimizer& optimizer, const NamedTensors& names);

// Adam / AdamW (as `optimizer` is, with its options read at every step) on
// the optimizer's own moment tensors, with the step counts on the device.
// step(finite) changes parameters, moments and counts only where `finite`
// (a 0-dim bool tensor on the device) is true; where it is false they stay
// exactly as they were. Parameters without a gradient are skipped, as torch
// skips them. On the CPU the result is bit for bit that of torch's step.
//
// The counts live here between steps: store_step_counts() writes them into
// the optimizer's state before it is saved. Build a new MaskedAdamStep after
// the optimizer's state is loaded.
class MaskedAdamStep {
public:
    explicit MaskedAdamStep(torch::optim::Optimizer& optimizer);
    ~MaskedAdamStep();

    void step(const at::Tensor& finite);
    void store_step_counts();

    struct Moments;  // one parameter's view of the optimizer's state (defined in the .cpp)

private:
    torch::optim::Optimizer& optimizer_;
    bool decoupled_ = true;  // AdamW; Adam adds the decay to the gradient
    std::vector<at::Tensor> params_;
    std::vector<std::unique_ptr<Moments>> moments_;
    at::Tensor counts_;  // [P] float64 on the device: optimizer steps taken per parameter
    std::map<std::string, at::Tensor> has_grad_;  // [P] bool masks by pattern ("1101..."), made once each
};

}  // namespace distill::train
