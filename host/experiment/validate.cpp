#include "experiment/validate.hpp"

#include "common/suggest.hpp"
#include "experiment/table_reader.hpp"
#include "experiment/toml_text.hpp"
#include "plugins/plugin_registry.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <sstream>
#include <map>

namespace distill::experiment::detail {

namespace fs = std::filesystem;

namespace {

using Resolved = std::vector<std::pair<std::string, std::string>>;

// Upper bounds on training sizes that multiply into allocations (the data
// pipeline's are data::PipelineLimits): far above useful values, low enough
// that a typo is refused by name rather than failing to allocate.
constexpr int64_t kMaxBatchSize = 65536;
constexpr int64_t kMaxBatchBytes = int64_t{1} << 30;  // one step's input batch
constexpr int64_t kMaxThreads = 1024;
constexpr int64_t kMaxReadbackEvery = 100000;  // pending steps each hold their loss values on the device

// Known keys are taken before any value is read, so an unknown key is
// reported before the errors it may cause further down.
void reject_unknown(TableReader& reader, const std::vector<std::string>& known) {
    for (const auto& k : known) reader.take(k);
    reader.finish();
}

const host::LoadedPlugin& find_plugin(TableReader& reader, const host::PluginRegistry& registry,
                                      const std::string& id, distill_plugin_kind kind) {
    try {
        return registry.require(id, kind);
    } catch (const host::PluginNotFound& e) {
        throw ExperimentError(reader.where("plugin") + ": " + reader.path("plugin") + ": " + e.what() +
                              did_you_mean(id, registry.ids(kind)));
    }
}

// The table's keys that are not host keys, checked one by one against the
// plugin's schema (so each error points at its own key), then defaults
// filled in. `from_data` holds values the host sets (the model's input
// shape); a different explicit value is an error at that key.
host::ParamValues read_plugin_params(TableReader& reader, const host::LoadedPlugin& plugin,
                                     const std::vector<std::string>& host_keys,
                                     const std::map<std::string, std::pair<int64_t, std::string>>& from_data) {
    const distill_plugin_descriptor& d = *plugin.descriptor;
    std::vector<std::string> names(host_keys);
    std::map<std::string, const distill_param_spec*> specs;
    for (size_t i = 0; i < d.param_count; ++i) {
        names.emplace_back(d.params[i].name);
        specs[d.params[i].name] = &d.params[i];
    }
    std::map<std::string, host::ParamValue> given;
    for (const std::string& key : reader.untaken()) {
        auto spec = specs.find(key);
        if (spec == specs.end()) {
            const std::string where = reader.where_key(key);
            throw UnknownKeyError(where + ": unknown key '" + reader.path(key) + "': plugin '" + d.id +
                                  "' has no parameter '" + key + "'" + did_you_mean(key, names));
        }
        const toml::node* node = reader.take(key);
        const auto value = to_param_value(*node);
        if (!value)
            reader.fail(key, reader.path(key) + " must be " + text::with_article(host::type_name(spec->second->type)) + ", got " +
                                 describe_node(*node));
        try {
            given[key] = host::check_value(*spec->second, *value);
        } catch (const std::invalid_argument& e) {
            reader.fail(key, reader.path(key) + ": " + e.what());
        }
    }
    for (const auto& [name, value] : from_data) {
        auto spec = specs.find(name);
        if (spec == specs.end()) continue;
        host::ParamValue wanted;
        try {
            wanted = host::check_value(*spec->second, host::ParamValue(value.first));
        } catch (const std::invalid_argument& e) {
            reader.fail(name, "the data gives " + reader.path(name) + " = " + std::to_string(value.first) +
                                  " (" + value.second + "), which plugin '" + d.id + "' refuses: " + e.what());
        }
        auto it = given.find(name);
        if (it != given.end() && !(it->second == wanted))
            reader.fail(name, reader.path(name) + " = " + host::format_value(it->second) + " conflicts with the data: " +
                                  value.second + " gives " + host::format_value(wanted) +
                                  " (the model's input shape comes from [data]; leave " + reader.path(name) +
                                  " out)");
        given[name] = wanted;
    }
    try {
        return host::resolve_params(d, given);
    } catch (const std::invalid_argument& e) {
        throw ExperimentError(reader.where("plugin") + ": " + reader.path("plugin") + ": " + e.what());
    }
}

void add_params(Resolved& out, const std::string& prefix, const host::ParamValues& params) {
    for (const auto& [name, value] : params) out.emplace_back(prefix + "." + name, host::format_value(value));
}

// An upper bound checked on its own, so the lower bound keeps its message.
int64_t at_most(const TableReader& r, const std::string& key, int64_t value, int64_t limit) {
    if (value > limit)
        r.fail(key, r.path(key) + " must be <= " + std::to_string(limit) + ", got " + std::to_string(value) +
                        " (a size that multiplies into memory; docs/experiments.md, size limits)");
    return value;
}

// Fixed-point text for messages: "48000000000", "174.8".
std::string rounded(double v, int decimals) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(decimals) << v;
    return s.str();
}

bool valid_device(const std::string& d) {
    if (d == "auto" || d == "cpu" || d == "cuda") return true;
    if (d.rfind("cuda:", 0) != 0 || d.size() == 5) return false;
    return std::all_of(d.begin() + 5, d.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// A path typed on the command line is relative to where the user stands;
// one written in the file is relative to the file, so experiments can be
// moved together with their data.
fs::path base_dir_of(const Document& doc, const std::string& key) {
    const Origin* origin = doc.origin_of(key);
    if (origin && origin->command_line) return doc.working_dir.empty() ? fs::current_path() : doc.working_dir;
    return fs::absolute(doc.file).parent_path();
}

fs::path user_cache_dir() {
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') return fs::path(xdg) / "distill";
    if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/')
        return fs::path(home) / ".cache" / "distill";
    return fs::current_path() / ".distill-cache";
}

// [data.augment]: the original design's augmentations, off unless expansion > 0.
void read_augment(const Document& doc, TableReader& data, data::AugmentConfig& a) {
    TableReader r(doc, data.table("augment"), "data.augment");
    reject_unknown(r, {"expansion", "speed_p", "speed_factors", "noise_p", "snr_db", "gain_p", "gain"});
    a.expansion = r.integer("expansion", a.expansion, 0, 100);
    a.speed_p = r.real("speed_p", a.speed_p, between(0, 1, false, false));
    a.speed_factors = r.reals("speed_factors", a.speed_factors, 0, between(0.5, 2, false, false));
    a.noise_p = r.real("noise_p", a.noise_p, between(0, 1, false, false));
    const auto snr = r.reals("snr_db", {a.snr_min_db, a.snr_max_db}, 2, between(-20, 120, false, false));
    if (snr[0] > snr[1]) r.fail("snr_db", "data.augment.snr_db must be [min, max] with min <= max");
    a.snr_min_db = snr[0], a.snr_max_db = snr[1];
    a.gain_p = r.real("gain_p", a.gain_p, between(0, 1, false, false));
    const auto gain = r.reals("gain", {a.gain_min, a.gain_max}, 2, between(0, 10, true, false));
    if (gain[0] > gain[1]) r.fail("gain", "data.augment.gain must be [min, max] with min <= max");
    a.gain_min = gain[0], a.gain_max = gain[1];
}

void read_data(const Document& doc, TableReader& top, Experiment& e, Resolved& out) {
    const toml::table* table = top.table("data");
    if (table == nullptr)
        throw ExperimentError(doc.file.string() + ": [data] is required, with at least dir = \"CORPUS FOLDER\"");
    TableReader r(doc, table, "data");
    reject_unknown(r, {"dir", "cache_dir", "sample_rate", "chunk_seconds", "n_fft", "hop_length", "win_length",
                       "n_mels", "fmin", "fmax", "mask_threshold", "normalize", "split", "augment"});
    const std::string dir = r.string("dir", "");
    if (dir.empty()) r.fail("dir", "data.dir is required: the folder holding the corpus");
    fs::path path(dir);
    if (path.is_relative()) {
        path = base_dir_of(doc, "data.dir") / path;
    }
    path = path.lexically_normal();
    std::error_code ec;
    if (!fs::exists(path, ec)) r.fail("dir", "data.dir: directory '" + path.string() + "' does not exist");
    if (!fs::is_directory(path, ec)) r.fail("dir", "data.dir: '" + path.string() + "' is not a directory");
    e.data.dir = path.string();
    const bool cache_given = r.get() != nullptr && r.get()->contains("cache_dir");
    e.data.cache_dir = r.string("cache_dir", e.data.cache_dir);
    if (cache_given && e.data.cache_dir.empty()) r.fail("cache_dir", "data.cache_dir must not be empty");
    // Resolved to an absolute path now, so the cache is found again from any
    // working directory (a resumed run reuses it).
    fs::path cache = e.data.cache_dir.empty() ? user_cache_dir() : fs::path(e.data.cache_dir);
    if (cache.is_relative()) cache = base_dir_of(doc, "data.cache_dir") / cache;
    e.data.cache_dir = cache.lexically_normal().string();

    data::PipelineConfig& p = e.data.pipeline;
    using Limits = data::PipelineLimits;
    p.sample_rate = r.integer("sample_rate", p.sample_rate, 1000, 1000000);
    p.chunk_seconds = r.real("chunk_seconds", p.chunk_seconds, positive());
    if (p.chunk_samples() > Limits::kMaxChunkSamples)
        r.fail("chunk_seconds", "data.chunk_seconds = " + text::toml_float(p.chunk_seconds) + " at data.sample_rate = " +
                                    std::to_string(p.sample_rate) + " is " + rounded(p.chunk_seconds * p.sample_rate, 0) +
                                    " samples per chunk; the limit is " + std::to_string(Limits::kMaxChunkSamples) + " (" +
                                    rounded(static_cast<double>(Limits::kMaxChunkSamples) / p.sample_rate, 1) +
                                    " s at this rate): a chunk is one training item");
    p.n_fft = at_most(r, "n_fft", r.integer("n_fft", p.n_fft, 4), Limits::kMaxFft);
    p.win_length = r.integer("win_length", p.n_fft, 1, p.n_fft);  // win = n_fft unless given (docs/reference.md#1-audio-to-features)
    p.hop_length = r.integer("hop_length", p.hop_length, 1, p.win_length);
    p.n_mels = r.integer("n_mels", p.n_mels, 1, std::min(p.n_fft / 2 + 1, Limits::kMaxMels));
    if (2 * p.n_mels * p.frames() > Limits::kMaxItemFloats)
        r.fail(r.get()->contains("hop_length") ? "hop_length" : "chunk_seconds",
               "data.n_mels = " + std::to_string(p.n_mels) + " with " + std::to_string(p.frames()) +
                   " frames per chunk (data.chunk_seconds x data.sample_rate / data.hop_length) makes items of [2, " +
                   std::to_string(p.n_mels) + ", " + std::to_string(p.frames()) + "], above the limit of " +
                   std::to_string(Limits::kMaxItemFloats) + " floats (16 MB): raise hop_length, or lower chunk_seconds or n_mels");
    if ((p.n_fft / 2 + 1) * p.frames() > Limits::kMaxSpectrumCells)
        r.fail("n_fft", "data.n_fft = " + std::to_string(p.n_fft) + " with " + std::to_string(p.frames()) +
                            " frames per chunk gives a spectrum of " + std::to_string(p.n_fft / 2 + 1) + " x " +
                            std::to_string(p.frames()) + " per chunk, above the limit of " +
                            std::to_string(Limits::kMaxSpectrumCells) + ": lower n_fft or chunk_seconds, or raise hop_length");
    const double nyquist = p.sample_rate / 2.0;
    p.fmin = r.real("fmin", p.fmin, between(0, nyquist, false, true));
    p.fmax = r.real("fmax", nyquist, between(p.fmin, nyquist, true, false));
    p.mask_threshold = r.real("mask_threshold", p.mask_threshold, at_least(0));
    p.normalize = r.string("normalize", p.normalize, {"scale", "zscore"});
    if (p.chunk_samples() <= p.n_fft / 2)
        r.fail("chunk_seconds", "data.chunk_seconds = " + text::toml_float(p.chunk_seconds) + " gives " +
                                    std::to_string(p.chunk_samples()) + " samples, too short for data.n_fft = " +
                                    std::to_string(p.n_fft) + " (reflect padding needs more than n_fft/2)");
    e.data.split.split = r.string("split", e.data.split.split, {"file", "chunk"});
    read_augment(doc, r, e.data.augment);

    out.emplace_back("data.dir", text::toml_string(e.data.dir));
    out.emplace_back("data.cache_dir", text::toml_string(e.data.cache_dir));
    out.emplace_back("data.sample_rate", std::to_string(p.sample_rate));
    out.emplace_back("data.chunk_seconds", text::toml_float(p.chunk_seconds));
    out.emplace_back("data.n_fft", std::to_string(p.n_fft));
    out.emplace_back("data.hop_length", std::to_string(p.hop_length));
    out.emplace_back("data.win_length", std::to_string(p.win_length));
    out.emplace_back("data.n_mels", std::to_string(p.n_mels));
    out.emplace_back("data.fmin", text::toml_float(p.fmin));
    out.emplace_back("data.fmax", text::toml_float(p.fmax));
    out.emplace_back("data.mask_threshold", text::toml_float(p.mask_threshold));
    out.emplace_back("data.normalize", text::toml_string(p.normalize));
    out.emplace_back("data.split", text::toml_string(e.data.split.split));
    const data::AugmentConfig& a = e.data.augment;
    out.emplace_back("data.augment.expansion", std::to_string(a.expansion));
    out.emplace_back("data.augment.speed_p", text::toml_float(a.speed_p));
    out.emplace_back("data.augment.speed_factors", host::format_value(a.speed_factors));
    out.emplace_back("data.augment.noise_p", text::toml_float(a.noise_p));
    out.emplace_back("data.augment.snr_db", host::format_value(std::vector<double>{a.snr_min_db, a.snr_max_db}));
    out.emplace_back("data.augment.gain_p", text::toml_float(a.gain_p));
    out.emplace_back("data.augment.gain", host::format_value(std::vector<double>{a.gain_min, a.gain_max}));
}

void read_model(const Document& doc, TableReader& top, const host::PluginRegistry& registry, Experiment& e,
                Resolved& out) {
    TableReader r(doc, top.table("model"), "model");
    e.model.plugin = r.string("plugin", e.model.plugin);
    const host::LoadedPlugin& plugin = find_plugin(r, registry, e.model.plugin, DISTILL_KIND_MODEL);
    const auto& p = e.data.pipeline;
    e.model.params = read_plugin_params(
        r, plugin, {"plugin"},
        {{"n_mels", {p.n_mels, "data.n_mels"}},
         {"frames", {p.frames(), "data.chunk_seconds/sample_rate/hop_length"}}});
    out.emplace_back("model.plugin", text::toml_string(e.model.plugin));
    add_params(out, "model", e.model.params);
}

void read_losses(const Document& doc, TableReader& top, const host::PluginRegistry& registry, Experiment& e,
                 Resolved& out) {
    const toml::node* node = top.take("loss");
    const toml::array* entries = node ? node->as_array() : nullptr;
    if (node != nullptr && entries == nullptr)
        top.fail("loss", "loss must be a list of [[loss]] tables, got " + describe_node(*node));
    if (entries == nullptr || entries->empty())
        top.fail("loss", "no [[loss]] entries: an experiment needs at least one loss");
    for (const auto& item : *entries) {
        const toml::table* entry = item.as_table();
        if (entry == nullptr) top.fail("loss", "each loss entry must be a table ([[loss]]), got " + describe_node(item));
        const std::string id = loss_entry_name(*entry);
        TableReader r(doc, entry, "loss." + (id.empty() ? "?" : id));
        LossSpec spec;
        spec.plugin = r.string("plugin", "");
        if (spec.plugin.empty())
            throw ExperimentError(doc.locate(r.path("plugin"), &item) + ": a [[loss]] entry needs plugin = \"ID\"" +
                                  " (loss plugins: " + [&] {
                                      std::string s;
                                      for (const auto& i : registry.ids(DISTILL_KIND_LOSS)) s += (s.empty() ? "" : ", ") + i;
                                      return s.empty() ? std::string("none found") : s;
                                  }() + ")");
        spec.name = r.string("name", spec.plugin);
        const bool name_ok = !spec.name.empty() && std::all_of(spec.name.begin(), spec.name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
        });
        if (!name_ok)
            r.fail("name", r.path("name") + " = " + text::toml_string(spec.name) +
                               ": a loss name is letters, digits, '_' and '-' (it is part of dotted keys)");
        for (const auto& other : e.losses)
            if (other.name == spec.name)
                r.fail(entry->contains("name") ? "name" : "plugin",
                       "two [[loss]] entries are named '" + spec.name + "'; give one a different name = \"...\"");
        const host::LoadedPlugin& plugin = find_plugin(r, registry, spec.plugin, DISTILL_KIND_LOSS);
        spec.weight = r.real("weight", spec.weight, at_least(0));
        spec.schedule = r.string("schedule", spec.schedule, {"constant", "linear_warmup"});
        spec.warmup_fraction = r.real("warmup_fraction", spec.warmup_fraction, between(0, 1, false, false));
        spec.params = read_plugin_params(r, plugin, {"plugin", "name", "weight", "schedule", "warmup_fraction"}, {});
        const std::string prefix = "loss." + spec.name;
        out.emplace_back(prefix + ".plugin", text::toml_string(spec.plugin));
        out.emplace_back(prefix + ".weight", text::toml_float(spec.weight));
        out.emplace_back(prefix + ".schedule", text::toml_string(spec.schedule));
        out.emplace_back(prefix + ".warmup_fraction", text::toml_float(spec.warmup_fraction));
        add_params(out, prefix, spec.params);
        e.losses.push_back(std::move(spec));
    }
}

void read_train(const Document& doc, TableReader& top, Experiment& e, Resolved& out) {
    TableReader r(doc, top.table("train"), "train");
    reject_unknown(r, {"epochs", "batch_size", "optimizer", "lr", "betas", "eps", "weight_decay", "scheduler",
                       "eta_min", "grad_clip", "val_fraction", "checkpoint_every", "keep_checkpoints",
                       "keep_step_checkpoints", "divergence_window", "stop_on_divergence", "max_non_finite_steps", "log_every",
                       "readback_every"});
    TrainSpec& t = e.train;
    t.epochs = r.integer("epochs", t.epochs, 1);
    t.batch_size = at_most(r, "batch_size", r.integer("batch_size", t.batch_size, 1), kMaxBatchSize);
    const data::PipelineConfig& p = e.data.pipeline;
    const int64_t batch_bytes = t.batch_size * 2 * p.n_mels * p.frames() * 4;
    if (batch_bytes > kMaxBatchBytes)
        r.fail("batch_size", "train.batch_size = " + std::to_string(t.batch_size) + " items of [2, " +
                                 std::to_string(p.n_mels) + ", " + std::to_string(p.frames()) + "] is " +
                                 std::to_string(batch_bytes >> 20) + " MB of input per step, above the limit of " +
                                 std::to_string(kMaxBatchBytes >> 20) + " MB (activations are several times that)");
    t.optimizer = r.string("optimizer", t.optimizer, {"adamw", "adam"});
    t.lr = r.real("lr", t.lr, positive());
    t.betas = r.reals("betas", t.betas, 2, between(0, 1, false, true));
    t.eps = r.real("eps", t.eps, positive());
    t.weight_decay = r.real("weight_decay", t.weight_decay, at_least(0));
    t.scheduler = r.string("scheduler", t.scheduler, {"cosine", "constant"});
    t.eta_min = r.real("eta_min", t.eta_min, at_least(0));
    if (t.eta_min > t.lr) r.fail("eta_min", "train.eta_min = " + text::toml_float(t.eta_min) + " is above train.lr = " + text::toml_float(t.lr));
    t.grad_clip = r.real("grad_clip", t.grad_clip, at_least(0));
    e.data.split.val_fraction = r.real("val_fraction", e.data.split.val_fraction, between(0, 1, true, true));
    t.checkpoint_every = r.integer("checkpoint_every", t.checkpoint_every, 0);
    t.keep_checkpoints = r.integer("keep_checkpoints", t.keep_checkpoints, 1);
    t.keep_step_checkpoints = r.boolean("keep_step_checkpoints", t.keep_step_checkpoints);
    t.divergence_window = r.integer("divergence_window", t.divergence_window, 1);
    t.stop_on_divergence = r.boolean("stop_on_divergence", t.stop_on_divergence);
    t.max_non_finite_steps = r.integer("max_non_finite_steps", t.max_non_finite_steps, 1);
    t.log_every = r.integer("log_every", t.log_every, 1);
    t.readback_every = at_most(r, "readback_every", r.integer("readback_every", t.readback_every, 0), kMaxReadbackEvery);

    out.emplace_back("train.epochs", std::to_string(t.epochs));
    out.emplace_back("train.batch_size", std::to_string(t.batch_size));
    out.emplace_back("train.optimizer", text::toml_string(t.optimizer));
    out.emplace_back("train.lr", text::toml_float(t.lr));
    out.emplace_back("train.betas", host::format_value(t.betas));
    out.emplace_back("train.eps", text::toml_float(t.eps));
    out.emplace_back("train.weight_decay", text::toml_float(t.weight_decay));
    out.emplace_back("train.scheduler", text::toml_string(t.scheduler));
    out.emplace_back("train.eta_min", text::toml_float(t.eta_min));
    out.emplace_back("train.grad_clip", text::toml_float(t.grad_clip));
    out.emplace_back("train.val_fraction", text::toml_float(e.data.split.val_fraction));
    out.emplace_back("train.checkpoint_every", std::to_string(t.checkpoint_every));
    out.emplace_back("train.keep_checkpoints", std::to_string(t.keep_checkpoints));
    out.emplace_back("train.keep_step_checkpoints", t.keep_step_checkpoints ? "true" : "false");
    out.emplace_back("train.divergence_window", std::to_string(t.divergence_window));
    out.emplace_back("train.stop_on_divergence", t.stop_on_divergence ? "true" : "false");
    out.emplace_back("train.max_non_finite_steps", std::to_string(t.max_non_finite_steps));
    out.emplace_back("train.log_every", std::to_string(t.log_every));
    out.emplace_back("train.readback_every", std::to_string(t.readback_every));
}

}  // namespace

Document prepare_document(const fs::path& file, const std::string& text, const std::vector<Assignment>& overrides) {
    Document doc = parse_document(file, text);
    ensure_default_losses(doc);
    for (const Assignment& a : overrides) assign(doc, a.key, a.value(), "--set " + a.key, true);
    return doc;
}

std::vector<SweepAxis> read_sweep(const Document& doc) {
    std::vector<SweepAxis> axes;
    const toml::node* node = doc.root.get("sweep");
    if (node == nullptr) return axes;
    const toml::table* table = node->as_table();
    if (table == nullptr)
        throw ExperimentError(doc.locate("sweep", node) + ": sweep must be a table ([sweep]), got " + describe_node(*node));
    std::vector<std::pair<toml::source_position, SweepAxis>> found;
    for (const auto& [k, v] : *table) {
        const std::string key(k.str());
        const std::string where = doc.locate("sweep", k.source());
        const toml::array* values = v.as_array();
        if (values == nullptr || values->empty())
            throw ExperimentError(where + ": [sweep] \"" + key + "\" must be a non-empty list of values, got " +
                                  describe_node(v));
        SweepAxis axis;
        axis.key = key;
        for (const auto& value : *values) {
            if (key == "losses") {
                const toml::array* names = value.as_array();
                const bool ok = names && !names->empty() &&
                                std::all_of(names->begin(), names->end(), [](const toml::node& n) { return n.is_string(); });
                if (!ok)
                    throw ExperimentError(doc.locate("sweep", value.source().begin.line ? value.source() : k.source()) +
                                          ": [sweep] losses takes lists of [[loss]] entry names, e.g. [[\"stft\", \"kl\"], [\"kl\"]]; got " +
                                          describe_node(value));
            }
            axis.values.push_back(&value);
            axis.labels.push_back(doc.locate("sweep", value.source().begin.line ? value.source() : k.source()));
        }
        found.emplace_back(k.source().begin, std::move(axis));
    }
    std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
        return std::make_pair(a.first.line, a.first.column) < std::make_pair(b.first.line, b.first.column);
    });
    for (auto& f : found) axes.push_back(std::move(f.second));
    return axes;
}

