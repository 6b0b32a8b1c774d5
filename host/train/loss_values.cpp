#include "train/loss_values.hpp"

#include <ATen/ATen.h>

namespace distill::train {

at::Tensor stack_loss_values(const LossResult& result) {
    std::vector<at::Tensor> scalars{result.total.detach().reshape({})};
    for (const auto& term : result.terms) {
        scalars.push_back(term.raw.detach().reshape({}));
        scalars.push_back(term.weighted.detach().reshape({}));
        for (const auto& [name, t] : term.sub_terms) scalars.push_back(t.detach().reshape({}));
    }
    return at::stack(scalars).to(at::kDouble);
}

LossValues unpack_loss_values(const LossResult& layout, const double* v) {
    LossValues out;
    out.total = *v++;
    for (const auto& term : layout.terms) {
        out.raw.push_back(*v++);
        out.weighted.push_back(*v++);
        auto& subs = out.sub.emplace_back();
        for (const auto& [name, t] : term.sub_terms) subs.emplace_back(name, *v++);
    }
    return out;
}

LossValues read_loss_values(const LossResult& result) {
    const at::Tensor host = stack_loss_values(result).cpu();  // the step's one synchronisation
    return unpack_loss_values(result, host.data_ptr<double>());
}

LossResult layout_of(const LossResult& result) {
    LossResult out = result;
    out.total = at::Tensor();
    for (auto& term : out.terms) {
        term.raw = at::Tensor();
        term.weighted = at::Tensor();
        for (auto& [name, t] : term.sub_terms) t = at::Tensor();
    }
    return out;
}

namespace {

// The value an entry's declaration names: its "loss" or a sub-term (present:
// check_loss_result made sure of it when the step was computed).
std::optional<double> source_value(const LossValues& values, size_t entry, const std::string& source) {
    if (source == "loss") return values.raw[entry];
    for (const auto& [name, v] : values.sub[entry])
        if (name == source) return v;
    return std::nullopt;
}

}  // namespace

store::ReferenceValues reference_values(const LossResult& result, const LossValues& values) {
    store::ReferenceValues out;
    for (size_t i = 0; i < result.terms.size(); ++i) {
        const LossTerm& term = result.terms[i];
        if (term.metrics == nullptr) continue;
        for (const host::MetricSource& m : *term.metrics) {
            std::optional<double>& slot = out[m.metric];
            switch (store::kReferenceMetrics[m.metric].fill) {
                case store::Fill::kRaw:
                    if (!slot) slot = source_value(values, i, m.source);
                    break;
                case store::Fill::kWeight:
                    if (!slot) slot = term.weight;
                    break;
                case store::Fill::kWeightedSum: {
                    const std::optional<double> v = source_value(values, i, m.source);
                    if (!v) break;
                    // The loss's weighted value as the total adds it; a
                    // sub-term's share as loss_terms has it (0 under weight 0).
                    const double weighted = m.source == "loss" ? values.weighted[i]
                                            : term.weight == 0.0 ? 0.0
                                                                 : *v * term.weight;
                    slot = slot.value_or(0.0) + weighted;
                    break;
                }
            }
        }
    }
    return out;
}

store::StepMetrics step_row(const LossResult& result, const LossValues& values, int64_t epoch, int64_t step,
                            int64_t steps_per_epoch, double learning_rate, double step_time_s) {
    store::StepMetrics row;
    row.epoch = epoch;
    row.step = step;
    row.steps_per_epoch = steps_per_epoch;
    row.train_loss = values.total;
    row.learning_rate = learning_rate;
    row.step_time_s = step_time_s;
    store::set_references(row, reference_values(result, values));
    return row;
}

std::vector<store::LossTermRow> loss_term_rows(const LossResult& result, const LossValues& values, int64_t epoch,
                                               int64_t step, const char* split) {
    std::vector<store::LossTermRow> rows;
    for (size_t i = 0; i < result.terms.size(); ++i) {
        const auto& term = result.terms[i];
        rows.push_back({epoch, step, split, term.name, values.raw[i], values.weighted[i]});
        // Sub-terms are parts of the raw loss; their weighted share uses the
        // entry's weight.
        for (const auto& [name, v] : values.sub[i])
            rows.push_back({epoch, step, split, term.name + "." + name, v, term.weight == 0.0 ? 0.0 : v * term.weight});
    }
    return rows;
}

}  // namespace distill::train
