// The schema as forward migrations: kMigrations[i] takes a database from
// user_version i to i + 1. Column names are a public contract (docs/schema.md).
#pragma once

#include <array>

namespace distill::store {

extern const std::array<const char*, 2> kMigrations;

}  // namespace distill::store
