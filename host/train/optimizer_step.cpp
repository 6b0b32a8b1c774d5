#include "train/optimizer_step.hpp"

#include <ATen/ATen.h>
#include <torch/types.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

#include <functional>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace distill::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const experiment::TrainSpec& spec,
                                                        const NamedTensors& parameters) {
    std::vector<at::Tensor> params;
    for (const auto& [name, t] : parameters) params.push_back(t);
    const std::tuple<double, double> betas{spec.betas.at(0), spec.betas.at(1)};
    if (spec.optimizer == "adam")
        return std::make_unique<torch::optim::Adam>(
            params, torch::optim::AdamOptions(spec.lr).betas(betas).eps(spec.eps).weight_decay(spec.weight_decay));
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(spec.lr).betas(betas).eps(spec.eps).weight_decay(spec.weight_decay));
}

void clip_gradient_norm(const std::vector<at::Tensor>& parameters, double max_norm) {
    std::vector<at::Tensor> grads;
    for (const auto& p : parameters)
        if (p.grad().defined()) grads.push_back(p.grad());
    if (grads.empty()) return;
    std::vector<at::Tensor> norms;
    norms.reserve(grads.size());
    for (const auto& g : grads) norms.push_back(g.data().norm(2.0));
    const at::Tensor total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2.0);
    const at::Tensor coef = at::clamp_max(max_norm / (total + 1e-6), 1.0);  // torch: clamp(.., nullopt, 1.0), the same kernel
    for (auto& g : grads) g.data().mul_(coef);
}

void reset_gradients(const std::vector<at::Tensor>& parameters) {
    for (auto p : parameters) p.mutable_grad().reset();
}

namespace {

// The optimizer keeps a parameter's state under a key made from its
// TensorImpl: a string of the pointer in LibTorch 1.x, the pointer itself
// in 2.x. Whichever this LibTorch's map takes is the one compiled.
template <class StateMap>
typename StateMap::key_type state_key(const at::Tensor& p) {
    using Key = typename StateMap::key_type;
    if constexpr (std::is_same_v<Key, std::string>) {
        std::ostringstream text;
        text << p.unsafeGetTensorImpl();
        return text.str();
    } else {
        return static_cast<Key>(p.unsafeGetTensorImpl());
    }
}

}  // namespace

struct MaskedAdamStep::Moments {
    at::Tensor exp_avg, exp_avg_sq;  // the optimizer's own tensors (shared storage)
    int64_t step = 0;                // as the optimizer's state held it when this was built
    std::function<void(int64_t)> set_step;
};

namespace {

// The state torch keeps for `p` (created empty, as torch's first step would).
template <class ParamState>
std::unique_ptr<MaskedAdamStep::Moments> moments_of(torch::optim::Optimizer& optimizer, const at::Tensor& p);

}  // namespace

MaskedAdamStep::MaskedAdamStep(torch::optim::Optimizer& optimizer) : optimizer_(optimizer) {
    if (optimizer.param_groups().size() != 1)
        throw std::logic_error("MaskedAdamStep: one parameter group expected");
    const bool adamw = dynamic_cast<torch::optim::AdamW*>(&optimizer) != nullptr;
    if (!adamw && dynamic_cast<torch::optim::Adam*>(&optimizer) == nullptr)
        throw std::logic_error("MaskedAdamStep: the optimizer is neither Adam nor AdamW");
    decoupled_ = adamw;
    params_ = optimizer.param_groups()[0].params();
    std::vector<double> counts;
    for (const auto& p : params_) {
        moments_.push_back(adamw ? moments_of<torch::optim::AdamWParamState>(optimizer, p)
                                 : moments_of<torch::optim::AdamParamState>(optimizer, p));
        counts.push_back(static_cast<double>(moments_.back()->step));
    }
    // torch keeps at most one state per parameter: more means our keys missed
    // the ones it made (another LibTorch's key format), and the moments of a
    // resumed run would silently start from zero.
    if (optimizer.state().size() > params_.size())
        throw std::logic_error("MaskedAdamStep: the optimizer's state keys are not the ones expected for this LibTorch");
    const at::Device device = params_.empty() ? at::Device(at::kCPU) : params_.front().device();
    counts_ = at::tensor(counts, at::TensorOptions().dtype(at::kDouble)).to(device);
}

