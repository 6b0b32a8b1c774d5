#include "session/oracle_session.hpp"

#include "audio/oracle.hpp"
#include "data/dataset.hpp"
#include "experiment/sweep.hpp"
#include "session/run_recipe.hpp"
#include "store/run_store.hpp"
#include "store/sha256.hpp"

#include <nlohmann/json.hpp>

#include <set>

namespace distill::session {
namespace fs = std::filesystem;
namespace {

// The settings a round trip depends on: every data.* setting but where the
// corpus and the cache are (the corpus is the fingerprint's), and the inversion.
nlohmann::json settings_of(const experiment::Experiment& e, const audio::InversionOptions& inv) {
    nlohmann::json s;
    for (const auto& [key, value] : e.resolved)
        if (key.rfind("data.", 0) == 0 && key != "data.dir" && key != "data.cache_dir" && key.rfind("data.augment", 0) != 0)
            s[key] = value;
    s["inversion.phase"] = audio::phase_method_name(inv.phase);
    s["inversion.gl_iters"] = inv.gl_iters;
    s["inversion.nnls_iters"] = inv.nnls_iters;
    return s;
}

std::string fingerprint(const std::vector<fs::path>& files) {
    std::string text;
    for (const auto& f : files) {
        std::error_code ec;
        text += f.string() + "|" + std::to_string(fs::file_size(f, ec)) + "|" +
                std::to_string(fs::last_write_time(f, ec).time_since_epoch().count()) + "\n";
    }
    return store::sha256_hex(text);
}

store::OracleRow to_row(const std::string& file, const audio::RoundTripMetrics& m) {
    return {file, m.chunks, m.spectral_convergence, m.log_spectral_distance_db, m.mrstft, m.mel_error, m.if_error};
}

}  // namespace

std::vector<OraclePoint> run_oracle(const OracleRequest& request, const host::PluginRegistry& registry,
                                    SessionListener& listener) {
    std::unique_ptr<store::RunStore> db;
    try {
        db = std::make_unique<store::RunStore>(request.db_path);
    } catch (const store::StoreError& e) {
        throw BadInput(e.what());
    }
    experiment::Sweep sweep;
    try {
        auto source = experiment::read_experiment_source(request.experiment_file);
        source.working_dir = fs::current_path();
        sweep = experiment::expand_sweep(source, request.overrides, registry, experiment::kDefaultMaxTrials);
    } catch (const experiment::ExperimentError& e) {
        throw BadInput(e.what());
    }
    for (const auto& key : sweep.keys)
        if (key.rfind("data.", 0) != 0)
            throw BadInput(request.experiment_file.string() + ": [sweep] \"" + key +
                           "\" is not a data setting: the oracle does not train, so only data.* keys can be swept");

    std::vector<OraclePoint> points;
    for (const auto& trial : sweep.trials) {
        if (!trial.error.empty()) throw BadInput(trial.error);
        const experiment::Experiment& e = trial.experiment;
        const data::PipelineConfig& cfg = e.data.pipeline;
        OraclePoint point;
        point.swept = trial.params;
        point.n_mels = cfg.n_mels;
        point.empty_bands = audio::empty_mel_bands(cfg);
        if (point.empty_bands > 0)
            listener.warning(std::to_string(point.empty_bands) + " of " + std::to_string(cfg.n_mels) +
                             " mel bands are empty at n_fft " + std::to_string(cfg.n_fft) +
                             " (no STFT bin falls in them): they carry nothing");
        const std::vector<fs::path> files = validation_files(e, request.max_files);

        const nlohmann::json settings = settings_of(e, request.inversion);
        const std::string settings_hash = store::sha256_hex(settings.dump());
        const std::string corpus = fingerprint(files);
        point.rows = db->oracle_results(settings_hash, corpus);
        if (!point.rows.empty()) {
            point.stored = true;
            points.push_back(std::move(point));
            continue;
        }
        const audio::Inverter inverter(cfg, at::Device(at::kCPU));
        double chunks = 0;
        store::OracleRow total;
        for (const auto& file : files) {
            const at::Tensor audio_chunks = audio::file_chunks(file, cfg);
            const store::OracleRow row = to_row(file.string(), audio::oracle_round_trip(audio_chunks, cfg, inverter,
                                                                                         request.inversion));
            point.rows.push_back(row);
            // The total weighs each file by its chunks: the mean over chunks.
            const auto w = static_cast<double>(row.chunks);
            chunks += w;
            total.chunks += row.chunks;
            total.spectral_convergence += w * row.spectral_convergence;
            total.log_spectral_distance_db += w * row.log_spectral_distance_db;
            total.mrstft += w * row.mrstft;
            total.mel_error += w * row.mel_error;
            total.if_error += w * row.if_error;
        }
        if (chunks > 0) {
            total.spectral_convergence /= chunks;
            total.log_spectral_distance_db /= chunks;
            total.mrstft /= chunks;
            total.mel_error /= chunks;
            total.if_error /= chunks;
        }
        point.rows.push_back(total);
        db->record_oracle(settings_hash, settings.dump(), corpus, point.rows);
        points.push_back(std::move(point));
    }
    return points;
}

}  // namespace distill::session
