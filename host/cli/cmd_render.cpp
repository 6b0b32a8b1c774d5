// distill render RUN_ID --reconstruct PATH... | --sample N | --interpolate A B [options]
//
// Parses the options and hands them to session::render_run; the rendering
// (model, inversion, files, records) lives in host/session and host/audio.
#include "cli/commands.hpp"
#include "session/render_session.hpp"

#include <iostream>

namespace distill::cli {

int cmd_render(const Args& args) {
    po::options_description options(
        "distill render RUN_ID (--reconstruct PATH... | --validation N | --sample N | --interpolate A B) [options]");
    options.add_options()("help,h", "show this help")("run", po::value<int64_t>(), "the run whose model renders")(
        "reconstruct", po::value<std::vector<std::string>>()->multitoken()->composing(),
        "audio files or folders: each whole file -> encode (z = mu) -> decode -> audio")(
        "validation", po::value<int64_t>(), "also reconstruct the first N of the run's validation files")(
        "sample", po::value<int64_t>(), "N one-chunk draws from the prior, z ~ N(0, T^2)")(
        "temperature", po::value<double>()->default_value(1.0), "--sample: the prior's standard deviation T")(
        "seed", po::value<uint64_t>()->default_value(0), "--sample: the same seed gives the same files")(
        "interpolate", po::value<std::vector<std::string>>()->multitoken(),
        "A B: the latent line between the two files' first chunks, as one file of K segments")(
        "steps", po::value<int64_t>()->default_value(8), "--interpolate: K points from A to B")(
        "checkpoint", po::value<std::string>()->default_value("best"), "best, last or a checkpoint file")(
        "out", po::value<std::string>(), "folder for the WAVs (default: the run's folder, render/)")(
        "device", po::value<std::string>()->default_value("auto"), "auto, cpu, cuda or cuda:N")(
        "phase", po::value<std::string>()->default_value("if+gla"),
        "phase reconstruction: if (integrated IF), gla (Griffin-Lim from random phase), if+gla")(
        "gl-iters", po::value<int64_t>()->default_value(audio::kDefaultGlIters), "fast Griffin-Lim iterations")(
        "nnls-iters", po::value<int64_t>()->default_value(audio::kDefaultNnlsIters),
        "mel -> linear magnitude: multiplicative NNLS updates");
    add_plugin_path_option(options);
    add_db_option(options);
    po::positional_options_description positional;
    positional.add("run", 1);
    const auto vm = parse("render", args, options, positional);
    if (vm.count("help")) {
        std::cout << options << "\nWAVs are 48 kHz, peak-normalised; each is recorded as an `audio` artifact of the "
                                "run, with a `render` event holding its parameters (docs/audio.md).\n";
        return kExitOk;
    }
    if (!vm.count("run")) throw UsageError("render: which run? (distill render RUN_ID --reconstruct FILE)");

    session::RenderRequest request;
    request.db_path = vm["db"].as<std::string>();
    request.run_id = vm["run"].as<int64_t>();
    request.checkpoint = vm["checkpoint"].as<std::string>();
    if (vm.count("out")) request.out_dir = vm["out"].as<std::string>();
    request.device = vm["device"].as<std::string>();
    const auto phase = audio::parse_phase_method(vm["phase"].as<std::string>());
    if (!phase) throw UsageError("render: --phase must be if, gla or if+gla, got '" + vm["phase"].as<std::string>() + "'");
    request.inversion.phase = *phase;
    request.inversion.gl_iters = vm["gl-iters"].as<int64_t>();
    request.inversion.nnls_iters = vm["nnls-iters"].as<int64_t>();
    if (request.inversion.gl_iters < 0 || request.inversion.nnls_iters < 0)
        throw UsageError("render: --gl-iters and --nnls-iters must be >= 0");
    if (vm.count("reconstruct"))
        for (const auto& path : vm["reconstruct"].as<std::vector<std::string>>()) request.reconstruct.emplace_back(path);
    if (vm.count("validation")) {
        request.validation_files = vm["validation"].as<int64_t>();
        if (request.validation_files < 1) throw UsageError("render: --validation must be >= 1");
    }
    if (vm.count("sample")) {
        request.samples = vm["sample"].as<int64_t>();
        if (request.samples < 1) throw UsageError("render: --sample must be >= 1");
    }
    request.temperature = vm["temperature"].as<double>();
    request.seed = vm["seed"].as<uint64_t>();
    if (vm.count("interpolate")) {
        for (const auto& path : vm["interpolate"].as<std::vector<std::string>>()) request.interpolate.emplace_back(path);
        if (request.interpolate.size() != 2)
            throw UsageError("render: --interpolate takes two audio files, A and B");
    }
    request.steps = vm["steps"].as<int64_t>();

    const auto registry = load_plugins(vm);
    std::vector<session::RenderedFile> written;
    try {
        written = session::render_run(request, registry, [](const std::string& line) { std::cout << line << "\n"; });
    } catch (const session::BadInput& e) {
        throw UsageError("render: " + std::string(e.what()));
    }
    std::cout << written.size() << " file" << (written.size() == 1 ? "" : "s") << " rendered for run " << request.run_id
              << std::endl;
    return kExitOk;
}

}  // namespace distill::cli
