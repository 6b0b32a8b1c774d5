// Small conversions between TOML++ nodes and the text distill prints:
// TOML-formatted values for `validate` and run_params, type names for error
// messages, and TOML -> plugin parameter values.
#pragma once

#include "plugins/param_schema.hpp"

#include <toml++/toml.h>

#include <optional>
#include <string>

namespace distill::experiment::detail {

// Shortest text that reads back as the same double, always TOML float syntax
// (1.0, not 1) so a printed value keeps its type.
std::string format_double(double v);
std::string format_string(const std::string& s);  // TOML basic string with escapes
std::string format_node(const toml::node& node);   // [1, 2], "x", { a = 1 }
std::string format_param(const host::ParamValue& value);

// "integer", "string", "array", ...
const char* node_type_name(const toml::node& node);
// "string \"abc\"" -- what was found, for "must be X, got Y" messages.
std::string describe_node(const toml::node& node);

// A plugin parameter value from TOML, or nullopt when TOML's type has no
// plugin counterpart (tables, dates, nested or mixed arrays).
std::optional<host::ParamValue> to_param_value(const toml::node& node);

}  // namespace distill::experiment::detail
