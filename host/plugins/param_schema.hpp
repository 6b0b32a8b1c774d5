// Plugin parameter values on the host side: checking values against a
// plugin's schema, filling in defaults, and handing them to create().
#pragma once

#include <distill/plugin.h>
#include <distill/sdk.hpp>  // distill::Params::Value

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace distill::host {

using ParamValue = distill::Params::Value;
// Every schema parameter, resolved, in schema order.
using ParamValues = std::vector<std::pair<std::string, ParamValue>>;

const char* type_name(distill_param_type type);
// TOML text, as `validate` prints resolved values: 1, 0.5, 1.0, "x", [1, 2].
std::string format_value(const ParamValue& value);
ParamValue default_value(const distill_param_spec& spec);
std::string describe_constraints(const distill_param_spec& spec);  // "in [0.0, 1.0]", ">= 1", "one of a|b", ""

// Checks one given value against its spec and converts it to the spec's type
// (an int is accepted for a float, a list of ints for a list of floats).
// Throws std::invalid_argument with a message naming the parameter.
ParamValue check_value(const distill_param_spec& spec, const ParamValue& given);

// All of a plugin's parameters: given values checked, the rest defaulted.
// An unknown name throws std::invalid_argument with a suggestion.
ParamValues resolve_params(const distill_plugin_descriptor& plugin, const std::map<std::string, ParamValue>& given);

// A distill_param_list view of resolved values, alive as long as this object.
class ParamListView {
public:
    explicit ParamListView(const ParamValues& values);
    const distill_param_list* get() const { return &list_; }

private:
    std::vector<distill_named_value> items_;
    distill_param_list list_{};
};

}  // namespace distill::host
