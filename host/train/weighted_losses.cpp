#include "train/weighted_losses.hpp"

#include "common/text.hpp"

#include <ATen/ATen.h>

#include <sstream>
#include <stdexcept>
#include <utility>
#include <variant>

namespace distill::train {

namespace {

// " {fft_sizes = [512, 1024], ..., channel = 0}": every resolved parameter
// of the entry, as the experiment file would spell it ("" when it has none).
std::string params_of(const host::ParamValues& params) {
    std::string s;
    for (const auto& [name, value] : params) s += (s.empty() ? " {" : ", ") + name + " = " + host::format_value(value);
    return s.empty() ? s : s + "}";
}

}  // namespace

const LossTerm* LossResult::find(const std::string& name) const {
    for (const LossTerm& term : terms)
        if (term.name == name) return &term;
    return nullptr;
}

void WeightedLosses::add(std::string name, std::unique_ptr<host::LossInstance> instance, WeightSchedule schedule) {
    if (instance == nullptr) throw std::invalid_argument("loss entry '" + name + "' has no plugin instance");
    if (name.empty()) name = instance->id();
    for (const LossEntry& e : entries_)
        if (e.name == name)
            throw std::invalid_argument("duplicate loss name '" + name + "'; give each [[loss]] entry a unique name");
    entries_.push_back({std::move(name), std::move(instance), schedule});
}

void WeightedLosses::add(const experiment::LossSpec& spec, const host::PluginRegistry& registry,
                         const std::string& device) {
    const host::LoadedPlugin& plugin = registry.require(spec.plugin, DISTILL_KIND_LOSS);
    const std::string name = spec.name.empty() ? spec.plugin : spec.name;
    WeightSchedule schedule = [&] {
        try {
            return WeightSchedule::parse(spec.schedule, spec.weight, spec.warmup_fraction);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("loss '" + name + "': " + e.what());
        }
    }();
    add(name, std::make_unique<host::LossInstance>(plugin, spec.params, device), schedule);
}

LossResult WeightedLosses::compute(const TensorMap& inputs, const distill_step_context& context) const {
    if (entries_.empty()) throw std::logic_error("no loss entries configured");
    LossResult result;
    result.terms.reserve(entries_.size());
    for (const LossEntry& entry : entries_) {
        TensorMap out = entry.instance->compute(inputs, context);
        LossTerm term;
        term.name = entry.name;
        term.plugin = entry.instance->id();
        term.weight = entry.schedule.weight_at(context.epoch, context.total_epochs);
        // A training step steps on every term with a weight: each must be
        // attached to the graph (validation runs without gradients).
        const bool needs_gradient = context.training != 0 && term.weight != 0.0 && at::GradMode::is_enabled();
        host::check_loss_result(*entry.instance, entry.name, inputs, out, needs_gradient);
        term.metrics = &entry.instance->metrics();
        term.raw = out.at("loss").reshape({});
        out.erase("loss");
        term.sub_terms = std::move(out);
        // A switched-off term must not turn the total into NaN through 0 * inf.
        term.weighted = term.weight == 0.0 ? at::zeros({}, term.raw.options()) : term.raw * term.weight;
        if (term.weight != 0.0) result.total = result.total.defined() ? result.total + term.weighted : term.weighted;
        result.terms.push_back(std::move(term));
    }
    if (!result.total.defined()) result.total = at::zeros({}, result.terms.front().raw.options());
    return result;
}

std::string WeightedLosses::summary() const {
    std::ostringstream s;
    s << "losses:";
    for (size_t i = 0; i < entries_.size(); ++i) {
        const LossEntry& e = entries_[i];
        s << (i ? "; " : " ") << e.name << " (" << e.instance->id() << ") weight " << text::toml_float(e.schedule.base_weight()) << ' '
          << e.schedule.describe();
        s << params_of(e.instance->params());
    }
    return s.str();
}

}  // namespace distill::train
