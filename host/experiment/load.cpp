// load_experiment and expand_sweep: the public entry points.
#include "common/suggest.hpp"
#include "experiment/sweep.hpp"
#include "experiment/toml_text.hpp"
#include "experiment/validate.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace distill::experiment {

using namespace detail;

namespace {

std::vector<Assignment> parse_overrides(const std::vector<std::string>& overrides) {
    std::vector<Assignment> out;
    for (const auto& text : overrides) out.push_back(parse_override(text));
    return out;
}

// TOML basic-string escapes (\" \\ \n \t \r \uXXXX) are all valid JSON.
std::string json_string(const std::string& s) { return format_string(s); }

std::string json_value(const toml::node& node) {
    if (auto v = node.as_string()) return json_string(v->get());
    if (auto v = node.as_integer()) return std::to_string(v->get());
    if (auto v = node.as_floating_point())  // JSON has no nan/inf: keep them readable as strings
        return std::isfinite(v->get()) ? format_double(v->get()) : json_string(format_double(v->get()));
    if (auto v = node.as_boolean()) return v->get() ? "true" : "false";
    if (auto a = node.as_array()) {
        std::string out = "[";
        for (size_t i = 0; i < a->size(); ++i) out += (i ? ", " : "") + json_value(*a->get(i));
        return out + "]";
    }
    return json_string(format_node(node));
}

// Keeps only the [[loss]] entries named in `names` (file order).
void keep_losses(Document& doc, const toml::array& names) {
    std::set<std::string> keep;
    for (const auto& n : names) keep.insert(n.as_string()->get());
    toml::array* losses = doc.root.get_as<toml::array>("loss");
    if (losses == nullptr) return;
    for (auto it = losses->begin(); it != losses->end();) {
        const toml::table* entry = it->as_table();
        if (entry != nullptr && !keep.count(loss_entry_name(*entry)))
            it = losses->erase(it);
        else
            ++it;
    }
}

}  // namespace

ExperimentSource read_experiment_source(const std::filesystem::path& file) {
    Document raw = read_document(file);
    return {file, std::move(raw.text), {}};
}

Experiment load_experiment(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                           const host::PluginRegistry& registry) {
    return load_experiment(read_experiment_source(file), overrides, registry);
}

Experiment load_experiment(const ExperimentSource& source, const std::vector<std::string>& overrides,
                           const host::PluginRegistry& registry) {
    const std::vector<Assignment> assignments = parse_overrides(overrides);
    Document doc = prepare_document(source.file, source.text, assignments);
    doc.working_dir = source.working_dir;
    Experiment e = build_experiment(doc, registry);
    e.overrides = overrides;
    return e;
}

Sweep expand_sweep(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                   const host::PluginRegistry& registry) {
    return expand_sweep(read_experiment_source(file), overrides, registry);
}

Sweep expand_sweep(const ExperimentSource& source, const std::vector<std::string>& overrides,
                   const host::PluginRegistry& registry) {
    const std::filesystem::path& file = source.file;
    const std::vector<Assignment> assignments = parse_overrides(overrides);
    const struct {
        const std::string& text;
    } raw{source.text};
    const Document base = prepare_document(file, raw.text, assignments);

    std::vector<SweepAxis> axes = read_sweep(base);
    // A --set fixes that key for every trial.
    axes.erase(std::remove_if(axes.begin(), axes.end(),
                              [&](const SweepAxis& axis) {
                                  return std::any_of(assignments.begin(), assignments.end(),
                                                     [&](const Assignment& a) { return a.key == axis.key; });
                              }),
               axes.end());

    std::vector<std::string> entry_names;
    if (const toml::array* losses = base.root.get_as<toml::array>("loss"))
        for (const auto& item : *losses)
            if (const toml::table* entry = item.as_table()) entry_names.push_back(loss_entry_name(*entry));

    Sweep sweep;
    size_t total = 1;
    sweep.grid_json = "{";
    for (const SweepAxis& axis : axes) {
        if (axis.key == "losses")
            for (size_t v = 0; v < axis.values.size(); ++v)
                for (const auto& n : *axis.values[v]->as_array()) {
                    const std::string name = n.as_string()->get();
                    if (std::find(entry_names.begin(), entry_names.end(), name) == entry_names.end())
                        throw UnknownKeyError(axis.labels[v] + ": [sweep] losses names '" + name +
                                              "', which is no [[loss]] entry" + did_you_mean(name, entry_names));
                }
        sweep.keys.push_back(axis.key);
        sweep.grid_json += (sweep.keys.size() == 1 ? "" : ", ") + json_string(axis.key) + ": [";
        for (size_t v = 0; v < axis.values.size(); ++v)
            sweep.grid_json += (v ? ", " : "") + json_value(*axis.values[v]);
        sweep.grid_json += "]";
        total *= axis.values.size();
    }
    sweep.grid_json += "}";

    for (size_t index = 0; index < total; ++index) {
        // Mixed radix, last axis fastest: the first key varies slowest.
        std::vector<size_t> pick(axes.size());
        size_t rest = index;
        for (size_t a = axes.size(); a-- > 0;) {
            pick[a] = rest % axes[a].values.size();
            rest /= axes[a].values.size();
        }
        Trial trial;
        trial.index = static_cast<int64_t>(index);
        Document doc = prepare_document(file, raw.text, assignments);
        doc.working_dir = source.working_dir;
        for (size_t a = 0; a < axes.size(); ++a) {
            const toml::node& value = *axes[a].values[pick[a]];
            trial.params.emplace_back(axes[a].key, format_node(value));
            // Loss weights are set before `losses` filters the entries, so a
            // swept weight of an entry a trial leaves out is still checked.
            if (axes[a].key != "losses") assign(doc, axes[a].key, value, axes[a].labels[pick[a]], false);
        }
        for (size_t a = 0; a < axes.size(); ++a)
            if (axes[a].key == "losses") keep_losses(doc, *axes[a].values[pick[a]]->as_array());
        try {
            trial.experiment = build_experiment(doc, registry);
        } catch (const UnknownKeyError&) {
            throw;  // a key that exists nowhere: the whole sweep is wrong
        } catch (const ExperimentError& e) {
            trial.error = e.what();
            trial.experiment.source_path = file.string();
            trial.experiment.source_text = raw.text;
        }
        trial.experiment.overrides = overrides;
        sweep.trials.push_back(std::move(trial));
    }
    // When every trial fails the same way, the fault is the file's (say a
    // missing data.dir), not a trial's: report it before anything runs.
    const std::string& first_error = sweep.trials.front().error;
    if (!first_error.empty() && std::all_of(sweep.trials.begin(), sweep.trials.end(),
                                            [&](const Trial& t) { return t.error == first_error; }))
        throw ExperimentError(first_error);
    return sweep;
}

}  // namespace distill::experiment
