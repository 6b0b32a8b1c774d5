#include "store/nonfinite.hpp"

#include <SQLiteCpp/Column.h>

#include <cmath>
#include <limits>

namespace distill::store {

void NonFiniteList::bind(SQLite::Statement& stmt, int index, const char* name, double value) {
    if (std::isnan(value)) {
        stmt.bind(index);
    } else {
        stmt.bind(index, value);
    }
    if (std::isfinite(value)) return;
    if (!text_.empty()) text_ += ',';
    text_ += name;
    text_ += std::isnan(value) ? "=nan" : (value > 0 ? "=inf" : "=-inf");
}

void NonFiniteList::bind(SQLite::Statement& stmt, int index, const char* name, const std::optional<double>& value) {
    if (value.has_value()) {
        bind(stmt, index, name, *value);
    } else {
        stmt.bind(index);
    }
}

void NonFiniteList::bind_list(SQLite::Statement& stmt, int index) const {
    if (text_.empty()) {
        stmt.bind(index);
    } else {
        stmt.bind(index, text_);
    }
}

double read_metric(const SQLite::Statement& stmt, int index) {
    const SQLite::Column column = stmt.getColumn(index);
    // +-inf come back as REAL; only NaN (and a missing value) is NULL.
    if (column.isNull()) return std::numeric_limits<double>::quiet_NaN();
    return column.getDouble();
}

bool listed_as_nan(const std::string& nonfinite, const char* name) {
    const std::string entry = std::string(name) + "=nan";
    for (size_t at = nonfinite.find(entry); at != std::string::npos; at = nonfinite.find(entry, at + 1)) {
        const size_t end = at + entry.size();
        if ((at == 0 || nonfinite[at - 1] == ',') && (end == nonfinite.size() || nonfinite[end] == ','))
            return true;
    }
    return false;
}

}  // namespace distill::store
