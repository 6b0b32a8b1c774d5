#include "report_test_util.hpp"

#include "store/metrics_writer.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <sstream>

namespace distill::report_test {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// Runs `command` through sh; stdout returned, exit status in `code`.
std::string capture(const std::string& command, int& code) {
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        code = -1;
        return "";
    }
    std::string out;
    char buffer[65536];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
    const int status = ::pclose(pipe);
    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return out;
}

// Every Chromium call is bounded: a page that hangs fails the test instead
// of hanging ctest.
constexpr int kChromiumSeconds = 120;

std::string chromium_command(const std::string& binary, const fs::path& profile, const std::string& what,
                             const fs::path& page, const fs::path& log) {
    return "timeout -k 5 " + std::to_string(kChromiumSeconds) + " " + shell_quote(binary) +
           " --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --mute-audio"
           " --user-data-dir=" + shell_quote(profile.string()) + " --virtual-time-budget=10000 " + what + " " +
           shell_quote("file://" + fs::absolute(page).string()) + " 2>" + shell_quote(log.string());
}

}  // namespace

namespace {

// Rows by field name (the records' field order is not the columns').
store::StepMetrics step_row(int64_t epoch, int64_t step, int64_t steps_per_epoch, double train, double recon, double kl,
                            double kl_weight, double stft, double mag, double if_) {
    store::StepMetrics m;
    m.epoch = epoch;
    m.step = step;
    m.steps_per_epoch = steps_per_epoch;
    m.train_loss = train;
    m.recon_loss = recon;
    m.kl_loss = kl;
    m.kl_weight = kl_weight;
    m.learning_rate = 1e-3;
    m.step_time_s = 0.01;
    m.stft_loss = stft;
    m.mag_recon_loss = mag;
    m.if_recon_loss = if_;
    return m;
}

store::EpochMetrics epoch_row(int64_t epoch, int64_t epochs, double train, double val, double kl_divergence) {
    store::EpochMetrics m;
    m.epoch = epoch;
    m.total_epochs = epochs;
    m.train_loss = train;
    m.val_loss = val;
    m.val_kl_loss = 2.0 + static_cast<double>(epoch);
    m.kl_divergence = kl_divergence;
    m.overfitting_gap = -0.5;
    m.learning_rate = 1e-3;
    m.eta_seconds = 1.0 * static_cast<double>(epochs - epoch - 1);
    m.elapsed_seconds = 1.0 * static_cast<double>(epoch + 1);
    return m;
}

}  // namespace

