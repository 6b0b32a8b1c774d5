// The documentation against the code (issue 18, "one source of truth"):
// every SQL example runs verbatim on a real database, every default in
// docs/reference.md is the one `distill validate` resolves, every citation
// of the reference names a section that exists, and the quickstart shown in
// docs/experiments.md is the file that ships.
#include "support/run_fixture.hpp"
#include "support/shell.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace distill::test_support {
namespace {

const fs::path kSource = DISTILL_SOURCE_DIR;
const fs::path kReference = kSource / "docs" / "reference.md";

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

struct Block {
    std::string where;  // FILE:LINE of the opening fence
    std::string text;
};

// The fenced blocks of every docs/*.md whose info string is `info`.
std::vector<Block> fenced_blocks(const std::string& info) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(kSource / "docs"))
        if (entry.path().extension() == ".md") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    std::vector<Block> blocks;
    for (const auto& file : files) {
        const auto lines = lines_of(read_file(file));
        for (size_t i = 0; i < lines.size(); ++i) {
            if (trim(lines[i]) != "```" + info) continue;
            Block block{file.filename().string() + ":" + std::to_string(i + 1), ""};
            for (++i; i < lines.size() && trim(lines[i]) != "```"; ++i) block.text += lines[i] + "\n";
            blocks.push_back(std::move(block));
        }
    }
    return blocks;
}

// The statements people are told to run go through `distill query` exactly
// as written, against a database made by a real two-trial sweep (so sweep 1,
// runs 1 and 2, every table holds rows).
TEST(Docs, EverySqlExampleRunsVerbatim) {
    TempDir dir("distill-docs");
    write_corpus(dir / "corpus");
    std::ofstream(dir / "exp.toml") << experiment_text(dir.path(), "epochs = 2\ncheckpoint_every = 0\n", "")
                                    << "\n[sweep]\n\"train.lr\" = [0.001, 0.0005]\n";
    const Finished sweep = run_distill(dir.path(), {"sweep", "exp.toml", "--db", "runs.db"});
    ASSERT_EQ(sweep.exit_code, 0) << sweep.out << sweep.err;

    const auto blocks = fenced_blocks("sql");
    // docs/queries.md and docs/schema.md hold a dozen between them: finding
    // none would mean the extraction is broken, not that all is well.
    ASSERT_GE(blocks.size(), 12u);
    for (const Block& block : blocks) {
        const ShellResult r = run_shell(shell_quote(DISTILL_BINARY) + " query --db " +
                                        shell_quote((dir / "runs.db").string()) + " " + shell_quote(block.text));
        EXPECT_EQ(r.exit_code, 0) << block.where << ":\n" << block.text << r.output;
    }
}

// Rows of the tables in docs/reference.md headed "key | default": key -> the
// default cell as written.
std::map<std::string, std::string> documented_defaults() {
    std::map<std::string, std::string> rows;
    bool in_table = false;
    for (const std::string& raw : lines_of(read_file(kReference))) {
        const std::string line = trim(raw);
        if (line.empty() || line[0] != '|') {
            in_table = false;
            continue;
        }
        std::vector<std::string> cells;
        std::stringstream row(line.substr(1));
        for (std::string cell; std::getline(row, cell, '|');) cells.push_back(trim(cell));
        if (cells.size() >= 2 && cells[0] == "key" && cells[1] == "default") {
            in_table = true;
            continue;
        }
        if (!in_table || cells.size() < 2 || cells[0].rfind("---", 0) == 0) continue;
        const std::string& key = cells[0];
        EXPECT_TRUE(key.size() > 2 && key.front() == '`' && key.back() == '`') << "not a `key`: " << line;
        EXPECT_EQ(rows.count(key), 0u) << key << " is documented twice";
        rows[key.substr(1, key.size() - 2)] = cells[1];
    }
    return rows;
}

// `value` -> value; anything that is not one code span -> nullopt.
std::optional<std::string> code_span(const std::string& cell) {
    if (cell.size() < 2 || cell.front() != '`' || cell.back() != '`') return std::nullopt;
    const std::string inner = cell.substr(1, cell.size() - 2);
    if (inner.find('`') != std::string::npos) return std::nullopt;
    return inner;
}

