#include "experiment/toml_text.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <sstream>

namespace distill::experiment::detail {

std::string format_node(const toml::node& node) {
    if (auto v = node.as_string()) return text::toml_string(v->get());
    if (auto v = node.as_integer()) return std::to_string(v->get());
    if (auto v = node.as_floating_point()) return text::toml_float(v->get());
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
