// The C++ side of the plugin SDK. A plugin author writes an ordinary class
// derived from distill::ModelPlugin or distill::LossPlugin, with
//
//     static distill::PluginInfo info();                 // id, version, schema
//     MyPlugin(const distill::Params& params, const std::string& device);
//
// and exports the library with one macro:
//
//     DISTILL_PLUGIN_LIBRARY("my-losses", "1.0.0", MyLoss, MyOtherLoss)
//
// Everything else (descriptors, C thunks, tensor handles, turning every
// exception -- c10::Error included -- into a distill_error) lives here.
#pragma once

#include <distill/bridge.hpp>
#include <distill/plugin.h>

#include <c10/util/Exception.h>
#include <torch/version.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#define DISTILL_SDK_STR2(x) #x
#define DISTILL_SDK_STR(x) DISTILL_SDK_STR2(x)
// LibTorch version this translation unit is compiled against, as the host
// compares it: "MAJOR.MINOR.PATCH".
#define DISTILL_TORCH_VERSION \
    DISTILL_SDK_STR(TORCH_VERSION_MAJOR) "." DISTILL_SDK_STR(TORCH_VERSION_MINOR) "." DISTILL_SDK_STR(TORCH_VERSION_PATCH)

namespace distill {

// ------------------------------------------------------------------ schema

// One parameter of a plugin's schema, in C++ form. Build with the functions
// in distill::param and refine with range()/at_least()/one_of().
struct ParamDef {
    std::string name;
    distill_param_type type = DISTILL_PARAM_FLOAT;
    std::string doc;
    int64_t int_default = 0;  // BOOL and INT
    double float_default = 0.0;
    std::string string_default;
    std::vector<int64_t> ints_default;
    std::vector<double> floats_default;
    std::optional<double> min, max;
    std::vector<std::string> choices;

    ParamDef& range(double lo, double hi) { min = lo; max = hi; return *this; }
    ParamDef& at_least(double lo) { min = lo; return *this; }
    ParamDef& at_most(double hi) { max = hi; return *this; }
    ParamDef& one_of(std::vector<std::string> allowed) { choices = std::move(allowed); return *this; }
};

namespace param {
inline ParamDef make(std::string name, distill_param_type type, std::string doc) {
    ParamDef p;
    p.name = std::move(name);
    p.type = type;
    p.doc = std::move(doc);
    return p;
}
inline ParamDef boolean(std::string name, bool def, std::string doc) {
    ParamDef p = make(std::move(name), DISTILL_PARAM_BOOL, std::move(doc));
    p.int_default = def ? 1 : 0;
    return p;
}
inline ParamDef integer(std::string name, int64_t def, std::string doc) {
    ParamDef p = make(std::move(name), DISTILL_PARAM_INT, std::move(doc));
    p.int_default = def;
    return p;
}
inline ParamDef real(std::string name, double def, std::string doc) {
    ParamDef p = make(std::move(name), DISTILL_PARAM_FLOAT, std::move(doc));
    p.float_default = def;
    return p;
}
inline ParamDef string(std::string name, std::string def, std::string doc) {
    ParamDef p = make(std::move(name), DISTILL_PARAM_STRING, std::move(doc));
    p.string_default = std::move(def);
    return p;
}
inline ParamDef int_list(std::string name, std::vector<int64_t> def, std::string doc) {
    ParamDef p = make(std::move(name), DISTILL_PARAM_INT_LIST, std::move(doc));
    p.ints_default = std::move(def);
    return p;
}
inline ParamDef float_list(std::string name, std::vector<double> def, std::string doc) {
    ParamDef p = make(std::move(name), DISTILL_PARAM_FLOAT_LIST, std::move(doc));
    p.floats_default = std::move(def);
    return p;
}
}  // namespace param

// A reference metric the plugin's values fill (plugin.h,
// distill_metric_binding; the names are in docs/schema.md, "Reference
// columns"): {"stft_loss"} for the raw "loss", {"kl_divergence", "kl_raw"}
// for a sub-term.
struct MetricDef {
    std::string metric;
    std::string source = "loss";
};

struct PluginInfo {
    std::string id;
    std::string version;
    std::string summary;
    std::vector<ParamDef> params;
    std::vector<MetricDef> metrics = {};  // loss plugins only
};

// --------------------------------------------------------------- params in

// The resolved parameters a plugin instance is created with (the host has
// already validated them against the schema and filled in defaults). Getters
// throw std::invalid_argument naming the parameter when it is absent or of
// another type.
class Params {
public:
    using Value = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<double>>;

