// train_throughput: samples/s of the reference-v2 training step and where a
// step's time goes, on CPU or CUDA. Modes:
//   full     data gather + the trainer's own step (train::Trainer::train_step:
//            forward, the experiment's losses, readback, backward, clip + AdamW,
//            rows handed to a no-op sink): the real code, timed as a whole
//   phases   the same work written out here phase by phase, for the split of
//            a step's time (data, forward, losses, metrics, backward, optimizer)
//   bare     forward + backward of recon.mean() + AdamW: the model alone
//   compare  bare then full, and the ratio full / bare
//   pair     two of bare|phases|phases-zeroed|full (--pair A,B), one step of each in turn
//            in one process: the per-step ratio B / A
//   trainer  the real train::Trainer (one epoch, no-op sink): its own
//            per-step times (step_time_s of the step rows) and the time
//            from one step row to the next (the whole loop iteration)
//   checkpoint  train::save_checkpoint of the model after one AdamW step:
//            seconds and bytes of a step checkpoint (with optimizer state)
//            and of a weights-only one (best.pt / last.pt), --steps times
// The configuration is experiments/reference-v2.toml (or --experiment),
// items are random [N, 2, n_mels, frames] resident on the device.
#include "common/allocator.hpp"
#include "experiment/experiment.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "train/checkpoint.hpp"
#include "train/metrics_sink.hpp"
#include "train/optimizer_step.hpp"
#include "train/trainer.hpp"
#include "train/loss_values.hpp"
#include "train/weighted_losses.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/types.h>  // clip_grad.h needs torch::Tensor declared first
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <unistd.h>
#include <variant>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace distill;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string mode = "compare";
    std::string device = "cpu";
    int64_t steps = 20, warmup = 3, threads = 0, batch = 32, items = 256, repeat = 1;
    std::string experiment = DISTILL_SOURCE_DIR "/experiments/reference-v2.toml";
    std::string pair = "bare,full";  // pair mode
    std::string checkpoint_dir;  // checkpoint mode; empty = a folder in the temporary directory
    std::string malloc = "reuse";  // reuse: as `distill run` sets the allocator; default: glibc as it comes
    std::vector<std::string> plugin_paths, sets;
};

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "train_throughput: %s\n"
                 "usage: train_throughput [--mode full|phases|bare|compare|pair|trainer|checkpoint] [--device cpu|cuda|cuda:N]\n"
                 "       [--steps N] [--warmup N] [--repeat N] [--threads N] [--batch N] [--items N]\n"
                 "       [--experiment FILE] [--set KEY=VALUE]... [--plugin-path DIR]... [--pair A,B] [--checkpoint-dir DIR]\n"
                 "       [--malloc reuse|default]\n",
                 problem.c_str());
    std::exit(2);
}

int64_t positive(const std::string& flag, const char* text, int64_t min) {
    char* end = nullptr;
    const long long v = std::strtoll(text, &end, 10);
    if (end == text || *end != '\0' || v < min) usage(flag + " wants an integer >= " + std::to_string(min) + ", got '" + text + "'");
    return v;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) usage("missing value after " + a);
        const char* v = argv[++i];
        if (a == "--mode") o.mode = v;
        else if (a == "--device") o.device = v;
        else if (a == "--steps") o.steps = positive(a, v, 1);
        else if (a == "--warmup") o.warmup = positive(a, v, 0);
        else if (a == "--repeat") o.repeat = positive(a, v, 1);
        else if (a == "--threads") o.threads = positive(a, v, 0);
        else if (a == "--malloc") o.malloc = v;
        else if (a == "--batch") o.batch = positive(a, v, 2);
        else if (a == "--items") o.items = positive(a, v, 2);
        else if (a == "--experiment") o.experiment = v;
        else if (a == "--set") o.sets.push_back(v);
        else if (a == "--plugin-path") o.plugin_paths.push_back(v);
        else if (a == "--checkpoint-dir") o.checkpoint_dir = v;
        else if (a == "--pair") o.pair = v;
        else usage("unknown option " + a);
    }
    if (o.mode != "full" && o.mode != "phases" && o.mode != "bare" && o.mode != "compare" && o.mode != "trainer" &&
        o.mode != "checkpoint" && o.mode != "pair")
        usage("--mode must be full, phases, bare, compare, pair, trainer or checkpoint, got '" + o.mode + "'");
    return o;
}

