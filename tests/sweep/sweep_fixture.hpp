// Shared setup for the sweep tests: a temp folder holding a tiny generated
// corpus and an experiment file, and helpers to run the real binary there.
#pragma once

#include "store/run_store.hpp"

#include <gtest/gtest.h>

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace distill::sweep_test {

namespace fs = std::filesystem;

// The corpus: kCorpusFiles one-second files at 48 kHz = one 1 s chunk each
// (the default chunk_seconds). val_fraction 0.2 of 7 files -> llround(1.4) =
// 1 val file, 6 train items; batch_size 4 -> 6/4 = 1 full batch plus a last
// batch of 2 (kept, since it is more than one item) = 2 steps per epoch.
constexpr int kCorpusFiles = 7;
constexpr int64_t kStepsPerEpoch = 2;
constexpr int64_t kEpochs = 2;

// Experiment text with a small model and two epochs; `sweep` is appended as
// the body of its [sweep] table.
std::string experiment_toml(const std::string& name, const std::string& sweep);

class SweepTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    // Writes `text` to dir()/name and returns its path.
    fs::path write(const std::string& name, const std::string& text) const;
    // Runs `distill ARGS` in dir() and returns {exit status, stdout+stderr}.
    std::pair<int, std::string> distill(const std::string& args) const;
    // Starts `distill ARGS` in dir() in the background, output to `log`.
    pid_t spawn(const std::vector<std::string>& args, const fs::path& log) const;
    fs::path db_path() const { return dir_ / "runs.db"; }
    const fs::path& dir() const { return dir_; }

    // Every run of the sweep, by trial index then id.
    std::vector<store::RunRecord> sweep_runs(int64_t sweep_id) const;

private:
    fs::path dir_;
};

// Every line of `text` that contains `needle`.
std::vector<std::string> lines_with(const std::string& text, const std::string& needle);
std::string read_text(const fs::path& path);

}  // namespace distill::sweep_test
