// Values as text, in one place: TOML (what `validate` prints and run_params
// records, what `plugins describe` shows as a default), JSON (through
// nlohmann), and numbers and counts for people. Every caller that turns a
// value into text goes through here, so one value reads the same everywhere.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>

namespace distill::text {

// The shortest text that reads back as the same double, always in TOML float
// syntax so a printed value keeps its type: 1.0 (not 1), 0.001, 1e-5,
// 24000.0, 1e20, nan, inf, -inf.
std::string toml_float(double v);
// A TOML basic string: quoted, with \" \\ \n \t \r and \uXXXX escapes.
std::string toml_string(const std::string& s);

// A JSON string (nlohmann's escaping).
std::string json_string(const std::string& s);
// A double as JSON: toml_float's text when finite (it is a JSON number too),
// else the string "nan", "inf" or "-inf" (JSON has no such numbers).
std::string json_float(double v);
// JSON on one line with ", " and ": " between items, floats as json_float:
// the form a sweep's grid is stored in (its bytes are part of the sweep's
// identity, so they must not change; tests/experiment pins them).
std::string json_text(const nlohmann::ordered_json& value);

// A number for people, like printf's %.<digits>g, except that every NaN is
// "nan" (printf writes "-nan" for a NaN whose sign bit is set) and the
// infinities are "inf" and "-inf".
std::string number(double v, int digits);

// "1 thread", "2 threads", "0 files"; `plural` defaults to singular + "s".
std::string count(int64_t n, const std::string& singular, const std::string& plural = "");

// The noun with its indefinite article: "an int", "a float", "a list of int".
std::string with_article(const std::string& noun);

}  // namespace distill::text
