// What lets one sweep span machines and GPUs: which shard of the grid this
// process runs (--shard, or the index Slurm / Kubernetes give an array task),
// the Slurm submission script (--emit slurm), and one GPU per trial process
// (--gpus) through CUDA_VISIBLE_DEVICES.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace distill::cli {

// Trials whose grid index i has i % count == index.
struct Shard {
    int64_t index = 0, count = 1;
    std::string source;  // "--shard", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"; empty: not sharded
    bool owns(int64_t trial) const { return trial % count == index; }
};

// --shard "I/N" wins; else Slurm's array variables; else JOB_COMPLETION_INDEX
// with `shards` (--shards N). UsageError for a malformed or out-of-range value.
Shard resolve_shard(const std::optional<std::string>& shard_option, const std::optional<int64_t>& shards);

struct SlurmOptions {
    std::filesystem::path distill, experiment, db, shard_dir, working_dir;
    std::vector<std::string> overrides, plugin_paths;
    std::string name;  // the sweep's name in file and job names
    int64_t shards = 1, array_parallelism = 0, gpus_per_task = 0, cpus_per_task = 0;
    std::string partition, time;
};

// A bash script that submits the job array (one shard database per task) and
// a merge job that runs once every task has ended (afterany).
std::string slurm_script(const SlurmOptions& o);

// Quotes `text` for a POSIX shell.
std::string shell_quote(const std::string& text);

// One GPU per trial process: each child sees exactly one device through
// CUDA_VISIBLE_DEVICES (an inherited mask is respected: --gpus indexes into it).
class GpuSlots {
public:
    // `spec`: "auto" (every visible GPU) or "0,2,3"; at most `per_gpu`
    // children on one GPU at once (-1: the jobs spread evenly over the GPUs).
    GpuSlots(const std::string& spec, int64_t per_gpu, int64_t visible_count, int64_t jobs);
    int64_t capacity() const { return static_cast<int64_t>(values_.size()) * per_gpu_; }
    // The CUDA_VISIBLE_DEVICES value for a new child (the least busy GPU), or
    // nullopt when every GPU is full.
    std::optional<size_t> acquire();
    void release(size_t gpu) { --busy_.at(gpu); }
    const std::string& value(size_t gpu) const { return values_.at(gpu); }

private:
    std::vector<std::string> values_;
    std::vector<int64_t> busy_;
    int64_t per_gpu_ = 1;
};

}  // namespace distill::cli
