#include "common/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace distill::text {

std::string toml_float(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buffer[40];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buffer, sizeof buffer, "%.*g", precision, v);
        if (std::strtod(buffer, nullptr) == v) break;
    }
    std::string out = buffer;
    const size_t e = out.find('e');
    if (e != std::string::npos && std::fabs(v) >= 1 && std::fabs(v) < 1e16) {
        // %g chose an exponent only because of trailing zeros: 24000.0, not 2.4e+04.
        std::snprintf(buffer, sizeof buffer, "%.1f", v);
        return buffer;
    }
    if (e != std::string::npos) {  // 1e-05 -> 1e-5
        std::string exponent = out.substr(e + 1);
        const bool negative = exponent[0] == '-';
        if (exponent[0] == '-' || exponent[0] == '+') exponent.erase(0, 1);
        exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
        return out.substr(0, e) + (negative ? "e-" : "e") + exponent;
    }
    if (out.find('.') == std::string::npos) out += ".0";
    return out;
}

std::string toml_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char esc[8];
                    std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
                    out += esc;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

std::string json_string(const std::string& s) {
    // Bytes that are not UTF-8 (SQLite text may hold anything) become U+FFFD
    // rather than failing the whole output.
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string json_float(double v) { return std::isfinite(v) ? toml_float(v) : json_string(toml_float(v)); }

std::string json_text(const nlohmann::ordered_json& value) {
    switch (value.type()) {
        case nlohmann::ordered_json::value_t::object: {
            std::string out = "{";
            bool first = true;
            for (const auto& [key, item] : value.items()) {
                out += (first ? "" : ", ") + json_string(key) + ": " + json_text(item);
                first = false;
            }
            return out + "}";
        }
        case nlohmann::ordered_json::value_t::array: {
            std::string out = "[";
            for (size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + json_text(value[i]);
            return out + "]";
        }
        case nlohmann::ordered_json::value_t::string: return json_string(value.get<std::string>());
        case nlohmann::ordered_json::value_t::number_float: return json_float(value.get<double>());
        default: return value.dump();  // integers, booleans, null
    }
}

std::string number(double v, int digits) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buffer[48];
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
    return buffer;
}

std::string count(int64_t n, const std::string& singular, const std::string& plural) {
    return std::to_string(n) + " " + (n == 1 ? singular : plural.empty() ? singular + "s" : plural);
}

std::string with_article(const std::string& noun) {
    const bool vowel = !noun.empty() && std::string("aeiou").find(static_cast<char>(
                                            std::tolower(static_cast<unsigned char>(noun[0])))) != std::string::npos;
    return (vowel ? "an " : "a ") + noun;
}

}  // namespace distill::text
