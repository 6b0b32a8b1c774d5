// distill report RUN_ID... | --sweep ID [-o FILE] [--rank-by COLUMN] [--link-audio] [--render] [--db PATH]
#include "cli/commands.hpp"
#include "report/errors.hpp"
#include "report/html_page.hpp"
#include "report/ranking.hpp"
#include "report/report_data.hpp"
#include "session/render_session.hpp"
#include "store/run_store.hpp"

#include <iostream>

namespace distill::cli {
namespace {

namespace fs = std::filesystem;

// Beside the database, in the files folder: the run's own folder for one
// run; a folder of the sweep's, or of the runs compared, otherwise (never a
// uuid-named folder, so `runs gc` leaves them alone).
fs::path default_output(store::RunStore& db, const report::ReportRequest& request) {
    if (request.sweep_id) return db.files_root() / ("sweep-" + std::to_string(*request.sweep_id)) / "report.html";
    if (request.run_ids.size() == 1) {
        const auto run = db.find_run(request.run_ids[0]);
        if (!run) throw report::ReportError("no run " + std::to_string(request.run_ids[0]) + " in '" + db.path().string() + "'");
        return db.files_root() / run->uuid / "report.html";
    }
    std::string name = "compare";
    for (int64_t id : request.run_ids) name += "-" + std::to_string(id);
    return db.files_root() / name / "report.html";
}

// --render's default set, per run: a few reconstructions of its validation
// files and a few samples. A run that cannot be rendered (no best.pt yet)
// is named and left without audio; the page is written all the same.
constexpr int64_t kRenderValidationFiles = 3;
constexpr int64_t kRenderSamples = 2;

void render_default_set(const fs::path& db_path, const std::vector<int64_t>& run_ids,
                        const host::PluginRegistry& registry) {
    for (const int64_t run_id : run_ids) {
        session::RenderRequest request;
        request.db_path = db_path;
        request.run_id = run_id;
        request.validation_files = kRenderValidationFiles;
        request.samples = kRenderSamples;
        try {
            const auto written = session::render_run(request, registry, [](const std::string&) {});
            std::cerr << "distill report: rendered " << written.size() << " files for run " << run_id << "\n";
        } catch (const session::BadInput& e) {
            std::cerr << "distill report: warning: run " << run_id << " not rendered: " << e.what() << "\n";
        }
    }
}

// The runs --render renders: those asked for, or a sweep's best trial.
std::vector<int64_t> runs_to_render(const fs::path& db_path, const report::ReportRequest& request) {
    if (!request.sweep_id) return request.run_ids;
    store::RunStore db(db_path, store::OpenMode::kReadOnly);
    const auto ranked = report::rank_sweep(db, *request.sweep_id, report::resolve_metric(db.db(), request.rank_by));
    if (ranked.empty() || !ranked.front().value) return {};
    return {ranked.front().trial.run_id};
}

}  // namespace

int cmd_report(const Args& args) {
    po::options_description options(
        "distill report RUN_ID... | --sweep ID [-o FILE] [--rank-by COLUMN] [--link-audio] [--render] [--db PATH]");
    options.add_options()("help,h", "show this help")("runs", po::value<std::vector<int64_t>>()->multitoken(),
                                                      "run ids to show (one run, or several compared)")(
        "sweep", po::value<int64_t>(), "show sweep ID: its trials ranked, curves overlaid")(
        "output,o", po::value<std::string>(),
        "the HTML file to write (default: beside the database, in the run's or sweep's folder)")(
        "rank-by", po::value<std::string>()->default_value("val_loss"),
        "metric ranking a sweep's trials: an epoch_metrics column (its best epoch) or a run_summary column")(
        "link-audio", "reference the runs' audio files instead of inlining them")(
        "render", "first render a default set for each run (a sweep: its best trial): reconstructions of 3 "
                  "validation files and 2 samples, as `distill render` writes them");
    add_plugin_path_option(options);
    add_db_option(options);
    po::positional_options_description positional;
    positional.add("runs", -1);
    const auto vm = parse("report", args, options, positional);
    if (vm.count("help")) {
        std::cout << options << "\nThe page, its charts and how NaN/inf appear: docs/report.md\n";
        return kExitOk;
    }
    report::ReportRequest request;
    if (vm.count("runs")) request.run_ids = vm["runs"].as<std::vector<int64_t>>();
    if (vm.count("sweep")) request.sweep_id = vm["sweep"].as<int64_t>();
    if (request.run_ids.empty() == !request.sweep_id)
        throw UsageError("report: give run ids or --sweep ID (distill report 4, distill report 3 5, distill report --sweep 1)");
    request.rank_by = vm["rank-by"].as<std::string>();
    request.link_audio = vm.count("link-audio") > 0;
    const fs::path db_path = vm["db"].as<std::string>();

    try {
        if (vm.count("render")) render_default_set(db_path, runs_to_render(db_path, request), load_plugins(vm));
        std::string html;
        {
            store::RunStore db(db_path, store::OpenMode::kReadOnly);
            request.output = vm.count("output") ? fs::path(vm["output"].as<std::string>()) : default_output(db, request);
            const auto data = report::report_data(db, request);
            for (const auto& note : data["notes"]) std::cerr << "distill report: " << note.get<std::string>() << "\n";
            html = report::render_page(data, report::read_chartjs());
        }
        if (!vm.count("output")) fs::create_directories(request.output.parent_path());
        report::write_page(request.output, html);
        // One run's page is one of its files. A page of several runs (or a
        // sweep) is recorded for none, so `runs gc` of one of them cannot
        // delete a page the others share.
        if (request.run_ids.size() == 1) {
            try {
                const auto db = store::RunStore::open_existing(db_path);
                db->record_artifact(request.run_ids[0], "report", request.output);
            } catch (const store::StoreError& e) {
                std::cerr << "distill report: wrote the page, but could not record it: " << e.what() << "\n";
            }
        }
    } catch (const report::ReportError& e) {
        throw UsageError(std::string("report: ") + e.what());
    } catch (const store::StoreError& e) {
        throw UsageError(e.what());
    } catch (const fs::filesystem_error& e) {
        throw UsageError(std::string("report: ") + e.what());
    }
    std::cout << request.output.string() << "\n";
    return kExitOk;
}

}  // namespace distill::cli
