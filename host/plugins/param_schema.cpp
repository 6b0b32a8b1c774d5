#include "plugins/param_schema.hpp"

#include "common/suggest.hpp"
#include "common/text.hpp"
#include "plugins/abi_check.hpp"

#include <algorithm>
#include <cmath>
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
bool is_integer_type(distill_param_type type) { return type == DISTILL_PARAM_INT || type == DISTILL_PARAM_INT_LIST; }

// A bound or a checked value as the parameter's own type writes it: 1 for
// an int parameter, 1.0 for a float one.
std::string number_text(const distill_param_spec& spec, double v) {
    if (is_integer_type(spec.type) && std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9.0e15)
        return std::to_string(static_cast<int64_t>(v));
    return text::toml_float(v);
}

// "in [0.0, 1.0]", ">= 1", "<= 8", or "" when unbounded.
std::string bounds(const distill_param_spec& spec) {
    if (spec.has_min && spec.has_max)
        return "in [" + number_text(spec, spec.min) + ", " + number_text(spec, spec.max) + "]";
    if (spec.has_min) return ">= " + number_text(spec, spec.min);
    if (spec.has_max) return "<= " + number_text(spec, spec.max);
    return "";
}
}  // namespace

std::string format_value(const ParamValue& value) {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, bool>) {
                return v ? "true" : "false";
            } else if constexpr (std::is_same_v<T, int64_t>) {
                return std::to_string(v);
            } else if constexpr (std::is_same_v<T, double>) {
                return text::toml_float(v);
            } else if constexpr (std::is_same_v<T, std::string>) {
                return text::toml_string(v);
            } else {
                std::string out = "[";
                for (size_t i = 0; i < v.size(); ++i) {
                    out += i ? ", " : "";
                    if constexpr (std::is_same_v<T, std::vector<double>>)
                        out += text::toml_float(v[i]);
                    else
                        out += std::to_string(v[i]);
                }
                return out + "]";
            }
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
    return bounds(spec);
}

namespace {
void check_range(const distill_param_spec& spec, double v) {
    if (std::isnan(v) || (spec.has_min && v < spec.min) || (spec.has_max && v > spec.max)) {
        const std::string wanted = bounds(spec);
        throw std::invalid_argument("parameter '" + std::string(spec.name) + "' must be " +
                                    (wanted.empty() ? std::string("a number") : wanted) + ", got " + number_text(spec, v));
    }
}
[[noreturn]] void wrong_type(const distill_param_spec& spec, const ParamValue& given) {
    throw std::invalid_argument("parameter '" + std::string(spec.name) + "' must be " +
                                text::with_article(type_name(spec.type)) + ", got " + format_value(given));
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
            throw std::invalid_argument("parameter '" + std::string(spec.name) + "' must be " +
                                        describe_constraints(spec) + ", got " + text::toml_string(s));
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
