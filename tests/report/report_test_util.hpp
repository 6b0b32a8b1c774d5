// Shared by the report tests: databases written through the store with
// known rows (NaN and inf included), real tiny runs through the binary, and
// headless Chromium.
#pragma once

#include "store/run_store.hpp"
#include "support/run_fixture.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace distill::report_test {

namespace fs = std::filesystem;
using test_support::TempDir;

// One run written through RunStore + MetricsWriter: params (plus `extra`),
// two plugins, `epochs` epochs of 2 steps, loss terms for "stft" and "kl",
// a checkpoint event. With `nonfinite`: a NaN train_loss at epoch 0 step 1,
// +inf val_loss at epoch 1, -inf kl raw at epoch 1 step 0, and NaN val
// kl_divergence at epoch 0. val_loss of epoch e is `val_base` + e (finite ones).
struct SeededRun {
    std::string experiment = "seeded";
    std::optional<int64_t> sweep_id, trial_index;
    std::vector<std::pair<std::string, std::string>> extra_params;
    int epochs = 3;
    double val_base = 1.0;
    bool nonfinite = false;
    int partial_steps = 0;  // step rows (and their train terms) of epoch `epochs`, with no epoch row
    bool finish = true;     // false: the run stays `running`
};
int64_t seed_run(store::RunStore& db, const SeededRun& spec);

// A 2x2 sweep over train.lr x loss.kl.weight, each trial seeded as above
// (trial 2 with the non-finite values); val_base differs per trial so the
// ranking is known: trial 3 best, then 1, 0, 2. Returns the sweep id.
int64_t seed_sweep(store::RunStore& db);
// Trials of seed_sweep by rank (best first).
const std::vector<int64_t>& seeded_sweep_order();

// The tiny experiment of tests/support (16 kHz corpus, 3 steps per epoch)
// with small STFT sizes, `epochs` epochs, and `sweep` as its [sweep] body
// when not empty. Writes root/name, returns the path.
fs::path write_tiny_experiment(const fs::path& root, const std::string& name, int epochs, const std::string& lr = "1e-3",
                               const std::string& sweep = "");

// Headless Chromium on one page: the DOM after scripts ran, and a screenshot.
struct BrowserRun {
    bool started = false;  // false: Chromium could not start at all (why in `why`)
    std::string why;
    int exit_code = -1;
    std::string dom, log;
    fs::path screenshot;
};
// The Chromium binary on PATH (chromium, chromium-browser), empty if none.
std::string find_chromium();
// Probes that Chromium starts at all (a trivial page); `why` says why not.
bool chromium_starts(const fs::path& scratch, std::string& why);
// Loads `page` (bounded by a timeout), writing the screenshot to `screenshot`.
BrowserRun open_in_chromium(const fs::path& page, const fs::path& screenshot, const fs::path& scratch);

// What the page's status element and canvases say in a DOM dump.
struct PageState {
    std::string state;                 // data-state: ready | incomplete | error | loading
    int expected = -1, drawn = -1;     // data-charts-expected / -drawn
    int canvases = 0;                  // <canvas> elements
    int canvases_with_ink = 0;         // data-drawn="1" and data-ink > 0
    std::string errors;                // the content of <ul id="report-errors">
};
PageState page_state(const std::string& dom);

// The JSON text of the page's data section (unescaped by the caller's parser).
std::string data_section(const std::string& html);

}  // namespace distill::report_test
