// Document -> validated Experiment, shared by load_experiment and the sweep
// expansion.
#pragma once

#include "experiment/document.hpp"
#include "experiment/experiment.hpp"

#include <string>
#include <vector>

namespace distill::host { class PluginRegistry; }

namespace distill::experiment::detail {

// The file's text parsed, the default loss set filled in when it has no
// [[loss]], then each --set applied in order.
Document prepare_document(const std::filesystem::path& file, const std::string& text,
                          const std::vector<Assignment>& overrides);

// Every table and key checked; plugins resolved. Throws ExperimentError.
Experiment build_experiment(const Document& doc, const host::PluginRegistry& registry);

// One [sweep] key: its values (pointers into the document) in file order.
struct SweepAxis {
    std::string key;
    std::vector<const toml::node*> values;
    std::vector<std::string> labels;  // FILE:LINE:COL of each value
};
// The [sweep] table's shape checked (non-empty lists; `losses` a list of
// lists of names), axes in file order.
std::vector<SweepAxis> read_sweep(const Document& doc);

}  // namespace distill::experiment::detail
