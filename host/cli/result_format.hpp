// Printing a table of cells (a query's result, a diff) as an aligned table,
// CSV or JSON: shared by `query`, `runs diff` and `runs list --format`.
#pragma once

#include "store/query.hpp"

#include <string>

namespace distill::cli {

// "table", "csv" or "json"; UsageError naming `command` otherwise.
void check_format(const std::string& command, const std::string& format);

// Prints `result` to stdout in `format` (as check_format accepts). JSON has
// no infinity: +-inf become the strings "inf"/"-inf"; NULL is null.
void print_result(const store::QueryResult& result, const std::string& format);

}  // namespace distill::cli
