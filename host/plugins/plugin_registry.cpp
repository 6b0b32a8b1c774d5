#include "plugins/plugin_registry.hpp"

#include "plugins/abi_check.hpp"

#include <distill/sdk.hpp>  // DISTILL_TORCH_VERSION

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace distill::host {
namespace fs = std::filesystem;

std::string host_torch_version() { return DISTILL_TORCH_VERSION; }

const char* kind_name(distill_plugin_kind kind) {
    switch (kind) {
        case DISTILL_KIND_MODEL: return "model";
        case DISTILL_KIND_LOSS: return "loss";
    }
    return "unknown";
}

std::string Refusal::line() const { return "refused plugin library " + file.string() + ": " + reason; }

PluginRegistry::PluginRegistry(AbiRequirement requirement) : requirement_(std::move(requirement)) {
    if (requirement_.torch_version.empty()) requirement_.torch_version = host_torch_version();
}

namespace {
void split_colon_list(const std::string& text, std::vector<fs::path>& out) {
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ':'))
        if (!item.empty()) out.emplace_back(item);
}

// Keeps every loaded library alive until the process exits, on purpose.
std::vector<boost::dll::shared_library>& keep_alive() {
    static auto* libraries = new std::vector<boost::dll::shared_library>();
    return *libraries;
}
}  // namespace

std::vector<fs::path> PluginRegistry::search_path(const std::vector<std::string>& explicit_paths) {
    std::vector<fs::path> paths;
    for (const auto& p : explicit_paths) split_colon_list(p, paths);
    if (const char* env = std::getenv("DISTILL_PLUGIN_PATH")) split_colon_list(env, paths);
    boost::dll::fs::error_code ec;
    const fs::path exe_dir = boost::dll::program_location(ec).parent_path().string();
    if (!ec) {
        paths.push_back(exe_dir.parent_path() / "plugins");                      // build tree
        paths.push_back(exe_dir.parent_path() / "lib" / "distill" / "plugins");  // install tree
    }
    return paths;
}

void PluginRegistry::load_all(const std::vector<fs::path>& paths) {
    for (const auto& path : paths) {
        std::error_code ec;
        if (fs::is_directory(path, ec))
            load_directory(path);
        else if (fs::is_regular_file(path, ec))
            load_library(path);
    }
}

void PluginRegistry::load_directory(const fs::path& dir) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".so" && !entry.is_directory()) files.push_back(entry.path());
    }
    if (ec) {
        refuse(dir, "cannot list directory: " + ec.message());
        return;
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) load_library(file);
}

void PluginRegistry::refuse(const fs::path& file, std::string reason) {
    refusals_.push_back({file, std::move(reason)});
}

void PluginRegistry::load_library(const fs::path& given) {
    std::error_code ec;
    const fs::path file = fs::weakly_canonical(fs::absolute(given), ec);
    // The same file reached through two search entries is one library.
    if (std::find(loaded_files_.begin(), loaded_files_.end(), file) != loaded_files_.end()) return;
    loaded_files_.push_back(file);

    boost::dll::shared_library library;
    boost::dll::fs::error_code load_error;
    library.load(file.string(), boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local, load_error);
    if (load_error || !library.is_loaded()) {
        refuse(file, "not a loadable shared library (" + load_error.message() + ")");
        return;
    }
    if (!library.has(DISTILL_ENTRY_SYMBOL)) {
        refuse(file, std::string("no '") + DISTILL_ENTRY_SYMBOL + "' symbol: not a distill plugin library");
        keep_alive().push_back(std::move(library));
        return;
    }
    auto entry_fn = library.get<const distill_entry*()>(DISTILL_ENTRY_SYMBOL);
    keep_alive().push_back(std::move(library));

    add_entry(entry_fn(), file);
}

void PluginRegistry::add_entry(const distill_entry* entry, const fs::path& file) {
    if (entry == nullptr) {
        refuse(file, std::string(DISTILL_ENTRY_SYMBOL) + " returned NULL (the library failed to describe itself)");
        return;
    }
    const std::string host_abi =
        std::to_string(requirement_.major) + "." + std::to_string(DISTILL_ABI_MINOR);
    const std::string lib_abi = std::to_string(entry->abi_major) + "." + std::to_string(entry->abi_minor);
    if (entry->abi_major != requirement_.major) {
        refuse(file, "plugin ABI " + lib_abi + " has a different major version than the host's ABI " + host_abi);
        return;
    }
    if (entry->abi_minor < requirement_.min_minor) {
        refuse(file, "plugin ABI " + lib_abi + " is older than the oldest the host supports (" +
                         std::to_string(requirement_.major) + "." + std::to_string(requirement_.min_minor) + ")");
        return;
    }
    if (const std::string why = check_entry(entry); !why.empty()) {
        refuse(file, why);
        return;
    }
    const std::string lib_torch = entry->torch_version != nullptr ? entry->torch_version : "(none)";
    if (lib_torch != requirement_.torch_version) {
        refuse(file, "built against LibTorch " + lib_torch + " but the host uses LibTorch " +
                         requirement_.torch_version + " (rebuild the plugin against the host's LibTorch)");
        return;
    }
    for (size_t i = 0; i < entry->plugin_count; ++i) {
        const distill_plugin_descriptor* d = entry->plugins[i];
        if (const std::string why = check_descriptor(d, i, entry->abi_minor); !why.empty()) {
            refuse(file, why);
            continue;
        }
        if (const LoadedPlugin* existing = find(d->id)) {
            refuse(file, std::string("duplicate plugin id '") + d->id + "': already provided by " +
                             existing->library.string() + ", ignoring the one in " + file.string());
            continue;
        }
        plugins_.push_back({d, file, entry->library_name ? entry->library_name : "",
                            entry->library_version ? entry->library_version : ""});
    }
}

const LoadedPlugin* PluginRegistry::find(const std::string& id) const {
    for (const auto& p : plugins_)
        if (p.id() == id) return &p;
    return nullptr;
}

std::vector<std::string> PluginRegistry::ids(distill_plugin_kind kind) const {
    std::vector<std::string> out;
    for (const auto& p : plugins_)
        if (p.kind() == kind) out.push_back(p.id());
    return out;
}

const LoadedPlugin& PluginRegistry::require(const std::string& id, distill_plugin_kind kind) const {
    const LoadedPlugin* p = find(id);
    if (p != nullptr && p->kind() == kind) return *p;
    std::string known;
    for (const auto& other : ids(kind)) known += (known.empty() ? "" : ", ") + other;
    if (known.empty()) known = "none";
    if (p != nullptr)
        throw PluginNotFound("plugin '" + id + "' is a " + kind_name(p->kind()) + " plugin, not a " +
                             kind_name(kind) + " plugin (" + kind_name(kind) + " plugins: " + known + ")");
    throw PluginNotFound("unknown " + std::string(kind_name(kind)) + " plugin '" + id + "' (available: " + known +
                         "; see `distill plugins list`)");
}

}  // namespace distill::host
