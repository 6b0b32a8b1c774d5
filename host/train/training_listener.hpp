// What a person watching a run is told: the trainer reports each step and
// epoch here and prints nothing itself (the CLI turns these into the console
// lines and the progress bar; tests and benchmarks pass none).
#pragma once

#include "train/loss_values.hpp"

#include <cstdint>
#include <string>

namespace distill::train {

struct StepReport {
    int64_t epoch = 0, epochs = 0, step = 0, steps_per_epoch = 0;
    double total = 0.0;
    store::StepMetrics row;  // what the step wrote (reference columns nullopt where no entry declares them)
    double step_time_s = 0.0;
    bool updated = false;  // the optimizer stepped (false for a skipped, non-finite step)
    bool notable = false;  // train.log_every asks for a line here (every step of epoch 1, each epoch's last)
};

struct EpochReport {
    int64_t epoch = 0, epochs = 0;
    double train_loss = 0.0, val_loss = 0.0, learning_rate = 0.0, elapsed_s = 0.0, eta_s = 0.0;
    bool best = false;
};

class TrainingListener {
public:
    virtual ~TrainingListener() = default;
    virtual void step_done(const StepReport& report) { (void)report; }
    virtual void epoch_done(const EpochReport& report) { (void)report; }
    virtual void warning(const std::string& message) { (void)message; }
};

}  // namespace distill::train
