#include "cli/sweep_cluster.hpp"

#include "cli/cli_common.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace distill::cli {
namespace {

std::optional<int64_t> env_int(const char* name) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') return std::nullopt;
    char* end = nullptr;
    const long long value = std::strtoll(text, &end, 10);
    if (*end != '\0') throw UsageError(std::string("sweep: $") + name + " is '" + text + "', not an integer");
    return value;
}

std::vector<std::string> split(const std::string& text, char by) {
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, by))
        if (!item.empty()) out.push_back(item);
    return out;
}

}  // namespace

Shard resolve_shard(const std::optional<std::string>& shard_option, const std::optional<int64_t>& shards) {
    Shard s;
    if (shard_option) {
        const auto slash = shard_option->find('/');
        try {
            if (slash == std::string::npos) throw std::invalid_argument("no slash");
            size_t used = 0;
            s.index = std::stoll(shard_option->substr(0, slash), &used);
            if (used != slash) throw std::invalid_argument("index");
            const std::string count = shard_option->substr(slash + 1);
            s.count = std::stoll(count, &used);
            if (used != count.size()) throw std::invalid_argument("count");
        } catch (const std::exception&) {
            throw UsageError("sweep: --shard takes I/N (this process runs the trials whose index % N == I), got '" +
                             *shard_option + "'");
        }
        s.source = "--shard";
    } else if (const auto task = env_int("SLURM_ARRAY_TASK_ID")) {
        const auto count = env_int("SLURM_ARRAY_TASK_COUNT");
        if (!count) throw UsageError("sweep: $SLURM_ARRAY_TASK_ID is set but $SLURM_ARRAY_TASK_COUNT is not");
        s.index = *task - env_int("SLURM_ARRAY_TASK_MIN").value_or(0);
        s.count = *count;
        s.source = "SLURM_ARRAY_TASK_ID";
    } else if (const auto index = env_int("JOB_COMPLETION_INDEX"); index && shards) {
        s.index = *index;
        s.count = *shards;
        s.source = "JOB_COMPLETION_INDEX";
    }
    if (s.count < 1 || s.index < 0 || s.index >= s.count)
        throw UsageError("sweep: shard " + std::to_string(s.index) + "/" + std::to_string(s.count) + " (from " +
                         (s.source.empty() ? "--shards" : s.source) + ") is out of range: need 0 <= I < N");
    return s;
}

