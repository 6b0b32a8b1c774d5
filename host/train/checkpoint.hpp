// Training checkpoints: everything needed to continue a run exactly where it
// stopped (model parameters and buffers, optimizer state, the position in
// the epoch with its shuffle order, RNG state, loss history), plus the
// normalisation statistics and the resolved configuration for generation.
#pragma once

#include "data/dataset.hpp"

#include <distill/bridge.hpp>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
}

namespace distill::train {

// Format 2 carries the run's uuid: a checkpoint is only ever loaded into the
// run that wrote it. Format 1 (no uuid) cannot prove whose it is and is
// refused for resuming; a newer format than this is refused with the reason.
constexpr int64_t kCheckpointFormat = 2;

class CheckpointError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Where training continues from, and what it had accumulated.
struct TrainingPosition {
    int64_t epoch = 0;      // the epoch to continue in (0-based)
    int64_t next_step = 0;  // 0 = at an epoch boundary
    at::Tensor permutation; // this epoch's shuffle order when next_step > 0
    double epoch_loss_sum = 0.0;  // finite step losses so far in this epoch
    int64_t epoch_finite_steps = 0;
    std::vector<double> train_loss_history;  // one per finished epoch
    double best_val_loss = 0.0;  // NaN-free; meaningful when best_epoch >= 0
    int64_t best_epoch = -1;
    double elapsed_seconds = 0.0;
    int64_t optimizer_steps = 0;  // steps that updated the parameters, over the whole run
};

struct CheckpointContent {
    std::string run_uuid;  // the run that wrote it
    TrainingPosition position;
    data::NormStats norm;
    std::string config_text;  // the resolved experiment, for generation and audits
    std::vector<std::string> notes;  // on loading: what a resumed run should be told
};

// Writes atomically (temporary file + rename). `optimizer` may be null for a
// weights-only checkpoint (best.pt).
void save_checkpoint(const std::filesystem::path& file, const NamedTensors& parameters, const NamedTensors& buffers,
                     torch::optim::Optimizer* optimizer, const CheckpointContent& content);

// Restores parameters and buffers in place (names must match), the optimizer
// state when given (onto the parameters' device), and the RNG state (the
// CPU's, and the GPU's when the run is on one); returns the rest. Throws
// CheckpointError naming the file for a damaged file, a newer format, a
// checkpoint of another run than `expected_uuid` (checked before anything is
// restored; empty = any run), a model whose parameters do not match, or an
// optimizer state that does not fit them.
CheckpointContent load_checkpoint(const std::filesystem::path& file, const NamedTensors& parameters,
                                  const NamedTensors& buffers, torch::optim::Optimizer* optimizer,
                                  const std::string& expected_uuid);

// Checkpoint files of a run directory, oldest position first (best.pt excluded).
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& dir);
// "ckpt-e0004-s0000.pt": sorts by position.
std::string checkpoint_name(int64_t epoch, int64_t next_step);
// The position a checkpoint_name() encodes; false for any other name.
bool parse_checkpoint_name(const std::string& name, int64_t& epoch, int64_t& next_step);

}  // namespace distill::train
