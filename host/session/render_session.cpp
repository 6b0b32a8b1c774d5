#include "session/render_session.hpp"

#include "audio/oracle.hpp"
#include "audio/timeline.hpp"
#include "audio/wav_out.hpp"
#include "data/audio_io.hpp"
#include "data/dataset.hpp"
#include "data/features.hpp"
#include "plugins/plugin_instance.hpp"
#include "session/run_recipe.hpp"
#include "store/run_store.hpp"
#include "train/checkpoint.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <thread>

namespace distill::session {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kModelBatch = 16;  // chunks per forward call: bounds memory on long files

// One decoded input, checked before anything is rendered.
struct Input {
    fs::path file;
    at::Tensor audio;  // [samples] at the pipeline's rate, CPU float
};

Input decode_input(const fs::path& file, const data::PipelineConfig& cfg) {
    data::MonoAudio mono;
    std::string error;
    if (!data::decode_mono(file, cfg.sample_rate, mono, error))
        throw BadInput("cannot render " + file.string() + ": not usable audio (" + error + ")");
    Input in;
    in.file = file;
    in.audio = at::from_blob(mono.samples.data(), {static_cast<int64_t>(mono.samples.size())}, at::kFloat).clone();
    return in;
}

std::vector<Input> reconstruct_inputs(const std::vector<fs::path>& paths, const data::PipelineConfig& cfg) {
    std::vector<Input> inputs;
    for (const fs::path& path : paths) {
        std::error_code ec;
        if (!fs::exists(path, ec)) throw BadInput("--reconstruct " + path.string() + ": no such file or folder");
        std::vector<fs::path> files{path};
        if (fs::is_directory(path, ec)) {
            try {
                files = data::discover_audio_files(path);
            } catch (const data::DataError& e) {
                throw BadInput(std::string("--reconstruct: ") + e.what());
            }
            if (files.empty()) throw BadInput("--reconstruct " + path.string() + ": no audio files in this folder");
        }
        for (const fs::path& file : files) inputs.push_back(decode_input(file, cfg));
    }
    return inputs;
}

// The checkpoint file a --checkpoint value names.
fs::path checkpoint_file(store::RunStore& db, const store::RunRecord& run, const std::string& which) {
    if (which == "best" || which == "last") {
        const auto rows = db.artifacts(run.id, which);
        if (rows.empty())
            throw BadInput("run " + std::to_string(run.id) + " has no " + which + ".pt recorded (status " + run.status +
                           (which == "last" ? "; last.pt is written when a run completes" : "") +
                           "); use --checkpoint best, last or a checkpoint file");
        const fs::path file = db.resolve(rows.back().path);
        std::error_code ec;
        if (!fs::is_regular_file(file, ec))
            throw BadInput("run " + std::to_string(run.id) + "'s " + which + ".pt is recorded but missing: " +
                           file.string());
        return file;
    }
    const fs::path file(which);
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
        throw BadInput("--checkpoint " + which + ": not best, last or an existing checkpoint file");
    return file;
}

// The model of a run, in eval mode (z = mu), with a checkpoint's weights.
struct LoadedModel {
    std::unique_ptr<host::ModelInstance> model;
    data::NormStats norm;
    int64_t latent_dim = 0;
};

LoadedModel load_model(const experiment::Experiment& exp, const host::PluginRegistry& registry,
                       const c10::Device& device, const fs::path& checkpoint, const store::RunRecord& run,
                       const std::function<void(const std::string&)>& info) {
    LoadedModel m;
    try {
        m.model = std::make_unique<host::ModelInstance>(registry.require(exp.model.plugin, DISTILL_KIND_MODEL),
                                                        exp.model.params, device.str());
    } catch (const host::PluginCallError& e) {
        throw BadInput(e.what());
    }
    train::CheckpointContent content;
    try {
        // Any run's checkpoint may be given by path; what must hold is that
        // its tensors fit this run's model.
        content = train::load_checkpoint(checkpoint, m.model->parameters(), m.model->buffers(), nullptr, "");
    } catch (const train::CheckpointError& e) {
        throw BadInput("checkpoint " + checkpoint.string() + " cannot be used with run " + std::to_string(run.id) +
                       "'s model (" + exp.model.plugin + "): " + e.what());
    }
    if (!content.run_uuid.empty() && content.run_uuid != run.uuid)
        info("note: " + checkpoint.string() + " was written by run " + content.run_uuid + ", not run " +
             std::to_string(run.id) + " (" + run.uuid + "); using its weights and normalisation");
    m.norm = content.norm;
    m.model->set_training(false);
    // The latent size, from the model itself (any plugin that puts "mu").
    const auto& cfg = exp.data.pipeline;
    const at::Tensor probe = at::zeros({1, 2, cfg.n_mels, cfg.frames()}, at::TensorOptions(device));
    const auto out = m.model->forward({{"x", probe}});
    const auto mu = out.find("mu");
    if (mu == out.end() || mu->second.dim() != 2)
        throw BadInput("model plugin '" + exp.model.plugin + "' puts no [N, L] \"mu\"; render needs an encoder");
    m.latent_dim = mu->second.size(1);
    return m;
}

class Renderer {
public:
    Renderer(const RenderRequest& request, const experiment::Experiment& exp, LoadedModel& model,
             const c10::Device& device)
        : request_(request), cfg_(exp.data.pipeline), model_(model), device_(device), inverter_(cfg_, device) {}

