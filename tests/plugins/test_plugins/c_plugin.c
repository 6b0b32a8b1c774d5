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

static __attribute__((unused)) distill_error* c_compute(distill_instance* self, const distill_tensor_list* in,
                                const distill_step_context* ctx, const distill_tensor_sink* out) {
    (void)self;
    (void)in;
    (void)ctx;
    (void)out;
    return make_error("not reached");
}

#ifdef VARIANT_NULL_COMPUTE
static const distill_loss_api c_loss_api __attribute__((unused)) = {sizeof(distill_loss_api), NULL};
#else
static const distill_loss_api c_loss_api __attribute__((unused)) = {sizeof(distill_loss_api), c_compute};
#endif

/* Parameters. VARIANT_LARGER_PARAMS: specs of a newer minor that appended a
   field, so the array's stride is larger than the host's sizeof. */
typedef struct larger_param_spec {
    distill_param_spec spec;
    double appended_by_a_newer_minor;
} larger_param_spec;
#define PARAM(size, name, type, def) {size, name, type, def, 0, 0.0, 0, 0.0, NULL, 0, "test parameter"}
#define INT_VALUE(v) {DISTILL_PARAM_INT, v, 0.0, NULL, 0, NULL, NULL}
#define STRING_VALUE(v) {DISTILL_PARAM_STRING, 0, 0.0, v, 0, NULL, NULL}
#ifdef VARIANT_LARGER_PARAMS
static const larger_param_spec c_params[] = {
    {PARAM(sizeof(larger_param_spec), "first", DISTILL_PARAM_INT, INT_VALUE(3)), 1.0},
    {PARAM(sizeof(larger_param_spec), "second", DISTILL_PARAM_STRING, STRING_VALUE("b")), 2.0}};
#define PARAMS ((const distill_param_spec*)c_params)
#define PARAM_COUNT 2
#elif defined(VARIANT_NULL_PARAMS)
#define PARAMS NULL
#define PARAM_COUNT 2
#elif defined(VARIANT_NULL_CHOICES)
static const distill_param_spec c_params[] = {
    {sizeof(distill_param_spec), "mode", DISTILL_PARAM_STRING, STRING_VALUE("a"), 0, 0.0, 0, 0.0, NULL, 2, "x"}};
#define PARAMS c_params
#define PARAM_COUNT 1
#else
#define PARAMS NULL
#define PARAM_COUNT 0
#endif

#ifdef VARIANT_DUPLICATE
#define PLUGIN_ID "test_square" /* the id the C++ test library already uses */
#else
#define PLUGIN_ID "test_c_create_error"
#endif

#ifdef VARIANT_MODEL_NO_FORWARD
/* A model whose call table lacks forward: refused at load, never called. */
static const distill_model_api c_model_api = {sizeof(distill_model_api), NULL, NULL, NULL, NULL, NULL};
static const distill_plugin_descriptor c_descriptor = {
    sizeof(distill_plugin_descriptor), "test_c_model_no_forward", DISTILL_KIND_MODEL, "0.0.1",
    "a plain-C model with no forward (test plugin)", NULL, 0, c_create, c_destroy, &c_model_api, NULL};
#else
static const distill_plugin_descriptor c_descriptor = {
    sizeof(distill_plugin_descriptor), PLUGIN_ID, DISTILL_KIND_LOSS, "0.0.1",
    "a plain-C loss whose create always fails (test plugin)", PARAMS, PARAM_COUNT, c_create, c_destroy, NULL, &c_loss_api};
#endif
/* unused in VARIANT_NULL_PLUGINS, whose entry points nowhere instead */
static const distill_plugin_descriptor* const c_plugins[] __attribute__((unused)) = {&c_descriptor};

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

#ifdef VARIANT_NULL_PLUGINS
#define PLUGINS NULL /* with a count of 1: the host must not read it */
#else
#define PLUGINS c_plugins
#endif
#ifdef VARIANT_SMALL_ENTRY
#define ENTRY_SIZE 8
#else
#define ENTRY_SIZE sizeof(distill_entry)
#endif

static const distill_entry c_entry = {
    ENTRY_SIZE, ENTRY_MAJOR, DISTILL_ABI_MINOR, ENTRY_TORCH, "c-test-plugin", "0.0.1", PLUGINS, 1};

#ifdef VARIANT_NO_ENTRY
/* Exports something, but not the entry symbol. */
DISTILL_EXPORT const distill_entry* not_the_entry(void) { return &c_entry; }
#else
DISTILL_EXPORT const distill_entry* distill_plugin_entry(void) { return &c_entry; }
#endif
