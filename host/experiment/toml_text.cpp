#include "experiment/toml_text.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <sstream>

namespace distill::experiment::detail {

std::string format_double(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buffer[40];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buffer, sizeof buffer, "%.*g", precision, v);
        if (std::strtod(buffer, nullptr) == v) break;
    }
    std::string out = buffer;
    const size_t e = out.find('e');
    if (e != std::string::npos && std::fabs(v) >= 1 && std::fabs(v) < 1e16) {
        // %g chose an exponent only because of trailing zeros: 24000.0, not 2.4e+04.
        std::snprintf(buffer, sizeof buffer, "%.1f", v);
        return buffer;
    }
    if (e != std::string::npos) {  // 1e-05 -> 1e-5
        std::string exponent = out.substr(e + 1);
        const bool negative = exponent[0] == '-';
        if (exponent[0] == '-' || exponent[0] == '+') exponent.erase(0, 1);
        exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
        return out.substr(0, e) + (negative ? "e-" : "e") + exponent;
    }
    if (out.find_first_of(".n") == std::string::npos) out += ".0";
    return out;
}

std::string format_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char esc[8];
                    std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
                    out += esc;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

std::string format_node(const toml::node& node) {
    if (auto v = node.as_string()) return format_string(v->get());
    if (auto v = node.as_integer()) return std::to_string(v->get());
    if (auto v = node.as_floating_point()) return format_double(v->get());
    if (auto v = node.as_boolean()) return v->get() ? "true" : "false";
    if (auto a = node.as_array()) {
        std::string out = "[";
        for (size_t i = 0; i < a->size(); ++i) out += (i ? ", " : "") + format_node(*a->get(i));
        return out + "]";
    }
    if (auto t = node.as_table()) {
        std::string out = "{";
        bool first = true;
        for (const auto& [k, v] : *t) {
            out += (first ? " " : ", ") + std::string(k.str()) + " = " + format_node(v);
            first = false;
        }
        return out + (first ? "}" : " }");
    }
    std::ostringstream s;  // dates and times: TOML++'s own rendering
    node.visit([&s](const auto& n) { s << n; });
    return s.str();
}

std::string format_param(const host::ParamValue& value) {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, bool>) {
                return v ? "true" : "false";
            } else if constexpr (std::is_same_v<T, int64_t>) {
                return std::to_string(v);
            } else if constexpr (std::is_same_v<T, double>) {
                return format_double(v);
            } else if constexpr (std::is_same_v<T, std::string>) {
                return format_string(v);
            } else {
                std::string out = "[";
                for (size_t i = 0; i < v.size(); ++i) {
                    out += i ? ", " : "";
                    if constexpr (std::is_same_v<T, std::vector<double>>)
                        out += format_double(v[i]);
                    else
                        out += std::to_string(v[i]);
                }
                return out + "]";
            }
        },
        value);
}

const char* node_type_name(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::table: return "table";
        case toml::node_type::array: return "array";
        case toml::node_type::string: return "string";
        case toml::node_type::integer: return "integer";
        case toml::node_type::floating_point: return "float";
        case toml::node_type::boolean: return "boolean";
        case toml::node_type::date: return "date";
        case toml::node_type::time: return "time";
        case toml::node_type::date_time: return "date-time";
        case toml::node_type::none: break;
    }
    return "nothing";
}

std::string describe_node(const toml::node& node) {
    return std::string(node_type_name(node)) + " " + format_node(node);
}

std::optional<host::ParamValue> to_param_value(const toml::node& node) {
    if (auto v = node.as_boolean()) return host::ParamValue(v->get());
    if (auto v = node.as_integer()) return host::ParamValue(v->get());
    if (auto v = node.as_floating_point()) return host::ParamValue(v->get());
    if (auto v = node.as_string()) return host::ParamValue(v->get());
    const toml::array* a = node.as_array();
    if (a == nullptr) return std::nullopt;
    // All integers -> list of int (the schema check widens it to floats where
    // a float list is wanted); any float -> list of float.
    bool any_float = false;
    for (const auto& item : *a) {
        if (item.is_floating_point())
            any_float = true;
        else if (!item.is_integer())
            return std::nullopt;
    }
    if (!any_float) {
        std::vector<int64_t> ints;
        for (const auto& item : *a) ints.push_back(item.as_integer()->get());
        return host::ParamValue(std::move(ints));
    }
    std::vector<double> floats;
    for (const auto& item : *a)
        floats.push_back(item.is_integer() ? static_cast<double>(item.as_integer()->get())
                                           : item.as_floating_point()->get());
    return host::ParamValue(std::move(floats));
}

}  // namespace distill::experiment::detail
