#include "plugins/param_schema.hpp"

#include "common/suggest.hpp"
#include "plugins/abi_check.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace distill::host {

const char* type_name(distill_param_type type) {
    switch (type) {
        case DISTILL_PARAM_BOOL: return "bool";
        case DISTILL_PARAM_INT: return "int";
        case DISTILL_PARAM_FLOAT: return "float";
        case DISTILL_PARAM_STRING: return "string";
        case DISTILL_PARAM_INT_LIST: return "list of int";
        case DISTILL_PARAM_FLOAT_LIST: return "list of float";
    }
    return "unknown";
}

namespace {
std::string format_number(double v) {
    std::ostringstream s;
    s.precision(10);
    s << v;
    return s.str();
}
template <class T>
std::string format_list(const std::vector<T>& items) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        if constexpr (std::is_same_v<T, double>)
            out += format_number(items[i]);
        else
            out += std::to_string(items[i]);
    }
    return out + "]";
}
}  // namespace

std::string format_value(const ParamValue& value) {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, bool>)
                return v ? "true" : "false";
            else if constexpr (std::is_same_v<T, int64_t>)
                return std::to_string(v);
            else if constexpr (std::is_same_v<T, double>)
                return format_number(v);
            else if constexpr (std::is_same_v<T, std::string>)
                return "\"" + v + "\"";
            else
                return format_list(v);
        },
        value);
}

ParamValue default_value(const distill_param_spec& spec) {
    const distill_value& v = spec.default_value;
    switch (spec.type) {
        case DISTILL_PARAM_BOOL: return v.int_value != 0;
        case DISTILL_PARAM_INT: return v.int_value;
        case DISTILL_PARAM_FLOAT: return v.float_value;
        case DISTILL_PARAM_STRING: return std::string(v.string_value ? v.string_value : "");
        case DISTILL_PARAM_INT_LIST: return std::vector<int64_t>(v.ints, v.ints + v.count);
        case DISTILL_PARAM_FLOAT_LIST: return std::vector<double>(v.floats, v.floats + v.count);
    }
    throw std::invalid_argument(std::string("parameter '") + spec.name + "' has an unknown type in its schema");
}

std::string describe_constraints(const distill_param_spec& spec) {
    if (spec.choice_count > 0) {
        std::string out = "one of ";
        for (size_t i = 0; i < spec.choice_count; ++i) out += (i ? "|" : "") + std::string(spec.choices[i]);
        return out;
    }
    if (spec.has_min && spec.has_max) return "range [" + format_number(spec.min) + ", " + format_number(spec.max) + "]";
    if (spec.has_min) return ">= " + format_number(spec.min);
    if (spec.has_max) return "<= " + format_number(spec.max);
    return "";
}

namespace {
void check_range(const distill_param_spec& spec, double v) {
    if (std::isnan(v) || (spec.has_min && v < spec.min) || (spec.has_max && v > spec.max))
        throw std::invalid_argument("parameter '" + std::string(spec.name) + "' = " + format_number(v) +
                                    " is out of " + describe_constraints(spec));
}
[[noreturn]] void wrong_type(const distill_param_spec& spec, const ParamValue& given) {
    throw std::invalid_argument("parameter '" + std::string(spec.name) + "' must be a " + type_name(spec.type) +
                                ", got " + format_value(given));
}
}  // namespace

ParamValue check_value(const distill_param_spec& spec, const ParamValue& given) {
    switch (spec.type) {
        case DISTILL_PARAM_BOOL:
            if (!std::holds_alternative<bool>(given)) wrong_type(spec, given);
            return given;
        case DISTILL_PARAM_INT:
            if (!std::holds_alternative<int64_t>(given)) wrong_type(spec, given);
            check_range(spec, static_cast<double>(std::get<int64_t>(given)));
            return given;
        case DISTILL_PARAM_FLOAT: {
            double v = 0;
            if (std::holds_alternative<double>(given))
                v = std::get<double>(given);
            else if (std::holds_alternative<int64_t>(given))
                v = static_cast<double>(std::get<int64_t>(given));
            else
                wrong_type(spec, given);
            check_range(spec, v);
            return v;
        }
        case DISTILL_PARAM_STRING: {
            if (!std::holds_alternative<std::string>(given)) wrong_type(spec, given);
            const auto& s = std::get<std::string>(given);
            if (spec.choice_count == 0) return given;
            for (size_t i = 0; i < spec.choice_count; ++i)
                if (s == spec.choices[i]) return given;
            throw std::invalid_argument("parameter '" + std::string(spec.name) + "' = \"" + s + "\" is not " +
                                        describe_constraints(spec));
        }
        case DISTILL_PARAM_INT_LIST: {
            if (!std::holds_alternative<std::vector<int64_t>>(given)) wrong_type(spec, given);
            for (int64_t v : std::get<std::vector<int64_t>>(given)) check_range(spec, static_cast<double>(v));
            return given;
        }
        case DISTILL_PARAM_FLOAT_LIST: {
            std::vector<double> out;
            if (std::holds_alternative<std::vector<double>>(given))
                out = std::get<std::vector<double>>(given);
            else if (std::holds_alternative<std::vector<int64_t>>(given))
                for (int64_t v : std::get<std::vector<int64_t>>(given)) out.push_back(static_cast<double>(v));
            else
                wrong_type(spec, given);
            for (double v : out) check_range(spec, v);
            return out;
        }
    }
    wrong_type(spec, given);
}

ParamValues resolve_params(const distill_plugin_descriptor& plugin, const std::map<std::string, ParamValue>& given) {
    std::vector<std::string> names;
    for (size_t i = 0; i < plugin.param_count; ++i) names.push_back(param_at(plugin, i).name);
    for (const auto& [name, value] : given) {
        if (std::find(names.begin(), names.end(), name) == names.end())
            throw std::invalid_argument("plugin '" + std::string(plugin.id) + "' has no parameter '" + name + "'" +
                                        did_you_mean(name, names));
    }
    ParamValues resolved;
    for (size_t i = 0; i < plugin.param_count; ++i) {
        const distill_param_spec& spec = param_at(plugin, i);
        auto it = given.find(spec.name);
        resolved.emplace_back(spec.name, it == given.end() ? default_value(spec) : check_value(spec, it->second));
    }
    return resolved;
}

ParamListView::ParamListView(const ParamValues& values) {
    items_.reserve(values.size());
    for (const auto& [name, value] : values) {
        distill_named_value item{};
        item.name = name.c_str();
        std::visit(
            [&item](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                distill_value& out = item.value;
                if constexpr (std::is_same_v<T, bool>) {
                    out.type = DISTILL_PARAM_BOOL;
                    out.int_value = v ? 1 : 0;
                } else if constexpr (std::is_same_v<T, int64_t>) {
                    out.type = DISTILL_PARAM_INT;
                    out.int_value = v;
                } else if constexpr (std::is_same_v<T, double>) {
                    out.type = DISTILL_PARAM_FLOAT;
                    out.float_value = v;
                } else if constexpr (std::is_same_v<T, std::string>) {
                    out.type = DISTILL_PARAM_STRING;
                    out.string_value = v.c_str();
                } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
                    out.type = DISTILL_PARAM_INT_LIST;
                    out.count = v.size();
                    out.ints = v.data();
                } else {
                    out.type = DISTILL_PARAM_FLOAT_LIST;
                    out.count = v.size();
                    out.floats = v.data();
                }
            },
            value);
        items_.push_back(item);
    }
    list_.count = items_.size();
    list_.items = items_.data();
}

}  // namespace distill::host
