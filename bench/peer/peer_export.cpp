// peer_export: what the Python peer (bench/peer/peer_step.py) needs to
// repeat distill's first training steps exactly, and what distill got.
//
//   peer_export --out DIR [--steps N] [--epoch E] [--batch N] [--seed S]
//               [--threads N] [--experiment FILE] [--set KEY=VALUE]... [--plugin-path DIR]...
//
// Writes, for the experiment (reference-v2 by default) on the CPU:
//   DIR/initial.pt  {"param.<name>": ..., "buffer.<name>": ..., "batch": [B, 2, H, W]}
//                   (torch::pickle_save: Python reads it with torch.load)
//   DIR/final.pt    the same names after the N steps (parameters and BN buffers)
//   DIR/export.json the resolved experiment, epoch, seeds, threads, and per
//                   step every row the trainer wrote (total, loss terms
//                   raw/weighted, sub-terms)
//
// The steps are the real train::Trainer::train_step (forward in training
// mode, the four loss plugins, readback, backward, clip, AdamW). Dropout
// masks and the reparameterisation noise come from the default CPU
// generator; it is seeded with step_seed + k right before step k, so a twin
// that seeds the same generator (Python's torch.manual_seed drives the same
// LibTorch CPU generator) and draws in the same order (5 encoder Dropout2d
// masks, epsilon, 4 decoder masks) gets the same draws. Nothing else draws
// during a step.
#include "experiment/experiment.hpp"
#include "plugins/plugin_instance.hpp"
#include "plugins/plugin_registry.hpp"
#include "train/metrics_sink.hpp"
#include "train/trainer.hpp"
#include "train/weighted_losses.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/serialize.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <variant>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace distill;

struct Options {
    fs::path out;
    int64_t steps = 2, epoch = 30, batch = 8, threads = 2, seed = 0;
    std::string experiment = DISTILL_SOURCE_DIR "/experiments/reference-v2.toml";
    std::vector<std::string> plugin_paths, sets;
};

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "peer_export: %s\n"
                 "usage: peer_export --out DIR [--steps N] [--epoch E] [--batch N] [--seed S] [--threads N]\n"
                 "       [--experiment FILE] [--set KEY=VALUE]... [--plugin-path DIR]...\n",
                 problem.c_str());
    std::exit(2);
}

int64_t integer(const std::string& flag, const char* text, int64_t min) {
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
        if (a == "--out") o.out = v;
        else if (a == "--steps") o.steps = integer(a, v, 1);
        else if (a == "--epoch") o.epoch = integer(a, v, 0);
        else if (a == "--batch") o.batch = integer(a, v, 2);
        else if (a == "--seed") o.seed = integer(a, v, 0);
        else if (a == "--threads") o.threads = integer(a, v, 1);
        else if (a == "--experiment") o.experiment = v;
        else if (a == "--set") o.sets.push_back(v);
        else if (a == "--plugin-path") o.plugin_paths.push_back(v);
        else usage("unknown option " + a);
    }
    if (o.out.empty()) usage("--out DIR is required");
    return o;
}

// Keeps every row of the steps.
class CaptureSink : public train::MetricsSink {
public:
    void step(const store::StepMetrics& row) override { steps.push_back(row); }
    void epoch(const store::EpochMetrics&) override {}
    void loss_terms(const std::vector<store::LossTermRow>& rows) override { terms.push_back(rows); }
    void event(const store::Event&) override {}
    void flush() override {}
    std::vector<store::StepMetrics> steps;
    std::vector<std::vector<store::LossTermRow>> terms;
};

