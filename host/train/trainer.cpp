#include "train/trainer.hpp"

#include "train/divergence.hpp"
#include "train/loss_values.hpp"
#include "train/lr_schedule.hpp"
#include "train/optimizer_step.hpp"

#include "common/text.hpp"

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

namespace distill::train {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kGpuReadbackEvery = 16;  // steps read back in one copy on a GPU (train.readback_every = 0)

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string format(const char* fmt, double a) {
    char text[64];
    std::snprintf(text, sizeof text, fmt, a);
    return text;
}

}  // namespace

// A step launched but not yet recorded: its values stay on the device
// (`stacked`) until drain_pending(), or were read already (`values`, the CPU
// path that checks the total before stepping).
struct Trainer::PendingStep {
    LossResult layout;  // names, weights and declarations; no tensors
    at::Tensor stacked;
    std::optional<LossValues> values;
    int64_t epoch, step, steps_per_epoch;
    double lr;
    bool attempted;  // an optimizer step was asked for (the total needs gradients)
    Clock::time_point started;
    double host_seconds;  // launch to optimizer step, as the host saw it
};

struct Trainer::ValidationResult {
    double loss = kNaN;
    store::ReferenceValues references;  // share-weighted means over the batches
    std::vector<store::LossTermRow> terms;
};

Trainer::Trainer(TrainerConfig config, host::ModelInstance& model, const WeightedLosses& losses, MetricsSink& sink,
                 const at::Tensor& train_items, const at::Tensor& val_items)
    : config_(std::move(config)), model_(model), losses_(losses), sink_(sink),
      train_items_(train_items.to(config_.device)), val_items_(val_items.to(config_.device)),
      parameters_(model.parameters()), buffers_(model.buffers()),
      optimizer_(make_optimizer(config_.train, parameters_)) {
    const int64_t every = config_.train.readback_every;
    readback_every_ = every > 0 ? every : config_.device.is_cpu() ? 1 : kGpuReadbackEvery;
    // On the CPU a readback costs nothing: keep torch's own step (as fast,
    // docs/performance.md) and skip the backward of a non-finite step.
    sync_free_ = !config_.device.is_cpu() || readback_every_ > 1;
}

Trainer::~Trainer() = default;

void Trainer::warn(const std::string& message) const {
    if (config_.listener != nullptr) config_.listener->warning(message);
}

bool Trainer::stop_requested() const {
    return config_.stop_requested != nullptr && config_.stop_requested->load() != 0;
}