MaskedAdamStep::~MaskedAdamStep() = default;

namespace {

template <class ParamState>
std::unique_ptr<MaskedAdamStep::Moments> moments_of(torch::optim::Optimizer& optimizer, const at::Tensor& p) {
    auto& states = optimizer.state();
    const auto key = state_key<std::decay_t<decltype(states)>>(p);
    auto found = states.find(key);
    if (found == states.end()) {
        auto fresh = std::make_unique<ParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        found = states.emplace(key, std::move(fresh)).first;
    }
    auto* state = dynamic_cast<ParamState*>(found->second.get());
    if (state == nullptr) throw std::logic_error("MaskedAdamStep: the optimizer's state is not Adam's");
    auto out = std::make_unique<MaskedAdamStep::Moments>();
    out->exp_avg = state->exp_avg();
    out->exp_avg_sq = state->exp_avg_sq();
    out->step = state->step();
    out->set_step = [state](int64_t step) { state->step(step); };
    return out;
}

template <class ParamState>
void check_states(torch::optim::Optimizer& optimizer, const NamedTensors& names) {
    auto& states = optimizer.state();
    const std::vector<at::Tensor>& params = optimizer.param_groups().at(0).params();
    size_t owned = 0;
    for (size_t i = 0; i < params.size(); ++i) {
        const auto found = states.find(state_key<std::decay_t<decltype(states)>>(params[i]));
        if (found == states.end()) continue;  // never stepped yet: torch makes it at the first step
        ++owned;
        const std::string name = "parameter '" + (i < names.size() ? names[i].first : std::to_string(i)) + "'";
        const auto* state = dynamic_cast<const ParamState*>(found->second.get());
        if (state == nullptr) throw std::runtime_error(name + " has no Adam state");
        for (const at::Tensor& moment : {state->exp_avg(), state->exp_avg_sq()})
            if (!moment.defined() || !moment.sizes().equals(params[i].sizes()))
                throw std::runtime_error(name + " has moments of shape " +
                                         (moment.defined() ? c10::str(moment.sizes()) : std::string("(none)")) +
                                         ", the parameter " + c10::str(params[i].sizes()));
    }
    if (owned != states.size())
        throw std::runtime_error(std::to_string(states.size() - owned) + " of " + std::to_string(states.size()) +
                                 " states belong to no parameter of this model");
}

// Adam's and AdamW's options hold the same fields under different types.
struct AdamSettings {
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad;
};

template <class Options>
AdamSettings settings_of(torch::optim::OptimizerOptions& options) {
    const auto& o = static_cast<const Options&>(options);
    return {o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(), o.weight_decay(), o.amsgrad()};
}

}  // namespace

void check_optimizer_state(torch::optim::Optimizer& optimizer, const NamedTensors& names) {
    if (optimizer.param_groups().size() != 1) throw std::runtime_error("one parameter group expected");
    if (dynamic_cast<torch::optim::AdamW*>(&optimizer) != nullptr)
        check_states<torch::optim::AdamWParamState>(optimizer, names);
    else if (dynamic_cast<torch::optim::Adam*>(&optimizer) != nullptr)
        check_states<torch::optim::AdamParamState>(optimizer, names);
    else
        throw std::logic_error("check_optimizer_state: the optimizer is neither Adam nor AdamW");
}