// The process's CPU time (user + system, every thread) and minor page
// faults so far: per step, they show the work done whatever else shares the
// cores (wall time under a busy machine mostly shows the waiting).
struct Usage {
    double cpu_s = 0;
    long faults = 0;
    static Usage now() {
        rusage u{};
        getrusage(RUSAGE_SELF, &u);
        const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
        return {seconds(u.ru_utime) + seconds(u.ru_stime), u.ru_minflt};
    }
};

class NullSink : public train::MetricsSink {
public:
    void step(const store::StepMetrics&) override {}
    void epoch(const store::EpochMetrics&) override {}
    void loss_terms(const std::vector<store::LossTermRow>&) override {}
    void event(const store::Event&) override {}
    void flush() override {}
};

// Keeps the step times (what trainer mode reports) and when each row came:
// the time between two rows is a whole loop iteration (batch gather, step,
// readback, rows, listener).
class StepTimeSink : public NullSink {
public:
    void step(const store::StepMetrics& row) override {
        arrivals.push_back(Clock::now());
        usage.push_back(Usage::now());
        times.push_back(row.step_time_s);
    }
    std::vector<double> times;
    std::vector<Clock::time_point> arrivals;
    std::vector<Usage> usage;
};

// Phases of one step, in seconds.
enum Phase { kData, kForward, kLosses, kBackward, kOptimizer, kMetrics, kPhases };
const char* const kPhaseNames[kPhases] = {"data", "forward", "losses", "backward", "optimizer+clip", "metrics"};

struct Timer {
    c10::Device device;
    bool sync_phases;  // CUDA only: synchronise at every phase boundary
    Clock::time_point last = Clock::now();
    void sync() const {
        if (device.is_cuda()) torch::cuda::synchronize(device.index());
    }
    void start() {
        sync();
        last = Clock::now();
    }
    double lap() {
        if (sync_phases) sync();
        const auto now = Clock::now();
        const double s = std::chrono::duration<double>(now - last).count();
        last = now;
        return s;
    }
};

// What the trainer's train_step does for metrics: one stacked readback of
// every scalar, then the step row and loss-term rows (the same functions).
void metrics(const train::LossResult& result, int64_t step, train::MetricsSink& sink) {
    const train::LossValues values = train::read_loss_values(result);
    sink.step(train::step_row(result, values, 0, step, 0, 1e-3, 0.0));
    sink.loss_terms(train::loss_term_rows(result, values, 0, step, "train"));
}

struct Setup {
    experiment::Experiment exp;
    c10::Device device = c10::Device(c10::kCPU);
    host::PluginRegistry registry;
    at::Tensor items;
};

struct RunFigures {
    std::vector<double> step_s;                   // per timed step
    std::vector<double> cpu_s, faults;            // per timed step
    std::vector<std::vector<double>> phase_s;     // [phase][timed step]
};

