// distill runs list [--sort COLUMN [--desc]] [--where EXPR] | show ID | diff A B | gc [--dry-run]
#include "cli/commands.hpp"
#include "cli/result_format.hpp"
#include "common/text.hpp"
#include "report/errors.hpp"
#include "report/ranking.hpp"
#include "report/run_diff.hpp"
#include "store/query.hpp"
#include "common/suggest.hpp"
#include "session/run_files.hpp"
#include "session/run_session.hpp"
#include "store/nonfinite.hpp"
#include "store/run_store.hpp"

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace distill::cli {
namespace {

constexpr int kDefaultEpochRows = 10;

std::string format_duration(double seconds) {
    if (!std::isfinite(seconds)) return "-";
    const auto s = static_cast<int64_t>(seconds);
    std::ostringstream out;
    if (s >= 3600) out << s / 3600 << "h";
    if (s >= 60) out << std::setw(s >= 3600 ? 2 : 1) << std::setfill('0') << (s / 60) % 60 << "m";
    out << std::setw(s >= 60 ? 2 : 1) << std::setfill('0') << s % 60 << "s";
    return out.str();
}

std::string format_number(const SQLite::Column& c) { return c.isNull() ? "-" : text::number(c.getDouble(), 6); }

double cell_number(const store::QueryCell& c) {
    return c.type == store::QueryCell::Type::kNull ? NAN : std::strtod(c.text.c_str(), nullptr);
}

std::string format_cell_number(const store::QueryCell& c) {
    return c.type == store::QueryCell::Type::kNull ? "-" : text::number(cell_number(c), 6);
}

struct ListOptions {
    std::string sort;   // a metric name (report/ranking.hpp); empty = by run id
    bool descending = false;
    std::string where;  // an SQL expression over run_summary; empty = all runs
};

// The list runs through run_query, the same single read-only statement check
// as `distill query`, on a database opened read-only: --where cannot write.
int list_runs(store::RunStore& db, const ListOptions& options) {
    std::optional<report::Metric> metric;
    if (!options.sort.empty()) metric = report::resolve_metric(db.db(), options.sort, /*allow_text=*/true);
    static const std::vector<std::string> kShown = {"run_id",     "experiment",    "status",        "started_at",
                                                    "duration_s", "best_val_loss", "best_val_epoch"};
    const bool extra = metric && std::find(kShown.begin(), kShown.end(), metric->name) == kShown.end();
    std::string sql = "SELECT s.run_id, s.experiment, s.status, s.started_at, s.duration_s, s.best_val_loss, "
                      "s.best_val_epoch, s.trial_index";
    if (extra) sql += ", " + metric->value_sql;
    sql += " FROM run_summary s";
    // Newlines around the expression: a trailing `--` comment ends there.
    if (!options.where.empty()) sql += " WHERE (\n" + options.where + "\n)";
    sql += " ORDER BY ";
    if (metric)
        sql += "(" + metric->value_sql + ") IS NULL, " + metric->value_sql + (options.descending ? " DESC" : "") + ", ";
    sql += "s.run_id";
    store::QueryResult result;
    try {
        result = store::run_query(db.db(), sql);
    } catch (const store::QueryError& e) {
        throw UsageError("runs list --where '" + options.where + "': " + e.what());
    }
    const size_t columns = extra ? 9 : 8;
    if (result.columns.size() != columns)
        throw UsageError("runs list --where '" + options.where + "': not a plain condition on run_summary's columns");

    std::cout << std::left << std::setw(6) << "id" << std::setw(24) << "experiment" << std::setw(12) << "status"
              << std::setw(25) << "started" << std::setw(10) << "duration" << std::setw(extra ? 24 : 0)
              << "best val loss (epoch)";
    if (extra) std::cout << metric->name << (metric->epoch_sql.empty() ? "" : " (best)");
    std::cout << "\n";
    for (const auto& row : result.rows) {
        std::string experiment = row[1].text;
        if (row[7].type != store::QueryCell::Type::kNull) experiment += " #" + row[7].text;
        std::string best = format_cell_number(row[5]);
        // Epochs are counted from 1 wherever a person reads them (the database is 0-based).
        if (row[6].type != store::QueryCell::Type::kNull) best += " (" + std::to_string(std::stoll(row[6].text) + 1) + ")";
        std::cout << std::left << std::setw(6) << row[0].text << std::setw(24) << experiment << std::setw(12)
                  << row[2].text << std::setw(25) << row[3].text << std::setw(10)
                  << format_duration(cell_number(row[4])) << std::setw(extra ? 24 : 0) << best;
        if (extra) std::cout << (row[8].type == store::QueryCell::Type::kText ? row[8].text : format_cell_number(row[8]));
        std::cout << "\n";
    }
    if (result.rows.empty())
        std::cout << (options.where.empty() ? "(no runs in " + db.path().string() + ")" : "(no run matches)") << "\n";
    return kExitOk;
}

int show_run(store::RunStore& db, int64_t id, int epoch_rows) {
    const auto run = db.find_run(id);
    if (!run) throw UsageError("runs show: no run " + std::to_string(id) + " in '" + db.path().string() + "'");
    SQLite::Statement experiment(db.db(), "SELECT name FROM experiments WHERE id = ?1");
    experiment.bind(1, run->experiment_id);
    experiment.executeStep();
    std::cout << "run " << run->id << ": " << experiment.getColumn(0).getString() << "  [" << run->status << "]\n"
              << "  started " << run->started_at << ", ended " << run->ended_at.value_or("-") << "\n"
              << "  seed " << run->seed << ", device " << run->device << ", distill " << run->host_version << ", pid "
              << run->pid << "@" << run->hostname << "\n"
              << "  uuid " << run->uuid << "\n";
    if (run->sweep_id) std::cout << "  sweep " << *run->sweep_id << " trial " << run->trial_index.value_or(-1) << "\n";
    if (run->error) std::cout << "  error: " << *run->error << "\n";

    std::cout << "params:\n";
    for (const auto& [key, value] : db.params(id)) std::cout << "  " << key << " = " << value << "\n";
    std::cout << "plugins:\n";
    for (const auto& p : db.plugins(id)) {
        std::cout << "  " << std::left << std::setw(6) << p.role << std::setw(12) << p.plugin_id << std::setw(8)
                  << p.version;
        if (p.weight) std::cout << "weight " << *p.weight << "  ";
        std::cout << p.library_path << " sha256:" << p.library_sha256.substr(0, 12) << "\n";
    }

    // A NULL metric was NaN when the row's `nonfinite` names it ("nan"), else
    // nobody filled it ("-": e.g. val_kl_loss of a run without a KL loss).
    static const char* const kShown[] = {"train_loss", "val_loss", "val_recon_loss", "val_kl_loss", "learning_rate"};
    SQLite::Statement epochs(db.db(),
                             "SELECT * FROM (SELECT epoch, train_loss, val_loss, val_recon_loss, val_kl_loss, "
                             "learning_rate, elapsed_seconds, nonfinite FROM epoch_metrics WHERE run_id = ?1 "
                             "ORDER BY epoch DESC LIMIT ?2) ORDER BY epoch");
    epochs.bind(1, id);
    epochs.bind(2, epoch_rows);
    std::cout << "last epochs:\n  " << std::left << std::setw(7) << "epoch" << std::setw(13) << "train" << std::setw(13)
              << "val" << std::setw(13) << "val_recon" << std::setw(13) << "val_kl" << std::setw(13) << "lr"
              << "elapsed\n";
    while (epochs.executeStep()) {
        std::cout << "  " << std::setw(7) << epochs.getColumn(0).getInt64() + 1;
        const std::string nonfinite = epochs.getColumn(7).isNull() ? "" : epochs.getColumn(7).getString();
        for (int i = 1; i <= 5; ++i)
            std::cout << std::setw(13)
                      << (store::listed_as_nan(nonfinite, kShown[i - 1]) ? "nan" : format_number(epochs.getColumn(i)));
        std::cout << format_duration(epochs.getColumn(6).isNull() ? NAN : epochs.getColumn(6).getDouble()) << "\n";
    }

    std::cout << "files:\n";
    int64_t total = 0;
    for (const auto& a : db.artifacts(id)) {
        std::error_code ec;
        const bool present = std::filesystem::exists(db.resolve(a.path), ec);
        std::cout << "  " << std::left << std::setw(11) << a.kind << std::setw(10) << session::format_bytes(a.bytes)
                  << a.path << (present ? "" : "  (missing)") << "\n";
        total += a.bytes;
    }
    std::cout << "  total " << session::format_bytes(total) << " under " << (db.files_root() / run->uuid).string() << "\n";

    // `render --reconstruct` measures the model against the representation's
    // ceiling on the same file (docs/audio.md).
    bool header = false;
    double model_sum = 0, ceiling_sum = 0;
    int rendered = 0;
    for (const auto& e : db.events(id, "render")) {
        const auto data = nlohmann::json::parse(e.data_json, nullptr, false);
        if (data.is_discarded() || !data.contains("model") || !data.contains("ceiling")) continue;
        if (!header) std::cout << "reconstructions (spectral convergence, lower is better):\n";
        header = true;
        const double model = data["model"].value("spectral_convergence", NAN);
        const double ceiling = data["ceiling"].value("spectral_convergence", NAN);
        std::cout << "  model SC " << text::number(model, 3) << " - representation ceiling " << text::number(ceiling, 3)
                  << "  " << data.value("source", std::string("?")) << "\n";
        model_sum += model, ceiling_sum += ceiling, ++rendered;
    }
    if (rendered > 1)
        std::cout << "  mean over " << rendered << ": model SC " << text::number(model_sum / rendered, 3)
                  << " - representation ceiling " << text::number(ceiling_sum / rendered, 3) << "\n";

    SQLite::Statement events(db.db(),
                             "SELECT at, epoch, step, kind, message FROM events WHERE run_id = ?1 ORDER BY rowid");
    events.bind(1, id);
    std::cout << "events:\n";
    while (events.executeStep()) {
        std::cout << "  " << events.getColumn(0).getString() << "  " << std::setw(12) << events.getColumn(3).getString();
        // Counted from 1, like every epoch and step shown to a person (the database is 0-based).
        if (!events.getColumn(1).isNull()) std::cout << " epoch " << events.getColumn(1).getInt64() + 1;
        if (!events.getColumn(2).isNull()) std::cout << " step " << events.getColumn(2).getInt64() + 1;
        std::cout << "  " << events.getColumn(4).getString() << "\n";
    }
    return kExitOk;
}

int collect_garbage(store::RunStore& db, bool dry_run) {
    const session::GarbageReport report = session::collect_garbage(db, dry_run);
    for (const auto& line : report.removed) std::cout << (dry_run ? "would remove " : "removed ") << line << "\n";
    std::cout << (dry_run ? "would free " : "freed ") << session::format_bytes(report.bytes) << "\n";
    return kExitOk;
}

}  // namespace

int cmd_runs(const Args& args) {
    po::options_description options(
        "distill runs list [--sort COLUMN [--desc]] [--where \"SQL expr\"] | show ID | diff A B [--format F] | gc "
        "[--dry-run]  [--db PATH]");
    options.add_options()("help,h", "show this help")("action", po::value<std::string>(), "list, show, diff or gc")(
        "dry-run", "gc: list what would be removed, remove nothing")(
        "ids", po::value<std::vector<int64_t>>(), "run id (show), two run ids (diff)")(
        "epochs", po::value<int>()->default_value(kDefaultEpochRows), "show: how many of the last epochs to print")(
        "sort", po::value<std::string>(),
        "list: order by a metric, lowest first: a run_summary column, or an epoch_metrics column at its best epoch")(
        "desc", "list: highest first")(
        "where", po::value<std::string>(), "list: only runs matching this SQL condition on run_summary's columns")(
        "format", po::value<std::string>()->default_value("table"), "diff: table, csv or json");
    add_db_option(options);
    po::positional_options_description positional;
    positional.add("action", 1).add("ids", -1);
    const auto vm = parse("runs", args, options, positional);
    if (vm.count("help")) {
        std::cout << options << "\n  list  one line per run: id, experiment, status, started, duration, best val loss\n"
                     "        (e.g. --sort val_stft_loss --where \"status = 'completed' AND sweep_id = 2\")\n"
                     "  show  a run's params, plugins, files, last epoch rows and events\n"
                     "  diff  the params and plugins that differ between two runs, and their final/best metrics\n"
                     "  gc    remove the files of failed runs and of runs no longer in the database\n";
        return kExitOk;
    }
    const std::string action = vm.count("action") ? vm["action"].as<std::string>() : "list";
    if (action != "list" && action != "show" && action != "gc" && action != "diff")
        throw UsageError("runs: unknown action '" + action + "'" + did_you_mean(action, {"list", "show", "diff", "gc"}) +
                         " (list, show, diff, gc)");
    const std::vector<int64_t> ids = vm.count("ids") ? vm["ids"].as<std::vector<int64_t>>() : std::vector<int64_t>{};
    if (action == "show" && ids.size() != 1) throw UsageError("runs show: which run? (distill runs show ID)");
    if (action == "diff" && ids.size() != 2) throw UsageError("runs diff: which two runs? (distill runs diff A B)");
    if ((action == "list" || action == "gc") && !ids.empty())
        throw UsageError("runs " + action + ": takes no run id (got " + std::to_string(ids[0]) + ")");
    if (action != "list" && (vm.count("sort") || vm.count("where") || vm.count("desc")))
        throw UsageError("runs " + action + ": --sort, --desc and --where are for `runs list`");
    const std::string format = vm["format"].as<std::string>();
    check_format("runs diff", format);
    try {
        if (action == "gc") {
            const auto db = store::RunStore::open_existing(vm["db"].as<std::string>());
            return collect_garbage(*db, vm.count("dry-run") > 0);
        }
        store::RunStore db(vm["db"].as<std::string>(), store::OpenMode::kReadOnly);
        if (action == "diff") {
            print_result(report::diff_runs(db, ids[0], ids[1]), format);
            return kExitOk;
        }
        if (action == "show") return show_run(db, ids[0], vm["epochs"].as<int>());
        ListOptions list;
        if (vm.count("sort")) list.sort = vm["sort"].as<std::string>();
        list.descending = vm.count("desc") > 0;
        if (vm.count("where")) list.where = vm["where"].as<std::string>();
        return list_runs(db, list);
    } catch (const store::StoreError& e) {
        throw UsageError(e.what());
    } catch (const report::ReportError& e) {
        throw UsageError("runs " + action + ": " + e.what());
    }
}

}  // namespace distill::cli
