// Small conversions between TOML++ nodes and the text distill prints: TOML
// text of a node, type names for error messages, and TOML -> plugin
// parameter values. Plain values (floats, strings, plugin parameters) are
// formatted by common/text.hpp and host::format_value.
#pragma once

#include "common/text.hpp"
#include "plugins/param_schema.hpp"

#include <toml++/toml.h>

#include <optional>
#include <string>

namespace distill::experiment::detail {

// A node as TOML text ([1, 2], "x", { a = 1 }); scalars through
// common/text.hpp, so they read as `validate` and `plugins describe` print them.
std::string format_node(const toml::node& node);

// "integer", "string", "array", ...
const char* node_type_name(const toml::node& node);
// "string \"abc\"" -- what was found, for "must be X, got Y" messages.
std::string describe_node(const toml::node& node);

// A plugin parameter value from TOML, or nullopt when TOML's type has no
// plugin counterpart (tables, dates, nested or mixed arrays).
std::optional<host::ParamValue> to_param_value(const toml::node& node);

}  // namespace distill::experiment::detail