double median(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double minimum(const std::vector<double>& v) { return v.empty() ? NAN : *std::min_element(v.begin(), v.end()); }

// One model + optimizer stepping on demand: `bare`, `phases` (the full step
// written out here, phase by phase; gradients reset to undefined before each
// step, as the trainer does), `phases-zeroed` (the same with the gradients
// zero-filled instead, as LibTorch 1.13's zero_grad() does) or `full` (the
// trainer's own train_step). Each has its own model and optimizer.
class Stepper {
public:
    Stepper(Setup& s, const Options& o, const std::string& kind, bool sync_phases)
        : s_(s), o_(o), bare_(kind == "bare"), real_step_(kind == "full"), zero_grads_(kind == "phases-zeroed"),
          model_(s.registry.require(s.exp.model.plugin, DISTILL_KIND_MODEL), s.exp.model.params, s.device.str()),
          timer_{s.device, sync_phases} {
        model_.set_training(true);
        if (!bare_)
            for (const auto& spec : s.exp.losses) losses_.add(spec, s.registry, s.device.str());
        for (const auto& [name, t] : model_.parameters()) params_.push_back(t);
        const auto& t = s.exp.train;
        optimizer_ = std::make_unique<torch::optim::AdamW>(
            params_, torch::optim::AdamWOptions(t.lr).betas({t.betas.at(0), t.betas.at(1)}).eps(t.eps).weight_decay(t.weight_decay));
        if (real_step_) {
            train::TrainerConfig config;
            config.train = t;
            config.device = s.device;
            config.checkpoint_dir = fs::temp_directory_path() / "train_throughput_unused";  // run() is never called
            trainer_ = std::make_unique<train::Trainer>(config, model_, losses_, sink_, s.items.slice(0, 0, 2),
                                                        s.items.slice(0, 0, 2));
        }
        figures.phase_s.assign(kPhases, {});
    }

    // Step i on `batch` (gathered here, so the gather is timed as data).
    void step(int64_t i, const at::Tensor& order, bool timed) {
        const auto& t = s_.exp.train;
        // An epoch past every warm-up, so each loss (KL included) has its full weight.
        const int64_t epoch = t.epochs - 1;
        const int64_t n = s_.items.size(0);
        double phase[kPhases] = {};
        timer_.start();
        const auto started = timer_.last;
        const Usage usage_before = Usage::now();
        const int64_t start = (i * o_.batch) % (n - o_.batch + 1);
        const at::Tensor batch = s_.items.index_select(0, order.slice(0, start, start + o_.batch));
        phase[kData] = timer_.lap();
        if (real_step_) {
            trainer_->train_step(batch, epoch, i, o_.warmup + o_.steps, t.lr);
        } else {
            if (zero_grads_) {
                for (auto& p : params_)
                    if (p.grad().defined()) p.mutable_grad().detach_().zero_();
            } else {
                train::reset_gradients(params_);
            }
            TensorMap inputs = model_.forward({{"x", batch}});
            phase[kForward] = timer_.lap();
            if (bare_) {
                const at::Tensor loss = inputs.at("recon").mean();
                phase[kLosses] = timer_.lap();
                loss.backward();
                phase[kBackward] = timer_.lap();
                optimizer_->step();
                phase[kOptimizer] = timer_.lap();
            } else {
                inputs["target"] = batch;
                const distill_step_context context{sizeof(distill_step_context), epoch, t.epochs, i,
                                                   o_.warmup + o_.steps, 1};
                const train::LossResult result = losses_.compute(inputs, context);
                phase[kLosses] = timer_.lap();
                // The trainer reads values back before backward (to skip
                // non-finite steps); the same order here, timed as metrics.
                metrics(result, i, sink_);
                phase[kMetrics] = timer_.lap();
                result.total.backward();
                phase[kBackward] = timer_.lap();
                if (t.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params_, t.grad_clip);
                optimizer_->step();
                phase[kOptimizer] = timer_.lap();
            }
        }
        timer_.sync();
        const double total = std::chrono::duration<double>(Clock::now() - started).count();
        const Usage usage_after = Usage::now();
        if (!timed) return;
        figures.step_s.push_back(total);
        figures.cpu_s.push_back(usage_after.cpu_s - usage_before.cpu_s);
        figures.faults.push_back(static_cast<double>(usage_after.faults - usage_before.faults));
        if (!real_step_)
            for (int p = 0; p < kPhases; ++p) figures.phase_s[p].push_back(phase[p]);
    }

    RunFigures figures;

private:
    Setup& s_;
    const Options& o_;
    bool bare_, real_step_, zero_grads_;
    host::ModelInstance model_;
    train::WeightedLosses losses_;
    std::vector<at::Tensor> params_;
    std::unique_ptr<torch::optim::AdamW> optimizer_;
    NullSink sink_;
    std::unique_ptr<train::Trainer> trainer_;
    Timer timer_;
};

// One measured run of `mode` (full | phases | bare) with fresh model and optimizer.
RunFigures run_steps(Setup& s, const Options& o, bool bare, bool sync_phases) {
    Stepper stepper(s, o, bare ? "bare" : o.mode == "phases" ? "phases" : "full", sync_phases);
    const at::Tensor order = at::randperm(s.items.size(0), at::TensorOptions().dtype(at::kLong)).to(s.device);
    for (int64_t i = 0; i < o.warmup + o.steps; ++i) stepper.step(i, order, i >= o.warmup);
    return stepper.figures;
}

void print_run(const char* label, const RunFigures& f, const Options& o, bool cuda, bool sync_phases) {
    const double med = median(f.step_s), mn = minimum(f.step_s);
    std::printf("%-5s ms/step: min %.2f  median %.2f   samples/s (median): %.1f\n", label, 1e3 * mn, 1e3 * med,
                static_cast<double>(o.batch) / med);
    std::printf("%-5s cpu ms/step: min %.2f  median %.2f   minor page faults/step (median): %.0f\n", label,
                1e3 * minimum(f.cpu_s), 1e3 * median(f.cpu_s), median(f.faults));
    if (f.phase_s[kForward].empty()) return;  // the real step: timed as a whole
    std::printf("      split (median ms%s):",
                sync_phases ? ", synchronised at phase boundaries" : cuda ? ", host time only: not synchronised" : "");
    for (int p = 0; p < kPhases; ++p) std::printf("  %s %.2f", kPhaseNames[p], 1e3 * median(f.phase_s[p]));
    std::printf("\n");
}

// The median of min/median step times over repeats: `compare` interleaves
// bare and full so both see the same background load.
void compare(Setup& s, const Options& o, bool sync_phases, bool bare_too, bool full_too) {
    std::vector<double> bare_med, full_med, bare_min, full_min;
    for (int64_t r = 0; r < o.repeat; ++r) {
        if (o.repeat > 1) std::printf("repeat %lld/%lld\n", static_cast<long long>(r + 1), static_cast<long long>(o.repeat));
        if (bare_too) {
            const RunFigures f = run_steps(s, o, true, sync_phases);
            print_run("bare", f, o, s.device.is_cuda(), sync_phases);
            bare_med.push_back(median(f.step_s));
            bare_min.push_back(minimum(f.step_s));
        }
        if (full_too) {
            const RunFigures f = run_steps(s, o, false, sync_phases);
            print_run(o.mode == "phases" ? "phases" : "full", f, o, s.device.is_cuda(), sync_phases);
            full_med.push_back(median(f.step_s));
            full_min.push_back(minimum(f.step_s));
        }
        if (bare_too && full_too)
            std::printf("      ratio full/bare: median %.3f  min %.3f\n", full_med.back() / bare_med.back(),
                        full_min.back() / bare_min.back());
    }
    if (bare_too && full_too && o.repeat > 1)
        std::printf("over %lld repeats: ratio of median step times %.3f, of min step times %.3f\n",
                    static_cast<long long>(o.repeat), median(full_med) / median(bare_med),
                    minimum(full_min) / minimum(bare_min));
}

// Two kinds of step (--pair A,B; see Stepper) in one process, one
// step of each in turn (which goes first alternates), each with its own
// model and optimizer: a slow spell of the machine hits both alike, so the
// per-pair ratio B / A is steadier than the ratio of separate runs.
void run_pair(Setup& s, const Options& o) {
    const size_t comma = o.pair.find(',');
    const std::string a = o.pair.substr(0, comma), b = comma == std::string::npos ? "" : o.pair.substr(comma + 1);
    for (const std::string& k : {a, b})
        if (k != "bare" && k != "phases" && k != "phases-zeroed" && k != "full")
            usage("--pair wants two of bare, phases, phases-zeroed, full, got '" + o.pair + "'");
    Stepper first(s, o, a, false), second(s, o, b, false);
    const at::Tensor order = at::randperm(s.items.size(0), at::TensorOptions().dtype(at::kLong)).to(s.device);
    std::vector<double> ratio, cpu_ratio;
    for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
        const bool timed = i >= o.warmup;
        if (i % 2 == 0) {
            first.step(i, order, timed);
            second.step(i, order, timed);
        } else {
            second.step(i, order, timed);
            first.step(i, order, timed);
        }
        if (!timed) continue;
        ratio.push_back(second.figures.step_s.back() / first.figures.step_s.back());
        cpu_ratio.push_back(second.figures.cpu_s.back() / first.figures.cpu_s.back());
    }
    print_run(a.c_str(), first.figures, o, s.device.is_cuda(), false);
    print_run(b.c_str(), second.figures, o, s.device.is_cuda(), false);
    std::printf("pair %s/%s per step: wall median %.3f (min %.3f, max %.3f)   cpu median %.3f (min %.3f, max %.3f)\n",
                b.c_str(), a.c_str(), median(ratio), minimum(ratio), *std::max_element(ratio.begin(), ratio.end()),
                median(cpu_ratio), minimum(cpu_ratio), *std::max_element(cpu_ratio.begin(), cpu_ratio.end()));
}

