#include "train/loss_values.hpp"

#include <ATen/ATen.h>

namespace distill::train {

LossValues read_loss_values(const LossResult& result) {
    std::vector<at::Tensor> scalars{result.total.detach().reshape({})};
    for (const auto& term : result.terms) {
        scalars.push_back(term.raw.detach().reshape({}));
        scalars.push_back(term.weighted.detach().reshape({}));
        for (const auto& [name, t] : term.sub_terms) scalars.push_back(t.detach().reshape({}));
    }
    const at::Tensor host = at::stack(scalars).to(at::kDouble).cpu();  // the step's one synchronisation
    const double* v = host.data_ptr<double>();
    LossValues out;
    out.total = *v++;
    for (const auto& term : result.terms) {
        out.raw.push_back(*v++);
        out.weighted.push_back(*v++);
        auto& subs = out.sub.emplace_back();
        for (const auto& [name, t] : term.sub_terms) subs.emplace_back(name, *v++);
    }
    return out;
}

ReferenceColumns reference_columns(const LossResult& result, const LossValues& values) {
    ReferenceColumns c;
    bool seen_stft = false, seen_mag = false, seen_if = false, seen_kl = false;
    for (size_t i = 0; i < result.terms.size(); ++i) {
        const std::string& plugin = result.terms[i].plugin;
        if (plugin == "stft" && !seen_stft) {
            seen_stft = true;
            c.stft = values.raw[i];
        } else if (plugin == "mag_l1" && !seen_mag) {
            seen_mag = true;
            c.mag = values.raw[i];
            c.recon += values.weighted[i];
        } else if (plugin == "if_l1" && !seen_if) {
            seen_if = true;
            c.if_ = values.raw[i];
            c.recon += values.weighted[i];
        } else if (plugin == "kl" && !seen_kl) {
            seen_kl = true;
            c.kl = values.raw[i];
            c.kl_weight = result.terms[i].weight;
            for (const auto& [name, v] : values.sub[i])
                if (name == "kl_raw") c.kl_raw = v;
        }
    }
    return c;
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
