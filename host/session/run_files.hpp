// A run's files as a whole: what `runs gc` may remove. Files are recorded in
// the artifacts table; folders under <db stem>.runs/ are named by run uuid.
#pragma once

#include "store/run_store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace distill::session {

struct GarbageReport {
    std::vector<std::string> removed;  // one line per run or folder removed
    int64_t bytes = 0;                 // freed (or that would be, on a dry run)
};

// Removes the files of failed runs (their artifacts rows too) and the
// folders under db.files_root() whose uuid names no run in the database.
// Interrupted, diverged and completed runs keep theirs.
GarbageReport collect_garbage(store::RunStore& db, bool dry_run);

}  // namespace distill::session
