// distill query "SQL" [--format table|csv|json] [--timeout SECONDS] [--db PATH]
#include "cli/commands.hpp"
#include "cli/result_format.hpp"
#include "store/query.hpp"
#include "store/run_store.hpp"

#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>

namespace distill::cli {
namespace {

// Exit status when --timeout stops the query (as timeout(1) does): the rows
// printed so far stand, but the result is incomplete.
constexpr int kExitQueryTimeout = 124;

}  // namespace

int cmd_query(const Args& args) {
    po::options_description options(
        "distill query \"SQL\" [--format table|csv|json] [--timeout SECONDS] [--db PATH]");
    options.add_options()("help,h", "show this help")("sql", po::value<std::string>(), "one read-only SQL statement")(
        "format", po::value<std::string>()->default_value("table"), "table, csv or json")(
        "timeout", po::value<double>(),
        "stop the query after SECONDS (default: no limit); rows printed so far stand, exit status 124");
    add_db_option(options);
    po::positional_options_description positional;
    positional.add("sql", 1);
    const auto vm = parse("query", args, options, positional);
    if (vm.count("help")) {
        std::cout << options << "\nTables and example queries: docs/schema.md\n";
        return kExitOk;
    }
    if (!vm.count("sql")) throw UsageError("query: which SQL? (distill query \"SELECT * FROM run_summary\")");
    const std::string format = vm["format"].as<std::string>();
    check_format("query", format);
    store::QueryOptions query_options;
    if (vm.count("timeout")) {
        const double seconds = vm["timeout"].as<double>();
        if (!(seconds > 0) || !std::isfinite(seconds))
            throw UsageError("query: --timeout must be a number of seconds > 0, got " + std::to_string(seconds));
        query_options.timeout = std::chrono::duration<double>(seconds);
    }
    const auto printer = make_result_printer(format);
    int64_t rows = 0;
    try {
        store::RunStore db(vm["db"].as<std::string>(), store::OpenMode::kReadOnly);
        rows = store::stream_query(
            db.db(), vm["sql"].as<std::string>(), query_options,
            [&](const std::vector<std::string>& names) { printer->columns(names); },
            [&](const std::vector<store::QueryCell>& row) { printer->row(row); });
    } catch (const store::QueryTimeout& e) {
        printer->finish(e.rows);
        std::cerr << "distill: query: " << e.what() << "; the output above is incomplete\n";
        return kExitQueryTimeout;
    } catch (const store::QueryError& e) {
        throw UsageError(std::string("query: ") + e.what());
    } catch (const store::StoreError& e) {
        throw UsageError(e.what());
    }
    printer->finish(rows);
    return kExitOk;
}

}  // namespace distill::cli
