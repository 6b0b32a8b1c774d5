// common/text.hpp: the one place values become text.
#include "common/text.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

namespace distill::text {
namespace {

TEST(Text, TomlFloatIsShortestAndKeepsItsType) {
    EXPECT_EQ(toml_float(1.0), "1.0");
    EXPECT_EQ(toml_float(0.001), "0.001");
    EXPECT_EQ(toml_float(1e-5), "1e-5");
    EXPECT_EQ(toml_float(24000.0), "24000.0");
    EXPECT_EQ(toml_float(1e20), "1e20");
    EXPECT_EQ(toml_float(0.1 + 0.2), "0.30000000000000004");
    EXPECT_EQ(toml_float(-std::numeric_limits<double>::quiet_NaN()), "nan");
    EXPECT_EQ(toml_float(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(Text, StringsEscapeForTheirFormat) {
    EXPECT_EQ(toml_string("a\"b\\c\td"), R"("a\"b\\c\td")");
    EXPECT_EQ(json_string("a\"b\\c\td\x01"), R"("a\"b\\c\td\u0001")");
    // Bytes that are not UTF-8 still give valid JSON.
    EXPECT_TRUE(nlohmann::json::accept(json_string("\xff\xfe")));
}

TEST(Text, JsonTextKeepsKeyOrderAndWritesNonFiniteFloatsAsStrings) {
    nlohmann::ordered_json v = nlohmann::ordered_json::object();
    v["z"] = nlohmann::ordered_json::array({1, 0.5, std::numeric_limits<double>::quiet_NaN(), true, "s"});
    v["a"] = nlohmann::ordered_json::array({nlohmann::ordered_json::array({1.0})});
    EXPECT_EQ(json_text(v), R"({"z": [1, 0.5, "nan", true, "s"], "a": [[1.0]]})");
    EXPECT_TRUE(nlohmann::json::accept(json_text(v)));
    EXPECT_EQ(json_text(nlohmann::ordered_json::object()), "{}");
}

// printf's %g writes "-nan" for a NaN with its sign bit set (0 * -inf, or
// -NaN from a loss); people read one spelling.
TEST(Text, NumbersForPeopleSpellNanOneWay) {
    const double negative_nan = -std::numeric_limits<double>::quiet_NaN();
    ASSERT_TRUE(std::signbit(negative_nan));
    EXPECT_EQ(number(negative_nan, 5), "nan");
    EXPECT_EQ(number(std::numeric_limits<double>::quiet_NaN(), 5), "nan");
    EXPECT_EQ(number(-std::numeric_limits<double>::infinity(), 5), "-inf");
    EXPECT_EQ(number(1234.5678, 5), "1234.6");
    EXPECT_EQ(number(1e-7, 3), "1e-07");
}

TEST(Text, CountsAndArticles) {
    EXPECT_EQ(count(1, "thread"), "1 thread");
    EXPECT_EQ(count(2, "thread"), "2 threads");
    EXPECT_EQ(count(0, "file"), "0 files");
    EXPECT_EQ(count(3, "index", "indices"), "3 indices");
    EXPECT_EQ(with_article("int"), "an int");
    EXPECT_EQ(with_article("float"), "a float");
    EXPECT_EQ(with_article("list of int"), "a list of int");
}

}  // namespace
}  // namespace distill::text
