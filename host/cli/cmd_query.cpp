// distill query "SQL" [--format table|csv|json] [--db PATH]
#include "cli/commands.hpp"
#include "store/query.hpp"
#include "store/run_store.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>

namespace distill::cli {
namespace {

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out + "\"";
}

// JSON has no infinity: +-inf become the strings "inf"/"-inf" so no value is
// lost; NULL (which is how NaN is stored) is null.
std::string json_value(const store::QueryCell& cell) {
    using T = store::QueryCell::Type;
    switch (cell.type) {
        case T::kNull: return "null";
        case T::kInteger: return cell.text;
        case T::kReal: return (cell.text == "inf" || cell.text == "-inf") ? json_string(cell.text) : cell.text;
        default: return json_string(cell.text);
    }
}

std::string cell_text(const store::QueryCell& cell) {
    return cell.type == store::QueryCell::Type::kNull ? "NULL" : cell.text;
}

// Exit status when --timeout stops the query (as timeout(1) does): the rows
// printed so far stand, but the result is incomplete.
constexpr int kExitQueryTimeout = 124;

// The table format sizes its columns from the first rows, so it holds back
// at most this many; later rows are printed as they come, in those widths
// (a wider cell overflows its column rather than being cut).
constexpr size_t kTablePageRows = 100;

// Prints a result as rows arrive; the three formats share this shape.
class Printer {
public:
    virtual ~Printer() = default;
    virtual void columns(const std::vector<std::string>& names) = 0;
    virtual void row(const std::vector<store::QueryCell>& cells) = 0;
    // After the last row, or when the query was stopped.
    virtual void finish(int64_t rows) = 0;
};

class CsvPrinter : public Printer {
public:
    void columns(const std::vector<std::string>& names) override {
        for (size_t i = 0; i < names.size(); ++i) std::cout << (i ? "," : "") << csv_field(names[i]);
        std::cout << "\n";
    }
    void row(const std::vector<store::QueryCell>& cells) override {
        for (size_t i = 0; i < cells.size(); ++i)
            std::cout << (i ? "," : "") << (cells[i].type == store::QueryCell::Type::kNull ? "" : csv_field(cells[i].text));
        std::cout << "\n";
    }
    void finish(int64_t) override { std::cout.flush(); }
};

class JsonPrinter : public Printer {
public:
    void columns(const std::vector<std::string>& names) override {
        names_ = names;
        std::cout << "[";
    }
    void row(const std::vector<store::QueryCell>& cells) override {
        std::cout << (rows_++ ? ",\n " : "\n ") << "{";
        for (size_t i = 0; i < names_.size(); ++i)
            std::cout << (i ? ", " : "") << json_string(names_[i]) << ": " << json_value(cells[i]);
        std::cout << "}";
    }
    // A stopped query still leaves a well-formed array.
    void finish(int64_t) override { std::cout << (rows_ ? "\n]\n" : "]\n") << std::flush; }

private:
    std::vector<std::string> names_;
    int64_t rows_ = 0;
};

class TablePrinter : public Printer {
public:
    void columns(const std::vector<std::string>& names) override {
        names_ = names;
        width_.assign(names.size(), 0);
        for (size_t i = 0; i < names.size(); ++i) width_[i] = names[i].size();
    }
    void row(const std::vector<store::QueryCell>& cells) override {
        std::vector<std::string> texts;
        for (const auto& c : cells) texts.push_back(cell_text(c));
        if (started_) {
            line(texts);
            return;
        }
        page_.push_back(std::move(texts));
        if (page_.size() == kTablePageRows) start();
    }
    void finish(int64_t rows) override {
        if (!started_) start();
        std::cout << "(" << rows << (rows == 1 ? " row)\n" : " rows)\n") << std::flush;
    }

private:
    void start() {
        for (const auto& r : page_)
            for (size_t i = 0; i < r.size(); ++i) width_[i] = std::max(width_[i], r[i].size());
        line(names_);
        std::vector<std::string> rule;
        for (size_t w : width_) rule.emplace_back(w, '-');
        line(rule);
        for (const auto& r : page_) line(r);
        page_.clear();
        page_.shrink_to_fit();
        started_ = true;
    }
    void line(const std::vector<std::string>& cells) const {
        std::string out;
        for (size_t i = 0; i < cells.size(); ++i) {
            out += cells[i];
            if (i + 1 < cells.size()) out += std::string(width_[i] - std::min(width_[i], cells[i].size()) + 2, ' ');
        }
        std::cout << out << "\n";
    }
    std::vector<std::string> names_;
    std::vector<size_t> width_;
    std::vector<std::vector<std::string>> page_;
    bool started_ = false;
};

std::unique_ptr<Printer> make_printer(const std::string& format) {
    if (format == "csv") return std::make_unique<CsvPrinter>();
    if (format == "json") return std::make_unique<JsonPrinter>();
    return std::make_unique<TablePrinter>();
}

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
    if (format != "table" && format != "csv" && format != "json")
        throw UsageError("query: unknown --format '" + format + "' (table, csv, json)");
    store::QueryOptions query_options;
    if (vm.count("timeout")) {
        const double seconds = vm["timeout"].as<double>();
        if (!(seconds > 0) || !std::isfinite(seconds))
            throw UsageError("query: --timeout must be a number of seconds > 0, got " + std::to_string(seconds));
        query_options.timeout = std::chrono::duration<double>(seconds);
    }
    const auto printer = make_printer(format);
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
