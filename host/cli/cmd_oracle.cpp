// distill oracle EXP.toml [--set K=V]... [--files N] [--phase if|gla|if+gla] [--gl-iters K] [--db PATH]
#include "cli/commands.hpp"
#include "cli/console.hpp"
#include "session/oracle_session.hpp"

#include <cstdio>
#include <iostream>

namespace distill::cli {

int cmd_oracle(const Args& args) {
    po::options_description options(
        "distill oracle EXP.toml [options]: the best audio the experiment's data representation can give\n"
        "(audio -> features -> inversion -> audio, no model) on its validation files");
    options.add_options()("help,h", "show this help")("experiment", po::value<std::string>(), "experiment TOML file")(
        "set", po::value<std::vector<std::string>>()->composing(), "override a key (repeatable)")(
        "files", po::value<int64_t>(), "only the first N validation files")(
        "phase", po::value<std::string>()->default_value("if+gla"), "phase method: if, gla or if+gla")(
        "gl-iters", po::value<int64_t>()->default_value(audio::kDefaultGlIters), "Griffin-Lim iterations")(
        "nnls-iters", po::value<int64_t>()->default_value(audio::kDefaultNnlsIters), "mel -> linear iterations");
    add_plugin_path_option(options);
    add_db_option(options);
    po::positional_options_description positional;
    positional.add("experiment", 1);
    const auto vm = parse("oracle", args, options, positional);
    if (vm.count("help")) {
        std::cout << options << "\nA [sweep] over data.* keys gives one row per grid point. Results are stored in "
                                "the database (oracle_results) and read back for the same settings and files.\n";
        return kExitOk;
    }
    if (!vm.count("experiment")) throw UsageError("oracle: which experiment? (distill oracle EXP.toml)");
    session::OracleRequest request;
    request.experiment_file = vm["experiment"].as<std::string>();
    if (vm.count("set")) request.overrides = vm["set"].as<std::vector<std::string>>();
    request.db_path = vm["db"].as<std::string>();
    if (vm.count("files")) {
        request.max_files = vm["files"].as<int64_t>();
        if (*request.max_files < 1) throw UsageError("oracle: --files must be at least 1");
    }
    const auto phase = audio::parse_phase_method(vm["phase"].as<std::string>());
    if (!phase) throw UsageError("oracle: --phase must be if, gla or if+gla, got '" + vm["phase"].as<std::string>() + "'");
    request.inversion.phase = *phase;
    request.inversion.gl_iters = vm["gl-iters"].as<int64_t>();
    request.inversion.nnls_iters = vm["nnls-iters"].as<int64_t>();
    if (request.inversion.gl_iters < 0 || request.inversion.nnls_iters < 0)
        throw UsageError("oracle: --gl-iters and --nnls-iters must be >= 0");

    const auto registry = load_plugins(vm);
    ConsoleListener console;
    std::vector<session::OraclePoint> points;
    try {
        points = session::run_oracle(request, registry, console);
    } catch (const session::BadInput& e) {
        throw UsageError(e.what());
    }
    for (const auto& point : points) {
        std::string label;
        for (const auto& [key, value] : point.swept) label += (label.empty() ? "" : ", ") + key + "=" + value;
        std::cout << "\n" << (label.empty() ? "the experiment's settings" : label) << " (n_mels " << point.n_mels
                  << (point.empty_bands ? ", " + std::to_string(point.empty_bands) + " empty" : "") << ")"
                  << (point.stored ? ": stored result, nothing decoded" : "") << "\n";
        std::printf("  %-48s %7s %7s %8s %8s %8s %8s\n", "file", "chunks", "SC", "LSD dB", "MR-STFT", "mel err",
                    "IF err");
        for (const auto& r : point.rows)
            std::printf("  %-48s %7lld %7.3f %8.2f %8.3f %8.3f %8.3f\n", r.file.empty() ? "total" : r.file.c_str(),
                        static_cast<long long>(r.chunks), r.spectral_convergence, r.log_spectral_distance_db, r.mrstft,
                        r.mel_error, r.if_error);
    }
    std::cout << std::flush;
    return kExitOk;
}

}  // namespace distill::cli
