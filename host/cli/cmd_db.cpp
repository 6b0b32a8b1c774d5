// distill db merge OUT.db IN.db... : fold shard databases into one.
#include "cli/commands.hpp"
#include "common/suggest.hpp"
#include "common/text.hpp"
#include "store/merge.hpp"

#include <iomanip>
#include <iostream>

namespace distill::cli {

int cmd_db(const Args& args) {
    po::options_description options("distill db merge OUT.db IN.db...");
    options.add_options()("help,h", "show this help")("action", po::value<std::string>(), "merge")(
        "files", po::value<std::vector<std::string>>(), "OUT.db then the inputs");
    po::positional_options_description positional;
    positional.add("action", 1).add("files", -1);
    const auto vm = parse("db", args, options, positional);
    if (vm.count("help")) {
        std::cout << options << "\n  merge  copy every run of the inputs (keyed by uuid) into OUT; running it "
                                "again adds nothing\n";
        return kExitOk;
    }
    const std::string action = vm.count("action") ? vm["action"].as<std::string>() : "";
    if (action != "merge") throw UsageError("db: unknown action '" + action + "'" + did_you_mean(action, {"merge"}) + " (merge)");
    const auto files = vm.count("files") ? vm["files"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (files.size() < 2) throw UsageError("db merge: give the output database and at least one input");
    const std::vector<std::filesystem::path> inputs(files.begin() + 1, files.end());
    std::vector<store::MergeCounts> counts;
    try {
        counts = store::merge_databases(files.front(), inputs);
    } catch (const store::StoreError& e) {
        throw UsageError(e.what());
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
        const auto& c = counts[i];
        std::cout << inputs[i].string() << ": " << text::count(c.runs_added, "run") << " added, " << c.runs_replaced << " replaced, "
                  << c.runs_unchanged << " already there\n";
        for (const auto& [table, n] : c.rows)
            if (n > 0) std::cout << "  " << std::left << std::setw(14) << table << n << "\n";
    }
    std::cout << "merged " << inputs.size() << " database(s) into " << files.front() << "\n";
    return kExitOk;
}

}  // namespace distill::cli
