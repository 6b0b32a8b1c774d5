#include "cli/console.hpp"

#include "cli/run_signals.hpp"
#include "common/text.hpp"
#include "store/run_store.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace distill::cli {

std::string resume_command(int64_t run_id, const std::filesystem::path& db_path) {
    std::string db = db_path.string();
    if (db.find_first_of(" '\"\\$`") != std::string::npos) db = "'" + db + "'";
    return "distill run --resume " + std::to_string(run_id) + " --db " + db;
}

void ConsoleListener::print(const std::string& line) {
    if (progress_shown_) std::cout << "\r\033[K";  // the bar gives way to the line, then comes back
    std::cout << line << std::endl;
    progress_shown_ = false;
}

void ConsoleListener::info(const std::string& line) { print(line); }

void ConsoleListener::warning(const std::string& message) { print("warning: " + message); }

namespace {

// A reference column through text::number (a NaN reads "nan" whatever its
// sign bit; printf's %g would print "-nan" for some), "-" where no loss
// entry fills it.
std::string component(const std::optional<double>& value, int digits) {
    return value ? text::number(*value, digits) : std::string("-");
}

}  // namespace

void ConsoleListener::step_done(const train::StepReport& r) {
    if (r.notable) {
        char line[256];
        std::snprintf(line, sizeof line,
                      "epoch %lld/%lld step %lld/%lld  loss %s  stft %s  recon %s  kl %s  kl_w %s  %.3f s/step",
                      static_cast<long long>(r.epoch + 1), static_cast<long long>(r.epochs),
                      static_cast<long long>(r.step + 1), static_cast<long long>(r.steps_per_epoch),
                      text::number(r.total, 5).c_str(), component(r.row.stft_loss, 4).c_str(),
                      component(r.row.recon_loss, 4).c_str(), component(r.row.kl_loss, 4).c_str(),
                      component(r.row.kl_weight, 3).c_str(), r.step_time_s);
        print(line);
    }
    show_progress(r);
}

void ConsoleListener::epoch_done(const train::EpochReport& r) {
    char line[256];
    std::snprintf(line, sizeof line, "epoch %lld/%lld done: train %s  val %s%s  lr %s  elapsed %.0f s  eta %.0f s",
                  static_cast<long long>(r.epoch + 1), static_cast<long long>(r.epochs),
                  text::number(r.train_loss, 5).c_str(), text::number(r.val_loss, 5).c_str(), r.best ? " (best)" : "",
                  text::number(r.learning_rate, 3).c_str(), r.elapsed_s, r.eta_s);
    print(line);
}

// One updating line on a terminal: overall progress and the time left,
// estimated from the steps run so far in this process.
void ConsoleListener::show_progress(const train::StepReport& r) {
    if (!tty_checked_) tty_ = ::isatty(STDOUT_FILENO) == 1, tty_checked_ = true;
    if (!tty_) return;
    const int64_t total = r.epochs * r.steps_per_epoch;
    const int64_t done = r.epoch * r.steps_per_epoch + r.step + 1;
    ++steps_this_process_;
    const double per_step = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count() /
                            static_cast<double>(steps_this_process_);
    const double eta = per_step * static_cast<double>(total - done);
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(1, total));
    char line[160];
    std::snprintf(line, sizeof line, "\r[%s%s] %3d%%  epoch %lld/%lld  eta %02d:%02d:%02d",
                  std::string(filled, '#').c_str(), std::string(kWidth - filled, ' ').c_str(),
                  static_cast<int>(100 * done / std::max<int64_t>(1, total)), static_cast<long long>(r.epoch + 1),
                  static_cast<long long>(r.epochs), static_cast<int>(eta) / 3600, static_cast<int>(eta) / 60 % 60,
                  static_cast<int>(eta) % 60);
    std::cout << line << std::flush;
    progress_shown_ = true;
}

void ConsoleListener::run_recorded(const std::filesystem::path& db_path, int64_t run_id) {
    const std::string command = resume_command(run_id, db_path);
    set_forced_exit_action([db_path, run_id, command] {
        // Runs on the signal watcher thread after a second signal: record the
        // end with a connection of its own, then the process exits.
        try {
            store::RunStore db(db_path);
            db.finish_run(run_id, "interrupted", "stopped at once by a second signal");
            db.add_event(run_id, {-1, -1, "interrupted", "stopped at once by a second signal", ""});
        } catch (const std::exception& e) {
            std::cerr << "\ndistill: could not mark run " << run_id << " interrupted: " << e.what() << "\n";
        }
        std::cerr << "\ndistill: run " << run_id << " stopped at once; continue it from its last checkpoint with\n"
                  << command << "\n";
    });
}

}  // namespace distill::cli
