#include "train/checkpoint.hpp"

#include "train/optimizer_step.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <algorithm>
#include <mutex>
#include <cstdio>

namespace distill::train {
namespace fs = std::filesystem;

namespace {

at::Tensor string_tensor(const std::string& text) {
    at::Tensor t = at::empty({static_cast<int64_t>(text.size())}, at::kByte);
    std::copy(text.begin(), text.end(), t.data_ptr<uint8_t>());
    return t;
}
std::string tensor_string(const at::Tensor& t) {
    const at::Tensor c = t.cpu().contiguous();
    return std::string(c.data_ptr<uint8_t>(), c.data_ptr<uint8_t>() + c.numel());
}
at::Tensor doubles(const std::vector<double>& values) {
    return at::tensor(values.empty() ? std::vector<double>{} : values, at::kDouble);
}
std::vector<double> to_vector(const at::Tensor& t) {
    const at::Tensor c = t.to(at::kCPU, at::kDouble).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}
at::Tensor scalar(double v) { return at::tensor({v}, at::kDouble); }
at::Tensor scalar(int64_t v) { return at::tensor({v}, at::kLong); }

// Where the model lives: the device the optimizer state is loaded onto.
at::Device device_of(const NamedTensors& parameters) {
    return parameters.empty() ? at::Device(at::kCPU) : parameters.front().second.device();
}

// On a GPU, dropout masks and the reparameterisation noise come from the
// device's own generator; a resumed run must continue its sequence too.
at::Generator cuda_generator(const at::Device& device) { return at::globalContext().defaultGenerator(device); }

at::Tensor read(torch::serialize::InputArchive& archive, const std::string& key, const fs::path& file) {
    at::Tensor t;
    if (!archive.try_read(key, t)) throw CheckpointError("checkpoint " + file.string() + " has no '" + key + "'");
    return t.cpu();  // the archive is loaded onto the model's device; what is read here is used on the host
}

}  // namespace

std::string checkpoint_name(int64_t epoch, int64_t next_step) {
    char name[64];
    std::snprintf(name, sizeof name, "ckpt-e%04lld-s%05lld.pt", static_cast<long long>(epoch),
                  static_cast<long long>(next_step));
    return name;
}

void save_checkpoint(const fs::path& file, const NamedTensors& parameters, const NamedTensors& buffers,
                     torch::optim::Optimizer* optimizer, const CheckpointContent& content) {
    const TrainingPosition& p = content.position;
    torch::serialize::OutputArchive archive;
    archive.write("format", scalar(kCheckpointFormat));
    archive.write("run.uuid", string_tensor(content.run_uuid));
    for (const auto& [name, t] : parameters) archive.write("param." + name, t.detach().cpu());
    for (const auto& [name, t] : buffers) archive.write("buffer." + name, t.detach().cpu(), /*is_buffer=*/true);
    if (optimizer != nullptr) {
        torch::serialize::OutputArchive optimizer_archive;
        optimizer->save(optimizer_archive);
        archive.write("optimizer", optimizer_archive);
    }
    archive.write("rng.cpu", at::detail::getDefaultCPUGenerator().get_state());
    const at::Device device = device_of(parameters);
    if (device.is_cuda()) archive.write("rng.cuda", cuda_generator(device).get_state());
    archive.write("position.epoch", scalar(p.epoch));
    archive.write("position.next_step", scalar(p.next_step));
    if (p.permutation.defined()) archive.write("position.permutation", p.permutation.cpu());
    archive.write("position.epoch_loss_sum", scalar(p.epoch_loss_sum));
    archive.write("position.epoch_finite_steps", scalar(p.epoch_finite_steps));
    archive.write("position.train_loss_history", doubles(p.train_loss_history));
    archive.write("position.best_val_loss", scalar(p.best_val_loss));
    archive.write("position.best_epoch", scalar(p.best_epoch));
    archive.write("position.elapsed_seconds", scalar(p.elapsed_seconds));
    archive.write("position.optimizer_steps", scalar(p.optimizer_steps));
    archive.write("norm.mode", string_tensor(content.norm.mode));
    archive.write("norm.mean", doubles({content.norm.mean[0], content.norm.mean[1]}));
    archive.write("norm.std", doubles({content.norm.std[0], content.norm.std[1]}));
    archive.write("config", string_tensor(content.config_text));

    // A killed run must never leave a file that loads as valid but wrong.
    fs::create_directories(file.parent_path());
    const fs::path temporary = file.string() + ".tmp";
    archive.save_to(temporary.string());
    fs::rename(temporary, file);
}

CheckpointContent load_checkpoint(const fs::path& file, const NamedTensors& parameters, const NamedTensors& buffers,
                                  torch::optim::Optimizer* optimizer, const std::string& expected_uuid) {
    torch::serialize::InputArchive archive;
    const at::Device device = device_of(parameters);
    try {
        archive.load_from(file.string(), device);  // a GPU run's checkpoint loads on a CPU-only machine too
    } catch (const std::exception& e) {
        throw CheckpointError("cannot read checkpoint " + file.string() + " (damaged or not a checkpoint)");
    }
    try {
        const int64_t format = read(archive, "format", file).item<int64_t>();
        if (format > kCheckpointFormat)
            throw CheckpointError("checkpoint " + file.string() + " has format " + std::to_string(format) +
                                  ", newer than this distill understands (" + std::to_string(kCheckpointFormat) +
                                  "); use a newer distill");
        at::Tensor uuid_bytes;
        const std::string uuid = archive.try_read("run.uuid", uuid_bytes) ? tensor_string(uuid_bytes) : "";
        if (!expected_uuid.empty() && uuid != expected_uuid)
            throw CheckpointError("checkpoint " + file.string() + (uuid.empty() ? " records no run identity (an older format)"
                                                                                 : " belongs to run " + uuid) +
                                  ", not to run " + expected_uuid + "; it was not loaded");
        // Every tensor is read and checked before any is copied, so a
        // mismatched checkpoint leaves the model untouched.
        std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (model tensor, saved)
        const auto collect = [&](const NamedTensors& tensors, const std::string& prefix, const char* what) {
            for (const auto& [name, t] : tensors) {
                const at::Tensor saved = read(archive, prefix + name, file);
                if (!saved.sizes().equals(t.sizes()))
                    throw CheckpointError("checkpoint " + file.string() + ": " + what + " '" + name + "' has shape " +
                                          c10::str(saved.sizes()) + ", the model has " + c10::str(t.sizes()));
                copies.emplace_back(t, saved);
            }
        };
        collect(parameters, "param.", "parameter");
        collect(buffers, "buffer.", "buffer");
        // The optimizer state is checked before the model is touched too (the
        // optimizer is the trainer's own, and a refused resume discards it).
        if (optimizer != nullptr) {
            torch::serialize::InputArchive optimizer_archive;
            if (!archive.try_read("optimizer", optimizer_archive))
                throw CheckpointError("checkpoint " + file.string() + " holds no optimizer state");
            optimizer->load(optimizer_archive);
            try {
                check_optimizer_state(*optimizer, parameters);
            } catch (const std::exception& e) {
                throw CheckpointError("checkpoint " + file.string() + ": its optimizer state does not fit this model: " +
                                      e.what() + " (one cause: a checkpoint written with LibTorch 1.x and read with "
                                      "2.2 or later, which reads the state's keys differently)");
            }
        }
        at::NoGradGuard no_grad;
        for (auto& [target, saved] : copies) target.copy_(saved);
        at::Generator generator = at::detail::getDefaultCPUGenerator();
        {
            std::lock_guard<std::mutex> lock(generator.mutex());
            generator.set_state(read(archive, "rng.cpu", file));
        }
        CheckpointContent content;
        at::Tensor cuda_state;
        const bool has_cuda_state = archive.try_read("rng.cuda", cuda_state);
        if (device.is_cuda() && has_cuda_state) {
            at::Generator generator = cuda_generator(device);
            std::lock_guard<std::mutex> lock(generator.mutex());
            generator.set_state(cuda_state.cpu());
        } else if (has_cuda_state) {
            content.notes.push_back("checkpoint " + file.filename().string() +
                                    " was written on a GPU and the run continues on the CPU: its random draws "
                                    "(dropout, sampling) differ from an uninterrupted run's");
        } else if (device.is_cuda()) {
            content.notes.push_back("checkpoint " + file.filename().string() +
                                    " holds no GPU random state (written on the CPU, or by an older distill): the run "
                                    "continues on a GPU with random draws (dropout, sampling) that differ from an "
                                    "uninterrupted run's");
        }
        content.run_uuid = uuid;
        TrainingPosition& p = content.position;
        p.epoch = read(archive, "position.epoch", file).item<int64_t>();
        p.next_step = read(archive, "position.next_step", file).item<int64_t>();
        at::Tensor permutation;
        if (archive.try_read("position.permutation", permutation)) p.permutation = permutation;
        p.epoch_loss_sum = read(archive, "position.epoch_loss_sum", file).item<double>();
        p.epoch_finite_steps = read(archive, "position.epoch_finite_steps", file).item<int64_t>();
        p.train_loss_history = to_vector(read(archive, "position.train_loss_history", file));
        p.best_val_loss = read(archive, "position.best_val_loss", file).item<double>();
        p.best_epoch = read(archive, "position.best_epoch", file).item<int64_t>();
        p.elapsed_seconds = read(archive, "position.elapsed_seconds", file).item<double>();
        at::Tensor optimizer_steps;
        if (archive.try_read("position.optimizer_steps", optimizer_steps)) p.optimizer_steps = optimizer_steps.item<int64_t>();
        content.norm.mode = tensor_string(read(archive, "norm.mode", file));
        const auto mean = to_vector(read(archive, "norm.mean", file));
        const auto std = to_vector(read(archive, "norm.std", file));
        content.norm.mean[0] = mean.at(0);
        content.norm.mean[1] = mean.at(1);
        content.norm.std[0] = std.at(0);
        content.norm.std[1] = std.at(1);
        content.config_text = tensor_string(read(archive, "config", file));
        return content;
    } catch (const CheckpointError&) {
        throw;
    } catch (const std::exception& e) {
        throw CheckpointError("checkpoint " + file.string() + " is damaged: " + e.what());
    }
}

bool parse_checkpoint_name(const std::string& name, int64_t& epoch, int64_t& next_step) {
    long long e = 0, s = 0;
    int consumed = 0;
    if (std::sscanf(name.c_str(), "ckpt-e%4lld-s%5lld.pt%n", &e, &s, &consumed) != 2) return false;
    if (static_cast<size_t>(consumed) != name.size()) return false;
    epoch = e;
    next_step = s;
    return true;
}

std::vector<fs::path> list_checkpoints(const fs::path& dir) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("ckpt-e", 0) == 0 && entry.path().extension() == ".pt") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // zero-padded names sort by position
    return files;
}

}  // namespace distill::train
