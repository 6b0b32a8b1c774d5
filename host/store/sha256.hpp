// SHA-256 for experiment dedup (hash of the TOML text) and for recording
// which plugin library a run used (run_plugins.library_sha256).
#pragma once

#include <filesystem>
#include <string>

namespace distill::store {

// Lower-case hex digest of `data`.
std::string sha256_hex(const std::string& data);

// Lower-case hex digest of a file's bytes; StoreError naming the file when it
// cannot be read.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace distill::store
