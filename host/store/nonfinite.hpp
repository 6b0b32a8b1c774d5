// How non-finite metric values survive SQLite, which stores NaN as NULL.
// Encoding (docs/schema.md): the REAL column holds the value, +-inf included
// (SQLite keeps infinities); NaN becomes NULL. The row's `nonfinite` TEXT
// column lists every non-finite field as "name=nan|inf|-inf", comma-separated
// in column order, and is NULL when every value is finite (the row's
// `has_nonfinite` flag is 1 exactly when it is not NULL). Readers restore NaN
// from the list; a NULL metric not in the list stays "missing" (a reference
// column whose metric no loss entry declares).
#pragma once

#include <SQLiteCpp/Statement.h>

#include <optional>
#include <string>

namespace distill::store {

// Collects the non-finite fields of one row while binding its values.
class NonFiniteList {
public:
    // Binds `value` at `index` (NULL for NaN) and notes it when non-finite.
    void bind(SQLite::Statement& stmt, int index, const char* name, double value);
    // nullopt binds NULL and is not noted: absent, not non-finite.
    void bind(SQLite::Statement& stmt, int index, const char* name, const std::optional<double>& value);
    // NULL when all were finite.
    void bind_list(SQLite::Statement& stmt, int index) const;
    bool empty() const { return text_.empty(); }
    const std::string& text() const { return text_; }

private:
    std::string text_;
};

// Reads column `index` as a double; NULL (NaN on the way in) reads as NaN.
double read_metric(const SQLite::Statement& stmt, int index);

// True when a row's `nonfinite` text names `name` as NaN ("name=nan").
bool listed_as_nan(const std::string& nonfinite, const char* name);

}  // namespace distill::store
