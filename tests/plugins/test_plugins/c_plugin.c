/* A plugin library written in plain C against plugin.h. Compiled several
 * times with one VARIANT_* define each to make the deliberately broken
 * libraries the refusal tests load; VARIANT_CREATE_ERROR is a valid library
 * whose create() reports an error. */
#include <distill/plugin.h>
#include <torch/version.h>

#include <stddef.h>
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

/* Model calls for the complete model variants; never reached (create fails). */
static __attribute__((unused)) distill_error* c_model_forward(distill_instance* self, const distill_tensor_list* in,
                                                              const distill_tensor_sink* out) {
    (void)self;
    (void)in;
    (void)out;
    return make_error("not reached");
}
static __attribute__((unused)) distill_error* c_model_sink(distill_instance* self, const distill_tensor_sink* out) {
    (void)self;
    (void)out;
    return make_error("not reached");
}
static __attribute__((unused)) distill_error* c_model_training(distill_instance* self, int32_t training) {
    (void)self;
    (void)training;
    return make_error("not reached");
}
static __attribute__((unused)) distill_error* c_model_decode(distill_instance* self, const distill_tensor* latents,
                                                             const distill_tensor_sink* out) {
    (void)self;
    (void)latents;
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

/* Metric declarations (ABI 1.1), one variant per promise the host checks.
   VARIANT_METRICS_LARGER: bindings of a newer minor that appended a field, so
   the array's stride is larger than the host's sizeof, in a library of a
   newer minor that also names a metric this host does not know.
   VARIANT_DESCRIPTOR_10: an ABI 1.0 descriptor (struct_size ends before the
   metric fields), whose memory past it holds garbage the host must not read. */
typedef struct larger_metric_binding {
    distill_metric_binding binding;
    double appended_by_a_newer_minor;
} larger_metric_binding;
#define BINDING(metric, source) {sizeof(distill_metric_binding), metric, source}
#if defined(VARIANT_METRICS_UNKNOWN)
static const distill_metric_binding c_metrics[] = {BINDING("stft_los", NULL)};
#define METRICS c_metrics
#define METRIC_COUNT 1
#elif defined(VARIANT_METRICS_TWICE)
static const distill_metric_binding c_metrics[] = {BINDING("kl_loss", "loss"), BINDING("kl_loss", "kl_raw")};
#define METRICS c_metrics
#define METRIC_COUNT 2
#elif defined(VARIANT_METRICS_NULL)
#define METRICS NULL
#define METRIC_COUNT 1
#elif defined(VARIANT_METRICS_LARGER)
static const larger_metric_binding c_metrics[] = {
    {{sizeof(larger_metric_binding), "a_metric_of_the_future", NULL}, 1.0},
    {{sizeof(larger_metric_binding), "stft_loss", "sc"}, 2.0},
    {{sizeof(larger_metric_binding), "recon_loss", NULL}, 3.0}};
#define METRICS ((const distill_metric_binding*)c_metrics)
#define METRIC_COUNT 3
#elif defined(VARIANT_DESCRIPTOR_10)
#define METRICS ((const distill_metric_binding*)16) /* garbage: past the 1.0 struct_size */
#define METRIC_COUNT 5
#else
#define METRICS NULL
#define METRIC_COUNT 0
#endif
#ifdef VARIANT_DESCRIPTOR_10
#define DESCRIPTOR_SIZE offsetof(distill_plugin_descriptor, metrics)
#else
#define DESCRIPTOR_SIZE sizeof(distill_plugin_descriptor)
#endif

#if defined(VARIANT_MODEL_NO_FORWARD) || defined(VARIANT_MODEL_METRICS)
#ifdef VARIANT_MODEL_METRICS
static const distill_model_api c_model_api = {sizeof(distill_model_api), c_model_forward, c_model_sink,
                                              c_model_sink, c_model_training, c_model_decode};
/* A complete model that declares a reference metric: only losses fill them. */
static const distill_metric_binding c_model_metrics[] = {BINDING("kl_loss", NULL)};
static const distill_plugin_descriptor c_descriptor = {
    sizeof(distill_plugin_descriptor), "test_c_model_metrics", DISTILL_KIND_MODEL, "0.0.1",
    "a plain-C model that declares a metric (test plugin)", NULL, 0, c_create, c_destroy, &c_model_api, NULL,
    c_model_metrics, 1};
#else
/* A model whose call table lacks forward: refused at load, never called. */
static const distill_model_api c_model_api_no_forward = {sizeof(distill_model_api), NULL, NULL, NULL, NULL, NULL};
static const distill_plugin_descriptor c_descriptor = {
    sizeof(distill_plugin_descriptor), "test_c_model_no_forward", DISTILL_KIND_MODEL, "0.0.1",
    "a plain-C model with no forward (test plugin)", NULL, 0, c_create, c_destroy, &c_model_api_no_forward, NULL,
    NULL, 0};
#endif
#else
static const distill_plugin_descriptor c_descriptor = {
    DESCRIPTOR_SIZE, PLUGIN_ID, DISTILL_KIND_LOSS, "0.0.1",
    "a plain-C loss whose create always fails (test plugin)", PARAMS, PARAM_COUNT, c_create, c_destroy, NULL, &c_loss_api,
    METRICS, METRIC_COUNT};
#endif
/* unused in VARIANT_NULL_PLUGINS, whose entry points nowhere instead */
static const distill_plugin_descriptor* const c_plugins[] __attribute__((unused)) = {&c_descriptor};

#ifdef VARIANT_ABI_MAJOR
#define ENTRY_MAJOR (DISTILL_ABI_MAJOR + 1)
#else
#define ENTRY_MAJOR DISTILL_ABI_MAJOR
#endif
#if defined(VARIANT_METRICS_LARGER)
#define ENTRY_MINOR (DISTILL_ABI_MINOR + 1)
#elif defined(VARIANT_DESCRIPTOR_10)
#define ENTRY_MINOR 0
#else
#define ENTRY_MINOR DISTILL_ABI_MINOR
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
    ENTRY_SIZE, ENTRY_MAJOR, ENTRY_MINOR, ENTRY_TORCH, "c-test-plugin", "0.0.1", PLUGINS, 1};

#ifdef VARIANT_NO_ENTRY
/* Exports something, but not the entry symbol. */
DISTILL_EXPORT const distill_entry* not_the_entry(void) { return &c_entry; }
#else
DISTILL_EXPORT const distill_entry* distill_plugin_entry(void) { return &c_entry; }
#endif
