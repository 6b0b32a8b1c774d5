// What every subcommand shares: exit codes, the plugin search options, and
// turning argv tails into Boost.Program_options maps with clear errors.
#pragma once

#include "plugins/plugin_registry.hpp"

#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace distill::cli {

namespace po = boost::program_options;

// Exit statuses, as documented in --help.
constexpr int kExitOk = 0;
constexpr int kExitRunFailed = 1;
constexpr int kExitBadInput = 2;

// Thrown for bad command-line or experiment input: printed as "distill: MSG",
// exit status 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

using Args = std::vector<std::string>;

// Adds --plugin-path (repeatable, colon-separated) to a subcommand.
void add_plugin_path_option(po::options_description& options);

// Adds --db PATH (the SQLite run database, default runs.db).
void add_db_option(po::options_description& options);

// Loads plugins from --plugin-path, $DISTILL_PLUGIN_PATH and the defaults.
// Refusals are printed to stderr as warnings (one line each); the number of
// refusals is returned through `refused` when given.
host::PluginRegistry load_plugins(const po::variables_map& vm, bool print_refusals = true);

// Parses `args` against `options` (+ positional names); UsageError on
// unknown options, naming the subcommand.
po::variables_map parse(const std::string& command, const Args& args, const po::options_description& options,
                        const po::positional_options_description& positional);

}  // namespace distill::cli
