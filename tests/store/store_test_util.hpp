// Shared helpers: a fresh temporary directory per test, and a run with its
// experiment in a new database.
#pragma once

#include "store/run_store.hpp"

#include <filesystem>
#include <string>

namespace distill::store::test {

// mkdtemp under $TMPDIR (or /tmp); removed with everything in it on
// destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// Records a small experiment and creates a run for it; returns the run id.
int64_t make_run(RunStore& store, const std::string& experiment = "exp", int64_t seed = 1);

// Runs a shell command, returns {exit status, stdout+stderr}.
std::pair<int, std::string> run_command(const std::string& command);

}  // namespace distill::store::test