// Every operation below is the one torch's Adam/AdamW step makes, with its
// host-side scalars (the bias corrections of this step's count, the decay
// factor) replaced by per-parameter 0-dim tensors that equal the scalar where
// the step is taken and the identity (factor 1, addend 0) where it is not.
void MaskedAdamStep::step(const at::Tensor& finite) {
    at::NoGradGuard no_grad;
    auto& group = optimizer_.param_groups()[0];
    const AdamSettings s = decoupled_ ? settings_of<torch::optim::AdamWOptions>(group.options())
                                      : settings_of<torch::optim::AdamOptions>(group.options());
    if (s.amsgrad) throw std::logic_error("MaskedAdamStep: amsgrad is not supported");

    std::string pattern(params_.size(), '0');
    for (size_t i = 0; i < params_.size(); ++i) pattern[i] = params_[i].grad().defined() ? '1' : '0';
    at::Tensor& has_grad = has_grad_[pattern];
    if (!has_grad.defined()) {
        std::vector<int64_t> bits(params_.size());
        for (size_t i = 0; i < params_.size(); ++i) bits[i] = pattern[i] == '1';
        has_grad = at::tensor(bits, at::TensorOptions().dtype(at::kLong)).to(counts_.device()).to(at::kBool);
    }
    const at::Tensor take = has_grad.logical_and(finite);  // [P]: this parameter steps now
    const at::Tensor skip = finite.logical_not();
    counts_.add_(take.to(at::kDouble));

    const auto f64 = counts_.options();
    const at::Tensor bias1 = 1.0 - at::pow(s.beta1, counts_);
    const at::Tensor bias2 = 1.0 - at::pow(s.beta2, counts_);
    const at::Tensor one = at::ones({}, f64);
    // torch: p.addcdiv_(exp_avg, denom, -(lr / bias1)); 0 where nothing steps.
    const at::Tensor neg_step = at::where(take, at::full({}, -s.lr, f64) / bias1, at::zeros({}, f64)).to(at::kFloat);
    // torch: exp_avg_sq.sqrt() / sqrt(bias2); 1 before a parameter's first step (bias2 = 0 there).
    const at::Tensor root_bias2 = at::where(counts_.gt(0), bias2.sqrt(), one).to(at::kFloat);
    const at::Tensor decay = at::where(take, at::full({}, 1.0 - s.lr * s.weight_decay, f64), one).to(at::kFloat);
    const at::Tensor beta1 = at::where(take, at::full({}, s.beta1, f64), one).to(at::kFloat);
    const at::Tensor beta2 = at::where(take, at::full({}, s.beta2, f64), one).to(at::kFloat);

    for (size_t i = 0; i < params_.size(); ++i) {
        at::Tensor& p = params_[i];
        if (!p.grad().defined()) continue;
        Moments& m = *moments_[i];
        at::Tensor grad = p.grad();
        if (!decoupled_ && s.weight_decay != 0) grad = grad.add(p, s.weight_decay);
        grad = grad.masked_fill(skip, 0.0);  // a NaN gradient must not reach the moments through 0 * NaN
        if (decoupled_ && s.weight_decay != 0) p.mul_(decay.select(0, static_cast<int64_t>(i)));
        m.exp_avg.mul_(beta1.select(0, static_cast<int64_t>(i))).add_(grad, 1 - s.beta1);
        m.exp_avg_sq.mul_(beta2.select(0, static_cast<int64_t>(i))).addcmul_(grad, grad, 1 - s.beta2);
        const at::Tensor denom = (m.exp_avg_sq.sqrt() / root_bias2.select(0, static_cast<int64_t>(i))).add_(s.eps);
        p.addcdiv_(m.exp_avg * neg_step.select(0, static_cast<int64_t>(i)), denom);
    }
}

void MaskedAdamStep::store_step_counts() {
    const at::Tensor host = counts_.cpu();  // a checkpoint waits for the device anyway
    const double* c = host.data_ptr<double>();
    for (size_t i = 0; i < moments_.size(); ++i) moments_[i]->set_step(static_cast<int64_t>(c[i]));
}

}  // namespace distill::train
