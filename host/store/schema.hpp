// The schema as forward migrations: kMigrations[i] takes a database from
// user_version i to i + 1. Column names are a public contract (docs/schema.md).
#pragma once

#include <array>
#include <string>
#include <vector>

namespace SQLite {
class Database;
}

namespace distill::store {

// One version step: `sql`, then an ALTER TABLE ... ADD COLUMN for every
// column the metrics tables declare with this version as `since`
// (store/metric_columns.hpp), then `after` (backfills of those columns).
struct Migration {
    const char* sql;
    const char* after;
};

extern const std::array<Migration, 3> kMigrations;

// The statements of kMigrations[version - 1], in order, as one text.
std::string migration_sql(int version);

// Takes the database from user_version `version - 1` to `version` (the
// caller holds the write transaction and sets user_version).
void apply_migration(SQLite::Database& db, int version);

// The columns of `table` as the database has them, in table order.
std::vector<std::string> table_columns(SQLite::Database& db, const std::string& table);

}  // namespace distill::store
