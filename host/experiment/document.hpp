// The experiment file as a TOML++ document, with every change made to it
// from outside the file text (--set, sweep values, the default loss set)
// remembered, so that every error can say where the offending value came from.
#pragma once

#include <toml++/toml.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace distill::experiment::detail {

// Where a value that is not in the file text came from.
struct Origin {
    std::string key;    // user-facing dotted path ("train.lr", "loss.kl.weight")
    std::string label;  // what errors print instead of a position ("--set train.lr")
    bool command_line;  // --set (relative paths are then relative to the working directory)
};

struct Document {
    std::filesystem::path file;
    std::string text;
    // Where relative paths given on the command line start (empty: the
    // current directory). A resumed run passes the directory it started in.
    std::filesystem::path working_dir;
    toml::table root;
    std::vector<Origin> origins;

    // Label for an error at `path`: the override that set it (or set
    // something under it), else FILE:LINE:COL from `where`, else the override
    // that created the table it lies in, else FILE.
    std::string locate(const std::string& path, const toml::source_region& where) const;
    std::string locate(const std::string& path, const toml::node* node) const;
    std::string position(const toml::source_region& where) const;  // FILE:LINE:COL or FILE
    const Origin* origin_of(const std::string& path) const;         // exact key only
};

// Reads and parses FILE. A syntax error becomes ExperimentError
// "FILE:LINE:COL: TOML syntax error: ...".
Document read_document(const std::filesystem::path& file);
Document parse_document(const std::filesystem::path& file, const std::string& text);

// The reference loss set (docs/reference.md#3-losses), inserted when the file
// has no `loss` key, so --set and [sweep] can reach its entries by name.
void ensure_default_losses(Document& doc);

// "KEY=VALUE" from the command line. VALUE is read as a TOML value; text
// that is not valid TOML is taken as a string (--set data.dir=/tmp/x).
struct Assignment {
    std::string key;
    toml::table holder;  // holds the value under "v"
    const toml::node& value() const { return *holder.get("v"); }
};
Assignment parse_override(const std::string& text);

// The [[loss]] entry's user-facing name: `name`, else `plugin`, else "".
std::string loss_entry_name(const toml::table& entry);

// Sets dotted `key` to `value`, creating tables on the way; `loss.NAME.KEY`
// addresses the [[loss]] entry named NAME. A path that cannot exist throws
// UnknownKeyError "LABEL: ...".
void assign(Document& doc, const std::string& key, const toml::node& value, const std::string& label,
            bool command_line);

std::vector<std::string> split_dotted(const std::string& key);

}  // namespace distill::experiment::detail
