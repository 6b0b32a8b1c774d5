// The ABI's promises, checked before anything a library hands over is used:
// struct sizes (an older, smaller struct works, a field past its struct_size
// is absent), every mandatory pointer, and arrays against their counts. A
// library that breaks one is refused with a line naming it and the field.
#pragma once

#include <distill/plugin.h>

#include <cstddef>
#include <string>

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
// its index) and the field.
std::string check_descriptor(const distill_plugin_descriptor* d, size_t index);

// Parameter `i` of a descriptor: the array's stride is the plugin's own
// sizeof(distill_param_spec) (its first element's struct_size), so a plugin
// of a newer minor with a larger spec still reads right.
const distill_param_spec& param_at(const distill_plugin_descriptor& d, size_t i);

}  // namespace distill::host