void run_trainer(Setup& s, const Options& o) {
    host::ModelInstance model(s.registry.require(s.exp.model.plugin, DISTILL_KIND_MODEL), s.exp.model.params,
                              s.device.str());
    train::WeightedLosses losses;
    for (const auto& spec : s.exp.losses) losses.add(spec, s.registry, s.device.str());
    StepTimeSink sink;
    train::TrainerConfig config;
    config.train = s.exp.train;
    config.train.epochs = 1;
    config.train.batch_size = o.batch;
    at::manual_seed(s.exp.seed);
    config.device = s.device;
    config.checkpoint_dir = fs::temp_directory_path() / ("train_throughput_" + std::to_string(::getpid()));
    const int64_t n = (o.warmup + o.steps) * o.batch;
    const at::Tensor train_items = s.items.index_select(
        0, at::arange(n, at::TensorOptions().dtype(at::kLong).device(s.device)).remainder(s.items.size(0)));
    const at::Tensor val_items = s.items.slice(0, 0, o.batch);
    train::Trainer trainer(config, model, losses, sink, train_items, val_items);
    std::printf("trainer reads loss values back every %lld step%s (%s)\n", static_cast<long long>(trainer.readback_every()),
                trainer.readback_every() == 1 ? "" : "s",
                trainer.sync_free() ? "sync-free step: device-side finite flag, masked optimizer step"
                                    : "read back before the optimizer step: torch's own step");
    const auto started = Clock::now();
    const Usage usage_before = Usage::now();
    trainer.run();
    const double wall = std::chrono::duration<double>(Clock::now() - started).count();
    const double run_cpu = Usage::now().cpu_s - usage_before.cpu_s;
    fs::remove_all(config.checkpoint_dir);
    const size_t first = static_cast<size_t>(std::min<int64_t>(o.warmup, sink.times.size()));
    const std::vector<double> timed(sink.times.begin() + first, sink.times.end());
    std::vector<double> iterations, cpu, faults;
    for (size_t i = std::max<size_t>(first, 1); i < sink.arrivals.size(); ++i) {
        iterations.push_back(std::chrono::duration<double>(sink.arrivals[i] - sink.arrivals[i - 1]).count());
        cpu.push_back(sink.usage[i].cpu_s - sink.usage[i - 1].cpu_s);
        faults.push_back(static_cast<double>(sink.usage[i].faults - sink.usage[i - 1].faults));
    }
    if (trainer.readback_every() > 1) {
        // Rows arrive a readback at a time, so row-to-row gaps say nothing:
        // an iteration is the row's step time (on a GPU the mean of the steps
        // read back together, waiting included), CPU time the run's per step.
        std::printf("        (rows arrive %lld at a time: iteration = the rows' step_time_s; cpu = run() cpu / steps)\n",
                    static_cast<long long>(trainer.readback_every()));
        iterations = timed;
        cpu.assign(timed.size(), run_cpu / static_cast<double>(std::max<size_t>(1, sink.times.size())));
    }
    // Epoch 0 at KL warm-up: the KL weight is 0 here, its plugin still runs.
    std::printf("trainer ms/step (step_time_s of the rows): min %.2f  median %.2f   samples/s (median): %.1f\n",
                1e3 * minimum(timed), 1e3 * median(timed), static_cast<double>(o.batch) / median(timed));
    std::printf("trainer ms/iteration (row to row: gather, step, rows): min %.2f  median %.2f\n",
                1e3 * minimum(iterations), 1e3 * median(iterations));
    std::printf("trainer cpu ms/iteration: min %.2f  median %.2f   minor page faults/iteration (median): %.0f\n",
                1e3 * minimum(cpu), 1e3 * median(cpu), median(faults));
    std::printf("        whole run() incl. validation + final checkpoint: %.2f s (cpu %.2f s) for %lld steps\n", wall,
                run_cpu, static_cast<long long>(sink.times.size()));
}

