// Reads one TOML table of the experiment format: typed getters with
// defaults and range checks, and at the end every key nobody asked for
// reported as unknown with the nearest known key suggested.
#pragma once

#include "experiment/document.hpp"

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace distill::experiment::detail {

class TableReader {
public:
    // `prefix` is the table's dotted path ("train", "loss.kl", "" for the root).
    TableReader(const Document& doc, const toml::table* table, std::string prefix);

    std::string path(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }
    // Error at a key: "LOCATION: message".
    [[noreturn]] void fail(const std::string& key, const std::string& message) const;
    std::string where(const std::string& key) const;      // the value's position
    std::string where_key(const std::string& key) const;  // the key's position

    // Marks the key as known; null when absent.
    const toml::node* take(const std::string& key);

    int64_t integer(const std::string& key, int64_t fallback, int64_t min, int64_t max = INT64_MAX);
    // Integers are accepted for floats. `check` returns "" or what the value must be.
    double real(const std::string& key, double fallback, const std::function<std::string(double)>& check);
    bool boolean(const std::string& key, bool fallback);
    std::string string(const std::string& key, const std::string& fallback,
                       const std::vector<std::string>& choices = {});
    // A list of `count` numbers (0: one or more).
    std::vector<double> reals(const std::string& key, const std::vector<double>& fallback, size_t count,
                              const std::function<std::string(double)>& check);
    // A sub-table; `fail`s when the key holds something else.
    const toml::table* table(const std::string& key);

    // Keys not taken yet, in file order.
    std::vector<std::string> untaken() const;
    // UnknownKeyError for the first key not taken, suggesting among `known`
    // (every key taken so far is known too).
    void finish(std::vector<std::string> known = {}) const;

    const toml::table* get() const { return table_; }

private:
    const Document& doc_;
    const toml::table* table_;
    std::string prefix_;
    std::set<std::string> taken_;
    std::vector<std::string> known_;
};

// Range checks for `real`.
std::function<std::string(double)> positive();
std::function<std::string(double)> at_least(double lo);
std::function<std::string(double)> between(double lo, double hi, bool open_lo, bool open_hi);

}  // namespace distill::experiment::detail
