#include "experiment/document.hpp"

#include "common/suggest.hpp"
#include "experiment/experiment.hpp"
#include "experiment/toml_text.hpp"

#include <fstream>
#include <sstream>

namespace distill::experiment::detail {

namespace {
bool under(const std::string& path, const std::string& ancestor) {
    return path.size() > ancestor.size() && path.compare(0, ancestor.size(), ancestor) == 0 &&
           path[ancestor.size()] == '.';
}
}  // namespace

std::string Document::position(const toml::source_region& where) const {
    if (where.begin.line == 0) return file.string();
    return file.string() + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column);
}

std::string Document::locate(const std::string& path, const toml::source_region& where) const {
    // Latest first: a later --set replaces an earlier one.
    for (auto it = origins.rbegin(); it != origins.rend(); ++it)
        if (path == it->key || under(path, it->key)) return it->label;
    if (where.begin.line != 0) return position(where);
    for (auto it = origins.rbegin(); it != origins.rend(); ++it)
        if (under(it->key, path)) return it->label;
    return file.string();
}

std::string Document::locate(const std::string& path, const toml::node* node) const {
    return locate(path, node ? node->source() : toml::source_region{});
}

const Origin* Document::origin_of(const std::string& path) const {
    for (auto it = origins.rbegin(); it != origins.rend(); ++it)
        if (path == it->key || under(path, it->key)) return &*it;
    return nullptr;
}

Document parse_document(const std::filesystem::path& file, const std::string& text) {
    Document doc;
    doc.file = file;
    doc.text = text;
    try {
        doc.root = toml::parse(text, file.string());
    } catch (const toml::parse_error& e) {
        throw ExperimentError(doc.position(e.source()) + ": TOML syntax error: " + std::string(e.description()));
    }
    return doc;
}

Document read_document(const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
        throw ExperimentError(file.string() + ": experiment file not found (or not a regular file)");
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in && !in.eof()) throw ExperimentError(file.string() + ": cannot read the experiment file");
    return parse_document(file, text.str());
}

void ensure_default_losses(Document& doc) {
    if (doc.root.contains("loss")) return;
    // docs/reference.md#3-losses: stft 1.0, mag_l1 0.1, if_l1 0.05, kl 0.01 with a
    // linear warm-up over 30% of the epochs.
    toml::array set;
    set.push_back(toml::table{{"plugin", "stft"}, {"weight", 1.0}});
    set.push_back(toml::table{{"plugin", "mag_l1"}, {"weight", 0.1}});
    set.push_back(toml::table{{"plugin", "if_l1"}, {"weight", 0.05}});
    set.push_back(toml::table{
        {"plugin", "kl"}, {"weight", 0.01}, {"schedule", "linear_warmup"}, {"warmup_fraction", 0.3}});
    doc.root.insert("loss", std::move(set));
    doc.origins.push_back({"loss", doc.file.string() + ": the default [[loss]] set", false});
}

std::vector<std::string> split_dotted(const std::string& key) {
    std::vector<std::string> parts;
    std::string current;
    for (char c : key) {
        if (c == '.') {
            parts.push_back(current);
            current.clear();
        } else {
            current += c;
        }
    }
    parts.push_back(current);
    return parts;
}

Assignment parse_override(const std::string& text) {
    const size_t eq = text.find('=');
    auto trim = [](std::string s) {
        const size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
        return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    if (eq == std::string::npos)
        throw ExperimentError("--set " + text + ": expected KEY=VALUE (e.g. --set train.lr=5e-4)");
    Assignment a;
    a.key = trim(text.substr(0, eq));
    const std::string value = trim(text.substr(eq + 1));
    if (a.key.empty()) throw ExperimentError("--set " + text + ": the key before '=' is empty");
    for (const auto& part : split_dotted(a.key))
        if (part.empty()) throw ExperimentError("--set " + a.key + ": empty part in the dotted key");
    try {
        toml::table parsed = toml::parse("v = " + value);
        if (parsed.size() == 1 && parsed.contains("v")) {
            a.holder = std::move(parsed);
            return a;
        }
    } catch (const toml::parse_error&) {
        // Not a TOML value: a bare word or path, taken as a string below.
    }
    a.holder.insert("v", value);
    return a;
}

std::string loss_entry_name(const toml::table& entry) {
    if (auto n = entry.get_as<std::string>("name")) return n->get();
    if (auto p = entry.get_as<std::string>("plugin")) return p->get();
    return "";
}

void assign(Document& doc, const std::string& key, const toml::node& value, const std::string& label,
            bool command_line) {
    const std::vector<std::string> parts = split_dotted(key);
    toml::table* table = &doc.root;
    size_t i = 0;
    std::string walked;
    if (parts[0] == "loss") {
        if (parts.size() < 3)
            throw UnknownKeyError(label + ": loss entries are addressed as loss.NAME.KEY (e.g. loss.kl.weight)");
        toml::array* losses = doc.root.get_as<toml::array>("loss");
        std::vector<std::string> names;
        table = nullptr;
        if (losses != nullptr)
            for (auto& item : *losses)
                if (toml::table* entry = item.as_table()) {
                    names.push_back(loss_entry_name(*entry));
                    if (names.back() == parts[1] && table == nullptr) table = entry;
                }
        if (table == nullptr)
            throw UnknownKeyError(label + ": no [[loss]] entry named '" + parts[1] + "'" +
                                  did_you_mean(parts[1], names));
        i = 2;
        walked = "loss." + parts[1];
    }
    for (; i + 1 < parts.size(); ++i) {
        walked += (walked.empty() ? "" : ".") + parts[i];
        toml::node* next = table->get(parts[i]);
        if (next == nullptr) {
            table->insert(parts[i], toml::table{});
            next = table->get(parts[i]);
        }
        table = next->as_table();
        if (table == nullptr)
            throw UnknownKeyError(label + ": '" + walked + "' is a " + node_type_name(*next) +
                                  ", not a table, so it has no key '" + parts[i + 1] + "'");
    }
    table->insert_or_assign(parts.back(), value);
    doc.origins.push_back({key, label, command_line});
}

}  // namespace distill::experiment::detail
