// One `distill render`: a recorded run's model, rebuilt from the database,
// turned back into sound. Reconstructions of audio files (whole files,
// seamless), samples from the prior, and latent interpolations, each written
// as a 48 kHz WAV into the run's folder and recorded as an `audio` artifact
// with a `render` event holding its parameters.
#pragma once

#include "audio/inversion.hpp"
#include "plugins/plugin_registry.hpp"
#include "session/run_session.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace distill::session {

struct RenderRequest {
    std::filesystem::path db_path = "runs.db";
    int64_t run_id = 0;
    std::string checkpoint = "best";  // best | last | a checkpoint file
    std::optional<std::filesystem::path> out_dir;  // default <run folder>/render
    std::string device = "auto";
    audio::InversionOptions inversion;

    std::vector<std::filesystem::path> reconstruct;  // files and folders (searched recursively)
    int64_t validation_files = 0;                    // also reconstruct the first N of the run's validation files
    int64_t samples = 0;                             // draws from N(0, temperature^2)
    double temperature = 1.0;
    uint64_t seed = 0;
    std::vector<std::filesystem::path> interpolate;  // A and B
    int64_t steps = 8;
};

struct RenderedFile {
    std::filesystem::path path;
    std::string what;   // "reconstruction of X", "sample 3", ...
    double seconds = 0.0;
};

// Renders everything asked for; BadInput (nothing written) for a run,
// checkpoint, input file or option that cannot be used. Every input is
// decoded and checked before the first file is written.
std::vector<RenderedFile> render_run(const RenderRequest& request, const host::PluginRegistry& registry,
                                     const std::function<void(const std::string&)>& info);

}  // namespace distill::session
