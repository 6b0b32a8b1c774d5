// A step's loss values, read back from the device in one copy, and the rows
// built from them (StepMetrics columns, loss_terms). Shared by the trainer and
// bench/train so both measure and record exactly the same work.
#pragma once

#include "store/records.hpp"
#include "train/weighted_losses.hpp"

#include <string>
#include <utility>
#include <vector>

namespace distill::train {

struct LossValues {
    double total = 0.0;
    std::vector<double> raw, weighted;                             // per entry
    std::vector<std::vector<std::pair<std::string, double>>> sub;  // per entry
};

// Every scalar of `result` in one device->host copy (the step's one sync).
LossValues read_loss_values(const LossResult& result);

// The named columns of StepMetrics / EpochMetrics come from the plugins of
// the reference set, found by plugin id (first entry wins); recon is the
// weighted magnitude + IF reconstruction. Absent plugins give 0.
struct ReferenceColumns {
    double stft = 0, mag = 0, if_ = 0, kl = 0, kl_weight = 0, recon = 0, kl_raw = 0;
};
ReferenceColumns reference_columns(const LossResult& result, const LossValues& values);

// One loss_terms row per entry, and one per sub-term ("stft.sc") whose
// weighted value is its share under the entry's weight.
std::vector<store::LossTermRow> loss_term_rows(const LossResult& result, const LossValues& values, int64_t epoch,
                                               int64_t step, const char* split);

}  // namespace distill::train