// What a checkpoint costs: the trainer's save_checkpoint (atomic: temporary
// file + rename, no fsync) of the model after one AdamW step, so the
// optimizer state exists, with an epoch's permutation as a mid-epoch
// checkpoint holds. Written --steps times each, alternating the two kinds.
void run_checkpoint(Setup& s, const Options& o) {
    host::ModelInstance model(s.registry.require(s.exp.model.plugin, DISTILL_KIND_MODEL), s.exp.model.params,
                              s.device.str());
    model.set_training(true);
    std::vector<at::Tensor> params;
    for (const auto& [name, t] : model.parameters()) params.push_back(t);
    const auto& t = s.exp.train;
    torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(t.lr)
                                              .betas({t.betas.at(0), t.betas.at(1)})
                                              .eps(t.eps)
                                              .weight_decay(t.weight_decay));
    const at::Tensor batch = s.items.slice(0, 0, o.batch);
    train::reset_gradients(params);
    model.forward({{"x", batch}}).at("recon").mean().backward();
    optimizer.step();
    int64_t numel = 0;
    for (const auto& p : params) numel += p.numel();

    train::CheckpointContent content;
    content.run_uuid = "00000000-0000-0000-0000-000000000000";
    content.position.epoch = 3;
    content.position.next_step = 1;
    content.position.permutation = at::randperm(s.items.size(0), at::TensorOptions().dtype(at::kLong));
    content.position.train_loss_history = {1.0, 0.9, 0.8};
    content.config_text = s.exp.source_text;
    const fs::path dir = o.checkpoint_dir.empty()
                             ? fs::temp_directory_path() / ("train_throughput_ckpt_" + std::to_string(::getpid()))
                             : fs::path(o.checkpoint_dir);
    fs::create_directories(dir);
    std::vector<double> step_s, weights_s;
    uintmax_t step_bytes = 0, weights_bytes = 0;
    for (int64_t i = 0; i < o.steps; ++i) {
        const fs::path step_file = dir / train::checkpoint_name(3, 1), weights_file = dir / "best.pt";
        auto started = Clock::now();
        train::save_checkpoint(step_file, model.parameters(), model.buffers(), &optimizer, content);
        step_s.push_back(std::chrono::duration<double>(Clock::now() - started).count());
        started = Clock::now();
        train::save_checkpoint(weights_file, model.parameters(), model.buffers(), nullptr, content);
        weights_s.push_back(std::chrono::duration<double>(Clock::now() - started).count());
        step_bytes = fs::file_size(step_file);
        weights_bytes = fs::file_size(weights_file);
        fs::remove(step_file);
        fs::remove(weights_file);
    }
    if (o.checkpoint_dir.empty()) fs::remove_all(dir);
    std::printf("checkpoint: %lld parameters (%.1f MB as float32), written to %s, %lld times each\n",
                static_cast<long long>(numel), 4e-6 * static_cast<double>(numel), dir.c_str(),
                static_cast<long long>(o.steps));
    std::printf("step checkpoint (parameters, buffers, AdamW state): %.1f MB, ms: min %.1f  median %.1f\n",
                1e-6 * static_cast<double>(step_bytes), 1e3 * minimum(step_s), 1e3 * median(step_s));
    std::printf("weights only (best.pt / last.pt):                  %.1f MB, ms: min %.1f  median %.1f\n",
                1e-6 * static_cast<double>(weights_bytes), 1e3 * minimum(weights_s), 1e3 * median(weights_s));
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    try {
        if (o.threads > 0) at::set_num_threads(static_cast<int>(o.threads));
        if (o.malloc != "reuse" && o.malloc != "default") usage("--malloc wants reuse or default, got '" + o.malloc + "'");
        if (o.malloc == "reuse") common::keep_freed_memory_for_reuse();
        Setup s;
        std::vector<std::string> paths = o.plugin_paths;
        if (paths.empty() && std::getenv("DISTILL_PLUGIN_PATH") == nullptr) paths.push_back(DISTILL_BENCH_PLUGIN_DIR);
        s.registry.load_all(host::PluginRegistry::search_path(paths));
        for (const auto& refusal : s.registry.refusals()) std::fprintf(stderr, "%s\n", refusal.line().c_str());
        s.exp = experiment::load_experiment(o.experiment, o.sets, s.registry);
        s.device = c10::Device(o.device);
        if (s.device.is_cuda() && !torch::cuda::is_available()) throw std::runtime_error("--device " + o.device + ": no CUDA device visible");
        int64_t mels = 128, frames = 94;
        for (const auto& [name, v] : s.exp.model.params) {
            if (name == "n_mels") mels = std::get<int64_t>(v);
            if (name == "frames") frames = std::get<int64_t>(v);
        }
        if (o.items < o.batch) usage("--items must be >= --batch");
        at::manual_seed(static_cast<uint64_t>(s.exp.seed));
        // Uniform in [-1, 1]: the range of "scale"-normalised items.
        s.items = (at::rand({o.items, 2, mels, frames}) * 2 - 1).to(s.device);
        const bool sync_phases = s.device.is_cuda();
        std::printf("train_throughput: %s, device %s, %d threads, OMP_WAIT_POLICY=%s, batch %lld, items [%lld, 2, %lld, %lld]\n",
                    o.experiment.c_str(), s.device.str().c_str(), at::get_num_threads(),
                    std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "(unset)",
                    static_cast<long long>(o.batch), static_cast<long long>(o.items), static_cast<long long>(mels),
                    static_cast<long long>(frames));
        std::printf("warm-up %lld steps, then %lld timed steps%s\n", static_cast<long long>(o.warmup),
                    static_cast<long long>(o.steps),
                    sync_phases ? "; CUDA: the split synchronises at each phase boundary (timing mode only), "
                                  "the step total with one synchronisation per step"
                                : "");
        if (o.mode == "trainer") {
            run_trainer(s, o);
        } else if (o.mode == "checkpoint") {
            run_checkpoint(s, o);
        } else if (o.mode == "pair") {
            run_pair(s, o);
        } else {
            compare(s, o, false, o.mode == "compare" || o.mode == "bare", o.mode != "bare");
            // On CUDA the unsynchronised pass above gives the real step time;
            // the split needs a second, synchronised pass.
            if (sync_phases) {
                std::printf("-- synchronised split --\n");
                Options once = o;
                once.repeat = 1;
                compare(s, once, true, o.mode == "compare" || o.mode == "bare", o.mode != "bare");
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "train_throughput: %s\n", e.what());
        return 1;
    }
    return 0;
}