int64_t seed_run(store::RunStore& db, const SeededRun& spec) {
    const int64_t experiment = db.record_experiment(spec.experiment, "name = \"" + spec.experiment + "\"\n");
    store::RunInfo info;
    info.experiment_id = experiment;
    info.sweep_id = spec.sweep_id;
    info.trial_index = spec.trial_index;
    info.seed = 7;
    info.device = "cpu";
    info.host_version = "test";
    const int64_t run = db.create_run(info);
    std::map<std::string, std::string> params = {
        {"train.lr", "0.001"}, {"train.epochs", std::to_string(spec.epochs)}, {"name", "\"" + spec.experiment + "\""}};
    for (const auto& [k, v] : spec.extra_params) params[k] = v;
    db.record_params(run, {params.begin(), params.end()});
    db.record_plugins(run, {{"model", "conv_vae", "1.0.0", "/lib/libconv_vae.so", std::string(64, 'a'), std::nullopt},
                            {"loss", "stft", "1.0.0", "/lib/libloss_stft.so", std::string(64, 'b'), 1.0},
                            {"loss", "kl", "1.0.0", "/lib/libloss_kl.so", std::string(64, 'c'), 0.01}});
    {
        store::MetricsWriter writer(db, run);
        for (int e = 0; e < spec.epochs; ++e) {
            for (int s = 0; s < 2; ++s) {
                const double base = spec.val_base + e + 0.25 * s;
                const bool nan_step = spec.nonfinite && e == 0 && s == 1;
                writer.write_step(step_row(e, s, 2, nan_step ? kNaN : base + 0.5, base * 0.5, 2.0 + e, 0.1 * e,
                                           base * 0.4, base * 0.3, base * 0.2));
                const bool neg_inf = spec.nonfinite && e == 1 && s == 0;
                writer.write_loss_terms({{e, s, "train", "stft", base * 0.4, base * 0.4},
                                         {e, s, "train", "kl", neg_inf ? -kInf : 2.0 + e, (2.0 + e) * 0.01}});
            }
            const double val = spec.val_base + e;
            const bool inf_val = spec.nonfinite && e == 1;
            store::EpochMetrics row =
                epoch_row(e, spec.epochs, val + 0.5, inf_val ? kInf : val, spec.nonfinite && e == 0 ? kNaN : 1.5 + e);
            row.val_recon_loss = val * 0.5;
            row.val_stft_loss = val * 0.4;
            row.val_mag_recon_loss = val * 0.3;
            row.val_if_recon_loss = val * 0.2;
            writer.write_epoch(row);
            writer.write_loss_terms({{e, -1, "val", "stft", val * 0.4, val * 0.4}, {e, -1, "val", "kl", 2.0 + e, (2.0 + e) * 0.01}});
            writer.write_event({e, -1, "checkpoint", "epoch " + std::to_string(e) + " saved </script> & <b>", ""});
        }
        for (int s = 0; s < spec.partial_steps; ++s) {
            const double base = spec.val_base + spec.epochs;
            writer.write_step(step_row(spec.epochs, s, spec.partial_steps + 1, base, base * 0.5, 2.0, 0.0, base * 0.4,
                                       base * 0.3, base * 0.2));
            writer.write_loss_terms({{spec.epochs, s, "train", "stft", base * 0.4, base * 0.4},
                                     {spec.epochs, s, "train", "kl", 2.0, 0.0}});
        }
        writer.close();
    }
    if (spec.finish) db.finish_run(run, "completed");
    return run;
}

int64_t seed_sweep(store::RunStore& db) {
    const int64_t experiment = db.record_experiment("seeded-sweep", "name = \"seeded-sweep\"\n");
    const int64_t sweep = db.create_sweep(experiment, "seeded-sweep",
                                          R"({"train.lr": [0.001, 0.0005], "loss.kl.weight": [0.01, 0.02]})");
    const char* lrs[] = {"0.001", "0.0005"};
    const char* kls[] = {"0.01", "0.02"};
    const double bases[] = {2.0, 1.5, 3.0, 1.0};  // ranks: trial 3, 1, 0, 2
    for (int t = 0; t < 4; ++t) {
        SeededRun spec;
        spec.experiment = "seeded-sweep";
        spec.sweep_id = sweep;
        spec.trial_index = t;
        spec.val_base = bases[t];
        spec.nonfinite = t == 2;
        spec.extra_params = {{"sweep.train.lr", lrs[t / 2]}, {"sweep.loss.kl.weight", kls[t % 2]},
                             {"train.lr", lrs[t / 2]}, {"loss.kl.weight", kls[t % 2]}};
        seed_run(db, spec);
    }
    return sweep;
}

const std::vector<int64_t>& seeded_sweep_order() {
    static const std::vector<int64_t> order = {3, 1, 0, 2};
    return order;
}

fs::path write_tiny_experiment(const fs::path& root, const std::string& name, int epochs, const std::string& lr,
                               const std::string& sweep) {
    const std::string train = "epochs = " + std::to_string(epochs) + "\nlr = " + lr + "\ncheckpoint_every = 0\n";
    std::string losses = R"(
[[loss]]
plugin = "stft"
fft_sizes = [128, 256, 512]
hop_sizes = [32, 64, 128]
win_lengths = [128, 256, 512]
[[loss]]
plugin = "mag_l1"
weight = 0.1
[[loss]]
plugin = "kl"
weight = 0.01
)";
    if (!sweep.empty()) losses += "\n[sweep]\n" + sweep;
    return test_support::write_experiment(root, name, train, losses);
}

