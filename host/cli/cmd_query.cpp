// distill query "SQL" [--format table|csv|json] [--db PATH]
#include "cli/commands.hpp"
#include "cli/result_format.hpp"
#include "store/query.hpp"
#include "store/run_store.hpp"

#include <iostream>

namespace distill::cli {

int cmd_query(const Args& args) {
    po::options_description options("distill query \"SQL\" [--format table|csv|json] [--db PATH]");
    options.add_options()("help,h", "show this help")("sql", po::value<std::string>(), "one read-only SQL statement")(
        "format", po::value<std::string>()->default_value("table"), "table, csv or json");
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
    store::QueryResult result;
    try {
        store::RunStore db(vm["db"].as<std::string>(), store::OpenMode::kReadOnly);
        result = store::run_query(db.db(), vm["sql"].as<std::string>());
    } catch (const store::QueryError& e) {
        throw UsageError(std::string("query: ") + e.what());
    } catch (const store::StoreError& e) {
        throw UsageError(e.what());
    }
    print_result(result, format);
    return kExitOk;
}

}  // namespace distill::cli
