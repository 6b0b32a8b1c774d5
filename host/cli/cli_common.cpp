#include "cli/cli_common.hpp"

#include <iostream>

namespace distill::cli {

void add_plugin_path_option(po::options_description& options) {
    options.add_options()("plugin-path", po::value<std::vector<std::string>>()->composing(),
                          "directory or library to load plugins from (repeatable, colon-separated); "
                          "searched before $DISTILL_PLUGIN_PATH and the defaults");
}

void add_db_option(po::options_description& options) {
    options.add_options()("db", po::value<std::string>()->default_value("runs.db"), "SQLite run database");
}

host::PluginRegistry load_plugins(const po::variables_map& vm, bool print_refusals) {
    std::vector<std::string> explicit_paths;
    if (vm.count("plugin-path")) explicit_paths = vm["plugin-path"].as<std::vector<std::string>>();
    host::PluginRegistry registry;
    registry.load_all(host::PluginRegistry::search_path(explicit_paths));
    if (print_refusals)
        for (const auto& refusal : registry.refusals()) std::cerr << "distill: warning: " << refusal.line() << "\n";
    return registry;
}

po::variables_map parse(const std::string& command, const Args& args, const po::options_description& options,
                        const po::positional_options_description& positional) {
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(command + ": " + e.what() + " (see `distill " + command + " --help`)");
    }
    return vm;
}

}  // namespace distill::cli
