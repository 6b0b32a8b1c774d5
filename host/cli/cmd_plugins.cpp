// distill plugins list | describe ID | check ID
#include "cli/commands.hpp"
#include "common/suggest.hpp"
#include "plugins/abi_check.hpp"
#include "plugins/plugin_instance.hpp"
#include "store/metric_columns.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <iomanip>
#include <iostream>

namespace distill::cli {
namespace {

int list_plugins(const host::PluginRegistry& registry) {
    if (registry.plugins().empty()) std::cout << "no plugins found (see --plugin-path, DISTILL_PLUGIN_PATH)\n";
    for (const auto& p : registry.plugins()) {
        std::cout << std::left << std::setw(14) << p.id() << " " << std::setw(5) << host::kind_name(p.kind()) << " "
                  << std::setw(8) << p.descriptor->version << " " << p.library.string() << "\n";
    }
    return registry.refusals().empty() ? kExitOk : kExitBadInput;
}

std::vector<std::string> all_ids(const host::PluginRegistry& registry) {
    std::vector<std::string> ids;
    for (const auto& p : registry.plugins()) ids.push_back(p.id());
    return ids;
}

// "reference metrics: kl_loss (loss), kl_weight (its weight), kl_divergence
// (kl_raw)": the step_metrics / epoch_metrics columns the plugin fills.
std::string reference_metrics_line(const distill_plugin_descriptor& d) {
    std::string line;
    for (const host::MetricSource& m : host::declared_metrics(d)) {
        const bool weight = store::kReferenceMetrics[m.metric].fill == store::Fill::kWeight;
        line += (line.empty() ? "" : ", ") + m.name + " (" + (weight ? std::string("its weight") : m.source) + ")";
    }
    return "reference metrics: " + (line.empty() ? "none (its values are in loss_terms only)" : line);
}

int describe_plugin(const host::PluginRegistry& registry, const std::string& id) {
    const host::LoadedPlugin* p = registry.find(id);
    if (p == nullptr) throw host::PluginNotFound("unknown plugin '" + id + "'" + did_you_mean(id, all_ids(registry)) +
                                    " (see `distill plugins list`)");
    const auto& d = *p->descriptor;
    std::cout << d.id << " (" << host::kind_name(d.kind) << " plugin, version " << d.version << ")\n"
              << "  " << (d.summary ? d.summary : "") << "\n"
              << "  library: " << p->library.string() << " (" << p->library_name << " " << p->library_version
              << ")\n";
    if (d.param_count == 0) std::cout << "  parameters: none\n";
    else std::cout << "  parameters:\n";
    for (size_t i = 0; i < d.param_count; ++i) {
        const distill_param_spec& s = host::param_at(d, i);
        const std::string constraints = host::describe_constraints(s);
        std::cout << "    " << s.name << " (" << host::type_name(s.type)
                  << ", default " << host::format_value(host::default_value(s))
                  << (constraints.empty() ? "" : ", " + constraints) << ")\n"
                  << "        " << (s.doc ? s.doc : "") << "\n";
    }
    if (d.kind == DISTILL_KIND_LOSS) std::cout << "  " << reference_metrics_line(d) << "\n";
    return kExitOk;
}

int64_t int_param_or(const host::ParamValues& params, const std::string& name, int64_t fallback) {
    for (const auto& [n, v] : params)
        if (n == name && std::holds_alternative<int64_t>(v)) return std::get<int64_t>(v);
    return fallback;
}

// Creates the plugin with its defaults and makes one call on small random
// tensors: the quickest way for a plugin author to see it load and work.
int check_plugin(const host::PluginRegistry& registry, const std::string& id) {
    const host::LoadedPlugin* p = registry.find(id);
    if (p == nullptr) throw host::PluginNotFound("unknown plugin '" + id + "'" + did_you_mean(id, all_ids(registry)) +
                                    " (see `distill plugins list`)");
    const host::ParamValues params = host::resolve_params(*p->descriptor, {});
    at::manual_seed(0);
    if (p->kind() == DISTILL_KIND_MODEL) {
        host::ModelInstance model(*p, params, "cpu");
        const int64_t h = int_param_or(params, "n_mels", 128), w = int_param_or(params, "frames", 94);
        auto out = model.forward({{"x", at::rand({2, 2, h, w})}});
        int64_t count = 0;
        for (const auto& [name, t] : model.parameters()) count += t.numel();
        std::cout << id << ": forward of x [2, 2, " << h << ", " << w << "] ok; " << count << " parameters\n";
        for (const auto& [name, t] : out) std::cout << "  " << name << " " << t.sizes() << "\n";
        return kExitOk;
    }
    host::LossInstance loss(*p, params, "cpu");
    // As a model hands them over: its outputs attached to a graph, the target not.
    const TensorMap inputs{{"recon", at::rand({2, 2, 64, 48}).requires_grad_(true)},
                           {"target", at::rand({2, 2, 64, 48})},
                           {"mu", at::randn({2, 8}).requires_grad_(true)},
                           {"logvar", at::randn({2, 8}).requires_grad_(true)},
                           {"z", at::randn({2, 8}).requires_grad_(true)}};
    const distill_step_context ctx{sizeof(distill_step_context), 0, 1, 0, 1, 1};
    auto out = loss.compute(inputs, ctx);
    // What `run` checks at every training step of an entry with a weight.
    host::check_loss_result(loss, "", inputs, out, /*needs_gradient=*/true);
    const double value = out.at("loss").item<double>();
    if (!std::isfinite(value)) {
        std::cerr << "distill: plugin '" << id << "': compute returned a loss of " << value
                  << " on random inputs; `run` skips every step whose total is not finite\n";
        return kExitRunFailed;
    }
    out.at("loss").backward();
    std::string bad_gradients;
    for (const auto& [name, t] : inputs)
        if (t.grad().defined() && !t.grad().isfinite().all().item<bool>())
            bad_gradients += (bad_gradients.empty() ? "" : ", ") + name;
    std::cout << id << ": compute ok; loss = " << value
              << (bad_gradients.empty() ? "; gradient finite\n" : "; gradient NOT finite for " + bad_gradients + "\n");
    for (const auto& [name, t] : out)
        if (name != "loss") std::cout << "  " << name << " = " << t.item<double>() << "\n";
    std::cout << "  " << reference_metrics_line(*p->descriptor) << "\n";
    if (!bad_gradients.empty())
        std::cerr << "distill: plugin '" << id << "': its gradient with respect to " << bad_gradients
                  << " is not finite on random inputs\n";
    return bad_gradients.empty() ? kExitOk : kExitRunFailed;
}

}  // namespace

int cmd_plugins(const Args& args) {
    po::options_description options("distill plugins list | describe ID | check ID");
    options.add_options()("help,h", "show this help")("action", po::value<std::string>(), "list, describe or check")(
        "id", po::value<std::string>(), "plugin id (describe, check)");
    add_plugin_path_option(options);
    po::positional_options_description positional;
    positional.add("action", 1).add("id", 1);
    const auto vm = parse("plugins", args, options, positional);
    if (vm.count("help")) {
        std::cout << options << "\n  list      one line per plugin: id, kind, version, library\n"
                     "  describe  the parameter schema with defaults and docs\n"
                     "  check     create with defaults and make one call on random tensors\n";
        return kExitOk;
    }
    const std::string action = vm.count("action") ? vm["action"].as<std::string>() : "list";
    const auto registry = load_plugins(vm);
    if (action == "list") return list_plugins(registry);
    if (action != "describe" && action != "check")
        throw UsageError("plugins: unknown action '" + action + "'" +
                         did_you_mean(action, {"list", "describe", "check"}) + " (list, describe, check)");
    if (!vm.count("id")) throw UsageError("plugins " + action + ": which plugin? (distill plugins " + action + " ID)");
    const std::string id = vm["id"].as<std::string>();
    return action == "describe" ? describe_plugin(registry, id) : check_plugin(registry, id);
}

}  // namespace distill::cli
