// train_throughput: samples/s of the reference-v2 training step and where a
// step's time goes, on CPU or CUDA. Modes:
//   full     data gather + the trainer's own step (train::Trainer::train_step:
//            forward, the experiment's losses, readback, backward, clip + AdamW,
//            rows handed to a no-op sink): the real code, timed as a whole
//   phases   the same work written out here phase by phase, for the split of
//            a step's time (data, forward, losses, metrics, backward, optimizer)
//   bare     forward + backward of recon.mean() + AdamW: the model alone
//   compare  bare then full, and the ratio full / bare
//   trainer  the real train::Trainer (one epoch, no-op sink): its own
//            per-step times (step_time_s of the step rows)
// The configuration is experiments/reference-v2.toml (or --experiment),
// items are random [N, 2, n_mels, frames] resident on the device.
#include "experiment/experiment.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "train/metrics_sink.hpp"
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
    std::vector<std::string> plugin_paths, sets;
};

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "train_throughput: %s\n"
                 "usage: train_throughput [--mode full|bare|compare|trainer] [--device cpu|cuda|cuda:N]\n"
                 "       [--steps N] [--warmup N] [--repeat N] [--threads N] [--batch N] [--items N]\n"
                 "       [--experiment FILE] [--set KEY=VALUE]... [--plugin-path DIR]...\n",
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
        else if (a == "--batch") o.batch = positive(a, v, 2);
        else if (a == "--items") o.items = positive(a, v, 2);
        else if (a == "--experiment") o.experiment = v;
        else if (a == "--set") o.sets.push_back(v);
        else if (a == "--plugin-path") o.plugin_paths.push_back(v);
        else usage("unknown option " + a);
    }
    if (o.mode != "full" && o.mode != "phases" && o.mode != "bare" && o.mode != "compare" && o.mode != "trainer")
        usage("--mode must be full, phases, bare, compare or trainer, got '" + o.mode + "'");
    return o;
}

class NullSink : public train::MetricsSink {
public:
    void step(const store::StepMetrics&) override {}
    void epoch(const store::EpochMetrics&) override {}
    void loss_terms(const std::vector<store::LossTermRow>&) override {}
    void event(const store::Event&) override {}
    void flush() override {}
};

// Keeps only the step times (what trainer mode reports).
class StepTimeSink : public NullSink {
public:
    void step(const store::StepMetrics& row) override { times.push_back(row.step_time_s); }
    std::vector<double> times;
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
    std::vector<std::vector<double>> phase_s;     // [phase][timed step]
};

double median(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double minimum(const std::vector<double>& v) { return v.empty() ? NAN : *std::min_element(v.begin(), v.end()); }

// One measured run of `mode` (full | phases | bare) with fresh model and optimizer.
RunFigures run_steps(Setup& s, const Options& o, bool bare, bool sync_phases) {
    const bool real_step = !bare && o.mode != "phases";
    host::ModelInstance model(s.registry.require(s.exp.model.plugin, DISTILL_KIND_MODEL), s.exp.model.params,
                              s.device.str());
    model.set_training(true);
    train::WeightedLosses losses;
    if (!bare)
        for (const auto& spec : s.exp.losses) losses.add(spec, s.registry, s.device.str());
    std::vector<at::Tensor> params;
    for (const auto& [name, t] : model.parameters()) params.push_back(t);
    const auto& t = s.exp.train;
    torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(t.lr)
                                              .betas({t.betas.at(0), t.betas.at(1)})
                                              .eps(t.eps)
                                              .weight_decay(t.weight_decay));
    NullSink sink;
    // An epoch past every warm-up, so each loss (KL included) has its full weight.
    const int64_t epoch = t.epochs - 1;
    std::unique_ptr<train::Trainer> trainer;
    if (real_step) {
        train::TrainerConfig config;
        config.train = t;
        config.device = s.device;
        config.checkpoint_dir = fs::temp_directory_path() / "train_throughput_unused";  // run() is never called
        trainer = std::make_unique<train::Trainer>(config, model, losses, sink, s.items.slice(0, 0, 2), s.items.slice(0, 0, 2));
    }
    const int64_t n = s.items.size(0);
    const at::Tensor order = at::randperm(n, at::TensorOptions().dtype(at::kLong)).to(s.device);
    RunFigures f;
    f.phase_s.assign(kPhases, {});
    Timer timer{s.device, sync_phases};
    for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
        const bool timed = i >= o.warmup;
        double phase[kPhases] = {};
        timer.start();
        const auto started = timer.last;
        const int64_t start = (i * o.batch) % (n - o.batch + 1);
        const at::Tensor batch = s.items.index_select(0, order.slice(0, start, start + o.batch));
        phase[kData] = timer.lap();
        if (real_step) {
            trainer->train_step(batch, epoch, i, o.warmup + o.steps, t.lr);
            timer.sync();
            const double total = std::chrono::duration<double>(Clock::now() - started).count();
            if (timed) f.step_s.push_back(total);
            continue;
        }
        optimizer.zero_grad();
        TensorMap inputs = model.forward({{"x", batch}});
        phase[kForward] = timer.lap();
        if (bare) {
            const at::Tensor loss = inputs.at("recon").mean();
            phase[kLosses] = timer.lap();
            loss.backward();
            phase[kBackward] = timer.lap();
            optimizer.step();
            phase[kOptimizer] = timer.lap();
        } else {
            inputs["target"] = batch;
            const distill_step_context context{sizeof(distill_step_context), epoch, t.epochs, i, o.warmup + o.steps, 1};
            const train::LossResult result = losses.compute(inputs, context);
            phase[kLosses] = timer.lap();
            // The trainer reads values back before backward (to skip
            // non-finite steps); the same order here, timed as metrics.
            metrics(result, i, sink);
            phase[kMetrics] = timer.lap();
            result.total.backward();
            phase[kBackward] = timer.lap();
            if (t.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, t.grad_clip);
            optimizer.step();
            phase[kOptimizer] = timer.lap();
        }
        timer.sync();
        const double total = std::chrono::duration<double>(Clock::now() - started).count();
        if (!timed) continue;
        f.step_s.push_back(total);
        for (int p = 0; p < kPhases; ++p) f.phase_s[p].push_back(phase[p]);
    }
    return f;
}

void print_run(const char* label, const RunFigures& f, const Options& o, bool cuda, bool sync_phases) {
    const double med = median(f.step_s), mn = minimum(f.step_s);
    std::printf("%-5s ms/step: min %.2f  median %.2f   samples/s (median): %.1f\n", label, 1e3 * mn, 1e3 * med,
                static_cast<double>(o.batch) / med);
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
    const auto started = Clock::now();
    trainer.run();
    const double wall = std::chrono::duration<double>(Clock::now() - started).count();
    fs::remove_all(config.checkpoint_dir);
    const std::vector<double> timed(sink.times.begin() + std::min<int64_t>(o.warmup, sink.times.size()), sink.times.end());
    // Epoch 0 at KL warm-up: the KL weight is 0 here, its plugin still runs.
    std::printf("trainer ms/step (step_time_s of the rows): min %.2f  median %.2f   samples/s (median): %.1f\n",
                1e3 * minimum(timed), 1e3 * median(timed), static_cast<double>(o.batch) / median(timed));
    std::printf("        whole run() incl. validation + final checkpoint: %.2f s for %lld steps\n", wall,
                static_cast<long long>(sink.times.size()));
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    try {
        if (o.threads > 0) at::set_num_threads(static_cast<int>(o.threads));
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