    Params() = default;
    explicit Params(const distill_param_list* list) {
        if (list == nullptr) return;
        for (size_t i = 0; i < list->count; ++i) {
            const auto& item = list->items[i];
            const distill_value& v = item.value;
            switch (v.type) {
                case DISTILL_PARAM_BOOL: values_.emplace_back(item.name, v.int_value != 0); break;
                case DISTILL_PARAM_INT: values_.emplace_back(item.name, v.int_value); break;
                case DISTILL_PARAM_FLOAT: values_.emplace_back(item.name, v.float_value); break;
                case DISTILL_PARAM_STRING:
                    values_.emplace_back(item.name, std::string(v.string_value ? v.string_value : ""));
                    break;
                case DISTILL_PARAM_INT_LIST:
                    values_.emplace_back(item.name, std::vector<int64_t>(v.ints, v.ints + v.count));
                    break;
                case DISTILL_PARAM_FLOAT_LIST:
                    values_.emplace_back(item.name, std::vector<double>(v.floats, v.floats + v.count));
                    break;
                default:
                    throw std::invalid_argument("parameter '" + std::string(item.name) + "' has an unknown type");
            }
        }
    }

    void set(const std::string& name, Value value) {
        for (auto& [n, v] : values_)
            if (n == name) { v = std::move(value); return; }
        values_.emplace_back(name, std::move(value));
    }
    bool has(const std::string& name) const { return find(name) != nullptr; }

    bool get_bool(const std::string& name) const { return get<bool>(name, "bool"); }
    int64_t get_int(const std::string& name) const { return get<int64_t>(name, "int"); }
    double get_float(const std::string& name) const {
        // An int where a float is wanted is fine (TOML writes 1 for 1.0).
        if (const Value* v = find(name); v != nullptr && std::holds_alternative<int64_t>(*v))
            return static_cast<double>(std::get<int64_t>(*v));
        return get<double>(name, "float");
    }
    std::string get_string(const std::string& name) const { return get<std::string>(name, "string"); }
    std::vector<int64_t> get_int_list(const std::string& name) const {
        return get<std::vector<int64_t>>(name, "list of int");
    }
    std::vector<double> get_float_list(const std::string& name) const {
        return get<std::vector<double>>(name, "list of float");
    }

private:
    const Value* find(const std::string& name) const {
        for (const auto& [n, v] : values_)
            if (n == name) return &v;
        return nullptr;
    }
    template <class T>
    const T& get(const std::string& name, const char* type_name) const {
        const Value* v = find(name);
        if (v == nullptr) throw std::invalid_argument("missing parameter '" + name + "'");
        if (!std::holds_alternative<T>(*v))
            throw std::invalid_argument("parameter '" + name + "' is not a " + type_name);
        return std::get<T>(*v);
    }

