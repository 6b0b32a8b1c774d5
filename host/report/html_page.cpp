#include "report/html_page.hpp"

#include "report/errors.hpp"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

namespace distill::report {
namespace assets {
extern const char* const kPageTemplate;
extern const char* const kPageStyle;
extern const char* const kPageScript;
}  // namespace assets

namespace fs = std::filesystem;

namespace {

std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

// Inside <script>, "</script" (any case) would end the element: write it as
// "<\/script", which means the same in JS strings and regular expressions.
std::string script_safe(const std::string& js) {
    std::string out;
    out.reserve(js.size());
    for (size_t i = 0; i < js.size(); ++i) {
        if (js.compare(i, 2, "</") == 0) {
            std::string tag = js.substr(i + 2, 6);
            for (auto& c : tag) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (tag == "script") {
                out += "<\\/";
                ++i;
                continue;
            }
        }
        out += js[i];
    }
    return out;
}

// JSON text inside <script type="application/json">: '<' appears only in
// strings, where \u003c means the same, so nothing can close the element.
std::string json_safe(const std::string& json) {
    std::string out;
    out.reserve(json.size());
    for (char c : json) out += c == '<' ? std::string("\\u003c") : std::string(1, c);
    return out;
}

}  // namespace

fs::path chartjs_path() { return DISTILL_CHARTJS_PATH; }

std::string read_chartjs(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw ReportError("cannot read Chart.js at " + file.string() +
                          " (install Debian's libjs-chart.js: apt-get install libjs-chart.js)");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string render_page(const nlohmann::json& data, const std::string& chartjs) {
    // error_handler replace: a stored text that is not UTF-8 must not stop
    // the report.
    const std::map<std::string, std::string> parts = {
        {"TITLE", html_escape(data.value("title", std::string("distill report")))},
        {"STYLE", assets::kPageStyle},
        {"CHARTJS", script_safe(chartjs)},
        {"DATA", json_safe(data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))},
        {"SCRIPT", script_safe(assets::kPageScript)},
    };
    const std::string page = assets::kPageTemplate;
    std::string out;
    size_t pos = 0;
    for (size_t open = page.find("{{", pos); open != std::string::npos; open = page.find("{{", pos)) {
        const size_t close = page.find("}}", open);
        const auto part = close == std::string::npos ? parts.end() : parts.find(page.substr(open + 2, close - open - 2));
        if (part == parts.end()) {
            out += page.substr(pos, open + 2 - pos);
            pos = open + 2;
            continue;
        }
        out += page.substr(pos, open - pos);
        out += part->second;
        pos = close + 2;
    }
    return out + page.substr(pos);
}

void write_page(const fs::path& output, const std::string& html) {
    const fs::path folder = output.parent_path().empty() ? fs::path(".") : output.parent_path();
    std::error_code ec;
    if (!fs::is_directory(folder, ec))
        throw ReportError("cannot write " + output.string() + ": folder " + folder.string() + " does not exist");
    const fs::path temp = folder / ("." + output.filename().string() + ".tmp" + std::to_string(::getpid()));
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        if (!out) throw ReportError("cannot write " + output.string() + ": " + std::strerror(errno));
        out << html;
        out.close();
        if (!out) {
            fs::remove(temp, ec);
            throw ReportError("cannot write " + output.string() + ": write failed");
        }
    }
    fs::rename(temp, output, ec);
    if (ec) {
        fs::remove(temp, ec);
        throw ReportError("cannot write " + output.string() + ": " + ec.message());
    }
}

}  // namespace distill::report
