/* A plugin library written in plain C against plugin.h. Compiled several
 * times with one VARIANT_* define each to make the deliberately broken
 * libraries the refusal tests load; VARIANT_CREATE_ERROR is a valid library
 * whose create() reports an error. */
#include <distill/plugin.h>
#include <torch/version.h>

#include <stdlib.h>
#include <string.h>

#define STR2(x) #x
#define STR(x) STR2(x)
#define HOST_TORCH STR(TORCH_VERSION_MAJOR) "." STR(TORCH_VERSION_MINOR) "." STR(TORCH_VERSION_PATCH)

static void release_error(distill_error* e) {
    free((void*)e->message);
    free(e);
}

static distill_error* make_error(const char* text) {
    distill_error* e = (distill_error*)malloc(sizeof(distill_error));
    char* copy = (char*)malloc(strlen(text) + 1);
    strcpy(copy, text);
    e->struct_size = sizeof(distill_error);
    e->code = 1;
    e->message = copy;
    e->release = release_error;
    return e;
}

static distill_error* c_create(const distill_param_list* params, const char* device, distill_instance** out) {
    (void)params;
    (void)device;
    *out = NULL;
    return make_error("no GPU named 'imaginary' (deliberate error from a C plugin)");
}

static void c_destroy(distill_instance* self) { (void)self; }

static distill_error* c_compute(distill_instance* self, const distill_tensor_list* in,
                                const distill_step_context* ctx, const distill_tensor_sink* out) {
    (void)self;
    (void)in;
    (void)ctx;
    (void)out;
    return make_error("not reached");
}

static const distill_loss_api c_loss_api = {sizeof(distill_loss_api), c_compute};

#ifdef VARIANT_DUPLICATE
#define PLUGIN_ID "test_square" /* the id the C++ test library already uses */
#else
#define PLUGIN_ID "test_c_create_error"
#endif

static const distill_plugin_descriptor c_descriptor = {
    sizeof(distill_plugin_descriptor), PLUGIN_ID, DISTILL_KIND_LOSS, "0.0.1",
    "a plain-C loss whose create always fails (test plugin)", NULL, 0, c_create, c_destroy, NULL, &c_loss_api};
static const distill_plugin_descriptor* const c_plugins[] = {&c_descriptor};

#ifdef VARIANT_ABI_MAJOR
#define ENTRY_MAJOR (DISTILL_ABI_MAJOR + 1)
#else
#define ENTRY_MAJOR DISTILL_ABI_MAJOR
#endif
#ifdef VARIANT_TORCH
#define ENTRY_TORCH "0.0.1"
#else
#define ENTRY_TORCH HOST_TORCH
#endif

static const distill_entry c_entry = {
    sizeof(distill_entry), ENTRY_MAJOR, DISTILL_ABI_MINOR, ENTRY_TORCH, "c-test-plugin", "0.0.1", c_plugins, 1};

#ifdef VARIANT_NO_ENTRY
/* Exports something, but not the entry symbol. */
DISTILL_EXPORT const distill_entry* not_the_entry(void) { return &c_entry; }
#else
DISTILL_EXPORT const distill_entry* distill_plugin_entry(void) { return &c_entry; }
#endif
