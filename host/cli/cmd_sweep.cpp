// distill sweep EXP.toml [--jobs N] [--dry-run] [--resume SWEEP_ID] | distill sweep show ID
//
// A sweep is a grid of trials; each trial runs as its own `distill run`
// process (--sweep-id/--trial-index), so a crashing trial never takes the
// others down and `--jobs N` is N processes sharing one database.
#include "cli/commands.hpp"
#include "cli/run_signals.hpp"
#include "cli/sweep_cluster.hpp"
#include "common/text.hpp"
#include "experiment/sweep.hpp"
#include "report/errors.hpp"
#include "report/ranking.hpp"
#include "store/run_store.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <torch/cuda.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <csignal>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

namespace distill::cli {
namespace fs = std::filesystem;
namespace {

std::string trial_label(const experiment::Trial& trial) {
    std::string label;
    for (const auto& [key, value] : trial.params) label += (label.empty() ? "" : ", ") + key + "=" + value;
    return label.empty() ? "(base)" : label;
}

struct TrialProcess {
    pid_t pid = -1;
    int64_t index = 0;
    fs::path log;
    std::optional<size_t> gpu;  // its slot in GpuSlots
};

// Starts `distill run` for one trial; its output goes to `log`. The child
// gets SIGHUP if the sweep process dies, so a killed sweep leaves no
// orphan trial writing behind a later --resume.
TrialProcess start_trial(const std::vector<std::string>& argv, int64_t index, const fs::path& log,
                         const std::string& cuda_visible_devices) {
    std::vector<char*> raw;
    for (const auto& a : argv) raw.push_back(const_cast<char*>(a.c_str()));
    raw.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("cannot start trial " + std::to_string(index) + ": fork failed");
    if (pid == 0) {
        // Its own process group: a terminal's Ctrl-C reaches only the sweep,
        // which passes it on once (a second signal would end a trial at once).
        setpgid(0, 0);
        // SIGHUP, not SIGTERM: a dying multi-threaded sweep may deliver it
        // more than once, and the trial treats repeats of SIGHUP as one.
        prctl(PR_SET_PDEATHSIG, SIGHUP);
        if (getppid() != parent) _exit(143);  // the sweep died before prctl took effect
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        if (!cuda_visible_devices.empty()) setenv("CUDA_VISIBLE_DEVICES", cuda_visible_devices.c_str(), 1);
        execv(raw[0], raw.data());
        _exit(127);
    }
    return {pid, index, log, std::nullopt};
}

std::string describe_exit(int status) {
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "unknown status";
}

std::string value_text(const std::optional<double>& value) { return value ? text::number(*value, 6) : "-"; }
// Counted from 1 for people; the database's epochs are 0-based.
std::string epoch_text(const std::optional<int64_t>& epoch) { return epoch ? std::to_string(*epoch + 1) : "-"; }

void print_summary(store::RunStore& db, int64_t sweep_id, const experiment::Sweep& sweep) {
    const auto trials = db.sweep_trials(sweep_id);
    std::cout << "\nsweep " << sweep_id << ": " << text::count(static_cast<int64_t>(sweep.trials.size()), "trial") << "\n"
              << std::left << std::setw(6) << "trial" << std::setw(6) << "run" << std::setw(13) << "status"
              << std::setw(14) << "best val" << std::setw(7) << "epoch" << "parameters\n";
    for (const auto& trial : sweep.trials) {
        std::cout << std::left << std::setw(6) << trial.index;
        const auto it = std::find_if(trials.begin(), trials.end(),
                                     [&](const store::TrialSummary& t) { return t.trial_index == trial.index; });
        if (it == trials.end()) {
            std::cout << std::setw(6) << "-" << std::setw(13) << "not run" << std::setw(14) << "-" << std::setw(7) << "-";
        } else {
            std::cout << std::setw(6) << it->run_id << std::setw(13) << it->status << std::setw(14)
                      << value_text(it->best_val_loss) << std::setw(7) << epoch_text(it->best_epoch);
        }
        std::cout << trial_label(trial) << "\n";
        if (!trial.error.empty()) std::cout << "      error: " << trial.error << "\n";
    }
}

int show_sweep(const po::variables_map& vm, int64_t sweep_id) {
    store::RunStore db(vm["db"].as<std::string>(), store::OpenMode::kReadOnly);
    std::vector<report::RankedTrial> trials;
    std::string heading;
    try {
        const report::Metric metric = report::resolve_metric(db.db(), vm["rank-by"].as<std::string>());
        heading = metric.name == "val_loss" ? "best val" : (metric.epoch_sql.empty() ? "" : "best ") + metric.name;
        trials = report::rank_sweep(db, sweep_id, metric);
    } catch (const report::ReportError& e) {
        throw UsageError("sweep show: " + std::string(e.what()));
    }
    // Best first; trials without a value last.
    const int value_width = std::max<int>(14, static_cast<int>(heading.size()) + 2);
    std::cout << std::left << std::setw(6) << "rank" << std::setw(6) << "trial" << std::setw(6) << "run"
              << std::setw(13) << "status" << std::setw(value_width) << heading << std::setw(7) << "epoch"
              << "parameters\n";
    for (const auto& t : trials) {
        std::cout << std::left << std::setw(6) << t.rank << std::setw(6) << t.trial.trial_index << std::setw(6)
                  << t.trial.run_id << std::setw(13) << t.trial.status << std::setw(value_width) << value_text(t.value)
                  << std::setw(7) << epoch_text(t.epoch) << t.trial.swept_params << "\n";
    }
    return kExitOk;
}

std::string experiment_name_of(const experiment::Sweep& sweep, const experiment::ExperimentSource& source) {
    const auto& base = sweep.trials.front();
    return base.error.empty() ? base.experiment.name : source.file.stem().string();
}

int64_t visible_gpus() { return torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0; }

// --emit slurm: nothing runs here; the script runs the sweep in shards.
int emit(const po::variables_map& vm, const experiment::ExperimentSource& source,
         const std::vector<std::string>& overrides, const experiment::Sweep& sweep, const std::string& name) {
    const std::string kind = vm["emit"].as<std::string>();
    if (kind != "slurm") throw UsageError("sweep: --emit takes slurm, got '" + kind + "'");
    if (source.file.empty()) throw UsageError("sweep --emit needs the experiment file");
    const fs::path db = fs::absolute(vm["db"].as<std::string>()).lexically_normal();
    SlurmOptions o;
    o.distill = boost::dll::program_location();
    o.experiment = fs::absolute(source.file).lexically_normal();
    o.db = db;
    o.shard_dir = vm.count("shard-dir") ? fs::absolute(vm["shard-dir"].as<std::string>()).lexically_normal()
                                        : db.parent_path() / (db.stem().string() + ".shards");
    o.working_dir = fs::current_path();
    o.overrides = overrides;
    if (vm.count("plugin-path"))
        for (const auto& p : vm["plugin-path"].as<std::vector<std::string>>()) o.plugin_paths.push_back(fs::absolute(p).string());
    const std::string identity = store::sweep_identity(source.text, sweep.grid_json, overrides);
    o.name = name + "-" + identity.substr(0, 8);
    const auto trials = static_cast<int64_t>(sweep.trials.size());
    o.shards = vm.count("shards") ? vm["shards"].as<int64_t>() : trials;
    if (o.shards < 1 || o.shards > trials)
        throw UsageError("sweep: --shards must be between 1 and the number of trials (" + std::to_string(trials) + ")");
    o.array_parallelism = vm["array-parallelism"].as<int64_t>();
    o.gpus_per_task = vm["gpus-per-task"].as<int64_t>();
    o.cpus_per_task = vm["cpus-per-task"].as<int64_t>();
    o.partition = vm["partition"].as<std::string>();
    o.time = vm["time"].as<std::string>();
    std::cout << slurm_script(o);
    return kExitOk;
}

}  // namespace

int cmd_sweep(const Args& args) {
    po::options_description options("distill sweep EXP.toml [options] | distill sweep show SWEEP_ID [--rank-by COLUMN]");
    options.add_options()("help,h", "show this help")("experiment", po::value<std::string>(), "experiment TOML file")(
        "id", po::value<int64_t>(), "sweep id (show)")(
        "set", po::value<std::vector<std::string>>()->composing(), "fix a key for every trial (repeatable)")(
        "jobs,j", po::value<int64_t>()->default_value(1), "trials to run at once, each its own process")(
        "dry-run", "list the trials and their parameters, run nothing")(
        "max-trials", po::value<int64_t>()->default_value(experiment::kDefaultMaxTrials),
        "refuse a grid of more trials than this (counted before anything is expanded)")(
        "resume", po::value<int64_t>(), "continue sweep SWEEP_ID: skip completed trials, rerun the others")(
        "shard", po::value<std::string>(), "I/N: run only the trials whose index % N == I (default: from "
                                           "$SLURM_ARRAY_TASK_ID, or $JOB_COMPLETION_INDEX with --shards)")(
        "shards", po::value<int64_t>(), "number of shards (with $JOB_COMPLETION_INDEX, or for --emit)")(
        "emit", po::value<std::string>(), "slurm: print a script that submits the sweep as a job array plus a merge job")(
        "shard-dir", po::value<std::string>(), "--emit: where shard databases go (default <db dir>/<db stem>.shards)")(
        "array-parallelism", po::value<int64_t>()->default_value(0), "--emit: array tasks running at once (0 = no limit)")(
        "partition", po::value<std::string>()->default_value(""), "--emit: Slurm partition")(
        "gpus-per-task", po::value<int64_t>()->default_value(0), "--emit: GPUs per array task")(
        "cpus-per-task", po::value<int64_t>()->default_value(0), "--emit: CPUs per array task")(
        "time", po::value<std::string>()->default_value(""), "--emit: time limit per array task (Slurm syntax)")(
        "gpus", po::value<std::string>(), "auto | 0,2,3: one GPU per trial process through CUDA_VISIBLE_DEVICES")(
        "per-gpu", po::value<int64_t>(), "trial processes per GPU at once (default: --jobs spread over the GPUs)")(
        "rank-by", po::value<std::string>()->default_value("val_loss"),
        "show: rank by this metric, lowest first (an epoch_metrics column at its best epoch, or a run_summary column)");
    add_plugin_path_option(options);
    add_db_option(options);
    po::positional_options_description positional;
    positional.add("experiment", 1).add("id", 1);
    const auto vm = parse("sweep", args, options, positional);
    if (vm.count("help")) {
        std::cout << options << "\n";
        return kExitOk;
    }
    const bool resuming = vm.count("resume") > 0;
    if (!vm.count("experiment") && !resuming)
        throw UsageError("sweep: which experiment? (distill sweep EXP.toml, or distill sweep --resume SWEEP_ID)");
    const std::string first = vm.count("experiment") ? vm["experiment"].as<std::string>() : "";
    if (first == "show") {
        if (!vm.count("id")) throw UsageError("sweep show: which sweep? (distill sweep show SWEEP_ID)");
        return show_sweep(vm, vm["id"].as<int64_t>());
    }
    const int64_t jobs = vm["jobs"].as<int64_t>();
    if (jobs < 1) throw UsageError("sweep: --jobs must be at least 1");

    const auto registry = load_plugins(vm);
    const fs::path db_path = vm["db"].as<std::string>();
    std::unique_ptr<store::RunStore> db;
    const auto open_db = [&] {
        if (resuming && !fs::exists(db_path))
            throw UsageError("sweep " + std::to_string(vm["resume"].as<int64_t>()) + " does not exist (no database " +
                             db_path.string() + ")");
        try {
            db = resuming ? store::RunStore::open_existing(db_path) : std::make_unique<store::RunStore>(db_path);
        } catch (const store::StoreError& e) {
            throw UsageError(e.what());
        }
    };

    // The sweep's text and --set list: the file's, or (--resume without a
    // file) the ones the sweep recorded.
    experiment::ExperimentSource source;
    std::vector<std::string> overrides;
    std::optional<store::SweepRecord> record;
    if (resuming) {
        open_db();
        const int64_t id = vm["resume"].as<int64_t>();
        record = db->find_sweep_record(id);
        if (!record) throw UsageError("sweep " + std::to_string(id) + " does not exist in " + db_path.string());
    }
    try {
        if (!first.empty()) {
            source = experiment::read_experiment_source(first);
            if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
        } else {
            source.file = record->source_path;
            source.text = record->experiment_text;
            overrides = record->overrides;
            if (vm.count("set")) throw UsageError("sweep --resume ID without a file takes no --set (the sweep's are recorded)");
        }
    } catch (const experiment::ExperimentError& e) {
        throw UsageError(e.what());
    }
    source.working_dir = fs::current_path();
    experiment::Sweep sweep;
    try {
        sweep = experiment::expand_sweep(source, overrides, registry, vm["max-trials"].as<int64_t>());
    } catch (const experiment::ExperimentError& e) {
        throw UsageError(e.what());
    }
    if (vm.count("emit")) return emit(vm, source, overrides, sweep, experiment_name_of(sweep, source));
    if (vm.count("dry-run")) {
        std::cout << text::count(static_cast<int64_t>(sweep.trials.size()), "trial") << " over "
                  << text::count(static_cast<int64_t>(sweep.keys.size()), "swept key") << "\n";
        for (const auto& trial : sweep.trials)
            std::cout << "  trial " << trial.index << ": " << trial_label(trial)
                      << (trial.error.empty() ? "" : "\n    invalid: " + trial.error) << "\n";
        return kExitOk;
    }

    // Trial indices of another grid would name other values.
    if (record && record->grid_json != sweep.grid_json)
        throw UsageError("sweep " + std::to_string(record->id) + " is over " + record->grid_json + ", but " + first +
                         " sweeps " + sweep.grid_json);
    if (!db) open_db();
    const auto& base = sweep.trials.front();
    const std::string experiment_name = experiment_name_of(sweep, source);
    const Shard shard = resolve_shard(vm.count("shard") ? std::optional<std::string>(vm["shard"].as<std::string>())
                                                        : std::nullopt,
                                      vm.count("shards") ? std::optional<int64_t>(vm["shards"].as<int64_t>())
                                                         : std::nullopt);
    if (!shard.source.empty())
        std::cout << "shard " << shard.index << " of " << shard.count << " (from " << shard.source
                  << "): the trials whose index % " << shard.count << " == " << shard.index << std::endl;
    std::optional<GpuSlots> gpus;
    if (vm.count("gpus"))
        gpus.emplace(vm["gpus"].as<std::string>(),
                     vm.count("per-gpu") ? vm["per-gpu"].as<int64_t>() : -1, visible_gpus(), jobs);
    const int64_t experiment_id = db->record_experiment(experiment_name, source.text);
    int64_t sweep_id = 0;
    if (record) {
        sweep_id = record->id;
    } else if (const auto existing = db->find_sweep_by_identity(store::sweep_identity(source.text, sweep.grid_json, overrides))) {
        sweep_id = *existing;  // the same file, grid and --set again continue their sweep
        std::cout << "continuing sweep " << sweep_id << " (same experiment, grid and --set)\n";
    } else {
        sweep_id = db->create_sweep(experiment_id, experiment_name, sweep.grid_json,
                                    fs::absolute(source.file).lexically_normal().string(), overrides);
    }

    // Trials already completed are skipped; an interrupted trial with a
    // checkpoint continues as the same run; failed or never-run trials run
    // (again). Invalid trials are recorded as failed runs.
    db->mark_stale_runs_interrupted();
    std::vector<int64_t> pending;
    std::map<int64_t, int64_t> resume_run;  // trial index -> run to continue
    for (const auto& trial : sweep.trials) {
        if (!shard.owns(trial.index) || db->trial_completed(sweep_id, trial.index)) continue;
        if (!trial.error.empty()) {
            store::RunInfo info;
            info.experiment_id = experiment_id;
            info.sweep_id = sweep_id;
            info.trial_index = trial.index;
            info.host_version = DISTILL_VERSION;
            const int64_t run_id = db->create_run(info);
            db->record_params(run_id, trial.params);
            db->finish_run(run_id, "failed", trial.error);
            std::cout << "trial " << trial.index << " invalid: " << trial.error << "\n";
            continue;
        }
        const auto latest = db->latest_trial_run(sweep_id, trial.index);
        if (latest && latest->status == "interrupted" && !db->artifacts(latest->id, "checkpoint").empty())
            resume_run[trial.index] = latest->id;
        pending.push_back(trial.index);
    }

    const fs::path log_dir =
        (base.error.empty() || base.experiment.output.dir.empty() ? db->files_root()
                                                                  : fs::path(base.experiment.output.dir)) /
        ("sweep-" + std::to_string(sweep_id));
    fs::create_directories(log_dir);
    const std::string self = boost::dll::program_location().string();
    // CPU threads are split between the jobs running at once.
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    const int64_t threads = std::max<int64_t>(1, static_cast<int64_t>(cores) / jobs);
    const std::atomic<int>* stop = install_stop_handlers();

    std::vector<TrialProcess> running;
    size_t next = 0;
    bool stop_forwarded = false;
    std::cout << "sweep " << sweep_id << ": " << pending.size() << " of "
              << text::count(static_cast<int64_t>(sweep.trials.size()), "trial") << " to run, " << jobs << " at a time; logs in " << log_dir.string() << std::endl;
    while (next < pending.size() || !running.empty()) {
        while (stop->load() == 0 && next < pending.size() && static_cast<int64_t>(running.size()) < jobs) {
            std::optional<size_t> gpu;
            if (gpus && !(gpu = gpus->acquire())) break;  // every GPU is full: wait for a trial to end
            const int64_t index = pending[next++];
            // New trials train the sweep's recorded text (no file), so an
            // edit to the file mid-sweep changes nothing.
            std::vector<std::string> argv{self, "run", "--db", db_path.string()};
            if (resume_run.count(index)) {
                argv.insert(argv.end(), {"--resume", std::to_string(resume_run.at(index))});
            } else {
                argv.insert(argv.end(), {"--sweep-id", std::to_string(sweep_id), "--trial-index", std::to_string(index)});
                if (jobs > 1) argv.insert(argv.end(), {"--set", "threads=" + std::to_string(threads)});
            }
            if (vm.count("plugin-path"))
                for (const auto& p : vm["plugin-path"].as<std::vector<std::string>>())
                    argv.insert(argv.end(), {"--plugin-path", p});
            const fs::path log = log_dir / ("trial-" + std::to_string(index) + ".log");
            running.push_back(start_trial(argv, index, log, gpu ? gpus->value(*gpu) : ""));
            running.back().gpu = gpu;
            std::cout << "trial " << index << (resume_run.count(index) ? " continues run " + std::to_string(resume_run.at(index)) : " started")
                      << ": " << trial_label(sweep.trials[index]) << std::endl;
        }
        if (stop->load() != 0 && !stop_forwarded) {
            // Launch nothing more, and pass the signal on once so every
            // running trial checkpoints and ends `interrupted`.
            next = pending.size();
            for (const auto& trial : running) kill(trial.pid, stop->load());
            stop_forwarded = true;
        }
        int status = 0;
        const pid_t done = waitpid(-1, &status, 0);
        if (done < 0) {
            if (errno == EINTR) continue;
            break;
        }
        const auto it = std::find_if(running.begin(), running.end(), [&](const TrialProcess& t) { return t.pid == done; });
        if (it == running.end()) continue;
        std::cout << "trial " << it->index << " finished (" << describe_exit(status) << "), log " << it->log.string()
                  << std::endl;
        if (it->gpu) gpus->release(*it->gpu);
        running.erase(it);
    }

    print_summary(*db, sweep_id, sweep);
    if (stop->load() != 0) return 128 + stop->load();
    for (const auto& trial : sweep.trials)
        if (shard.owns(trial.index) && !db->trial_completed(sweep_id, trial.index)) return kExitRunFailed;
    return kExitOk;
}

}  // namespace distill::cli