    std::vector<std::pair<std::string, Value>> values_;
};

struct StepContext {
    int64_t epoch = 0;
    int64_t total_epochs = 1;
    int64_t step = 0;
    int64_t steps_per_epoch = 1;
    bool training = true;
};

// ------------------------------------------------------------- base classes

class ModelPlugin {
public:
    virtual ~ModelPlugin() = default;
    // Named inputs ("x") -> named outputs ("recon", "mu", "logvar", "z").
    virtual TensorMap forward(const TensorMap& inputs) = 0;
    // Trainable parameters and buffers under stable dotted names.
    virtual NamedTensors parameters() = 0;
    virtual NamedTensors buffers() = 0;
    virtual void set_training(bool training) = 0;
    // Latents [N, L] -> outputs with at least "recon".
    virtual TensorMap decode(const at::Tensor& latents) = 0;
};

class LossPlugin {
public:
    virtual ~LossPlugin() = default;
    // Must return a scalar "loss" (raw, unweighted); may add sub-terms.
    virtual TensorMap compute(const TensorMap& inputs, const StepContext& context) = 0;
};

// Throws std::invalid_argument("missing input 'NAME' ...") when absent.
inline const at::Tensor& require_input(const TensorMap& inputs, const std::string& name) {
    auto it = inputs.find(name);
    if (it == inputs.end()) {
        std::string have;
        for (const auto& [n, t] : inputs) have += (have.empty() ? "" : ", ") + n;
        throw std::invalid_argument("missing input '" + name + "' (given: " + have + ")");
    }
    return it->second;
}

// ------------------------------------------------------------- the thunks

namespace detail {

// Runs f; turns every exception into a distill_error. Bad input
// (std::invalid_argument) gets code 2, anything else code 1.
template <class F>
distill_error* guard(F&& f) noexcept {
    try {
        f();
        return nullptr;
    } catch (const c10::Error& e) {
        return make_error(DISTILL_ERROR_FAILED, e.what_without_backtrace());
    } catch (const AbiError& e) {
        return make_error(e.code(), e.what());
    } catch (const std::invalid_argument& e) {
        return make_error(DISTILL_ERROR_BAD_INPUT, e.what());
    } catch (const std::exception& e) {
        return make_error(DISTILL_ERROR_FAILED, e.what());
    } catch (...) {
        return make_error(DISTILL_ERROR_INTERNAL, "unknown exception");
    }
}

template <class T>
T* self_of(distill_instance* self) noexcept {
    return reinterpret_cast<T*>(self);
}

inline void put_all(const distill_tensor_sink* out, const TensorMap& tensors) {
    for (const auto& [name, tensor] : tensors) put_tensor(out, name, tensor);
}
inline void put_all(const distill_tensor_sink* out, const NamedTensors& tensors) {
    for (const auto& [name, tensor] : tensors) put_tensor(out, name, tensor);
}

template <class T>
struct Thunks {
    static distill_error* create(const distill_param_list* params, const char* device,
                                 distill_instance** out) noexcept {
        return guard([&] {
            if (out == nullptr) throw std::invalid_argument("create: out is NULL");
            *out = nullptr;
            Params resolved(params);
            auto instance = std::make_unique<T>(resolved, std::string(device ? device : "cpu"));
            *out = reinterpret_cast<distill_instance*>(instance.release());
        });
    }
    static void destroy(distill_instance* self) noexcept {
        try {
            delete self_of<T>(self);
        } catch (...) {
            // Destructors must not throw; nothing sensible to report here.
        }
    }
    static distill_error* forward(distill_instance* self, const distill_tensor_list* in,
                                  const distill_tensor_sink* out) noexcept {
        return guard([&] { put_all(out, self_of<T>(self)->forward(to_map(in))); });
    }
    static distill_error* parameters(distill_instance* self, const distill_tensor_sink* out) noexcept {
        return guard([&] { put_all(out, self_of<T>(self)->parameters()); });
    }
    static distill_error* buffers(distill_instance* self, const distill_tensor_sink* out) noexcept {
        return guard([&] { put_all(out, self_of<T>(self)->buffers()); });
    }
    static distill_error* set_training(distill_instance* self, int32_t training) noexcept {
        return guard([&] { self_of<T>(self)->set_training(training != 0); });
    }
    static distill_error* decode(distill_instance* self, const distill_tensor* latents,
                                 const distill_tensor_sink* out) noexcept {
        return guard([&] {
            if (latents == nullptr) throw std::invalid_argument("decode: latents is NULL");
            put_all(out, self_of<T>(self)->decode(from_handle(latents)));
        });
    }
    static distill_error* compute(distill_instance* self, const distill_tensor_list* in,
                                  const distill_step_context* ctx, const distill_tensor_sink* out) noexcept {
        return guard([&] {
            StepContext context;
            if (ctx != nullptr) {
                context.epoch = ctx->epoch;
                context.total_epochs = ctx->total_epochs;
                context.step = ctx->step;
                context.steps_per_epoch = ctx->steps_per_epoch;
                context.training = ctx->training != 0;
            }
            TensorMap result = self_of<T>(self)->compute(to_map(in), context);
            if (result.find("loss") == result.end())
                throw std::logic_error("compute returned no tensor named 'loss'");
            put_all(out, result);
        });
    }
};

// Owns the C descriptor of plugin class T and every string it points to.
template <class T>
class DescriptorStorage {
public:
    DescriptorStorage() : info_(T::info()) {
        specs_.reserve(info_.params.size());
        choice_ptrs_.resize(info_.params.size());
        for (size_t i = 0; i < info_.params.size(); ++i) {
            const ParamDef& p = info_.params[i];
            distill_param_spec s{};
            s.struct_size = sizeof(distill_param_spec);
            s.name = p.name.c_str();
            s.type = p.type;
            s.default_value.type = p.type;
            s.default_value.int_value = p.int_default;
            s.default_value.float_value = p.float_default;
            s.default_value.string_value = p.string_default.c_str();
            s.default_value.count = p.type == DISTILL_PARAM_INT_LIST ? p.ints_default.size() : p.floats_default.size();
            s.default_value.ints = p.ints_default.data();
            s.default_value.floats = p.floats_default.data();
            s.has_min = p.min.has_value();
            s.min = p.min.value_or(0.0);
            s.has_max = p.max.has_value();
            s.max = p.max.value_or(0.0);
            for (const auto& c : p.choices) choice_ptrs_[i].push_back(c.c_str());
            s.choices = p.choices.empty() ? nullptr : choice_ptrs_[i].data();
            s.choice_count = p.choices.size();
            s.doc = p.doc.c_str();
            specs_.push_back(s);
        }
        desc_.struct_size = sizeof(distill_plugin_descriptor);
        desc_.id = info_.id.c_str();
        desc_.version = info_.version.c_str();
        desc_.summary = info_.summary.c_str();
        desc_.params = specs_.data();
        desc_.param_count = specs_.size();
        bindings_.reserve(info_.metrics.size());
        for (const MetricDef& m : info_.metrics)
            bindings_.push_back({sizeof(distill_metric_binding), m.metric.c_str(), m.source.c_str()});
        desc_.metrics = bindings_.empty() ? nullptr : bindings_.data();
        desc_.metric_count = bindings_.size();
        desc_.create = &Thunks<T>::create;
        desc_.destroy = &Thunks<T>::destroy;
        if constexpr (std::is_base_of_v<ModelPlugin, T>) {
            model_ = {sizeof(distill_model_api), &Thunks<T>::forward, &Thunks<T>::parameters,
                      &Thunks<T>::buffers, &Thunks<T>::set_training, &Thunks<T>::decode};
            desc_.kind = DISTILL_KIND_MODEL;
            desc_.model = &model_;
        } else {
            static_assert(std::is_base_of_v<LossPlugin, T>, "a plugin derives from ModelPlugin or LossPlugin");
            loss_ = {sizeof(distill_loss_api), &Thunks<T>::compute};
            desc_.kind = DISTILL_KIND_LOSS;
            desc_.loss = &loss_;
        }
    }
    const distill_plugin_descriptor* get() const noexcept { return &desc_; }

private:
    PluginInfo info_;
    std::vector<distill_param_spec> specs_;
    std::vector<std::vector<const char*>> choice_ptrs_;
    std::vector<distill_metric_binding> bindings_;
    distill_model_api model_{};
    distill_loss_api loss_{};
    distill_plugin_descriptor desc_{};
};

template <class... Plugins>
class EntryStorage {
public:
    EntryStorage(const char* name, const char* version) {
        std::apply([this](const auto&... d) { (pointers_.push_back(d.get()), ...); }, descriptors_);
        entry_.struct_size = sizeof(distill_entry);
        entry_.abi_major = DISTILL_ABI_MAJOR;
        entry_.abi_minor = DISTILL_ABI_MINOR;
        entry_.torch_version = DISTILL_TORCH_VERSION;
        entry_.library_name = name;
        entry_.library_version = version;
        entry_.plugins = pointers_.data();
        entry_.plugin_count = pointers_.size();
    }
    const distill_entry* get() const noexcept { return &entry_; }

private:
    std::tuple<DescriptorStorage<Plugins>...> descriptors_;
    std::vector<const distill_plugin_descriptor*> pointers_;
    distill_entry entry_{};
};

// Builds the entry once; a plugin whose info() throws yields NULL, which the
// host reports as a broken library instead of crashing.
template <class... Plugins>
const distill_entry* entry(const char* name, const char* version) noexcept {
    try {
        static const EntryStorage<Plugins...> storage(name, version);
        return storage.get();
    } catch (...) {
        return nullptr;
    }
}

}  // namespace detail
}  // namespace distill

// Exports the library's single entry symbol listing the given plugin classes.
#define DISTILL_PLUGIN_LIBRARY(library_name, library_version, ...)                      \
    extern "C" DISTILL_EXPORT const distill_entry* distill_plugin_entry(void) {        \
        return ::distill::detail::entry<__VA_ARGS__>(library_name, library_version);  \
    }
