// The report page: one HTML file with its style, Chart.js, the data (JSON)
// and the page script inlined, so it opens offline, anywhere.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace distill::report {

// Chart.js as installed by Debian's libjs-chart.js (found at configure time).
std::filesystem::path chartjs_path();
// Its text; ReportError naming the file and the package when it is missing.
std::string read_chartjs(const std::filesystem::path& file = chartjs_path());

// The page for `data` (report_data.hpp). Every inlined part is escaped so
// that nothing in it can end its <script> or <style> element early.
std::string render_page(const nlohmann::json& data, const std::string& chartjs);

// Writes `html` to `output` through a temporary file in the same folder and
// a rename (a reader never sees half a page). ReportError naming the folder
// when it is missing or not writable.
void write_page(const std::filesystem::path& output, const std::string& html);

}  // namespace distill::report
