// The training loop: batch -> forward -> losses -> backward -> clip -> step
// -> rows. Rows, events and files go to a MetricsSink, what a person is told
// to a TrainingListener; the trainer knows nothing of SQL, the console, files
// of the corpus, or the command line.
#pragma once

#include "experiment/experiment.hpp"
#include "plugins/plugin_instance.hpp"
#include "train/checkpoint.hpp"
#include "train/loss_values.hpp"
#include "train/metrics_sink.hpp"
#include "train/training_listener.hpp"
#include "train/weighted_losses.hpp"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
}

namespace distill::train {

class MaskedAdamStep;

struct TrainerConfig {
    experiment::TrainSpec train;
    c10::Device device = c10::Device(c10::kCPU);
    std::filesystem::path checkpoint_dir;  // the run's own folder; created when first needed
    std::string run_uuid;                  // stored in every checkpoint, required to load one
    data::NormStats norm;                  // stored with every checkpoint
    std::string config_text;               // likewise
    // Set (to the signal number) by the CLI's SIGINT/SIGTERM handler: the
    // trainer finishes the current step, checkpoints and returns.
    const std::atomic<int>* stop_requested = nullptr;
    TrainingListener* listener = nullptr;  // null: nobody is told
};

// failed: training ran to its end without one optimizer step (every total
// was non-finite, or no loss needed gradients): nothing was learned.
enum class Outcome { completed, diverged, interrupted, failed };

struct TrainingResult {
    Outcome outcome = Outcome::completed;
    std::string reason;  // why it diverged or was interrupted
    int64_t epochs_finished = 0;
    double best_val_loss = 0.0;
    int64_t best_epoch = -1;
};

class Trainer {
public:
    // `train_items` / `val_items`: [N, 2, H, W]; moved to the device once and
    // kept there (no per-step host->device copies).
    Trainer(TrainerConfig config, host::ModelInstance& model, const WeightedLosses& losses, MetricsSink& sink,
            const at::Tensor& train_items, const at::Tensor& val_items);
    ~Trainer();

    // Continues from a checkpoint written by this run (same model, same
    // config.run_uuid); CheckpointError otherwise, with nothing restored.
    void resume_from(const std::filesystem::path& checkpoint);
    const TrainingPosition& position() const { return position_; }
    // Optimizer steps per epoch for this training split and batch size.
    int64_t steps_per_epoch() const;

    TrainingResult run();

    // One optimizer step on `batch`, with its rows: the step run() takes,
    // public so bench/train measures exactly this. Returns the total; when it
    // is not finite the step was skipped and the parameters are unchanged.
    double train_step(const at::Tensor& batch, int64_t epoch, int64_t step, int64_t steps_per_epoch, double lr);

    // train_step without its rows: forward, losses, backward, clip and
    // optimizer step of one batch, whose values wait on the device until the
    // next train_step (or run()'s next readback) records them. With
    // sync_free() it never waits for the device.
    void launch_step(const at::Tensor& batch, int64_t epoch, int64_t step, int64_t steps_per_epoch, double lr);

    // Steps whose loss values are read back in one copy (train.readback_every
    // resolved for the device: 1 on the CPU, 16 on a GPU unless set).
    int64_t readback_every() const { return readback_every_; }
    // True when the step never waits for the device: the finite check and the
    // optimizer step are done there (a GPU, or readback_every > 1).
    bool sync_free() const { return sync_free_; }

private:
    struct ValidationResult;
    struct PendingStep;
    struct StopReason {
        int64_t epoch, step;
        std::string reason;
    };

    // Reads every pending step's values back in one copy and records the
    // steps in order: rows, events, the epoch's sums. Returns why training
    // must stop when max_non_finite_steps in a row were reached (the steps
    // after that one are dropped unrecorded).
    std::optional<StopReason> drain_pending();
    std::optional<StopReason> record_step(const PendingStep& pending, const LossValues& values, double step_time);

    ValidationResult validate(int64_t epoch);
    void write_epoch_row(int64_t epoch, double train_loss, const ValidationResult& val, double lr,
                         double epoch_seconds);
    CheckpointContent content_to_save() const;  // what a checkpoint or best.pt / last.pt holds besides tensors
    void checkpoint(const std::string& why);
    void save_weights(const std::string& kind, int64_t epoch, const std::string& message);
    void prune_checkpoints(size_t keep);
    void set_learning_rate(double lr);
    bool stop_requested() const;
    void warn(const std::string& message) const;
    std::string non_finite_terms(const LossResult& result, const LossValues& values) const;

    TrainerConfig config_;
    host::ModelInstance& model_;
    const WeightedLosses& losses_;
    MetricsSink& sink_;
    at::Tensor train_items_, val_items_;
    NamedTensors parameters_, buffers_;
    std::unique_ptr<torch::optim::Optimizer> optimizer_;
    TrainingPosition position_;
    int64_t readback_every_ = 1;
    bool sync_free_ = false;
    std::vector<PendingStep> pending_;
    std::unique_ptr<MaskedAdamStep> masked_step_;  // made at the first sync-free step, after any resume
    double last_total_ = 0.0;                      // of the latest recorded step
    int64_t consecutive_non_finite_ = 0;
    std::string last_non_finite_terms_;  // of the latest skipped step
};

}  // namespace distill::train
