// The console side of a run: step and epoch lines, warnings, the progress
// bar on a terminal, and the exact command that resumes an interrupted run.
#pragma once

#include "session/run_session.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace distill::cli {

class ConsoleListener final : public session::SessionListener {
public:
    void info(const std::string& line) override;
    void warning(const std::string& message) override;
    void step_done(const train::StepReport& report) override;
    void epoch_done(const train::EpochReport& report) override;
    // Arms the forced exit (a second Ctrl-C) to mark this run interrupted.
    void run_recorded(const std::filesystem::path& db_path, int64_t run_id) override;

private:
    void print(const std::string& line);
    void show_progress(const train::StepReport& report);

    bool tty_ = false, progress_shown_ = false, tty_checked_ = false;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    int64_t steps_this_process_ = 0;
};

// "distill run --resume 7 --db runs.db": printed on its own line when a run
// stops before its end.
std::string resume_command(int64_t run_id, const std::filesystem::path& db_path);

}  // namespace distill::cli
