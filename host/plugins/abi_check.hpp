// The ABI's promises, checked before anything a library hands over is used:
// struct sizes (an older, smaller struct works, a field past its struct_size
// is absent), every mandatory pointer, and arrays against their counts. A
// library that breaks one is refused with a line naming it and the field.
#pragma once

#include <distill/plugin.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace distill::host {

// True when `field` lies inside the struct as the plugin built it.
template <class Struct, class Field>
bool has_field(const Struct* s, Field Struct::*field) {
    const auto* base = reinterpret_cast<const char*>(s);
    const auto* at = reinterpret_cast<const char*>(&(s->*field));
    return static_cast<size_t>(at - base) + sizeof(Field) <= s->struct_size;
}

// "" when the entry can be used, else why not ("entry: plugins is NULL but
// plugin_count is 2"). Checks the entry itself, not its descriptors.
std::string check_entry(const distill_entry* entry);

// "" when descriptor #index can be used, else why not, naming the plugin (or
// its index) and the field. `abi_minor`: the library's; a library newer than
// the host may declare reference metrics the host does not know.
std::string check_descriptor(const distill_plugin_descriptor* d, size_t index, uint32_t abi_minor = DISTILL_ABI_MINOR);

// Parameter `i` of a descriptor: the array's stride is the plugin's own
// sizeof(distill_param_spec) (its first element's struct_size), so a plugin
// of a newer minor with a larger spec still reads right.
const distill_param_spec& param_at(const distill_plugin_descriptor& d, size_t i);

// A reference metric a loss plugin declares it fills (plugin.h,
// distill_metric_binding), resolved against store/metric_columns.hpp.
struct MetricSource {
    size_t metric = 0;     // index into store::kReferenceMetrics
    std::string name;      // the metric's name
    std::string source;    // "loss" or a sub-term
};

// The declarations of a checked descriptor: none for an ABI 1.0 descriptor;
// a metric this host does not know (from a newer minor) is left out.
std::vector<MetricSource> declared_metrics(const distill_plugin_descriptor& d);

}  // namespace distill::host
