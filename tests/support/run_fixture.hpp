// Shared by the test suites that run the real binary on real (tiny) data:
// a temporary folder, a generated corpus, an experiment small enough to
// train in about a second on one CPU thread, and `distill` as a child
// process. (Moved here from tests/train so the report tests use the same.)
#pragma once

#include "support/temp_dir.hpp"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace distill::test_support {

namespace fs = std::filesystem;

// 8 one-second 16 kHz WAVs (sines, chirps, noise). With the experiment below
// (0.5 s chunks, file split with val_fraction 0.25) that is 6 train files =
// 12 train chunks and 2 val files = 4 val chunks.
void write_corpus(const fs::path& dir);

constexpr int64_t kTrainChunks = 12;
constexpr int64_t kBatchSize = 4;
constexpr int64_t kStepsPerEpoch = kTrainChunks / kBatchSize;  // 3, no remainder

// The device the binary's tests train on: $DISTILL_TEST_DEVICE ("cuda" on
// the GPU machine, .ci/gpu/run test-cuda), else "cpu".
std::string test_device();

// The experiment text: corpus and cache under `root` (a run's files go
// beside its database, the default), model
// conv_vae with latent_dim 8 on 32 mel bands x 63 frames, batch 4, seed 7,
// one CPU thread, on test_device(), `train_keys` appended to [train],
// `losses` ([[loss]] tables) appended at the end.
std::string experiment_text(const fs::path& root, const std::string& train_keys, const std::string& losses);
// Writes it to root/name and returns the path.
fs::path write_experiment(const fs::path& root, const std::string& name, const std::string& train_keys,
                          const std::string& losses);

struct Finished {
    int exit_code = -1;  // 128 + signal when killed by one
    std::string out, err;
};

// `distill ARGS...` in `cwd` with stdout/stderr to files in cwd.
class Child {
public:
    // `as_uid` >= 0: the child drops to that user (and its group) first, so a
    // test running as root can meet permissions as a user would.
    Child(const fs::path& cwd, const std::vector<std::string>& args, int as_uid = -1);
    ~Child();
    pid_t pid() const { return pid_; }
    std::string stdout_text() const;
    // Sleeps in small steps until stdout contains `text`; false after `seconds`.
    bool wait_for_output(const std::string& text, double seconds) const;
    Finished wait();

private:
    pid_t pid_ = -1;
    fs::path out_, err_;
    bool waited_ = false;
};

// The whole file as text ("" when it cannot be read).
std::string read_file(const fs::path& file);

Finished run_distill(const fs::path& cwd, const std::vector<std::string>& args);

}  // namespace distill::test_support
