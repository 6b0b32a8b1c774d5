// `distill oracle`: the representation's ceiling for an experiment's data
// settings on its own validation files, for every grid point of a [sweep]
// over data.* keys; computed once per settings and corpus, then read back.
#pragma once

#include "audio/inversion.hpp"
#include "plugins/plugin_registry.hpp"
#include "session/run_session.hpp"
#include "store/records.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace distill::session {

struct OracleRequest {
    std::filesystem::path experiment_file;
    std::vector<std::string> overrides;
    std::filesystem::path db_path = "runs.db";
    std::optional<int64_t> max_files;  // the first N validation files
    audio::InversionOptions inversion;
};

struct OraclePoint {
    std::vector<std::pair<std::string, std::string>> swept;  // the grid point's values
    int64_t n_mels = 0, empty_bands = 0;
    std::vector<store::OracleRow> rows;  // per file, then the total (file "")
    bool stored = false;                 // read back from the database, nothing decoded
};

// BadInput for a sweep over a key that is not a data setting (the oracle
// does not train), and for anything an experiment would refuse.
std::vector<OraclePoint> run_oracle(const OracleRequest& request, const host::PluginRegistry& registry,
                                    SessionListener& listener);

}  // namespace distill::session