    // Raw (normalisation undone) reconstructions of peak-normalised chunks [N, samples].
    at::Tensor reconstruct_chunks(const at::Tensor& chunks) {
        std::vector<at::Tensor> parts;
        for (int64_t i = 0; i < chunks.size(0); i += kModelBatch) {
            const at::Tensor x = data::apply_norm(
                data::extract_features(chunks.narrow(0, i, std::min(kModelBatch, chunks.size(0) - i)).to(device_), cfg_),
                model_.norm);
            parts.push_back(data::undo_norm(output(model_.model->forward({{"x", x}}), "recon", "forward"), model_.norm));
        }
        return at::cat(parts, 0);
    }

    at::Tensor encode_first_chunk(const at::Tensor& audio) {
        const audio::Chunks chunks = audio::cut_chunks(audio, audio::plan_chunks(audio.size(0), cfg_));
        const at::Tensor x = data::apply_norm(data::extract_features(chunks.audio.narrow(0, 0, 1).to(device_), cfg_),
                                              model_.norm);
        return output(model_.model->forward({{"x", x}}), "mu", "forward");
    }

    at::Tensor decode(const at::Tensor& latents) {
        return data::undo_norm(output(model_.model->decode(latents.to(device_)), "recon", "decode"), model_.norm);
    }

    at::Tensor invert(const at::Tensor& raw, int64_t length) { return inverter_.invert(raw, length, request_.inversion); }
    const audio::Inverter& inverter() const { return inverter_; }
    const data::PipelineConfig& config() const { return cfg_; }

private:
    at::Tensor output(const TensorMap& out, const std::string& name, const std::string& call) const {
        const auto it = out.find(name);
        if (it == out.end()) throw std::runtime_error("model " + call + " put no \"" + name + "\"");
        return it->second;
    }

    const RenderRequest& request_;
    data::PipelineConfig cfg_;
    LoadedModel& model_;
    c10::Device device_;
    audio::Inverter inverter_;
};

// "name.wav", or "name-2.wav" ... when an earlier output of this call took it.
fs::path unique_name(const fs::path& dir, const std::string& stem, std::set<fs::path>& taken) {
    fs::path file = dir / (stem + ".wav");
    for (int i = 2; taken.count(file); ++i) file = dir / (stem + "-" + std::to_string(i) + ".wav");
    taken.insert(file);
    return file;
}

}  // namespace

