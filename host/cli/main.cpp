// distill: run TOML-described audio VAE experiments with pluggable models and
// losses, and keep every metric in SQLite.
#include "cli/commands.hpp"
#include "common/suggest.hpp"
#include "data/errors.hpp"
#include "plugins/plugin_instance.hpp"

#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <string>

namespace {

struct Command {
    const char* name;
    int (*run)(const distill::cli::Args&);
    const char* summary;
};

const Command kCommands[] = {
    {"run", &distill::cli::cmd_run, "run one experiment (or --resume RUN_ID) and record it in SQLite"},
    {"sweep", &distill::cli::cmd_sweep, "run every trial of an experiment's [sweep] grid; `sweep show ID` ranks them"},
    {"plugins", &distill::cli::cmd_plugins, "list, describe or smoke-test the loadable plugins"},
    {"validate", &distill::cli::cmd_validate, "check an experiment file and print its resolved configuration"},
    {"runs", &distill::cli::cmd_runs, "list (sorted, filtered), show, diff or gc runs: params, plugins, epochs, events, files"},
    {"render", &distill::cli::cmd_render, "turn a run's model back into sound: reconstruct files, sample, interpolate"},
    {"query", &distill::cli::cmd_query, "run one read-only SQL statement on the run database"},
    {"oracle", &distill::cli::cmd_oracle, "the best audio the data representation can give (no model), per file"},
    {"db", &distill::cli::cmd_db, "`db merge OUT IN...`: fold shard databases into one (runs keyed by uuid)"},
    {"report", &distill::cli::cmd_report, "write one self-contained HTML page of runs or a sweep: charts, params, events, audio"},
};

void print_help() {
    std::cout << "distill " << DISTILL_VERSION
              << " - experiment runner for small-corpus generative audio\n\n"
                 "usage: distill <command> [options]\n\ncommands:\n";
    for (const auto& c : kCommands) std::cout << "  " << c.name << std::string(10 - std::strlen(c.name), ' ') << c.summary << "\n";
    std::cout << "  version   print the version, the plugin ABI and the LibTorch version (also -V)\n"
                 "\n`distill <command> --help` shows a command's options.\n"
                 "exit status: 0 success, 1 a run failed or diverged, 2 bad input (file, key, plugin, option or\n"
                 "  database), 124 `query --timeout` ran out, 130/143 stopped by SIGINT/SIGTERM (the run is\n"
                 "  checkpointed and marked interrupted; the command that resumes it is printed).\n"
                 "environment: DISTILL_PLUGIN_PATH (colon-separated plugin directories).\n";
}

}  // namespace

int main(int argc, char** argv) {
    using namespace distill::cli;
    if (argc < 2) {
        print_help();
        return kExitBadInput;
    }
    const std::string first = argv[1];
    if (first == "--help" || first == "-h" || first == "help") {
        print_help();
        return kExitOk;
    }
    if (first == "--version" || first == "-V" || first == "version") {
        std::cout << "distill " << DISTILL_VERSION << " (plugin ABI " << DISTILL_ABI_MAJOR << "." << DISTILL_ABI_MINOR
                  << ", LibTorch " << distill::host::host_torch_version() << ")\n";
        return kExitOk;
    }
    for (const auto& command : kCommands) {
        if (first != command.name) continue;
        const Args args(argv + 2, argv + argc);
        try {
            return command.run(args);
        } catch (const UsageError& e) {
            std::cerr << "distill: " << e.what() << "\n";
            return kExitBadInput;
        } catch (const distill::host::PluginNotFound& e) {
            std::cerr << "distill: " << e.what() << "\n";
            return kExitBadInput;
        } catch (const distill::host::PluginCallError& e) {
            // The plugin's own code decides: bad input / unsupported -> 2.
            std::cerr << "distill: " << e.what() << "\n";
            return e.is_bad_input() ? kExitBadInput : kExitRunFailed;
        } catch (const std::bad_alloc& e) {
            // data::OutOfMemory already says what it was allocating.
            const std::string what = e.what();
            if (what.rfind("out of memory while ", 0) == 0) std::cerr << "distill: " << what << "\n";
            else std::cerr << "distill: out of memory while running `distill " << first << "` (" << what << ")\n";
            return kExitRunFailed;
        } catch (const std::exception& e) {
            if (distill::data::is_allocation_failure(e)) {  // LibTorch's allocator throws c10::Error
                const std::string what = e.what();
                std::cerr << "distill: out of memory while running `distill " << first
                          << "`: " << what.substr(0, what.find('\n')) << "\n";
                return kExitRunFailed;
            }
            std::cerr << "distill: error: " << e.what() << "\n";
            return kExitRunFailed;
        }
    }
    std::vector<std::string> names{"help", "version"};
    for (const auto& c : kCommands) names.push_back(c.name);
    std::cerr << "distill: unknown command '" << first << "'" << distill::did_you_mean(first, names)
              << " (see `distill --help`)\n";
    return kExitBadInput;
}
