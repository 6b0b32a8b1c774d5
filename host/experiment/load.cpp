// load_experiment and expand_sweep: the public entry points.
#include "common/suggest.hpp"
#include "experiment/sweep.hpp"
#include "experiment/toml_text.hpp"
#include "experiment/validate.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace distill::experiment {

using namespace detail;

namespace {

std::vector<Assignment> parse_overrides(const std::vector<std::string>& overrides) {
    std::vector<Assignment> out;
    for (const auto& text : overrides) out.push_back(parse_override(text));
    return out;
}

// A swept value as JSON. JSON has nothing like a TOML table or date: those
// are kept as their TOML text (text::json_text writes NaN and infinities as
// strings too).
nlohmann::ordered_json json_of(const toml::node& node) {
    if (auto v = node.as_string()) return v->get();
    if (auto v = node.as_integer()) return v->get();
    if (auto v = node.as_floating_point()) return v->get();
    if (auto v = node.as_boolean()) return v->get();
    if (auto a = node.as_array()) {
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        for (const auto& item : *a) out.push_back(json_of(item));
        return out;
    }
    return format_node(node);
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
    return expand_sweep(read_experiment_source(file), overrides, registry, kDefaultMaxTrials);
}

namespace {

// The grid before any trial is built: the document with --set applied, its
// axes (minus keys fixed by --set) and the number of trials, so a huge grid
// is refused before anything is expanded.
struct SweepPlan {
    std::vector<Assignment> assignments;
    Document base;
    std::vector<SweepAxis> axes;
    std::vector<std::string> keys;
    nlohmann::ordered_json grid = nlohmann::ordered_json::object();  // key -> its values, in key order
    int64_t trials = 1;  // saturates at INT64_MAX
};

SweepPlan plan_sweep(const ExperimentSource& source, const std::vector<std::string>& overrides) {
    SweepPlan plan;
    plan.assignments = parse_overrides(overrides);
    plan.base = prepare_document(source.file, source.text, plan.assignments);
    plan.base.working_dir = source.working_dir;
    plan.axes = read_sweep(plan.base);
    // A --set fixes that key for every trial.
    plan.axes.erase(std::remove_if(plan.axes.begin(), plan.axes.end(),
                                   [&](const SweepAxis& axis) {
                                       return std::any_of(plan.assignments.begin(), plan.assignments.end(),
                                                          [&](const Assignment& a) { return a.key == axis.key; });
                                   }),
                    plan.axes.end());

    std::vector<std::string> entry_names;
    if (const toml::array* losses = plan.base.root.get_as<toml::array>("loss"))
        for (const auto& item : *losses)
            if (const toml::table* entry = item.as_table()) entry_names.push_back(loss_entry_name(*entry));

    for (const SweepAxis& axis : plan.axes) {
        if (axis.key == "losses")
            for (size_t v = 0; v < axis.values.size(); ++v)
                for (const auto& n : *axis.values[v]->as_array()) {
                    const std::string name = n.as_string()->get();
                    if (std::find(entry_names.begin(), entry_names.end(), name) == entry_names.end())
                        throw UnknownKeyError(axis.labels[v] + ": [sweep] losses names '" + name +
                                              "', which is no [[loss]] entry" + did_you_mean(name, entry_names));
                }
        plan.keys.push_back(axis.key);
        nlohmann::ordered_json& values = plan.grid[axis.key] = nlohmann::ordered_json::array();
        for (const toml::node* value : axis.values) values.push_back(json_of(*value));
        const auto size = static_cast<int64_t>(axis.values.size());
        plan.trials = plan.trials > std::numeric_limits<int64_t>::max() / size ? std::numeric_limits<int64_t>::max()
                                                                               : plan.trials * size;
    }
    return plan;
}

Trial build_trial(const SweepPlan& plan, const ExperimentSource& source, const std::vector<std::string>& overrides,
                  const host::PluginRegistry& registry, int64_t index) {
    const auto& axes = plan.axes;
    // Mixed radix, last axis fastest: the first key varies slowest.
    std::vector<size_t> pick(axes.size());
    auto rest = static_cast<size_t>(index);
    for (size_t a = axes.size(); a-- > 0;) {
        pick[a] = rest % axes[a].values.size();
        rest /= axes[a].values.size();
    }
    Trial trial;
    trial.index = index;
    Document doc = prepare_document(source.file, source.text, plan.assignments);
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
        trial.experiment.source_path = source.file.string();
        trial.experiment.source_text = source.text;
    }
    trial.experiment.overrides = overrides;
    return trial;
}

}  // namespace

Sweep expand_sweep(const ExperimentSource& source, const std::vector<std::string>& overrides,
                   const host::PluginRegistry& registry, int64_t max_trials) {
    const SweepPlan plan = plan_sweep(source, overrides);
    // Counted before anything is expanded: a grid of 10^9 is refused at once.
    if (plan.trials > max_trials)
        throw ExperimentError(source.file.string() + ": [sweep] has " +
                              (plan.trials == std::numeric_limits<int64_t>::max() ? std::string("more than 9.2e18 trials")
                                                                                 : text::count(plan.trials, "trial")) +
                              ", more than the limit of " + std::to_string(max_trials) +
                              " (raise it with --max-trials, or split the grid)");
    Sweep sweep;
    sweep.keys = plan.keys;
    sweep.grid_json = text::json_text(plan.grid);
    for (int64_t index = 0; index < plan.trials; ++index)
        sweep.trials.push_back(build_trial(plan, source, overrides, registry, index));
    // When every trial fails the same way, the fault is the file's (say a
    // missing data.dir), not a trial's: report it before anything runs.
    const std::string& first_error = sweep.trials.front().error;
    if (!first_error.empty() && std::all_of(sweep.trials.begin(), sweep.trials.end(),
                                            [&](const Trial& t) { return t.error == first_error; }))
        throw ExperimentError(first_error);
    return sweep;
}

Trial sweep_trial(const ExperimentSource& source, const std::vector<std::string>& overrides,
                  const host::PluginRegistry& registry, int64_t index) {
    const SweepPlan plan = plan_sweep(source, overrides);
    if (index < 0 || index >= plan.trials)
        throw ExperimentError("trial " + std::to_string(index) + " does not exist in the sweep of " +
                              source.file.string() + " (" + text::count(plan.trials, "trial") + ")");
    return build_trial(plan, source, overrides, registry, index);
}

}  // namespace distill::experiment