std::string shell_quote(const std::string& text) {
    std::string out = "'";
    for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string slurm_script(const SlurmOptions& o) {
    const std::string shard_db = (o.shard_dir / (o.name + "-${SLURM_ARRAY_TASK_ID}.db")).string();
    std::string task = "cd " + shell_quote(o.working_dir.string()) + " && OMP_WAIT_POLICY=PASSIVE " +
                       shell_quote(o.distill.string()) + " sweep " + shell_quote(o.experiment.string());
    for (const auto& s : o.overrides) task += " --set " + shell_quote(s);
    for (const auto& p : o.plugin_paths) task += " --plugin-path " + shell_quote(p);
    // $SLURM_ARRAY_TASK_ID expands inside the job, not here.
    task += " --shard \"${SLURM_ARRAY_TASK_ID}/" + std::to_string(o.shards) + "\" --db \"" + shard_db + "\"";
    std::string merge = shell_quote(o.distill.string()) + " db merge " + shell_quote(o.db.string());
    for (int64_t i = 0; i < o.shards; ++i)
        merge += " " + shell_quote((o.shard_dir / (o.name + "-" + std::to_string(i) + ".db")).string());

    std::string common;
    if (!o.partition.empty()) common += " --partition=" + shell_quote(o.partition);
    std::ostringstream s;
    s << "#!/bin/bash\n"
      << "# distill sweep " << o.experiment.string() << " as a Slurm job array: " << o.shards
      << " tasks, each running one shard\n"
      << "# of the grid into its own database on " << o.shard_dir.string() << ",\n"
      << "# then one job that merges them into " << o.db.string() << " once every task has ended.\n"
      << "# Submit with: bash THIS_FILE. Re-submitting after pre-emption skips completed trials\n"
      << "# and continues interrupted ones; the merge adds each run once.\n"
      << "set -euo pipefail\n"
      << "mkdir -p " << shell_quote(o.shard_dir.string()) << "\n"
      << "array=$(sbatch --parsable --job-name=" << shell_quote("distill-" + o.name) << " --array=0-" << o.shards - 1
      << (o.array_parallelism > 0 ? "%" + std::to_string(o.array_parallelism) : "") << common
      << (o.gpus_per_task > 0 ? " --gpus-per-task=" + std::to_string(o.gpus_per_task) : "")
      << (o.cpus_per_task > 0 ? " --cpus-per-task=" + std::to_string(o.cpus_per_task) : "")
      << (o.time.empty() ? "" : " --time=" + shell_quote(o.time))
      << " --output=" << shell_quote((o.shard_dir / (o.name + "-%a.log")).string()) << " \\\n  --wrap="
      << shell_quote(task) << ")\n"
      << "array=${array%%;*}\n"
      << "merge=$(sbatch --parsable --job-name=" << shell_quote("distill-" + o.name + "-merge")
      << " --dependency=afterany:${array}" << common
      << " --output=" << shell_quote((o.shard_dir / (o.name + "-merge.log")).string()) << " \\\n  --wrap="
      << shell_quote(merge) << ")\n"
      << "echo \"submitted job array ${array} (" << o.shards << " tasks) and merge job ${merge%%;*}\"\n";
    return s.str();
}

GpuSlots::GpuSlots(const std::string& spec, int64_t per_gpu, int64_t visible_count, int64_t jobs) : per_gpu_(per_gpu) {
    if (per_gpu != -1 && per_gpu < 1) throw UsageError("sweep: --per-gpu must be at least 1");
    std::vector<int64_t> picked;
    if (spec == "auto") {
        for (int64_t i = 0; i < visible_count; ++i) picked.push_back(i);
        if (picked.empty()) throw UsageError("sweep: --gpus auto, but LibTorch sees no GPU");
    } else {
        for (const auto& item : split(spec, ',')) {
            try {
                size_t used = 0;
                picked.push_back(std::stoll(item, &used));
                if (used != item.size() || picked.back() < 0) throw std::invalid_argument(item);
            } catch (const std::exception&) {
                throw UsageError("sweep: --gpus takes auto or a list of GPU indices like 0,2,3; got '" + spec + "'");
            }
        }
        if (picked.empty()) throw UsageError("sweep: --gpus names no GPU");
    }
    // An inherited mask (a Slurm allocation, say): our indices are positions in it.
    const char* inherited = std::getenv("CUDA_VISIBLE_DEVICES");
    const std::vector<std::string> mask = inherited ? split(inherited, ',') : std::vector<std::string>{};
    for (const int64_t i : picked) {
        if (inherited == nullptr) {
            values_.push_back(std::to_string(i));
        } else if (i < static_cast<int64_t>(mask.size())) {
            values_.push_back(mask[static_cast<size_t>(i)]);
        } else {
            throw UsageError("sweep: --gpus " + spec + ": GPU " + std::to_string(i) + " is not in CUDA_VISIBLE_DEVICES=" +
                             inherited);
        }
    }
    busy_.assign(values_.size(), 0);
    const auto n = static_cast<int64_t>(values_.size());
    if (per_gpu_ == -1) per_gpu_ = std::max<int64_t>(1, (jobs + n - 1) / n);
}

std::optional<size_t> GpuSlots::acquire() {
    size_t best = 0;
    for (size_t g = 1; g < busy_.size(); ++g)
        if (busy_[g] < busy_[best]) best = g;
    if (busy_[best] >= per_gpu_) return std::nullopt;
    ++busy_[best];
    return best;
}

}  // namespace distill::cli
