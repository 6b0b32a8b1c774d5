#include "cli/result_format.hpp"

#include "cli/cli_common.hpp"
#include "common/text.hpp"

#include <algorithm>
#include <iostream>

namespace distill::cli {
namespace {

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string json_value(const store::QueryCell& cell) {
    using T = store::QueryCell::Type;
    switch (cell.type) {
        case T::kNull: return "null";
        case T::kInteger: return cell.text;
        case T::kReal: return (cell.text == "inf" || cell.text == "-inf") ? text::json_string(cell.text) : cell.text;
        default: return text::json_string(cell.text);
    }
}

std::string cell_text(const store::QueryCell& cell) {
    return cell.type == store::QueryCell::Type::kNull ? "NULL" : cell.text;
}

// The table format sizes its columns from the first rows, so it holds back
// at most this many; later rows are printed as they come, in those widths
// (a wider cell overflows its column rather than being cut).
constexpr size_t kTablePageRows = 100;

class CsvPrinter : public ResultPrinter {
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

class JsonPrinter : public ResultPrinter {
public:
    void columns(const std::vector<std::string>& names) override {
        names_ = names;
        std::cout << "[";
    }
    void row(const std::vector<store::QueryCell>& cells) override {
        std::cout << (rows_++ ? ",\n " : "\n ") << "{";
        for (size_t i = 0; i < names_.size(); ++i)
            std::cout << (i ? ", " : "") << text::json_string(names_[i]) << ": " << json_value(cells[i]);
        std::cout << "}";
    }
    void finish(int64_t) override { std::cout << (rows_ ? "\n]\n" : "]\n") << std::flush; }

private:
    std::vector<std::string> names_;
    int64_t rows_ = 0;
};

class TablePrinter : public ResultPrinter {
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

}  // namespace

void check_format(const std::string& command, const std::string& format) {
    if (format != "table" && format != "csv" && format != "json")
        throw UsageError(command + ": unknown --format '" + format + "' (table, csv, json)");
}

std::unique_ptr<ResultPrinter> make_result_printer(const std::string& format) {
    if (format == "csv") return std::make_unique<CsvPrinter>();
    if (format == "json") return std::make_unique<JsonPrinter>();
    return std::make_unique<TablePrinter>();
}

void print_result(const store::QueryResult& result, const std::string& format) {
    const auto printer = make_result_printer(format);
    printer->columns(result.columns);
    for (const auto& row : result.rows) printer->row(row);
    printer->finish(static_cast<int64_t>(result.rows.size()));
}

}  // namespace distill::cli
