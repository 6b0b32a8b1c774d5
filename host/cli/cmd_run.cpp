// distill run EXP.toml [--set K=V]... [--db PATH] | distill run --resume RUN_ID
//
// Parses the options, hands the run to session::run_experiment and maps how
// it ended to an exit status. The run itself lives in host/session/.
#include "cli/commands.hpp"
#include "cli/console.hpp"
#include "cli/run_signals.hpp"
#include "session/run_session.hpp"

#include <iostream>

namespace distill::cli {
namespace {

int exit_status_for(train::Outcome outcome) {
    switch (outcome) {
        case train::Outcome::completed: return kExitOk;
        case train::Outcome::diverged:
        case train::Outcome::failed: return kExitRunFailed;
        case train::Outcome::interrupted: return 128 + last_stop_signal();
    }
    return kExitRunFailed;
}

}  // namespace

int cmd_run(const Args& args) {
    po::options_description options("distill run EXP.toml [options] | distill run --resume RUN_ID [options]");
    options.add_options()("help,h", "show this help")("experiment", po::value<std::string>(), "experiment TOML file")(
        "set", po::value<std::vector<std::string>>()->composing(), "override a key: --set train.epochs=3 (repeatable)")(
        "resume", po::value<int64_t>(), "continue run RUN_ID from its last checkpoint, as it was recorded")(
        "sweep-id", po::value<int64_t>(), "record the run as a trial of this sweep (used by `distill sweep`)")(
        "trial-index", po::value<int64_t>(), "the trial's index in its sweep");
    add_plugin_path_option(options);
    add_db_option(options);
    po::positional_options_description positional;
    positional.add("experiment", 1);
    const auto vm = parse("run", args, options, positional);
    if (vm.count("help")) {
        std::cout << options << "\n";
        return kExitOk;
    }
    session::RunRequest request;
    request.db_path = vm["db"].as<std::string>();
    if (vm.count("experiment")) request.experiment_file = vm["experiment"].as<std::string>();
    if (vm.count("set")) request.overrides = vm["set"].as<std::vector<std::string>>();
    if (vm.count("resume")) request.resume_run = vm["resume"].as<int64_t>();
    if (vm.count("sweep-id")) request.sweep_id = vm["sweep-id"].as<int64_t>();
    if (vm.count("trial-index")) request.trial_index = vm["trial-index"].as<int64_t>();
    if (request.resume_run && (request.experiment_file || !request.overrides.empty()))
        throw UsageError("run --resume rebuilds the run from what was recorded: give no experiment file or --set");
    if (!request.resume_run && !request.experiment_file && !request.sweep_id)
        throw UsageError("run: which experiment? (distill run EXP.toml)");
    if (request.sweep_id.has_value() != request.trial_index.has_value())
        throw UsageError("run: --sweep-id and --trial-index go together");

    const auto registry = load_plugins(vm);
    ConsoleListener console;
    const std::atomic<int>* stop = install_stop_handlers();
    session::RunResult result;
    try {
        result = session::run_experiment(request, registry, console, stop);
    } catch (const session::BadInput& e) {
        throw UsageError(e.what());
    }
    std::cout << "run " << result.run_id << " " << result.status << (result.reason.empty() ? "" : " (" + result.reason + ")");
    if (result.best_epoch >= 0)
        std::cout << "; best val_loss " << result.best_val_loss << " at epoch " << result.best_epoch + 1;
    std::cout << "\nfiles: " << session::format_bytes(result.bytes_on_disk) << " in " << result.run_dir.string() << "\n";
    if (result.outcome == train::Outcome::interrupted)
        std::cout << "continue it with:\n" << resume_command(result.run_id, request.db_path) << "\n";
    std::cout << std::flush;
    return exit_status_for(result.outcome);
}

}  // namespace distill::cli
