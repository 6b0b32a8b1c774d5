#include "train/trainer.hpp"

#include "train/divergence.hpp"
#include "train/loss_values.hpp"
#include "train/lr_schedule.hpp"

#include <ATen/ATen.h>
#include <torch/types.h>  // clip_grad.h needs torch::Tensor declared first
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <unistd.h>

namespace distill::train {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string format(const char* fmt, double a) {
    char text[64];
    std::snprintf(text, sizeof text, fmt, a);
    return text;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const experiment::TrainSpec& spec,
                                                        const NamedTensors& parameters) {
    std::vector<at::Tensor> params;
    for (const auto& [name, t] : parameters) params.push_back(t);
    const std::tuple<double, double> betas{spec.betas.at(0), spec.betas.at(1)};
    if (spec.optimizer == "adam")
        return std::make_unique<torch::optim::Adam>(
            params, torch::optim::AdamOptions(spec.lr).betas(betas).eps(spec.eps).weight_decay(spec.weight_decay));
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(spec.lr).betas(betas).eps(spec.eps).weight_decay(spec.weight_decay));
}

}  // namespace

struct Trainer::ValidationResult {
    double loss = kNaN;
    ReferenceColumns columns;
    std::vector<store::LossTermRow> terms;
};

Trainer::Trainer(TrainerConfig config, host::ModelInstance& model, const WeightedLosses& losses, MetricsSink& sink,
                 const at::Tensor& train_items, const at::Tensor& val_items)
    : config_(std::move(config)), model_(model), losses_(losses), sink_(sink),
      train_items_(train_items.to(config_.device)), val_items_(val_items.to(config_.device)),
      parameters_(model.parameters()), buffers_(model.buffers()),
      optimizer_(make_optimizer(config_.train, parameters_)) {}

Trainer::~Trainer() = default;

void Trainer::log(const std::string& line) const {
    if (config_.log) {
        config_.log(line);
        return;
    }
    if (progress_shown_) std::cout << "\r\033[K";  // the bar gives way to the line, then comes back
    std::cout << line << std::endl;
    progress_shown_ = false;
}

// One updating line on a terminal: overall progress and the time left,
// estimated from the steps run so far in this process.
void Trainer::show_progress(int64_t epoch, int64_t step, int64_t steps_per_epoch) const {
    if (config_.log || !isatty(STDOUT_FILENO)) return;
    const int64_t total = config_.train.epochs * steps_per_epoch;
    const int64_t done = epoch * steps_per_epoch + step + 1;
    ++steps_this_process_;
    const double per_step = seconds_since(started_) / static_cast<double>(steps_this_process_);
    const double eta = per_step * static_cast<double>(total - done);
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(1, total));
    char line[160];
    std::snprintf(line, sizeof line, "\r[%s%s] %3d%%  epoch %lld/%lld  eta %02d:%02d:%02d", std::string(filled, '#').c_str(),
                  std::string(kWidth - filled, ' ').c_str(), static_cast<int>(100 * done / std::max<int64_t>(1, total)),
                  static_cast<long long>(epoch + 1), static_cast<long long>(config_.train.epochs),
                  static_cast<int>(eta) / 3600, static_cast<int>(eta) / 60 % 60, static_cast<int>(eta) % 60);
    std::cout << line << std::flush;
    progress_shown_ = true;
}

bool Trainer::stop_requested() const {
    return config_.stop_requested != nullptr && config_.stop_requested->load() != 0;
}