// Copies (the step changes the model's tensors in place) under their names.
void save_state(const fs::path& file, host::ModelInstance& model, const at::Tensor* batch) {
    c10::Dict<std::string, at::Tensor> dict;
    for (const auto& [name, t] : model.parameters()) dict.insert("param." + name, t.detach().clone().cpu());
    for (const auto& [name, t] : model.buffers()) dict.insert("buffer." + name, t.detach().clone().cpu());
    if (batch != nullptr) dict.insert("batch", batch->clone().cpu());
    const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
    std::ofstream f(file, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw std::runtime_error("cannot write " + file.string());
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    try {
        at::set_num_threads(static_cast<int>(o.threads));
        host::PluginRegistry registry;
        std::vector<std::string> paths = o.plugin_paths;
        if (paths.empty() && std::getenv("DISTILL_PLUGIN_PATH") == nullptr) paths.push_back(DISTILL_BENCH_PLUGIN_DIR);
        registry.load_all(host::PluginRegistry::search_path(paths));
        for (const auto& refusal : registry.refusals()) std::fprintf(stderr, "%s\n", refusal.line().c_str());
        const experiment::Experiment exp = experiment::load_experiment(o.experiment, o.sets, registry);
        if (o.epoch >= exp.train.epochs) usage("--epoch must be below train.epochs");
        int64_t mels = 128, frames = 94;
        for (const auto& [name, v] : exp.model.params) {
            if (name == "n_mels") mels = std::get<int64_t>(v);
            if (name == "frames") frames = std::get<int64_t>(v);
        }
        fs::create_directories(o.out);

        // The model's default initialisation, from the seed.
        at::manual_seed(static_cast<uint64_t>(o.seed));
        host::ModelInstance model(registry.require(exp.model.plugin, DISTILL_KIND_MODEL), exp.model.params, "cpu");
        model.set_training(true);
        train::WeightedLosses losses;
        for (const auto& spec : exp.losses) losses.add(spec, registry, "cpu");
        // A batch shaped like real items: magnitude >= 0 ("scale"
        // normalisation keeps it so), IF in [-1, 1].
        const at::Tensor magnitude = at::rand({o.batch, 1, mels, frames}) * 2;
        const at::Tensor frequency = at::rand({o.batch, 1, mels, frames}) * 2 - 1;
        const at::Tensor batch = at::cat({magnitude, frequency}, 1).contiguous();
        save_state(o.out / "initial.pt", model, &batch);

        CaptureSink sink;
        train::TrainerConfig config;
        config.train = exp.train;
        config.device = c10::Device(c10::kCPU);
        config.checkpoint_dir = fs::temp_directory_path() / ("peer_export_unused_" + std::to_string(::getpid()));
        train::Trainer trainer(config, model, losses, sink, batch, batch.slice(0, 0, 2));
        const int64_t step_seed = o.seed + 1000;
        for (int64_t k = 0; k < o.steps; ++k) {
            at::manual_seed(static_cast<uint64_t>(step_seed + k));
            trainer.train_step(batch, o.epoch, k, o.steps, exp.train.lr);
        }
        save_state(o.out / "final.pt", model, nullptr);

        nlohmann::json resolved = nlohmann::json::object();
        for (const auto& [key, value] : exp.resolved) resolved[key] = value;
        nlohmann::json steps = nlohmann::json::array();
        for (size_t k = 0; k < sink.steps.size(); ++k) {
            const store::StepMetrics& s = sink.steps[k];
            nlohmann::json terms = nlohmann::json::object();
            for (const auto& row : sink.terms.at(k)) terms[row.term] = {{"raw", row.raw}, {"weighted", row.weighted}};
            steps.push_back({{"step", s.step}, {"train_loss", s.train_loss}, {"kl_weight", s.kl_weight ? nlohmann::json(*s.kl_weight) : nlohmann::json(nullptr)},
                             {"learning_rate", s.learning_rate}, {"terms", terms}});
        }
        const nlohmann::json doc = {{"resolved", resolved},
                                    {"loss_order", [&] {
                                         nlohmann::json names = nlohmann::json::array();
                                         for (const auto& e : losses.entries()) names.push_back(e.name);
                                         return names;
                                     }()},
                                    {"epoch", o.epoch},
                                    {"epochs", exp.train.epochs},
                                    {"seed", o.seed},
                                    {"step_seed", step_seed},
                                    {"threads", at::get_num_threads()},
                                    {"batch_shape", {o.batch, 2, mels, frames}},
                                    {"steps", steps}};
        std::ofstream(o.out / "export.json") << doc.dump(2) << "\n";
        std::printf("peer_export: %lld steps at epoch %lld of %lld, batch [%lld, 2, %lld, %lld], %d threads -> %s\n",
                    static_cast<long long>(o.steps), static_cast<long long>(o.epoch),
                    static_cast<long long>(exp.train.epochs), static_cast<long long>(o.batch),
                    static_cast<long long>(mels), static_cast<long long>(frames), at::get_num_threads(),
                    o.out.c_str());
        for (const auto& s : sink.steps)
            std::printf("  step %lld: total %.9g (kl weight %g)\n", static_cast<long long>(s.step), s.train_loss,
                        s.kl_weight.value_or(std::nan("")));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "peer_export: %s\n", e.what());
        return 1;
    }
    return 0;
}
