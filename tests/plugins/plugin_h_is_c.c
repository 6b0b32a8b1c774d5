/* plugin.h must be usable from plain C99: this file only has to compile. */
#include <distill/plugin.h>

size_t distill_c_header_check(const distill_entry* entry) {
    return entry->plugin_count + sizeof(distill_plugin_descriptor) + sizeof(distill_step_context);
}
