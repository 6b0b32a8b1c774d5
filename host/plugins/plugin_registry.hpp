// Finds plugin libraries, checks their ABI and LibTorch versions, and
// indexes their plugins by id. Libraries are never unloaded: unloading a
// library that links libtorch crashes at exit.
#pragma once

#include <distill/plugin.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace distill::host {

// What the host requires of a plugin library.
struct AbiRequirement {
    uint32_t major = DISTILL_ABI_MAJOR;
    uint32_t min_minor = 0;        // oldest minor this host can drive
    std::string torch_version;     // empty = the host's own LibTorch version
};

// The LibTorch version this host was built against ("1.13.0").
std::string host_torch_version();

// One plugin from a loaded library.
struct LoadedPlugin {
    const distill_plugin_descriptor* descriptor = nullptr;
    std::filesystem::path library;  // absolute path of the shared library
    std::string library_name;
    std::string library_version;

    std::string id() const { return descriptor->id; }
    distill_plugin_kind kind() const { return descriptor->kind; }
};

// A library (or one plugin of it) the host would not use, and why.
struct Refusal {
    std::filesystem::path file;
    std::string reason;
    // "refused plugin library FILE: REASON"
    std::string line() const;
};

const char* kind_name(distill_plugin_kind kind);

class PluginRegistry {
public:
    explicit PluginRegistry(AbiRequirement requirement = {});

    // Search order: explicit paths (--plugin-path, colon-separated entries
    // allowed), then $DISTILL_PLUGIN_PATH, then the default locations next
    // to the running executable (build tree and install tree).
    static std::vector<std::filesystem::path> search_path(const std::vector<std::string>& explicit_paths);

    // Loads every *.so in each directory (non-recursive, sorted by name); a
    // path that names a file is loaded as one library. Missing directories
    // are ignored (the defaults may not exist), problems are refusals.
    void load_all(const std::vector<std::filesystem::path>& paths);
    void load_directory(const std::filesystem::path& dir);
    void load_library(const std::filesystem::path& file);
    // Checks and indexes an entry that is already in memory (a loaded
    // library's, or one linked into a test); `origin` names it in messages.
    void add_entry(const distill_entry* entry, const std::filesystem::path& origin);

    const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
    const std::vector<Refusal>& refusals() const { return refusals_; }
    const LoadedPlugin* find(const std::string& id) const;
    // Throws PluginNotFound naming the id, the wanted kind and what exists.
    const LoadedPlugin& require(const std::string& id, distill_plugin_kind kind) const;
    // The ids of every plugin of a kind, for suggestions.
    std::vector<std::string> ids(distill_plugin_kind kind) const;

private:
    void refuse(const std::filesystem::path& file, std::string reason);

    AbiRequirement requirement_;
    std::vector<LoadedPlugin> plugins_;
    std::vector<Refusal> refusals_;
    std::vector<std::filesystem::path> loaded_files_;
};

class PluginNotFound : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace distill::host
