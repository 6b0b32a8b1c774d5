// `distill db merge OUT IN...`: folds the databases of a sweep's shards (or
// any run databases) into one. Runs are keyed by uuid, experiments by text
// hash, sweeps by identity, so merging the same input twice adds nothing.
#pragma once

#include "store/database.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace distill::store {

struct MergeCounts {
    std::map<std::string, int64_t> rows;  // table -> rows added
    int64_t runs_added = 0, runs_replaced = 0, runs_unchanged = 0;
};

// Checks every input first (exists, a distill database of this schema
// version, passes quick_check); StoreError naming the file, and OUT is not
// touched. Then copies each input in one transaction of its own. A run
// already in OUT is replaced when the input's copy is newer (a later
// heartbeat: the shard was re-run), else left alone. Artifact paths are
// rewritten to stay valid from OUT's folder.
std::vector<MergeCounts> merge_databases(const std::filesystem::path& out, const std::vector<std::filesystem::path>& inputs);

}  // namespace distill::store