Experiment build_experiment(const Document& doc, const host::PluginRegistry& registry) {
    Experiment e;
    Resolved out;
    TableReader top(doc, &doc.root, "");
    reject_unknown(top, {"name", "seed", "device", "threads", "data", "model", "loss", "train", "output", "sweep"});
    e.name = top.string("name", doc.file.stem().string());
    if (e.name.empty()) top.fail("name", "name must not be empty");
    e.seed = static_cast<uint64_t>(top.integer("seed", 0, 0));
    e.device = top.string("device", e.device);
    if (!valid_device(e.device))
        top.fail("device", "device must be \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", got " + text::toml_string(e.device));
    e.threads = at_most(top, "threads", top.integer("threads", e.threads, 0), kMaxThreads);
    read_sweep(doc);

    read_data(doc, top, e, out);
    e.data.split.seed = e.seed;
    e.data.augment.seed = e.seed;
    read_train(doc, top, e, out);
    read_model(doc, top, registry, e, out);
    read_losses(doc, top, registry, e, out);
    TableReader output(doc, top.table("output"), "output");
    reject_unknown(output, {"dir"});
    const bool dir_given = output.get() != nullptr && output.get()->contains("dir");
    e.output.dir = output.string("dir", e.output.dir);
    if (dir_given && e.output.dir.empty())
        output.fail("dir", "output.dir must not be empty (leave it out to keep a run's files beside the database)");

    out.emplace_back("name", text::toml_string(e.name));
    out.emplace_back("seed", std::to_string(e.seed));
    out.emplace_back("device", text::toml_string(e.device));
    out.emplace_back("threads", std::to_string(e.threads));
    out.emplace_back("output.dir", text::toml_string(e.output.dir));
    std::sort(out.begin(), out.end());
    e.resolved = std::move(out);
    e.source_path = doc.file.string();
    e.source_text = doc.text;
    return e;
}

}  // namespace distill::experiment::detail