void Trainer::set_learning_rate(double lr) {
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

void Trainer::resume_from(const fs::path& file) {
    CheckpointContent content = load_checkpoint(file, parameters_, buffers_, optimizer_.get(), config_.run_uuid);
    for (const std::string& note : content.notes) warn(note);
    position_ = content.position;
    masked_step_.reset();  // its step counts come from the optimizer state just loaded
    if (position_.permutation.defined()) position_.permutation = position_.permutation.to(config_.device);
}

double Trainer::train_step(const at::Tensor& batch, int64_t epoch, int64_t step, int64_t steps_per_epoch, double lr) {
    launch_step(batch, epoch, step, steps_per_epoch, lr);
    drain_pending();
    return last_total_;
}

void Trainer::launch_step(const at::Tensor& batch, int64_t epoch, int64_t step, int64_t steps_per_epoch, double lr) {
    const auto started = Clock::now();
    const std::vector<at::Tensor>& params = optimizer_->param_groups()[0].params();
    reset_gradients(params);
    TensorMap inputs = model_.forward({{"x", batch}});
    inputs["target"] = batch;
    const distill_step_context context{sizeof(distill_step_context), epoch, config_.train.epochs, step,
                                       steps_per_epoch, 1};
    const LossResult result = losses_.compute(inputs, context);
    // With every weight at 0 (e.g. a warm-up-only experiment at epoch 0) the
    // total is a constant: there is nothing to step on.
    const bool attempted = result.total.requires_grad();
    PendingStep pending{layout_of(result), {}, std::nullopt, epoch, step, steps_per_epoch, lr, attempted, started, 0.0};
    const auto backward_and_clip = [&] {
        result.total.backward();
        if (config_.train.grad_clip > 0) clip_gradient_norm(params, config_.train.grad_clip);
    };
    if (!sync_free_) {
        pending.values = read_loss_values(result);
        if (attempted && std::isfinite(pending.values->total)) {
            backward_and_clip();
            optimizer_->step();
        }
    } else {
        pending.stacked = stack_loss_values(result);
        if (attempted) {
            // A non-finite total still runs backward (its gradients are NaN or
            // inf); the masked step then changes nothing.
            const at::Tensor finite = at::isfinite(result.total.detach());
            backward_and_clip();
            if (!masked_step_) masked_step_ = std::make_unique<MaskedAdamStep>(*optimizer_);
            masked_step_->step(finite);
        }
    }
    pending.host_seconds = seconds_since(started);
    pending_.push_back(std::move(pending));
}

std::optional<Trainer::StopReason> Trainer::drain_pending() {
    if (pending_.empty()) return std::nullopt;
    std::vector<at::Tensor> on_device;
    for (const auto& p : pending_)
        if (!p.values) on_device.push_back(p.stacked);
    at::Tensor host;
    if (!on_device.empty()) host = at::cat(on_device).cpu();  // every pending step in one copy
    // On a GPU the host runs ahead of the device: a step's own launch time
    // says nothing, so each row gets the mean of the steps read back together.
    const double mean_seconds = seconds_since(pending_.front().started) / static_cast<double>(pending_.size());
    const double* next = host.defined() ? host.data_ptr<double>() : nullptr;
    std::optional<StopReason> stop;
    for (const auto& p : pending_) {
        LossValues unpacked;
        if (!p.values) {
            unpacked = unpack_loss_values(p.layout, next);
            next += p.stacked.numel();
        }
        const double step_time = config_.device.is_cpu() ? p.host_seconds : mean_seconds;
        stop = record_step(p, p.values ? *p.values : unpacked, step_time);
        if (stop) break;
    }
    pending_.clear();
    return stop;
}

std::optional<Trainer::StopReason> Trainer::record_step(const PendingStep& p, const LossValues& values,
                                                        double step_time) {
    const bool finite = std::isfinite(values.total);
    const bool update = finite && p.attempted;
    if (update) position_.optimizer_steps += 1;
    last_total_ = values.total;
    if (!finite) last_non_finite_terms_ = non_finite_terms(p.layout, values);
    const store::StepMetrics row = step_row(p.layout, values, p.epoch, p.step, p.steps_per_epoch, p.lr, step_time);
    sink_.step(row);
    sink_.loss_terms(loss_term_rows(p.layout, values, p.epoch, p.step, "train"));
    if (config_.listener != nullptr) {
        const bool notable = p.epoch == 0 || p.step % std::max<int64_t>(1, config_.train.log_every) == 0 ||
                             p.step + 1 == p.steps_per_epoch;
        config_.listener->step_done({p.epoch, config_.train.epochs, p.step, p.steps_per_epoch, values.total, row,
                                     step_time, update, notable});
    }
    if (finite) {
        consecutive_non_finite_ = 0;
        position_.epoch_loss_sum += values.total;
        position_.epoch_finite_steps += 1;
        return std::nullopt;
    }
    ++consecutive_non_finite_;
    sink_.event({p.epoch, p.step, "non_finite",
                 "non-finite total loss (" + last_non_finite_terms_ + "): optimizer step skipped",
                 nlohmann::json{{"terms", last_non_finite_terms_}}.dump()});
    warn("non-finite total loss at epoch " + std::to_string(p.epoch + 1) + " step " + std::to_string(p.step + 1) +
         " (" + last_non_finite_terms_ + "): step skipped");
    if (consecutive_non_finite_ < config_.train.max_non_finite_steps) return std::nullopt;
    return StopReason{p.epoch, p.step, std::to_string(consecutive_non_finite_) + " non-finite steps in a row"};
}

// The entries whose weighted value is not finite ("stft = nan, kl = inf"), or why the
// sum is not finite when each of them is.
std::string Trainer::non_finite_terms(const LossResult& result, const LossValues& values) const {
    std::string names;
    for (size_t i = 0; i < result.terms.size() && i < values.weighted.size(); ++i) {
        if (std::isfinite(values.weighted[i])) continue;
        names += (names.empty() ? "" : ", ") + result.terms[i].name + " = " + text::number(values.weighted[i], 6);
    }
    return names.empty() ? "every term finite, their weighted sum overflowed" : names;
}

Trainer::ValidationResult Trainer::validate(int64_t epoch) {
    ValidationResult out;
    const int64_t n = val_items_.size(0);
    if (n == 0) return out;
    model_.set_training(false);
    at::NoGradGuard no_grad;
    double total = 0;
    store::ReferenceValues sum;
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
        const store::ReferenceValues c = reference_values(result, values);
        total += share * values.total;
        for (size_t k = 0; k < c.size(); ++k) {
            if (!c[k]) continue;
            // A weight is the same in every batch of the epoch: kept, not averaged.
            if (store::kReferenceMetrics[k].fill == store::Fill::kWeight) sum[k] = c[k];
            else sum[k] = sum[k].value_or(0.0) + share * *c[k];
        }
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
    out.references = sum;
    out.terms = term_sums;
    return out;
}

void Trainer::write_epoch_row(int64_t epoch, double train_loss, const ValidationResult& val, double lr,
                              double epoch_seconds) {
    const int64_t epochs = config_.train.epochs;
    const double gap = (std::isfinite(train_loss) && train_loss > 0) ? (val.loss - train_loss) / train_loss : 0.0;
    const double eta = epoch_seconds * static_cast<double>(epochs - epoch - 1);
    store::EpochMetrics row;
    row.epoch = epoch;
    row.total_epochs = epochs;
    row.train_loss = train_loss;
    row.val_loss = val.loss;
    row.overfitting_gap = gap;
    row.learning_rate = lr;
    row.eta_seconds = eta;
    row.elapsed_seconds = position_.elapsed_seconds;
    store::set_references(row, val.references);
    sink_.epoch(row);
    sink_.loss_terms(val.terms);
    if (config_.listener != nullptr)
        config_.listener->epoch_done({epoch, epochs, train_loss, val.loss, lr, position_.elapsed_seconds, eta,
                                      position_.best_epoch == epoch});
}

CheckpointContent Trainer::content_to_save() const {
    CheckpointContent content;
    content.run_uuid = config_.run_uuid;
    content.position = position_;
    content.norm = config_.norm;
    content.config_text = config_.config_text;
    return content;
}

// The rows up to this position are committed before the file exists, and the
// file is recorded only once it is complete: a recorded checkpoint never runs
// ahead of the database.
void Trainer::checkpoint(const std::string& why) {
    if (!pending_.empty()) throw std::logic_error("checkpoint with steps not yet recorded");
    if (masked_step_) masked_step_->store_step_counts();
    sink_.flush();
    const fs::path file = config_.checkpoint_dir / checkpoint_name(position_.epoch, position_.next_step);
    save_checkpoint(file, parameters_, buffers_, optimizer_.get(), content_to_save());
    sink_.file_written("checkpoint", file);
    sink_.event({position_.epoch, position_.next_step, "checkpoint", why + ": " + file.string(),
                 nlohmann::json{{"path", file.string()}, {"epoch", position_.epoch}, {"next_step", position_.next_step}}
                     .dump()});
    prune_checkpoints(static_cast<size_t>(std::max<int64_t>(1, config_.train.keep_checkpoints)));
}

// best.pt / last.pt: weights, buffers and normalisation, no optimizer state
// (a third of a step checkpoint), for generation rather than resuming.
void Trainer::save_weights(const std::string& kind, int64_t epoch, const std::string& message) {
    const fs::path file = config_.checkpoint_dir / (kind + ".pt");
    save_checkpoint(file, parameters_, buffers_, nullptr, content_to_save());
    sink_.file_written(kind, file);
    sink_.event({epoch, -1, "checkpoint", message + ": " + file.string(),
                 nlohmann::json{{"path", file.string()}, {kind, true}}.dump()});
}

// Only this run's files are in its folder (it is named by the run's uuid).
void Trainer::prune_checkpoints(size_t keep) {
    auto files = list_checkpoints(config_.checkpoint_dir);
    for (size_t i = 0; i + keep < files.size(); ++i) {
        fs::remove(files[i]);
        sink_.file_removed(files[i]);
    }
}

int64_t Trainer::steps_per_epoch() const {
    const int64_t n = train_items_.size(0);
    const int64_t batch = config_.train.batch_size;
    // A last batch of one item would break BatchNorm in training mode.
    return std::max<int64_t>(1, n / batch + (n % batch > 1 ? 1 : 0));
}

TrainingResult Trainer::run() {
    const experiment::TrainSpec& spec = config_.train;
    const int64_t n = train_items_.size(0);
    const int64_t steps_per_epoch = this->steps_per_epoch();
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
            launch_step(batch, epoch, step, steps_per_epoch, lr);
            position_.next_step = step + 1;
            position_.elapsed_seconds = elapsed_before + seconds_since(epoch_started);
            const bool stopping = stop_requested() && position_.next_step < steps_per_epoch;
            if (static_cast<int64_t>(pending_.size()) >= readback_every_ || step + 1 == steps_per_epoch || stopping) {
                if (const auto stop = drain_pending()) {
                    result.outcome = Outcome::diverged;
                    result.reason = stop->reason;
                    sink_.event({stop->epoch, stop->step, "divergence", result.reason, ""});
                    sink_.flush();
                    return result;
                }
            }
            if (stopping) {
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
        if (improved) save_weights("best", epoch, "best val_loss " + format("%.6g", position_.best_val_loss));

        if (const auto message = divergence_message(position_.train_loss_history, spec.divergence_window)) {
            sink_.event({epoch, -1, "divergence", *message, ""});
            warn(*message);
            if (spec.stop_on_divergence) {
                result.outcome = Outcome::diverged;
                result.reason = *message;
                sink_.flush();
                break;
            }
        }
        const bool last = epoch + 1 == spec.epochs;
        // The end of training needs no step checkpoint unless kept: last.pt
        // (written once the outcome is known) holds the weights.
        const bool periodic = spec.checkpoint_every > 0 && (epoch + 1) % spec.checkpoint_every == 0;
        if (last ? spec.keep_step_checkpoints : (periodic || stop_requested()))
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
    if (result.outcome == Outcome::completed && position_.optimizer_steps == 0) {
        result.outcome = Outcome::failed;
        result.reason = last_non_finite_terms_.empty()
                            ? "no optimizer step was taken: no loss term needed gradients (every weight 0?)"
                            : "no optimizer step succeeded: the total loss was never finite (" + last_non_finite_terms_ + ")";
    }
    if (result.outcome == Outcome::completed) {
        save_weights("last", position_.epoch - 1, "final weights");
        if (!spec.keep_step_checkpoints) prune_checkpoints(0);
    }
    sink_.flush();
    return result;
}

}  // namespace distill::train
