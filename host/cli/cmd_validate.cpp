// distill validate EXP.toml [--set KEY=VALUE ...]: every check `run` and
// `sweep` make before any heavy work, and the resolved configuration.
#include "cli/commands.hpp"
#include "common/text.hpp"
#include "experiment/sweep.hpp"
#include "session/run_session.hpp"

#include <iostream>

namespace distill::cli {

int cmd_validate(const Args& args) {
    po::options_description options("distill validate EXP.toml [--set KEY=VALUE ...]");
    options.add_options()("help,h", "show this help")("experiment", po::value<std::string>(), "experiment file")(
        "set", po::value<std::vector<std::string>>()->composing(),
        "override a key: --set train.lr=5e-4, --set data.dir=/path, --set loss.kl.weight=0.02 (repeatable)");
    add_plugin_path_option(options);
    po::positional_options_description positional;
    positional.add("experiment", 1);
    const auto vm = parse("validate", args, options, positional);
    if (vm.count("help")) {
        std::cout << options
                  << "\nChecks the file (TOML syntax, keys, types, ranges, plugins and their parameters, the\n"
                     "data folder) and prints every resolved setting as KEY = VALUE; with a [sweep], also\n"
                     "each trial's parameters. Exit status 2 with FILE:LINE:COL: MESSAGE on bad input.\n";
        return kExitOk;
    }
    if (!vm.count("experiment")) throw UsageError("validate: which experiment? (distill validate EXP.toml)");
    const std::string file = vm["experiment"].as<std::string>();
    const std::vector<std::string> sets =
        vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
    const auto registry = load_plugins(vm);
    try {
        const experiment::Experiment base = experiment::load_experiment(file, sets, registry);
        // Each plugin checks its own parameter combinations when it is made.
        session::create_plugins(base, registry, "cpu");
        const experiment::Sweep sweep = experiment::expand_sweep(file, sets, registry);
        std::cout << "# " << file << ": valid\n";
        for (const auto& [key, value] : base.resolved) std::cout << key << " = " << value << "\n";
        if (sweep.keys.empty()) return kExitOk;
        size_t invalid = 0;
        std::cout << "\n# sweep: " << text::count(static_cast<int64_t>(sweep.trials.size()), "trial") << " over";
        for (const auto& key : sweep.keys) std::cout << " " << key;
        std::cout << "\n";
        for (const auto& trial : sweep.trials) {
            std::cout << "trial " << trial.index << ":";
            for (size_t i = 0; i < trial.params.size(); ++i)
                std::cout << (i ? ", " : " ") << trial.params[i].first << " = " << trial.params[i].second;
            std::cout << "\n";
            if (!trial.error.empty()) {
                std::cout << "  invalid: " << trial.error << "\n";
                ++invalid;
            }
        }
        if (invalid == 0) return kExitOk;
        std::cerr << "distill: " << invalid << " of " << sweep.trials.size() << " trials are invalid\n";
        return kExitBadInput;
    } catch (const experiment::ExperimentError& e) {
        std::cerr << "distill: " << e.what() << "\n";
        return kExitBadInput;
    } catch (const session::BadInput& e) {
        std::cerr << "distill: " << e.what() << "\n";
        return kExitBadInput;
    }
}

}  // namespace distill::cli
