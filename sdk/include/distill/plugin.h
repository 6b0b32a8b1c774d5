/*
 * distill plugin ABI, version 1.1 (1.1 added the metric declarations of loss
 * plugins: distill_metric_binding).
 *
 * A plugin library is a shared object that exports ONE C symbol,
 * `distill_plugin_entry`, returning a pointer to a constant `distill_entry`.
 * The entry lists plugin descriptors; each descriptor carries metadata (id,
 * kind, version, summary, parameter schema) that the host reads before
 * anything heavy happens, plus the function tables the host calls.
 *
 * Rules that hold for every call in this header:
 *  - Every call that can fail returns `distill_error*`: NULL means success.
 *    A non-NULL error is owned by the caller (the host), which reads
 *    `message` and then calls `release` exactly once.
 *  - No C++ exception ever crosses this boundary (the SDK's C++ layer,
 *    sdk.hpp, catches everything, c10::Error included, and turns it into a
 *    distill_error).
 *  - Tensors cross as `distill_tensor*`: an opaque handle that points at the
 *    host's own LibTorch tensor object (plugins link the same libtorch, which
 *    the host checks through `torch_version`). Autograd history is preserved,
 *    so a loss computed in a loss plugin back-propagates into a model plugin.
 *  - Pointers passed INTO a call are owned by the caller and valid only for
 *    the duration of the call unless stated otherwise.
 *  - Results leave a plugin through a `distill_tensor_sink`: the plugin calls
 *    `put` once per named tensor; the host takes its own reference during
 *    `put`, so the plugin keeps ownership of everything it passed.
 *  - Growth: structs carry `struct_size` and only ever gain fields at the end;
 *    new capabilities get new fields or new structs, never changed old ones.
 *    The ABI minor version counts such additions; the major changes only when
 *    something old breaks.
 *  - Threading: the host calls one instance from one thread at a time.
 *    Descriptors and the entry are immutable and may be read from any thread.
 */
#ifndef DISTILL_PLUGIN_H
#define DISTILL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DISTILL_ABI_MAJOR 1
#define DISTILL_ABI_MINOR 1

/* Name of the single exported symbol. Its type is distill_entry_fn. */
#define DISTILL_ENTRY_SYMBOL "distill_plugin_entry"

#if defined(_WIN32)
#define DISTILL_EXPORT __declspec(dllexport)
#else
#define DISTILL_EXPORT __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------ errors */

/* What went wrong, as distill_error.code. The host maps these to its exit
   statuses: BAD_INPUT and UNSUPPORTED are the user's to fix (exit 2),
   FAILED and INTERNAL are failures (exit 1). Unknown codes count as FAILED. */
#define DISTILL_ERROR_FAILED 1      /* the call could not be done (generic) */
#define DISTILL_ERROR_BAD_INPUT 2   /* the caller's input is wrong: a parameter
                                       combination, a tensor's shape, ... */
#define DISTILL_ERROR_UNSUPPORTED 3 /* valid, but not something this plugin
                                       can do (a device, a dtype) */
#define DISTILL_ERROR_INTERNAL 4    /* a bug in the plugin */

typedef struct distill_error {
    uint32_t struct_size;      /* sizeof(distill_error) as the plugin knew it */
    int32_t code;              /* non-zero: a DISTILL_ERROR_* value */
    const char* message;       /* UTF-8, NUL-terminated; owned by the error,
                                  valid until release() */
    /* Frees the error and its message. Called exactly once by the owner.
       Mandatory. */
    void (*release)(struct distill_error* self);
} distill_error;

/* ----------------------------------------------------------------- tensors */

/* Opaque handle to a LibTorch tensor (an at::Tensor object in the host's
   address space). Never dereferenced by C code. */
typedef struct distill_tensor distill_tensor;

typedef struct distill_named_tensor {
    const char* name;              /* e.g. "x", "recon", "mu"; never NULL */
    const distill_tensor* tensor;  /* never NULL */
} distill_named_tensor;

/* A read-only list of named tensors passed into a call (owned by the caller,
   valid during the call). Names are unique within a list. */
typedef struct distill_tensor_list {
    size_t count;
    const distill_named_tensor* items;
} distill_tensor_list;

