// How a loss entry's weight changes over the epochs. Plain numbers, no
// torch: the trainer asks for the weight once per step.
#pragma once

#include <cstdint>
#include <string>

namespace distill::train {

enum class ScheduleKind { constant, linear_warmup };

class WeightSchedule {
public:
    // Full weight from the first epoch.
    static WeightSchedule constant(double weight);
    // weight * min(1, epoch / warmup_epochs), warmup_epochs = floor(total_epochs * fraction).
    static WeightSchedule linear_warmup(double weight, double warmup_fraction);
    // From the experiment's spelling ("constant" | "linear_warmup"); throws
    // std::invalid_argument naming the bad kind, weight or fraction.
    static WeightSchedule parse(const std::string& kind, double weight, double warmup_fraction);

    ScheduleKind kind() const { return kind_; }
    double base_weight() const { return weight_; }
    double warmup_fraction() const { return warmup_fraction_; }

    // 0 for constant schedules and when the fraction rounds down to no epoch.
    int64_t warmup_epochs(int64_t total_epochs) const;
    // The weight for 0-based `epoch` of a run of `total_epochs`.
    double weight_at(int64_t epoch, int64_t total_epochs) const;
    // "constant" or "linear_warmup(0.3)".
    std::string describe() const;

private:
    WeightSchedule(ScheduleKind kind, double weight, double warmup_fraction);

    ScheduleKind kind_;
    double weight_;
    double warmup_fraction_;
};

const char* schedule_name(ScheduleKind kind);

}  // namespace distill::train
