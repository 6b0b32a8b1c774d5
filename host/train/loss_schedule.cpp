#include "train/loss_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace distill::train {

namespace {
std::string number(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}
}  // namespace

const char* schedule_name(ScheduleKind kind) {
    return kind == ScheduleKind::linear_warmup ? "linear_warmup" : "constant";
}

WeightSchedule::WeightSchedule(ScheduleKind kind, double weight, double warmup_fraction)
    : kind_(kind), weight_(weight), warmup_fraction_(warmup_fraction) {
    if (!std::isfinite(weight) || weight < 0.0)
        throw std::invalid_argument("loss weight must be a finite number >= 0, got " + number(weight));
    if (!(warmup_fraction >= 0.0 && warmup_fraction <= 1.0))
        throw std::invalid_argument("warmup_fraction must be in [0, 1], got " + number(warmup_fraction));
}

WeightSchedule WeightSchedule::constant(double weight) { return {ScheduleKind::constant, weight, 0.0}; }

WeightSchedule WeightSchedule::linear_warmup(double weight, double warmup_fraction) {
    return {ScheduleKind::linear_warmup, weight, warmup_fraction};
}

WeightSchedule WeightSchedule::parse(const std::string& kind, double weight, double warmup_fraction) {
    if (kind == "constant") return constant(weight);
    if (kind == "linear_warmup") return linear_warmup(weight, warmup_fraction);
    throw std::invalid_argument("unknown weight schedule '" + kind + "' (expected constant or linear_warmup)");
}

int64_t WeightSchedule::warmup_epochs(int64_t total_epochs) const {
    if (kind_ == ScheduleKind::constant || total_epochs <= 0) return 0;
    // floor, as the original computed int(epochs * fraction).
    return static_cast<int64_t>(std::floor(static_cast<double>(total_epochs) * warmup_fraction_));
}

double WeightSchedule::weight_at(int64_t epoch, int64_t total_epochs) const {
    if (epoch < 0) throw std::invalid_argument("weight schedule: epoch must be >= 0, got " + std::to_string(epoch));
    const int64_t warmup = warmup_epochs(total_epochs);
    if (warmup == 0) return weight_;
    return weight_ * std::min(1.0, static_cast<double>(epoch) / static_cast<double>(warmup));
}

std::string WeightSchedule::describe() const {
    if (kind_ == ScheduleKind::constant) return "constant";
    return std::string(schedule_name(kind_)) + "(" + number(warmup_fraction_) + ")";
}

}  // namespace distill::train