/* Where a call puts its named tensor results. Owned by the host. `put` copies
   the name and takes a new reference to the tensor before returning; it
   returns NULL on success or an error the plugin must release (or pass on
   as its own result). */
typedef struct distill_tensor_sink {
    void* context; /* host data; the plugin passes it back untouched */
    distill_error* (*put)(void* context, const char* name,
                          const distill_tensor* tensor);
} distill_tensor_sink;

/* -------------------------------------------------------------- parameters */

typedef enum distill_param_type {
    DISTILL_PARAM_BOOL = 1,
    DISTILL_PARAM_INT = 2,
    DISTILL_PARAM_FLOAT = 3,
    DISTILL_PARAM_STRING = 4,
    DISTILL_PARAM_INT_LIST = 5,
    DISTILL_PARAM_FLOAT_LIST = 6
} distill_param_type;

/* One typed value. Which fields are meaningful depends on `type`:
   BOOL/INT -> int_value (bool as 0/1); FLOAT -> float_value;
   STRING -> string_value; INT_LIST -> ints[count]; FLOAT_LIST ->
   floats[count]. Storage is owned by whoever made the value (a descriptor's
   defaults live as long as the library; values passed to create() live for
   the duration of the call). */
typedef struct distill_value {
    distill_param_type type;
    int64_t int_value;
    double float_value;
    const char* string_value;
    size_t count;
    const int64_t* ints;
    const double* floats;
} distill_value;

/* One entry of a plugin's parameter schema. The host validates experiment
   files against it before loading data, and fills in defaults, so create()
   always receives every parameter of the schema, resolved and typed. */
typedef struct distill_param_spec {
    uint32_t struct_size;
    const char* name;              /* key in the experiment file */
    distill_param_type type;
    distill_value default_value;   /* mandatory; same type as `type` */
    int has_min;                   /* numeric types, and each element of lists */
    double min;
    int has_max;
    double max;
    const char* const* choices;    /* STRING only; NULL = any string */
    size_t choice_count;
    const char* doc;               /* one line for `distill plugins describe` */
} distill_param_spec;

typedef struct distill_named_value {
    const char* name;
    distill_value value;
} distill_named_value;

/* Resolved parameters handed to create(): every schema entry, in schema
   order. Owned by the host, valid during create() only: copy what you keep. */
typedef struct distill_param_list {
    size_t count;
    const distill_named_value* items;
} distill_param_list;

/* ----------------------------------------------------------- call context */

/* Where in training a loss is being computed. Owned by the host, valid during
   the call. */
typedef struct distill_step_context {
    uint32_t struct_size;
    int64_t epoch;           /* 0-based */
    int64_t total_epochs;
    int64_t step;            /* 0-based within the epoch */
    int64_t steps_per_epoch;
    int32_t training;        /* 1 = training step, 0 = validation */
} distill_step_context;

/* ------------------------------------------------------------ plugin kinds */

typedef enum distill_plugin_kind {
    DISTILL_KIND_MODEL = 1,
    DISTILL_KIND_LOSS = 2
} distill_plugin_kind;

/* Opaque plugin instance, created by a descriptor's create() and owned by
   the host until it passes it to destroy(). */
typedef struct distill_instance distill_instance;

/* Calls of a model plugin. All mandatory. */
typedef struct distill_model_api {
    uint32_t struct_size;
    /* Named inputs (at least "x": [B, C, H, W]) -> named outputs put into
       `out` (the conv_vae puts "recon", "mu", "logvar", "z"). */
    distill_error* (*forward)(distill_instance* self,
                              const distill_tensor_list* inputs,
                              const distill_tensor_sink* out);
    /* Puts every trainable parameter, by stable dotted name. The tensors are
       the plugin's own (the host's optimizer updates them in place). */
    distill_error* (*parameters)(distill_instance* self,
                                 const distill_tensor_sink* out);
    /* Puts every buffer (e.g. BatchNorm running statistics), by name. */
    distill_error* (*buffers)(distill_instance* self,
                              const distill_tensor_sink* out);
    /* Switches between training (1) and evaluation (0) behaviour. */
    distill_error* (*set_training)(distill_instance* self, int32_t training);
    /* Latents [N, L] -> the output named "recon" put into `out`. */
    distill_error* (*decode)(distill_instance* self,
                             const distill_tensor* latents,
                             const distill_tensor_sink* out);
} distill_model_api;