std::vector<RenderedFile> render_run(const RenderRequest& request, const host::PluginRegistry& registry,
                                     const std::function<void(const std::string&)>& info) {
    if (request.reconstruct.empty() && request.validation_files <= 0 && request.samples <= 0 &&
        request.interpolate.empty())
        throw BadInput("nothing to render: give --reconstruct PATH..., --validation N, --sample N or --interpolate A B");
    if (!request.interpolate.empty() && request.interpolate.size() != 2)
        throw BadInput("--interpolate takes two audio files, got " + std::to_string(request.interpolate.size()));
    if (!request.interpolate.empty() && request.steps < 2)
        throw BadInput("--steps must be >= 2, got " + std::to_string(request.steps));
    if (!(request.temperature >= 0)) throw BadInput("--temperature must be >= 0");

    std::unique_ptr<store::RunStore> db;
    try {
        db = store::RunStore::open_existing(request.db_path);
    } catch (const store::StoreError& e) {
        throw BadInput(e.what());
    }
    const auto run = db->find_run(request.run_id);
    if (!run) throw BadInput("run " + std::to_string(request.run_id) + " does not exist in " + db->path().string());

    std::vector<std::pair<std::string, std::string>> swept;
    const Recipe recipe = recorded_recipe(*db, *run);
    const experiment::Experiment exp = build_experiment(recipe, registry, swept);
    const data::PipelineConfig& cfg = exp.data.pipeline;
    const c10::Device device = resolve_device(request.device);
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    at::set_num_threads(static_cast<int>(exp.threads > 0 ? exp.threads : cores));

    // Every input decoded (and refused) before anything is loaded or written.
    std::vector<fs::path> to_reconstruct = request.reconstruct;
    if (request.validation_files > 0) {
        const auto files = validation_files(exp, request.validation_files);
        to_reconstruct.insert(to_reconstruct.end(), files.begin(), files.end());
    }
    const std::vector<Input> inputs = reconstruct_inputs(to_reconstruct, cfg);
    std::vector<Input> ends;
    for (const fs::path& file : request.interpolate) {
        std::error_code ec;
        if (!fs::is_regular_file(file, ec)) throw BadInput("--interpolate " + file.string() + ": no such file");
        ends.push_back(decode_input(file, cfg));
    }

    const fs::path checkpoint = checkpoint_file(*db, *run, request.checkpoint);
    at::NoGradGuard no_grad;
    LoadedModel model = load_model(exp, registry, device, checkpoint, *run, info);
    Renderer renderer(request, exp, model, device);

    const fs::path out_dir =
        request.out_dir ? *request.out_dir : run_dir_for(exp, *db, run->uuid, recipe.source.working_dir) / "render";
    std::vector<RenderedFile> written;
    std::set<fs::path> taken;
    const auto common = [&] {
        return nlohmann::json{{"checkpoint", checkpoint.string()},
                              {"phase", audio::phase_method_name(request.inversion.phase)},
                              {"gl_iters", request.inversion.gl_iters},
                              {"nnls_iters", request.inversion.nnls_iters},
                              {"momentum", request.inversion.momentum},
                              {"device", device.str()}};
    };
    const auto emit = [&](const fs::path& file, const at::Tensor& audio, const std::string& what, nlohmann::json params) {
        const int64_t samples = audio::write_wav(file, audio, cfg.sample_rate);
        const double seconds = static_cast<double>(samples) / static_cast<double>(audio::kOutputRate);
        db->record_artifact(run->id, "audio", file);
        params["path"] = file.string();
        params["seconds"] = seconds;
        db->add_event(run->id, {-1, -1, "render", what + ": " + file.string(), params.dump()});
        written.push_back({file, what, seconds});
        info("wrote " + file.string() + " (" + what + ", " + std::to_string(seconds).substr(0, 5) + " s)");
    };

    for (const Input& in : inputs) {
        // Overlapping chunks through the model, joined back into one feature
        // map of the file at its own level, inverted in one piece.
        const int64_t samples = in.audio.size(0);
        const audio::ChunkLayout layout = audio::plan_chunks(samples, cfg);
        const audio::Chunks chunks = audio::cut_chunks(in.audio, layout);
        const at::Tensor joined = audio::join_features(renderer.reconstruct_chunks(chunks.audio), chunks.peaks, layout);
        const at::Tensor rendered = renderer.invert(joined, samples);
        // The same file through the representation alone (no model): the
        // ceiling the model's reconstruction is measured against.
        const at::Tensor original = audio::join_features(data::extract_features(chunks.audio.to(device), cfg),
                                                         chunks.peaks, layout);
        const at::Tensor ceiling = renderer.invert(original, samples);
        const at::Tensor reference = in.audio.to(device).unsqueeze(0);
        const auto metrics = [](const audio::RoundTripMetrics& m) {
            return nlohmann::json{{"spectral_convergence", m.spectral_convergence},
                                  {"log_spectral_distance_db", m.log_spectral_distance_db},
                                  {"mrstft", m.mrstft}};
        };
        nlohmann::json params = common();
        params.update({{"mode", "reconstruct"}, {"source", fs::absolute(in.file).string()}, {"chunks", layout.count},
                       {"model", metrics(audio::compare_audio(reference, rendered.unsqueeze(0), cfg, renderer.inverter()))},
                       {"ceiling", metrics(audio::compare_audio(reference, ceiling.unsqueeze(0), cfg, renderer.inverter()))}});
        info("  model SC " + std::to_string(params["model"]["spectral_convergence"].get<double>()).substr(0, 5) +
             " - representation ceiling " +
             std::to_string(params["ceiling"]["spectral_convergence"].get<double>()).substr(0, 5));
        emit(unique_name(out_dir, in.file.stem().string() + ".recon", taken), rendered,
             "reconstruction of " + in.file.string(), params);
    }

    if (request.samples > 0) {
        // Our own generator: the same seed gives the same latents on any device.
        at::Generator generator = at::detail::createCPUGenerator(request.seed);
        const at::Tensor z = at::randn({request.samples, model.latent_dim}, generator, at::TensorOptions(at::kFloat)) *
                             request.temperature;
        const at::Tensor raw = renderer.decode(z);
        for (int64_t i = 0; i < request.samples; ++i) {
            nlohmann::json params = common();
            params.update({{"mode", "sample"}, {"seed", request.seed}, {"temperature", request.temperature}, {"index", i}});
            char stem[96];
            std::snprintf(stem, sizeof stem, "sample-s%llu-t%g-%03lld", static_cast<unsigned long long>(request.seed),
                          request.temperature, static_cast<long long>(i));
            emit(unique_name(out_dir, stem, taken), renderer.invert(raw[i], cfg.chunk_samples()),
                 "sample " + std::to_string(i) + " of seed " + std::to_string(request.seed), params);
        }
    }

    if (!ends.empty()) {
        // K decoded points of the straight line between the two first
        // chunks' latents, cross-faded one after another into one file.
        const at::Tensor a = renderer.encode_first_chunk(ends[0].audio), b = renderer.encode_first_chunk(ends[1].audio);
        const at::Tensor t = at::linspace(0.0, 1.0, request.steps, a.options()).unsqueeze(1);
        const at::Tensor raw = renderer.decode(a + t * (b - a));
        audio::ChunkLayout layout = audio::plan_chunks(cfg.chunk_samples(), cfg);
        layout.count = request.steps;
        layout.total_frames = (layout.count - 1) * layout.stride_frames + layout.chunk_frames;
        layout.samples = (layout.total_frames - 1) * layout.hop;
        const at::Tensor joined = audio::join_features(raw, at::ones({request.steps}, at::kDouble), layout);
        nlohmann::json params = common();
        params.update({{"mode", "interpolate"},
                       {"a", fs::absolute(ends[0].file).string()},
                       {"b", fs::absolute(ends[1].file).string()},
                       {"steps", request.steps},
                       {"segment_seconds", static_cast<double>(layout.stride_frames * layout.hop) / cfg.sample_rate}});
        emit(unique_name(out_dir,
                         "interp-" + ends[0].file.stem().string() + "-" + ends[1].file.stem().string() + "-k" +
                             std::to_string(request.steps),
                         taken),
             renderer.invert(joined, layout.samples),
             "interpolation " + ends[0].file.filename().string() + " -> " + ends[1].file.filename().string(), params);
    }
    return written;
}

}  // namespace distill::session
