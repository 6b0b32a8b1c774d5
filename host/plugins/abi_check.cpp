#include "plugins/abi_check.hpp"

#include "common/suggest.hpp"
#include "store/metric_columns.hpp"

#include <algorithm>
#include <cstring>

namespace distill::host {
namespace {

// Counts beyond these are a broken library, not a big one.
constexpr size_t kMaxPlugins = 4096;
constexpr size_t kMaxParams = 4096;
constexpr size_t kMaxListLength = 1 << 20;
constexpr size_t kMaxMetrics = 256;

// Everything ABI 1.0 put into each struct: a struct_size below this is not a
// struct of this ABI at all.
constexpr size_t kEntry10 = offsetof(distill_entry, plugin_count) + sizeof(size_t);
constexpr size_t kDescriptor10 = offsetof(distill_plugin_descriptor, loss) + sizeof(void*);
constexpr size_t kParam10 = offsetof(distill_param_spec, doc) + sizeof(void*);
constexpr size_t kModelApi10 = offsetof(distill_model_api, decode) + sizeof(void*);
constexpr size_t kLossApi10 = offsetof(distill_loss_api, compute) + sizeof(void*);
// What ABI 1.1 put into the metric binding.
constexpr size_t kMetricBinding11 = offsetof(distill_metric_binding, source) + sizeof(void*);

const distill_metric_binding& binding_at(const distill_plugin_descriptor& d, size_t i) {
    const auto* first = reinterpret_cast<const char*>(d.metrics);
    const size_t stride = std::max<size_t>(sizeof(distill_metric_binding), d.metrics[0].struct_size);
    return *reinterpret_cast<const distill_metric_binding*>(first + i * stride);
}

size_t metric_count(const distill_plugin_descriptor& d) {
    return has_field(&d, &distill_plugin_descriptor::metric_count) ? d.metric_count : 0;
}

std::string check_metrics(const distill_plugin_descriptor& d, uint32_t abi_minor) {
    const size_t count = metric_count(d);
    if (count == 0) return "";
    if (d.kind != DISTILL_KIND_LOSS) return "a model plugin declares reference metrics (only loss plugins fill them)";
    if (count > kMaxMetrics) return "metric_count is " + std::to_string(count);
    if (d.metrics == nullptr) return "metrics is NULL but metric_count is " + std::to_string(count);
    std::vector<std::string> seen;
    for (size_t i = 0; i < count; ++i) {
        const distill_metric_binding& b = binding_at(d, i);
        const std::string where = "metric declaration #" + std::to_string(i);
        if (b.struct_size < kMetricBinding11)
            return where + ": distill_metric_binding struct_size is " + std::to_string(b.struct_size) +
                   ", smaller than the " + std::to_string(kMetricBinding11) + " bytes of ABI 1.1";
        if (b.metric == nullptr) return where + ": metric is NULL";
        const std::string metric = b.metric;
        if (b.source != nullptr && b.source[0] == '\0')
            return "metric '" + metric + "': source is empty (\"loss\", a sub-term name, or NULL for \"loss\")";
        if (std::find(seen.begin(), seen.end(), metric) != seen.end()) return "metric '" + metric + "' is declared twice";
        seen.push_back(metric);
        if (store::reference_metric_index(metric) < 0 && abi_minor <= DISTILL_ABI_MINOR) {
            std::vector<std::string> known;
            for (const store::ReferenceMetric& m : store::kReferenceMetrics) known.push_back(m.name);
            return "unknown reference metric '" + metric + "'" + did_you_mean(metric, known) + " (known: " +
                   store::reference_metric_names() + "; docs/schema.md, \"Reference columns\")";
        }
    }
    return "";
}

std::string too_small(const char* what, uint32_t size, size_t needed) {
    return std::string(what) + " struct_size is " + std::to_string(size) + ", smaller than the " +
           std::to_string(needed) + " bytes of ABI 1.0";
}

std::string check_value(const distill_value& v, distill_param_type type) {
    if (v.type != type) return "its default has another type than the parameter";
    if (type == DISTILL_PARAM_STRING && v.string_value == nullptr) return "its default string is NULL";
    if (type == DISTILL_PARAM_INT_LIST || type == DISTILL_PARAM_FLOAT_LIST) {
        if (v.count > kMaxListLength) return "its default list has " + std::to_string(v.count) + " elements";
        if (v.count > 0 && (type == DISTILL_PARAM_INT_LIST ? v.ints == nullptr : v.floats == nullptr))
            return "its default list is NULL but count is " + std::to_string(v.count);
    }
    return "";
}

std::string check_param(const distill_param_spec& p, size_t i) {
    const std::string where = "parameter #" + std::to_string(i);
    if (p.struct_size < kParam10) return where + ": " + too_small("distill_param_spec", p.struct_size, kParam10);
    if (p.name == nullptr) return where + ": name is NULL";
    if (p.type < DISTILL_PARAM_BOOL || p.type > DISTILL_PARAM_FLOAT_LIST)
        return "parameter '" + std::string(p.name) + "': unknown type " + std::to_string(static_cast<int>(p.type));
    if (const std::string why = check_value(p.default_value, p.type); !why.empty())
        return "parameter '" + std::string(p.name) + "': " + why;
    if (p.choice_count > kMaxListLength || (p.choice_count > 0 && p.choices == nullptr))
        return "parameter '" + std::string(p.name) + "': choices is NULL but choice_count is " +
               std::to_string(p.choice_count);
    for (size_t c = 0; c < p.choice_count; ++c)
        if (p.choices[c] == nullptr) return "parameter '" + std::string(p.name) + "': choice #" + std::to_string(c) + " is NULL";
    return "";
}

}  // namespace

std::string check_entry(const distill_entry* entry) {
    if (entry->struct_size < kEntry10) return "entry: " + too_small("distill_entry", entry->struct_size, kEntry10);
    if (entry->plugin_count > kMaxPlugins)
        return "entry: plugin_count is " + std::to_string(entry->plugin_count) + " (more than " +
               std::to_string(kMaxPlugins) + ": a broken entry)";
    if (entry->plugin_count > 0 && entry->plugins == nullptr)
        return "entry: plugins is NULL but plugin_count is " + std::to_string(entry->plugin_count);
    return "";
}

std::string check_descriptor(const distill_plugin_descriptor* d, size_t index, uint32_t abi_minor) {
    const std::string number = "plugin descriptor #" + std::to_string(index);
    if (d == nullptr) return number + " is NULL";
    if (d->struct_size < kDescriptor10) return number + ": " + too_small("distill_plugin_descriptor", d->struct_size, kDescriptor10);
    if (d->id == nullptr || d->id[0] == '\0') return number + ": id is NULL or empty";
    const std::string who = "plugin '" + std::string(d->id) + "'";
    if (d->version == nullptr) return who + ": version is NULL";
    if (d->summary == nullptr) return who + ": summary is NULL";
    if (d->create == nullptr) return who + ": create is NULL";
    if (d->destroy == nullptr) return who + ": destroy is NULL";
    if (d->param_count > kMaxParams) return who + ": param_count is " + std::to_string(d->param_count);
    if (d->param_count > 0 && d->params == nullptr)
        return who + ": params is NULL but param_count is " + std::to_string(d->param_count);
    for (size_t i = 0; i < d->param_count; ++i)
        if (const std::string why = check_param(param_at(*d, i), i); !why.empty()) return who + ": " + why;
    if (d->kind == DISTILL_KIND_MODEL) {
        if (d->model == nullptr) return who + ": a model plugin whose model call table is NULL";
        const distill_model_api& m = *d->model;
        if (m.struct_size < kModelApi10) return who + ": " + too_small("distill_model_api", m.struct_size, kModelApi10);
        if (m.forward == nullptr) return who + ": model->forward is NULL";
        if (m.parameters == nullptr) return who + ": model->parameters is NULL";
        if (m.buffers == nullptr) return who + ": model->buffers is NULL";
        if (m.set_training == nullptr) return who + ": model->set_training is NULL";
        if (m.decode == nullptr) return who + ": model->decode is NULL";
    } else if (d->kind == DISTILL_KIND_LOSS) {
        if (d->loss == nullptr) return who + ": a loss plugin whose loss call table is NULL";
        if (d->loss->struct_size < kLossApi10)
            return who + ": " + too_small("distill_loss_api", d->loss->struct_size, kLossApi10);
        if (d->loss->compute == nullptr) return who + ": loss->compute is NULL";
    } else {
        return who + ": unknown kind " + std::to_string(static_cast<int>(d->kind)) + " (1 = model, 2 = loss)";
    }
    if (const std::string why = check_metrics(*d, abi_minor); !why.empty()) return who + ": " + why;
    return "";
}

const distill_param_spec& param_at(const distill_plugin_descriptor& d, size_t i) {
    const auto* first = reinterpret_cast<const char*>(d.params);
    const size_t stride = std::max<size_t>(sizeof(distill_param_spec), d.params[0].struct_size);
    return *reinterpret_cast<const distill_param_spec*>(first + i * stride);
}

std::vector<MetricSource> declared_metrics(const distill_plugin_descriptor& d) {
    std::vector<MetricSource> out;
    for (size_t i = 0; i < metric_count(d); ++i) {
        const distill_metric_binding& b = binding_at(d, i);
        const int metric = store::reference_metric_index(b.metric);
        if (metric < 0) continue;  // a newer minor's metric: not one of this host's columns
        out.push_back({static_cast<size_t>(metric), b.metric, b.source != nullptr ? b.source : "loss"});
    }
    return out;
}

}  // namespace distill::host