/* Calls of a loss plugin. All mandatory. */
typedef struct distill_loss_api {
    uint32_t struct_size;
    /* Named tensors in (the model's outputs plus "target"). Puts exactly one
       scalar named "loss", and optionally further scalars (sub-terms for
       logging, e.g. "sc", "log_mag"). The host weights and sums losses;
       the plugin returns the raw, unweighted value. */
    distill_error* (*compute)(distill_instance* self,
                              const distill_tensor_list* inputs,
                              const distill_step_context* context,
                              const distill_tensor_sink* out);
} distill_loss_api;

/* ------------------------------------------------- metric declarations (1.1) */

/* The run database keeps every loss value in `loss_terms`. Besides, its
   step_metrics and epoch_metrics tables have fixed "reference" columns users
   query by name (stft_loss, recon_loss, kl_loss, ...). A loss plugin declares
   which of them its values fill; the host never matches plugin ids, and a
   reference column that no loss entry of an experiment declares is NULL.

   `metric` names a reference metric; docs/schema.md ("Reference columns")
   lists them, what each means and the columns each fills. How an entry's
   value gets there depends on the metric: most take the source's raw value
   (the first entry that declares it wins), "recon_loss" adds up weight x
   value over every entry that declares it, "kl_weight" takes the entry's
   weight (its source is not read).
   `source` is "loss" (the raw value) or the name of a sub-term the plugin's
   compute puts, e.g. "kl_raw"; NULL means "loss". A declared sub-term that a
   compute call does not put is an error naming the plugin.

   The host refuses a library whose declarations name an unknown metric, or
   one metric twice -- except that a library of a newer ABI minor than the
   host's may name metrics the host does not know yet, which it ignores. */
typedef struct distill_metric_binding {
    uint32_t struct_size;  /* sizeof(distill_metric_binding) as the plugin knew it */
    const char* metric;    /* e.g. "stft_loss", "kl_divergence"; never NULL */
    const char* source;    /* "loss", a sub-term name, or NULL (= "loss") */
} distill_metric_binding;

typedef struct distill_plugin_descriptor {
    uint32_t struct_size;
    const char* id;          /* unique across all loaded libraries: "stft" */
    distill_plugin_kind kind;
    const char* version;     /* the plugin's own version, e.g. "1.0.0" */
    const char* summary;     /* one line */
    const distill_param_spec* params; /* schema, param_count entries */
    size_t param_count;
    /* Makes an instance with the resolved parameters on `device` ("cpu",
       "cuda:0", ...). On success stores the instance in *out. */
    distill_error* (*create)(const distill_param_list* params,
                             const char* device, distill_instance** out);
    /* Frees an instance. Never fails. Mandatory. */
    void (*destroy)(distill_instance* self);
    const distill_model_api* model; /* non-NULL exactly when kind == MODEL */
    const distill_loss_api* loss;   /* non-NULL exactly when kind == LOSS */
    /* ABI 1.1; absent in a smaller (1.0) descriptor, which declares nothing.
       The reference metrics a loss plugin fills, metric_count entries (the
       array's stride is metrics[0].struct_size); NULL and 0 for none, and
       always for a model plugin. */
    const distill_metric_binding* metrics;
    size_t metric_count;
} distill_plugin_descriptor;

/* ------------------------------------------------------------------ entry */

typedef struct distill_entry {
    uint32_t struct_size;
    uint32_t abi_major;         /* DISTILL_ABI_MAJOR the library was built with */
    uint32_t abi_minor;         /* DISTILL_ABI_MINOR the library was built with */
    const char* torch_version;  /* LibTorch the library was built against,
                                   "MAJOR.MINOR.PATCH"; must equal the host's */
    const char* library_name;
    const char* library_version;
    const distill_plugin_descriptor* const* plugins; /* plugin_count entries */
    size_t plugin_count;
} distill_entry;

/* The type of the exported `distill_plugin_entry` symbol. The returned
   entry and everything it points to live as long as the library is loaded
   (the host never unloads plugin libraries before exit). */
typedef const distill_entry* (*distill_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DISTILL_PLUGIN_H */