std::string find_chromium() {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');)
        for (const char* name : {"chromium", "chromium-browser"})
            if (!dir.empty() && ::access((fs::path(dir) / name).c_str(), X_OK) == 0) return (fs::path(dir) / name).string();
    return "";
}

bool chromium_starts(const fs::path& scratch, std::string& why) {
    const std::string binary = find_chromium();
    if (binary.empty()) {
        why = "no chromium on PATH (Debian: apt-get install chromium; .ci/setup installs it)";
        return false;
    }
    const fs::path page = scratch / "probe.html";
    std::ofstream(page) << "<!DOCTYPE html><html><body><p id=\"probe\">ok</p></body></html>\n";
    int code = 0;
    const std::string dom = capture(chromium_command(binary, scratch / "probe-profile", "--dump-dom", page,
                                                     scratch / "probe.log"), code);
    if (dom.find("id=\"probe\"") != std::string::npos) return true;
    std::string log = test_support::read_file(scratch / "probe.log");
    if (log.size() > 1500) log = "..." + log.substr(log.size() - 1500);
    why = binary + " did not start (exit " + std::to_string(code) + "): " + log;
    return false;
}

BrowserRun open_in_chromium(const fs::path& page, const fs::path& screenshot, const fs::path& scratch) {
    BrowserRun run;
    if (!chromium_starts(scratch, run.why)) return run;
    run.started = true;
    const std::string binary = find_chromium();
    run.dom = capture(chromium_command(binary, scratch / "profile", "--dump-dom", page, scratch / "dom.log"), run.exit_code);
    run.log = test_support::read_file(scratch / "dom.log");
    int shot_code = 0;
    capture(chromium_command(binary, scratch / "profile", "--window-size=1280,2400 --screenshot=" +
                                                              shell_quote(screenshot.string()), page, scratch / "shot.log"),
            shot_code);
    run.screenshot = screenshot;
    return run;
}

PageState page_state(const std::string& dom) {
    PageState s;
    std::smatch m;
    static const std::regex status_tag(R"(<div id="report-status"[^>]*>)");
    if (std::regex_search(dom, m, status_tag)) {
        const std::string tag = m.str();
        std::smatch a;
        if (std::regex_search(tag, a, std::regex(R"re(data-state="([a-z]+)")re"))) s.state = a[1];
        if (std::regex_search(tag, a, std::regex(R"re(data-charts-expected="(\d+)")re"))) s.expected = std::stoi(a[1]);
        if (std::regex_search(tag, a, std::regex(R"re(data-charts-drawn="(\d+)")re"))) s.drawn = std::stoi(a[1]);
    }
    static const std::regex canvas(R"(<canvas[^>]*>)");
    static const std::regex ink(R"re(data-drawn="1"[^>]*data-ink="([1-9]\d*)")re");
    for (auto it = std::sregex_iterator(dom.begin(), dom.end(), canvas); it != std::sregex_iterator(); ++it) {
        ++s.canvases;
        const std::string tag = it->str();
        if (std::regex_search(tag, ink)) ++s.canvases_with_ink;
    }
    const std::string open = "<ul id=\"report-errors\">";
    const size_t start = dom.find(open);
    if (start == std::string::npos) {
        s.errors = "(no report-errors element)";
    } else {
        const size_t end = dom.find("</ul>", start);
        s.errors = dom.substr(start + open.size(), end == std::string::npos ? std::string::npos : end - start - open.size());
    }
    return s;
}

std::string data_section(const std::string& html) {
    const std::string open = "<script type=\"application/json\" id=\"distill-data\">";
    const size_t start = html.find(open);
    if (start == std::string::npos) return "";
    const size_t end = html.find("</script>", start);
    return html.substr(start + open.size(), end - start - open.size());
}

}  // namespace distill::report_test
