#include "experiment/table_reader.hpp"

#include "common/suggest.hpp"
#include "experiment/experiment.hpp"
#include "experiment/toml_text.hpp"

#include <algorithm>
#include <cmath>

namespace distill::experiment::detail {

TableReader::TableReader(const Document& doc, const toml::table* table, std::string prefix)
    : doc_(doc), table_(table), prefix_(std::move(prefix)) {}

std::string TableReader::where(const std::string& key) const {
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    // An absent key is reported at its table ([data] for a missing data.dir).
    return doc_.locate(path(key), node ? node : table_);
}

std::string TableReader::where_key(const std::string& key) const {
    if (table_ != nullptr)
        for (const auto& [name, v] : *table_)
            if (name.str() == key) return doc_.locate(path(key), name.source());
    return where(key);
}

void TableReader::fail(const std::string& key, const std::string& message) const {
    throw ExperimentError(where(key) + ": " + message);
}

const toml::node* TableReader::take(const std::string& key) {
    taken_.insert(key);
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.push_back(key);
    return table_ ? table_->get(key) : nullptr;
}

int64_t TableReader::integer(const std::string& key, int64_t fallback, int64_t min, int64_t max) {
    const toml::node* node = take(key);
    if (node == nullptr) return fallback;
    const auto* v = node->as_integer();
    if (v == nullptr) fail(key, path(key) + " must be an integer, got " + describe_node(*node));
    const int64_t value = v->get();
    if (value < min || value > max) {
        const std::string range = max == INT64_MAX ? ">= " + std::to_string(min)
                                                   : "in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
        fail(key, path(key) + " must be " + range + ", got " + std::to_string(value));
    }
    return value;
}

double TableReader::real(const std::string& key, double fallback, const std::function<std::string(double)>& check) {
    const toml::node* node = take(key);
    if (node == nullptr) return fallback;
    double value = 0;
    if (const auto* f = node->as_floating_point())
        value = f->get();
    else if (const auto* i = node->as_integer())
        value = static_cast<double>(i->get());
    else
        fail(key, path(key) + " must be a number, got " + describe_node(*node));
    if (const std::string wanted = check(value); !wanted.empty())
        fail(key, path(key) + " must be " + wanted + ", got " + text::toml_float(value));
    return value;
}

bool TableReader::boolean(const std::string& key, bool fallback) {
    const toml::node* node = take(key);
    if (node == nullptr) return fallback;
    const auto* v = node->as_boolean();
    if (v == nullptr) fail(key, path(key) + " must be true or false, got " + describe_node(*node));
    return v->get();
}

std::string TableReader::string(const std::string& key, const std::string& fallback,
                                const std::vector<std::string>& choices) {
    const toml::node* node = take(key);
    if (node == nullptr) return fallback;
    const auto* v = node->as_string();
    if (v == nullptr) fail(key, path(key) + " must be a string, got " + describe_node(*node));
    const std::string value = v->get();
    if (!choices.empty() && std::find(choices.begin(), choices.end(), value) == choices.end()) {
        std::string allowed;
        for (const auto& c : choices) allowed += (allowed.empty() ? "" : "|") + c;
        fail(key, path(key) + " must be one of " + allowed + ", got " + text::toml_string(value) +
                      did_you_mean(value, choices));
    }
    return value;
}

std::vector<double> TableReader::reals(const std::string& key, const std::vector<double>& fallback, size_t count,
                                       const std::function<std::string(double)>& check) {
    const toml::node* node = take(key);
    if (node == nullptr) return fallback;
    const auto* a = node->as_array();
    // count 0: any non-empty list.
    const std::string wanted =
        path(key) + " must be a list of " + (count == 0 ? std::string("one or more") : std::to_string(count)) + " numbers";
    if (a == nullptr || (count == 0 ? a->empty() : a->size() != count)) fail(key, wanted + ", got " + describe_node(*node));
    std::vector<double> out;
    for (const auto& item : *a) {
        if (const auto* f = item.as_floating_point())
            out.push_back(f->get());
        else if (const auto* i = item.as_integer())
            out.push_back(static_cast<double>(i->get()));
        else
            fail(key, wanted + ", got " + describe_node(*node));
        if (const std::string bad = check(out.back()); !bad.empty())
            fail(key, "each of " + path(key) + " must be " + bad + ", got " + text::toml_float(out.back()));
    }
    return out;
}

const toml::table* TableReader::table(const std::string& key) {
    const toml::node* node = take(key);
    if (node == nullptr) return nullptr;
    const auto* t = node->as_table();
    if (t == nullptr) fail(key, path(key) + " must be a table ([" + path(key) + "]), got " + describe_node(*node));
    return t;
}

std::vector<std::string> TableReader::untaken() const {
    std::vector<std::pair<toml::source_position, std::string>> keys;
    if (table_ != nullptr)
        for (const auto& [k, v] : *table_)
            if (!taken_.count(std::string(k.str()))) keys.emplace_back(k.source().begin, std::string(k.str()));
    // TOML++ keeps keys sorted; file order reads better in messages.
    std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
        return std::make_pair(a.first.line, a.first.column) < std::make_pair(b.first.line, b.first.column);
    });
    std::vector<std::string> out;
    for (auto& k : keys) out.push_back(std::move(k.second));
    return out;
}

void TableReader::finish(std::vector<std::string> known) const {
    const std::vector<std::string> left = untaken();
    if (left.empty()) return;
    known.insert(known.end(), known_.begin(), known_.end());
    const std::string& key = left.front();
    const std::string scope = prefix_.empty() ? "at the top level" : "in [" + prefix_ + "]";
    throw UnknownKeyError(where_key(key) + ": unknown key '" +
                          path(key) + "' " + scope + did_you_mean(key, known));
}

std::function<std::string(double)> positive() {
    return [](double v) { return std::isfinite(v) && v > 0 ? "" : std::string("> 0"); };
}

std::function<std::string(double)> at_least(double lo) {
    return [lo](double v) { return std::isfinite(v) && v >= lo ? "" : ">= " + text::toml_float(lo); };
}

std::function<std::string(double)> between(double lo, double hi, bool open_lo, bool open_hi) {
    return [=](double v) {
        const bool ok = std::isfinite(v) && (open_lo ? v > lo : v >= lo) && (open_hi ? v < hi : v <= hi);
        if (ok) return std::string();
        return std::string("in ") + (open_lo ? "(" : "[") + text::toml_float(lo) + ", " + text::toml_float(hi) +
               (open_hi ? ")" : "]");
    };
}

}  // namespace distill::experiment::detail
