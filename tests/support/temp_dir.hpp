// A fresh temporary folder per test, removed with its contents afterwards.
#pragma once

#include <filesystem>
#include <string>

namespace distill::test_support {

// mkdtemp under the system's temp folder ($TMPDIR or /tmp). The destructor
// restores the owner's permissions first, so a test that made a folder
// read-only still leaves nothing behind.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "distill-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

}  // namespace distill::test_support
