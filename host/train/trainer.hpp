// The training loop: batch -> forward -> losses -> backward -> clip -> step
// -> rows. Rows and events go to a MetricsSink; the trainer knows nothing of
// SQL, files of the corpus, or the command line.
#pragma once

#include "experiment/experiment.hpp"
#include "plugins/plugin_instance.hpp"
#include "train/checkpoint.hpp"
#include "train/metrics_sink.hpp"
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

namespace torch::optim {
class Optimizer;
}

namespace distill::train {

struct TrainerConfig {
    experiment::TrainSpec train;
    c10::Device device = c10::Device(c10::kCPU);
    std::filesystem::path checkpoint_dir;  // created when first needed
    data::NormStats norm;                  // stored with every checkpoint
    std::string config_text;               // likewise
    // Set (to the signal number) by the CLI's SIGINT/SIGTERM handler: the
    // trainer finishes the current step, checkpoints and returns.
    const std::atomic<int>* stop_requested = nullptr;
    // Console lines (progress, components, warnings). Empty: stdout.
    std::function<void(const std::string&)> log;
};

enum class Outcome { completed, diverged, interrupted };

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

    // Continues from a checkpoint written by this trainer (same model).
    void resume_from(const std::filesystem::path& checkpoint);
    const TrainingPosition& position() const { return position_; }

    TrainingResult run();

private:
    struct ValidationResult;

    double train_step(const at::Tensor& batch, int64_t epoch, int64_t step, int64_t steps_per_epoch, double lr);
    ValidationResult validate(int64_t epoch);
    void write_epoch_row(int64_t epoch, double train_loss, const ValidationResult& val, double lr,
                         double epoch_seconds);
    void checkpoint(const std::string& why);
    void save_best();
    void prune_checkpoints();
    void set_learning_rate(double lr);
    bool stop_requested() const;
    void log(const std::string& line) const;
    void show_progress(int64_t epoch, int64_t step, int64_t steps_per_epoch) const;

    TrainerConfig config_;
    host::ModelInstance& model_;
    const WeightedLosses& losses_;
    MetricsSink& sink_;
    at::Tensor train_items_, val_items_;
    NamedTensors parameters_, buffers_;
    std::unique_ptr<torch::optim::Optimizer> optimizer_;
    TrainingPosition position_;
    int64_t consecutive_non_finite_ = 0;
    // Console progress bar state.
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    mutable int64_t steps_this_process_ = 0;
    mutable bool progress_shown_ = false;
};

}  // namespace distill::train