TEST(Docs, ReferenceDefaultsAreTheOnesTheCodeResolves) {
    TempDir dir("distill-docs");
    fs::create_directories(dir / "corpus");
    std::ofstream(dir / "minimal.toml") << "[data]\ndir = \"corpus\"\n";
    const ShellResult r = run_shell("cd " + shell_quote(dir.path().string()) + " && " + shell_quote(DISTILL_BINARY) +
                                    " validate minimal.toml");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::map<std::string, std::string> resolved;
    for (const std::string& line : lines_of(r.output)) {
        const size_t eq = line.find(" = ");
        if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
        resolved[line.substr(0, eq)] = line.substr(eq + 3);
    }
    ASSERT_GT(resolved.size(), 50u) << r.output;

    const auto documented = documented_defaults();
    for (const auto& [key, value] : resolved)
        EXPECT_EQ(documented.count(key), 1u) << key << " = " << value << " is not in a key | default table of "
                                             << kReference;
    // Only these depend on the file or the machine, so only these may be
    // described in words rather than given as a value.
    const std::set<std::string> described{"name", "data.dir", "data.cache_dir"};
    for (const auto& [key, cell] : documented) {
        const auto it = resolved.find(key);
        if (it == resolved.end()) {
            ADD_FAILURE() << kReference << " documents `" << key << "`, which `distill validate` does not resolve";
            continue;
        }
        const auto value = code_span(cell);
        if (!value) {
            EXPECT_EQ(described.count(key), 1u) << key << ": the default must be written as `" << it->second << "`";
            continue;
        }
        EXPECT_EQ(*value, it->second) << key << " in " << kReference;
    }
}

// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'.
std::string anchor_of(const std::string& heading) {
    std::string out;
    for (char c : heading) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '_' || c == '-') out += static_cast<char>(std::tolower(u));
        else if (c == ' ') out += '-';
    }
    return out;
}

// Text files of the source tree, without build trees and .git.
std::vector<fs::path> source_files() {
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(kSource); it != fs::recursive_directory_iterator(); ++it) {
        if (it->is_directory() && (it->path().filename() == ".git" || fs::exists(it->path() / "CMakeCache.txt"))) {
            it.disable_recursion_pending();
            continue;
        }
        if (it->is_regular_file() && it->file_size() < (1 << 20)) files.push_back(it->path());
    }
    return files;
}

TEST(Docs, CitationsOfTheReferenceNameItsSections) {
    const std::string cite = std::string("reference.md") + "#";  // not spelled out: this file would cite nothing
    std::set<std::string> anchors;
    for (const std::string& line : lines_of(read_file(kReference)))
        if (line.rfind("#", 0) == 0) anchors.insert(anchor_of(trim(line.substr(line.find_first_not_of('#')))));
    ASSERT_TRUE(anchors.count("5-metrics")) << "the sections of " << kReference << " were not found";

    // The reference that lived outside the repository, by its old name.
    const std::string old_name = std::string("REFER") + "ENCE.md";
    int citations = 0;
    for (const fs::path& file : source_files()) {
        const std::string text = read_file(file);
        if (text.find('\0') != std::string::npos) continue;  // binary
        EXPECT_EQ(text.find(old_name), std::string::npos) << file << " cites " << old_name << ", which is not in the repository";
        for (size_t at = text.find(cite); at != std::string::npos; at = text.find(cite, at + 1)) {
            const size_t begin = at + cite.size();
            size_t end = begin;
            while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '-' ||
                                         text[end] == '_'))
                ++end;
            const std::string anchor = text.substr(begin, end - begin);
            EXPECT_TRUE(anchors.count(anchor)) << file << " cites " << cite << anchor << ", which is no section";
            ++citations;
        }
    }
    // Code, tests and docs cite sections by anchor; none found means the scan is broken.
    EXPECT_GE(citations, 15);
}

TEST(Docs, ExperimentsShowsTheShippedQuickstart) {
    const std::string shipped = read_file(kSource / "experiments" / "quickstart.toml");
    ASSERT_FALSE(shipped.empty());
    int found = 0;
    for (const Block& block : fenced_blocks("toml")) found += block.text == shipped;
    EXPECT_EQ(found, 1) << "docs/experiments.md should show experiments/quickstart.toml exactly, once";
}

}  // namespace
}  // namespace distill::test_support