void Trainer::set_learning_rate(double lr) {
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

void Trainer::resume_from(const fs::path& file) {
    CheckpointContent content = load_checkpoint(file, parameters_, buffers_, optimizer_.get());
    position_ = content.position;
    if (position_.permutation.defined()) position_.permutation = position_.permutation.to(config_.device);
}

// One optimizer step. Returns the total; when it is not finite the step was
// skipped and the parameters are unchanged.
double Trainer::train_step(const at::Tensor& batch, int64_t epoch, int64_t step, int64_t steps_per_epoch, double lr) {
    const auto started = Clock::now();
    optimizer_->zero_grad();
    TensorMap inputs = model_.forward({{"x", batch}});
    inputs["target"] = batch;
    const distill_step_context context{sizeof(distill_step_context), epoch, config_.train.epochs, step,
                                       steps_per_epoch, 1};
    const LossResult result = losses_.compute(inputs, context);
    const LossValues values = read_loss_values(result);
    // With every weight at 0 (e.g. a warm-up-only experiment at epoch 0) the
    // total is a constant: there is nothing to step on.
    if (std::isfinite(values.total) && result.total.requires_grad()) {
        result.total.backward();
        if (config_.train.grad_clip > 0)
            torch::nn::utils::clip_grad_norm_(optimizer_->param_groups().at(0).params(), config_.train.grad_clip);
        optimizer_->step();
    }
    const ReferenceColumns c = reference_columns(result, values);
    const double step_time = seconds_since(started);
    sink_.step({epoch, step, steps_per_epoch, values.total, c.recon, c.kl, c.kl_weight, lr, step_time, c.stft, c.mag,
                c.if_});
    sink_.loss_terms(loss_term_rows(result, values, epoch, step, "train"));

    if (epoch == 0 || step % std::max<int64_t>(1, config_.train.log_every) == 0 || step + 1 == steps_per_epoch) {
        char line[256];
        std::snprintf(line, sizeof line,
                      "epoch %lld/%lld step %lld/%lld  loss %.5g  stft %.4g  recon %.4g  kl %.4g  kl_w %.3g  %.3f s/step",
                      static_cast<long long>(epoch + 1), static_cast<long long>(config_.train.epochs),
                      static_cast<long long>(step + 1), static_cast<long long>(steps_per_epoch), values.total, c.stft,
                      c.recon, c.kl, c.kl_weight, step_time);
        log(line);
    }
    return values.total;
}

Trainer::ValidationResult Trainer::validate(int64_t epoch) {
    ValidationResult out;
    const int64_t n = val_items_.size(0);
    if (n == 0) return out;
    model_.set_training(false);
    at::NoGradGuard no_grad;
    double total = 0;
    ReferenceColumns sum;
    std::vector<store::LossTermRow> term_sums;
    const int64_t batch_size = config_.train.batch_size;
    for (int64_t start = 0; start < n; start += batch_size) {
        const at::Tensor batch = val_items_.slice(0, start, std::min(n, start + batch_size));
        const double share = static_cast<double>(batch.size(0)) / static_cast<double>(n);
        TensorMap inputs = model_.forward({{"x", batch}});
        inputs["target"] = batch;
        const distill_step_context context{sizeof(distill_step_context), epoch, config_.train.epochs, 0, 1, 0};
        const LossResult result = losses_.compute(inputs, context);
        const LossValues values = read_loss_values(result);
        const ReferenceColumns c = reference_columns(result, values);
        total += share * values.total;
        sum.stft += share * c.stft;
        sum.mag += share * c.mag;
        sum.if_ += share * c.if_;
        sum.kl += share * c.kl;
        sum.kl_raw += share * c.kl_raw;
        sum.recon += share * c.recon;
        sum.kl_weight = c.kl_weight;
        const auto rows = loss_term_rows(result, values, epoch, -1, "val");
        if (term_sums.empty()) {
            term_sums = rows;
            for (auto& r : term_sums) r.raw *= share, r.weighted *= share;
        } else {
            for (size_t i = 0; i < rows.size(); ++i) {
                term_sums[i].raw += share * rows[i].raw;
                term_sums[i].weighted += share * rows[i].weighted;
            }
        }
    }
    model_.set_training(true);
    out.loss = total;
    out.columns = sum;
    out.terms = term_sums;
    return out;
}

void Trainer::write_epoch_row(int64_t epoch, double train_loss, const ValidationResult& val, double lr,
                              double epoch_seconds) {
    const int64_t epochs = config_.train.epochs;
    const double gap = (std::isfinite(train_loss) && train_loss > 0) ? (val.loss - train_loss) / train_loss : 0.0;
    const double eta = epoch_seconds * static_cast<double>(epochs - epoch - 1);
    const ReferenceColumns& c = val.columns;
    sink_.epoch({epoch, epochs, train_loss, val.loss, c.recon, c.kl, c.kl_raw, gap, lr, eta, position_.elapsed_seconds,
                 c.stft, c.mag, c.if_});
    sink_.loss_terms(val.terms);
    char line[256];
    std::snprintf(line, sizeof line, "epoch %lld/%lld done: train %.5g  val %.5g%s  lr %.3g  elapsed %.0f s  eta %.0f s",
                  static_cast<long long>(epoch + 1), static_cast<long long>(epochs), train_loss, val.loss,
                  position_.best_epoch == epoch ? " (best)" : "", lr, position_.elapsed_seconds, eta);
    log(line);
}

void Trainer::checkpoint(const std::string& why) {
    const fs::path file = config_.checkpoint_dir / checkpoint_name(position_.epoch, position_.next_step);
    save_checkpoint(file, parameters_, buffers_, optimizer_.get(), {position_, config_.norm, config_.config_text});
    sink_.event({position_.epoch, position_.next_step, "checkpoint", why + ": " + file.string(),
                 "{\"path\": \"" + file.string() + "\", \"epoch\": " + std::to_string(position_.epoch) +
                     ", \"next_step\": " + std::to_string(position_.next_step) + "}"});
    prune_checkpoints();
}

void Trainer::save_best() {
    const fs::path file = config_.checkpoint_dir / "best.pt";
    save_checkpoint(file, parameters_, buffers_, nullptr, {position_, config_.norm, config_.config_text});
    sink_.event({position_.best_epoch, -1, "checkpoint",
                 "best val_loss " + format("%.6g", position_.best_val_loss) + ": " + file.string(),
                 "{\"path\": \"" + file.string() + "\", \"best\": true}"});
}

void Trainer::prune_checkpoints() {
    auto files = list_checkpoints(config_.checkpoint_dir);
    const auto keep = static_cast<size_t>(std::max<int64_t>(1, config_.train.keep_checkpoints));
    for (size_t i = 0; i + keep < files.size(); ++i) fs::remove(files[i]);
}

TrainingResult Trainer::run() {
    const experiment::TrainSpec& spec = config_.train;
    const int64_t n = train_items_.size(0);
    // A last batch of one item would break BatchNorm in training mode.
    const int64_t steps_per_epoch = std::max<int64_t>(1, n / spec.batch_size + (n % spec.batch_size > 1 ? 1 : 0));
    TrainingResult result;
    model_.set_training(true);

    for (int64_t epoch = position_.epoch; epoch < spec.epochs; ++epoch) {
        const auto epoch_started = Clock::now();
        const double elapsed_before = position_.elapsed_seconds;
        const double lr = learning_rate_at(spec.scheduler, spec.lr, spec.eta_min, epoch, spec.epochs);
        set_learning_rate(lr);
        if (position_.next_step == 0) {
            position_.permutation = at::randperm(n, at::TensorOptions().dtype(at::kLong)).to(config_.device);
            position_.epoch_loss_sum = 0;
            position_.epoch_finite_steps = 0;
        }
        for (int64_t step = position_.next_step; step < steps_per_epoch; ++step) {
            const int64_t start = step * spec.batch_size;
            const int64_t end = step + 1 == steps_per_epoch ? n : std::min(n, start + spec.batch_size);
            const at::Tensor batch = train_items_.index_select(0, position_.permutation.slice(0, start, end));
            const double total = train_step(batch, epoch, step, steps_per_epoch, lr);
            if (std::isfinite(total)) {
                consecutive_non_finite_ = 0;
                position_.epoch_loss_sum += total;
                position_.epoch_finite_steps += 1;
            } else {
                ++consecutive_non_finite_;
                sink_.event({epoch, step, "non_finite", "non-finite total loss: optimizer step skipped", ""});
                log("warning: non-finite total loss at epoch " + std::to_string(epoch + 1) + " step " +
                    std::to_string(step + 1) + ": step skipped");
                if (consecutive_non_finite_ >= spec.max_non_finite_steps) {
                    result.outcome = Outcome::diverged;
                    result.reason = std::to_string(consecutive_non_finite_) + " non-finite steps in a row";
                    sink_.event({epoch, step, "divergence", result.reason, ""});
                    sink_.flush();
                    return result;
                }
            }
            position_.next_step = step + 1;
            position_.elapsed_seconds = elapsed_before + seconds_since(epoch_started);
            show_progress(epoch, step, steps_per_epoch);
            if (stop_requested() && position_.next_step < steps_per_epoch) {
                result.outcome = Outcome::interrupted;
                result.reason = "stopped by signal " + std::to_string(config_.stop_requested->load());
                checkpoint("interrupted");
                sink_.flush();
                result.epochs_finished = epoch;
                return result;
            }
        }
        // The mean over the epoch's finite steps; the sums live in the
        // position so a resumed epoch gives the same mean.
        const double train_loss = position_.epoch_finite_steps > 0
                                      ? position_.epoch_loss_sum / static_cast<double>(position_.epoch_finite_steps)
                                      : kNaN;
        const ValidationResult val = validate(epoch);
        position_.elapsed_seconds = elapsed_before + seconds_since(epoch_started);
        const bool improved = std::isfinite(val.loss) && (position_.best_epoch < 0 || val.loss < position_.best_val_loss);
        if (improved) {
            position_.best_val_loss = val.loss;
            position_.best_epoch = epoch;
        }
        write_epoch_row(epoch, train_loss, val, lr, seconds_since(epoch_started));
        position_.train_loss_history.push_back(train_loss);
        position_.epoch = epoch + 1;
        position_.next_step = 0;
        position_.permutation = at::Tensor();
        result.epochs_finished = epoch + 1;
        if (improved) save_best();

        if (const auto message = divergence_message(position_.train_loss_history, spec.divergence_window)) {
            sink_.event({epoch, -1, "divergence", *message, ""});
            log("warning: " + *message);
            if (spec.stop_on_divergence) {
                result.outcome = Outcome::diverged;
                result.reason = *message;
                sink_.flush();
                break;
            }
        }
        const bool last = epoch + 1 == spec.epochs;
        if (last || (spec.checkpoint_every > 0 && (epoch + 1) % spec.checkpoint_every == 0) || stop_requested())
            checkpoint(last ? "final" : stop_requested() ? "interrupted" : "periodic");
        sink_.flush();
        if (stop_requested() && !last) {
            result.outcome = Outcome::interrupted;
            result.reason = "stopped by signal " + std::to_string(config_.stop_requested->load());
            break;
        }
    }
    result.best_val_loss = position_.best_val_loss;
    result.best_epoch = position_.best_epoch;
    return result;
}

}  // namespace distill::train
