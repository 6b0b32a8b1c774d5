#include "session/run_files.hpp"

#include <filesystem>
#include <set>

namespace distill::session {
namespace fs = std::filesystem;
namespace {

int64_t bytes_under(const fs::path& path) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) return static_cast<int64_t>(fs::file_size(path, ec));
    int64_t total = 0;
    for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec)) total += static_cast<int64_t>(it->file_size(ec));
    return total;
}

// 8-4-4-4-12 hex digits: only such folders are runs' own.
bool looks_like_uuid(const std::string& name) {
    if (name.size() != 36) return false;
    for (size_t i = 0; i < name.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (name[i] == '-')) return false;
        if (!dash && !std::isxdigit(static_cast<unsigned char>(name[i]))) return false;
    }
    return true;
}

}  // namespace

GarbageReport collect_garbage(store::RunStore& db, bool dry_run) {
    GarbageReport report;
    std::error_code ec;
    for (const auto& run : db.runs_with_status("failed")) {
        int64_t freed = 0;
        for (const auto& artifact : db.artifacts(run.id)) {
            const fs::path file = db.resolve(artifact.path);
            freed += bytes_under(file);
            if (!dry_run) fs::remove(file, ec);
        }
        const fs::path folder = db.files_root() / run.uuid;
        freed += fs::exists(folder, ec) ? bytes_under(folder) : 0;
        if (!dry_run) {
            fs::remove_all(folder, ec);
            db.remove_artifacts(run.id);
        }
        if (freed > 0) report.removed.push_back("run " + std::to_string(run.id) + " (failed): " + folder.string());
        report.bytes += freed;
    }
    const fs::path root = db.files_root();
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!it->is_directory() || !looks_like_uuid(name) || db.find_run_by_uuid(name)) continue;
        report.bytes += bytes_under(it->path());
        report.removed.push_back("no run has uuid " + name + ": " + it->path().string());
        if (!dry_run) fs::remove_all(it->path(), ec);
    }
    return report;
}

}  // namespace distill::session
