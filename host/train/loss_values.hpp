// A step's loss values, read back from the device in one copy, and the rows
// built from them (step_metrics, loss_terms). Shared by the trainer and
// bench/train so both measure and record exactly the same work.
#pragma once

#include "store/metric_columns.hpp"
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

// The same in two halves, for reading several steps back in one copy:
// every scalar of `result` stacked as a float64 vector on its device (no
// sync), and the values from those scalars once they are on the host.
at::Tensor stack_loss_values(const LossResult& result);
LossValues unpack_loss_values(const LossResult& layout, const double* stacked);

// `result` without its tensors: names, weights and declarations, all that
// unpack_loss_values and the row builders need. Keeps no graph alive.
LossResult layout_of(const LossResult& result);

// The reference metrics (store/metric_columns.hpp) as the entries' plugins
// declare them: for each, the entries that declare it fill it by its Fill
// rule (raw / weight: the first such entry; weighted sum: all of them); a
// metric no entry declares stays nullopt. No plugin id is looked at.
store::ReferenceValues reference_values(const LossResult& result, const LossValues& values);

// The step_metrics row of one training step.
store::StepMetrics step_row(const LossResult& result, const LossValues& values, int64_t epoch, int64_t step,
                            int64_t steps_per_epoch, double learning_rate, double step_time_s);

// One loss_terms row per entry, and one per sub-term ("stft.sc") whose
// weighted value is its share under the entry's weight.
std::vector<store::LossTermRow> loss_term_rows(const LossResult& result, const LossValues& values, int64_t epoch,
                                               int64_t step, const char* split);

}  // namespace distill::train
