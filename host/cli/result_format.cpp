#include "cli/result_format.hpp"

#include "cli/cli_common.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>

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

void print_table(const store::QueryResult& r) {
    std::vector<size_t> width(r.columns.size());
    for (size_t i = 0; i < r.columns.size(); ++i) width[i] = r.columns[i].size();
    for (const auto& row : r.rows)
        for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], cell_text(row[i]).size());
    auto line = [&](const std::vector<std::string>& cells) {
        std::string out;
        for (size_t i = 0; i < cells.size(); ++i) {
            out += cells[i];
            if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
        }
        std::cout << out << "\n";
    };
    line(r.columns);
    std::vector<std::string> rule;
    for (size_t w : width) rule.emplace_back(w, '-');
    line(rule);
    for (const auto& row : r.rows) {
        std::vector<std::string> cells;
        for (const auto& c : row) cells.push_back(cell_text(c));
        line(cells);
    }
    std::cout << "(" << r.rows.size() << (r.rows.size() == 1 ? " row)\n" : " rows)\n");
}

void print_csv(const store::QueryResult& r) {
    for (size_t i = 0; i < r.columns.size(); ++i) std::cout << (i ? "," : "") << csv_field(r.columns[i]);
    std::cout << "\n";
    for (const auto& row : r.rows) {
        for (size_t i = 0; i < row.size(); ++i)
            std::cout << (i ? "," : "") << (row[i].type == store::QueryCell::Type::kNull ? "" : csv_field(row[i].text));
        std::cout << "\n";
    }
}

void print_json(const store::QueryResult& r) {
    std::cout << "[";
    for (size_t j = 0; j < r.rows.size(); ++j) {
        std::cout << (j ? ",\n " : "\n ") << "{";
        for (size_t i = 0; i < r.columns.size(); ++i)
            std::cout << (i ? ", " : "") << json_string(r.columns[i]) << ": " << json_value(r.rows[j][i]);
        std::cout << "}";
    }
    std::cout << (r.rows.empty() ? "]\n" : "\n]\n");
}

}  // namespace

void check_format(const std::string& command, const std::string& format) {
    if (format != "table" && format != "csv" && format != "json")
        throw UsageError(command + ": unknown --format '" + format + "' (table, csv, json)");
}

void print_result(const store::QueryResult& result, const std::string& format) {
    if (format == "csv") {
        print_csv(result);
    } else if (format == "json") {
        print_json(result);
    } else {
        print_table(result);
    }
}

}  // namespace distill::cli
