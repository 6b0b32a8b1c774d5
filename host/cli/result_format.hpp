// Printing a table of cells (a query's result, a diff) as an aligned table,
// CSV or JSON: shared by `query`, `runs diff` and `runs list`.
#pragma once

#include "store/query.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace distill::cli {

// "table", "csv" or "json"; UsageError naming `command` otherwise.
void check_format(const std::string& command, const std::string& format);

// Prints a result to stdout as its rows arrive, so `query` never holds a
// large result. JSON has no infinity: +-inf become the strings "inf"/"-inf";
// NULL (how NaN is stored) is null.
class ResultPrinter {
public:
    virtual ~ResultPrinter() = default;
    virtual void columns(const std::vector<std::string>& names) = 0;
    virtual void row(const std::vector<store::QueryCell>& cells) = 0;
    // After the last row, or when the query was stopped: the output is
    // well-formed either way.
    virtual void finish(int64_t rows) = 0;
};

// `format` as check_format accepts.
std::unique_ptr<ResultPrinter> make_result_printer(const std::string& format);

// A whole result at once (diffs, lists).
void print_result(const store::QueryResult& result, const std::string& format);

}  // namespace distill::cli
