// The report's data section against the database: every row of every
// metrics/events table, NaN and inf encoded as docs/report.md says; the
// sweep's ranking; the page's escaping; audio; ranking and diff errors.
#include "report/errors.hpp"
#include "report/html_page.hpp"
#include "report/ranking.hpp"
#include "report/report_data.hpp"
#include "report/run_diff.hpp"
#include "report_test_util.hpp"
#include "store/schema.hpp"

#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

namespace distill::report_test {
namespace {

using nlohmann::json;
using Row = std::map<std::string, json>;

std::vector<Row> objects(const json& table) {
    std::vector<Row> rows;
    for (const auto& r : table.at("rows")) {
        Row row;
        for (size_t i = 0; i < table.at("columns").size(); ++i) row[table["columns"][i].get<std::string>()] = r.at(i);
        rows.push_back(std::move(row));
    }
    return rows;
}


// `value` as the store's reader gives it back (NaN restored from nonfinite).
void expect_value(const json& cell, double value, const std::string& where) {
    if (std::isnan(value)) {
        EXPECT_EQ(cell, "nan") << where;
    } else if (std::isinf(value)) {
        EXPECT_EQ(cell, value > 0 ? "inf" : "-inf") << where;
    } else {
        ASSERT_TRUE(cell.is_number()) << where << ": " << cell;
        EXPECT_EQ(cell.get<double>(), value) << where;  // exact: the JSON keeps every digit
    }
}

// A reference column: null in the JSON when no plugin filled it.
void expect_value(const json& cell, const std::optional<double>& value, const std::string& where) {
    if (!value) {
        EXPECT_TRUE(cell.is_null()) << where << ": " << cell;
        return;
    }
    expect_value(cell, *value, where);
}

json optional_int(int64_t v) { return v < 0 ? json(nullptr) : json(v); }

std::vector<json> nonfinite_column(store::RunStore& db, const std::string& table, const std::string& order, int64_t run) {
    SQLite::Statement select(db.db(), "SELECT nonfinite FROM " + table + " WHERE run_id = ?1 ORDER BY " + order);
    select.bind(1, run);
    std::vector<json> out;
    while (select.executeStep())
        out.push_back(select.getColumn(0).isNull() ? json(nullptr) : json(select.getColumn(0).getString()));
    return out;
}

// Every table of run `id` in `run_json` holds exactly the run's rows.
void expect_rows_match(store::RunStore& db, const json& run_json, int64_t id) {
    const std::string r = "run " + std::to_string(id) + " ";
    const json& tables = run_json.at("tables");
    for (const auto& t : report::kRunTables) {
        std::vector<std::string> columns = tables.at(t.name).at("columns");
        EXPECT_EQ(columns, store::table_columns(db.db(), t.name)) << r << t.name;
        EXPECT_EQ(static_cast<int64_t>(tables.at(t.name).at("rows").size()), db.count_rows(t.name, id)) << r << t.name;
    }

    const auto epochs = db.epochs(id);
    const auto epoch_rows = objects(tables["epoch_metrics"]);
    const auto epoch_nonfinite = nonfinite_column(db, "epoch_metrics", "epoch", id);
    ASSERT_EQ(epoch_rows.size(), epochs.size());
    for (size_t i = 0; i < epochs.size(); ++i) {
        const auto& e = epochs[i];
        const auto& row = epoch_rows[i];
        const std::string w = r + "epoch row " + std::to_string(i) + " ";
        EXPECT_EQ(row.at("run_id"), id) << w;
        EXPECT_EQ(row.at("epoch"), e.epoch) << w;
        EXPECT_EQ(row.at("total_epochs"), e.total_epochs) << w;
        const std::pair<const char*, std::optional<double>> values[] = {
            {"train_loss", e.train_loss},         {"val_loss", e.val_loss},
            {"val_recon_loss", e.val_recon_loss}, {"val_kl_loss", e.val_kl_loss},
            {"kl_divergence", e.kl_divergence},   {"overfitting_gap", e.overfitting_gap},
            {"learning_rate", e.learning_rate},   {"eta_seconds", e.eta_seconds},
            {"elapsed_seconds", e.elapsed_seconds}, {"val_stft_loss", e.val_stft_loss},
            {"val_mag_recon_loss", e.val_mag_recon_loss}, {"val_if_recon_loss", e.val_if_recon_loss}};
        for (const auto& [name, v] : values) expect_value(row.at(name), v, w + name);
        EXPECT_EQ(row.at("nonfinite"), epoch_nonfinite[i]) << w;
    }

    const auto steps = db.steps(id);
    const auto step_rows = objects(tables["step_metrics"]);
    const auto step_nonfinite = nonfinite_column(db, "step_metrics", "epoch, step", id);
    ASSERT_EQ(step_rows.size(), steps.size());
    for (size_t i = 0; i < steps.size(); ++i) {
        const auto& s = steps[i];
        const auto& row = step_rows[i];
        const std::string w = r + "step row " + std::to_string(i) + " ";
        EXPECT_EQ(row.at("epoch"), s.epoch) << w;
        EXPECT_EQ(row.at("step"), s.step) << w;
        EXPECT_EQ(row.at("total_steps"), s.steps_per_epoch) << w;
        EXPECT_EQ(row.at("steps_per_epoch"), s.steps_per_epoch) << w;
        const std::pair<const char*, std::optional<double>> values[] = {
            {"train_loss", s.train_loss},   {"recon_loss", s.recon_loss},         {"kl_loss", s.kl_loss},
            {"kl_weight", s.kl_weight},     {"learning_rate", s.learning_rate},   {"step_time_s", s.step_time_s},
            {"stft_loss", s.stft_loss},     {"mag_recon_loss", s.mag_recon_loss}, {"if_recon_loss", s.if_recon_loss}};
        for (const auto& [name, v] : values) expect_value(row.at(name), v, w + name);
        EXPECT_EQ(row.at("nonfinite"), step_nonfinite[i]) << w;
    }

    const auto terms = db.loss_terms(id);
    const auto term_rows = objects(tables["loss_terms"]);
    ASSERT_EQ(term_rows.size(), terms.size());
    for (size_t i = 0; i < terms.size(); ++i) {
        const std::string w = r + "loss_terms row " + std::to_string(i) + " ";
        EXPECT_EQ(term_rows[i].at("epoch"), terms[i].epoch) << w;
        EXPECT_EQ(term_rows[i].at("step"), optional_int(terms[i].step)) << w;
        EXPECT_EQ(term_rows[i].at("split"), terms[i].split) << w;
        EXPECT_EQ(term_rows[i].at("term"), terms[i].term) << w;
        expect_value(term_rows[i].at("raw"), terms[i].raw, w + "raw");
        expect_value(term_rows[i].at("weighted"), terms[i].weighted, w + "weighted");
    }

    const auto events = db.events(id);
    const auto event_rows = objects(tables["events"]);
    ASSERT_EQ(event_rows.size(), events.size());
    for (size_t i = 0; i < events.size(); ++i) {
        const std::string w = r + "event " + std::to_string(i) + " ";
        EXPECT_EQ(event_rows[i].at("kind"), events[i].kind) << w;
        EXPECT_EQ(event_rows[i].at("message"), events[i].message) << w;
        EXPECT_EQ(event_rows[i].at("epoch"), optional_int(events[i].epoch)) << w;
        EXPECT_EQ(event_rows[i].at("step"), optional_int(events[i].step)) << w;
        EXPECT_EQ(event_rows[i].at("data"), events[i].data_json.empty() ? json(nullptr) : json(events[i].data_json)) << w;
    }
}

class ReportData : public ::testing::Test {
protected:
    TempDir dir;
    store::RunStore db{dir / "runs.db"};
};

TEST_F(ReportData, SmallRunHoldsExactlyItsRowsWithNaNAndInf) {
    SeededRun spec;
    spec.nonfinite = true;
    const int64_t run = seed_run(db, spec);
    report::ReportRequest request;
    request.run_ids = {run};
    const json data = report::report_data(db, request);

    ASSERT_EQ(data["runs"].size(), 1u);
    const json& r = data["runs"][0];
    expect_rows_match(db, r, run);
    EXPECT_EQ(r["id"], run);
    EXPECT_EQ(r["status"], "completed");
    EXPECT_EQ(r["device"], "cpu");
    EXPECT_EQ(r["seed"], 7);
    EXPECT_EQ(r["plugins"].size(), 3u);
    EXPECT_EQ(r["plugins"][1]["library_sha256"], std::string(64, 'b'));
    // One run: every parameter is shown.
    EXPECT_EQ(data["params_shown"], json({"name", "train.epochs", "train.lr"}));

    // The non-finite values, where seed_run put them, as the encoding says.
    const auto epochs = objects(r["tables"]["epoch_metrics"]);
    EXPECT_EQ(epochs[1].at("val_loss"), "inf");
    EXPECT_EQ(epochs[0].at("kl_divergence"), "nan");
    EXPECT_EQ(epochs[0].at("nonfinite"), "kl_divergence=nan");
    EXPECT_EQ(epochs[1].at("nonfinite"), "val_loss=inf");
    EXPECT_EQ(epochs[2].at("val_loss"), 3.0);
    const auto steps = objects(r["tables"]["step_metrics"]);
    EXPECT_EQ(steps[1].at("train_loss"), "nan");
    const auto terms = objects(r["tables"]["loss_terms"]);
    bool saw_negative_infinity = false;
    for (const auto& t : terms)
        if (t.at("raw") == "-inf") saw_negative_infinity = t.at("term") == "kl" && t.at("epoch") == 1 && t.at("step") == 0;
    EXPECT_TRUE(saw_negative_infinity);
    // The writer's non_finite events are in the events table, so in the page.
    int non_finite_events = 0;
    for (const auto& e : objects(r["tables"]["events"])) non_finite_events += e.at("kind") == "non_finite";
    EXPECT_EQ(non_finite_events, 4);  // one per row with a non-finite value
}

TEST_F(ReportData, SweepTwoByTwoHoldsEveryTrialsRowsRankedByValLoss) {
    const int64_t sweep = seed_sweep(db);
    report::ReportRequest request;
    request.sweep_id = sweep;
    const json data = report::report_data(db, request);

    const json& s = data["sweep"];
    EXPECT_EQ(s["keys"], json({"train.lr", "loss.kl.weight"}));  // the grid's order
    ASSERT_EQ(s["trials"].size(), 4u);
    ASSERT_EQ(data["runs"].size(), 4u);
    const double best_values[] = {1.0, 1.5, 2.0, 3.0};
    for (size_t i = 0; i < 4; ++i) {
        const json& t = s["trials"][i];
        EXPECT_EQ(t["rank"], i + 1);
        EXPECT_EQ(t["trial_index"], seeded_sweep_order()[i]);
        EXPECT_EQ(t["value"], best_values[i]);
        EXPECT_EQ(t["epoch"], 0);
        // Runs are given in rank order, each with exactly its rows.
        EXPECT_EQ(data["runs"][i]["trial_index"], t["trial_index"]);
        EXPECT_EQ(data["runs"][i]["id"], t["run_id"]);
        expect_rows_match(db, data["runs"][i], t["run_id"].get<int64_t>());
    }
    EXPECT_EQ(s["best_run_id"], s["trials"][0]["run_id"]);
    EXPECT_EQ(s["trials"][0]["params"], json({{"loss.kl.weight", "0.02"}, {"train.lr", "0.0005"}}));
    // Only the keys that differ between trials are shown.
    EXPECT_EQ(data["params_shown"],
              json({"loss.kl.weight", "sweep.loss.kl.weight", "sweep.train.lr", "train.lr"}));
}

TEST_F(ReportData, RankByAnotherMetricReordersAndUnknownMetricIsNamed) {
    const int64_t sweep = seed_sweep(db);
    // duration_s is run_summary's; every trial has one. final_val_loss: trial
    // 2's last val_loss is finite (epoch 2), so it ranks by it.
    const auto by_final = report::rank_sweep(db, sweep, report::resolve_metric(db.db(), "final_val_loss"));
    ASSERT_EQ(by_final.size(), 4u);
    std::vector<int64_t> order;
    for (const auto& t : by_final) order.push_back(t.trial.trial_index);
    EXPECT_EQ(order, (std::vector<int64_t>{3, 1, 0, 2}));
    EXPECT_EQ(*by_final[0].value, 3.0);  // val_base 1.0 + epoch 2
    EXPECT_FALSE(by_final[0].epoch.has_value());

    // kl_divergence: trial 2's epoch 0 is NaN, so its best is epoch 1 (2.5).
    const auto by_kl = report::rank_sweep(db, sweep, report::resolve_metric(db.db(), "kl_divergence"));
    for (const auto& t : by_kl) {
        if (t.trial.trial_index != 2) continue;
        EXPECT_EQ(*t.value, 2.5);
        EXPECT_EQ(*t.epoch, 1);
    }

    try {
        report::resolve_metric(db.db(), "val_stft_los");
        ADD_FAILURE() << "no error";
    } catch (const report::ReportError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("unknown metric 'val_stft_los'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("did you mean 'val_stft_loss'"), std::string::npos) << msg;
    }
    // Text columns sort (runs list) but do not rank.
    EXPECT_THROW(report::resolve_metric(db.db(), "status"), report::ReportError);
    EXPECT_FALSE(report::resolve_metric(db.db(), "status", true).numeric);
}

TEST_F(ReportData, UnknownRunAndSweepAreNamed) {
    seed_run(db, {});
    report::ReportRequest runs;
    runs.run_ids = {1, 42};
    try {
        report::report_data(db, runs);
        ADD_FAILURE() << "no error";
    } catch (const report::ReportError& e) {
        EXPECT_NE(std::string(e.what()).find("no run 42"), std::string::npos) << e.what();
    }
    report::ReportRequest sweep;
    sweep.sweep_id = 9;
    try {
        report::report_data(db, sweep);
        ADD_FAILURE() << "no error";
    } catch (const report::ReportError& e) {
        EXPECT_NE(std::string(e.what()).find("no sweep 9"), std::string::npos) << e.what();
    }
}

TEST_F(ReportData, RunWithoutEpochRowsIsNoted) {
    SeededRun spec;
    spec.epochs = 0;
    const int64_t run = seed_run(db, spec);
    report::ReportRequest request;
    request.run_ids = {run};
    const json data = report::report_data(db, request);
    ASSERT_EQ(data["notes"].size(), 1u);
    EXPECT_NE(data["notes"][0].get<std::string>().find("run 1 has no epoch rows yet"), std::string::npos) << data["notes"];
    EXPECT_TRUE(data["runs"][0]["tables"]["epoch_metrics"]["rows"].empty());
}

TEST_F(ReportData, PageInlinesEverythingAndNothingEndsAScriptEarly) {
    SeededRun spec;
    spec.extra_params = {{"data.dir", "\"</script><script>alert(1)</script>\""}};
    const int64_t run = seed_run(db, spec);
    report::ReportRequest request;
    request.run_ids = {run};
    const json data = report::report_data(db, request);
    const std::string chartjs = report::read_chartjs();
    ASSERT_NE(chartjs.find("Chart.js v3"), std::string::npos) << "libjs-chart.js is Chart.js 3";
    const std::string html = report::render_page(data, chartjs);

    EXPECT_EQ(html.find("alert(1)</script>"), std::string::npos);
    EXPECT_NE(html.find("Chart.js v3"), std::string::npos);  // inlined, not linked
    EXPECT_EQ(html.find("<script src"), std::string::npos);
    EXPECT_EQ(html.find("<link"), std::string::npos);
    EXPECT_EQ(html.find("{{"), std::string::npos);  // every placeholder filled
    // The data section parses back to exactly the data.
    EXPECT_EQ(json::parse(data_section(html)), data);
    // Exactly the scripts of the template: the error hook, Chart.js, the data, the page.
    size_t scripts = 0;
    for (size_t p = html.find("</script>"); p != std::string::npos; p = html.find("</script>", p + 1)) ++scripts;
    EXPECT_EQ(scripts, 4u);
}

TEST_F(ReportData, AudioArtifactsAreInlinedOrLinked) {
    const int64_t run = seed_run(db, {});
    const fs::path folder = db.files_root() / db.run(run).uuid;
    fs::create_directories(folder);
    const std::string bytes = std::string("RIFF") + std::string(40, '\x01') + "end";  // 47 bytes
    std::ofstream(folder / "sample-0.wav", std::ios::binary) << bytes;
    db.record_artifact(run, "audio", folder / "sample-0.wav");
    report::ReportRequest request;
    request.run_ids = {run};
    request.output = folder / "report.html";
    json data = report::report_data(db, request);
    ASSERT_EQ(data["runs"][0]["audio"].size(), 1u);
    const std::string src = data["runs"][0]["audio"][0]["src"];
    ASSERT_EQ(src.rfind("data:audio/wav;base64,", 0), 0u) << src;
    EXPECT_EQ(src.substr(22, 8), "UklGRgEB");  // base64 of "RIFF\x01\x01"
    EXPECT_EQ(src.size(), 22u + (bytes.size() + 2) / 3 * 4);

    request.link_audio = true;
    data = report::report_data(db, request);
    EXPECT_EQ(data["runs"][0]["audio"][0]["src"], "sample-0.wav");
}

TEST_F(ReportData, DiffShowsOnlyDifferingParamsAndEveryMetric) {
    SeededRun a, b;
    b.extra_params = {{"train.lr", "0.002"}};
    b.val_base = 2.0;
    a.nonfinite = true;  // epoch 2 (final) is finite; kl_divergence NaN at epoch 0
    const int64_t ra = seed_run(db, a), rb = seed_run(db, b);
    const store::QueryResult diff = report::diff_runs(db, ra, rb);
    EXPECT_EQ(diff.columns, (std::vector<std::string>{"section", "key", "run_1", "run_2"}));
    std::vector<std::string> params;
    std::map<std::string, std::pair<std::string, std::string>> metrics;
    for (const auto& row : diff.rows) {
        if (row[0].text == "param") params.push_back(row[1].text);
        if (row[0].text == "metric") metrics[row[1].text] = {row[2].text, row[3].text};
        EXPECT_NE(row[0].text, "plugin") << "same plugins";
    }
    EXPECT_EQ(params, std::vector<std::string>{"train.lr"});
    EXPECT_EQ(metrics["final val_loss"], std::make_pair(std::string("3"), std::string("4")));
    EXPECT_EQ(metrics["best val_loss"], std::make_pair(std::string("1"), std::string("2")));
    EXPECT_EQ(metrics["final_epoch"], std::make_pair(std::string("2"), std::string("2")));
    EXPECT_THROW(report::diff_runs(db, ra, 77), report::ReportError);
    EXPECT_THROW(report::diff_runs(db, ra, ra), report::ReportError);
}

}  // namespace
}  // namespace distill::report_test
