// Checkpoint files: a round trip restores tensors and position; a damaged
// file or a newer format is refused with the reason, naming the file.
#include "train/checkpoint.hpp"
#include "train/optimizer_step.hpp"
#include "train_fixture.hpp"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/optim/adamw.h>
#include <torch/serialize/output-archive.h>

#include <fstream>

namespace distill::train {
namespace fs = std::filesystem;
namespace {

struct Tensors {
    NamedTensors params{{"w", at::randn({3, 4})}, {"b", at::randn({4})}};
    NamedTensors buffers{{"running_mean", at::randn({4})}};
};

const std::string kRun = "6f1c2a9e-0000-4000-8000-000000000001";

CheckpointContent content_at(int64_t epoch, int64_t step) {
    CheckpointContent c;
    c.run_uuid = kRun;
    c.position.epoch = epoch;
    c.position.next_step = step;
    c.position.train_loss_history = {3.0, 2.5};
    c.position.best_val_loss = 2.75;
    c.position.best_epoch = 1;
    c.norm.mode = "scale";
    c.norm.std[0] = 1.675;
    c.config_text = "name = \"x\"\n";
    return c;
}

TEST(Checkpoint, RoundTripRestoresTensorsInPlaceAndThePosition) {
    const testing::TempDir dir;
    Tensors saved;
    const auto file = dir / checkpoint_name(2, 1);
    save_checkpoint(file, saved.params, saved.buffers, nullptr, content_at(2, 1));
    Tensors loaded;  // other random values, same names and shapes
    const CheckpointContent c = load_checkpoint(file, loaded.params, loaded.buffers, nullptr, kRun);
    EXPECT_TRUE(at::equal(loaded.params[0].second, saved.params[0].second));
    EXPECT_TRUE(at::equal(loaded.buffers[0].second, saved.buffers[0].second));
    EXPECT_EQ(c.position.epoch, 2);
    EXPECT_EQ(c.position.next_step, 1);
    EXPECT_EQ(c.position.train_loss_history, (std::vector<double>{3.0, 2.5}));
    EXPECT_EQ(c.norm.std[0], 1.675);
    EXPECT_EQ(c.config_text, "name = \"x\"\n");
    EXPECT_EQ(file.filename().string(), "ckpt-e0002-s00001.pt");
}

TEST(Checkpoint, DamagedFileIsRefusedNamingIt) {
    const testing::TempDir dir;
    Tensors t;
    const auto file = dir / checkpoint_name(1, 0);
    save_checkpoint(file, t.params, t.buffers, nullptr, content_at(1, 0));
    fs::resize_file(file, fs::file_size(file) / 2);  // a torn write
    try {
        load_checkpoint(file, t.params, t.buffers, nullptr, kRun);
        FAIL() << "expected CheckpointError";
    } catch (const CheckpointError& e) {
        EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("damaged"), std::string::npos) << e.what();
    }
}

TEST(Checkpoint, NewerFormatIsRefusedWithTheReason) {
    const testing::TempDir dir;
    const auto file = dir / "future.pt";
    torch::serialize::OutputArchive archive;
    archive.write("format", at::tensor({kCheckpointFormat + 1}, at::kLong));
    archive.save_to(file.string());
    Tensors t;
    try {
        load_checkpoint(file, t.params, t.buffers, nullptr, kRun);
        FAIL() << "expected CheckpointError";
    } catch (const CheckpointError& e) {
        EXPECT_NE(std::string(e.what()).find("newer than this distill understands"), std::string::npos) << e.what();
    }
}

TEST(Checkpoint, ModelOfAnotherShapeIsRefused) {
    const testing::TempDir dir;
    Tensors saved;
    const auto file = dir / "shape.pt";
    save_checkpoint(file, saved.params, saved.buffers, nullptr, content_at(0, 0));
    // The first tensor fits, the second does not: neither may be loaded.
    NamedTensors other{{"w", at::zeros({3, 4})}, {"b", at::zeros({5})}};
    EXPECT_THROW(load_checkpoint(file, other, saved.buffers, nullptr, kRun), CheckpointError);
    EXPECT_TRUE(at::equal(other[0].second, at::zeros({3, 4}))) << "nothing is half-loaded into a mismatched model";
}

// Issue 12: run ids repeat across databases; a checkpoint is only ever
// loaded into the run (uuid) that wrote it, and nothing is restored otherwise.
TEST(Checkpoint, AnotherRunsCheckpointIsRefusedAndNothingIsLoaded) {
    const testing::TempDir dir;
    Tensors saved;
    const auto file = dir / checkpoint_name(3, 0);
    save_checkpoint(file, saved.params, saved.buffers, nullptr, content_at(3, 0));
    Tensors other;
    const at::Tensor before = other.params[0].second.clone();
    try {
        load_checkpoint(file, other.params, other.buffers, nullptr, "0b7e4c1d-0000-4000-8000-000000000002");
        FAIL() << "expected CheckpointError";
    } catch (const CheckpointError& e) {
        EXPECT_NE(std::string(e.what()).find("belongs to run " + kRun), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    }
    EXPECT_TRUE(at::equal(other.params[0].second, before));
    const CheckpointContent c = load_checkpoint(file, other.params, other.buffers, nullptr, kRun);
    EXPECT_EQ(c.run_uuid, kRun);
}

// A run on a GPU keeps the device generator's state too ("rng.cuda"). A
// checkpoint that has one, resumed on the CPU, still loads, and says that
// the random draws will differ from an uninterrupted run's; a CPU
// checkpoint resumed on the CPU says nothing.
TEST(Checkpoint, AGpuCheckpointResumedOnTheCpuSaysTheDrawsDiffer) {
    const testing::TempDir dir;
    Tensors saved;
    const auto file = dir / checkpoint_name(1, 0);
    save_checkpoint(file, saved.params, saved.buffers, nullptr, content_at(1, 0));
    Tensors loaded;
    EXPECT_TRUE(load_checkpoint(file, loaded.params, loaded.buffers, nullptr, kRun).notes.empty());

    torch::jit::Module archive = torch::jit::load(file.string());  // what save_checkpoint wrote, plus a GPU's state
    archive.register_parameter("rng.cuda", at::zeros({16}, at::kByte), /*is_buffer=*/false);
    archive.save(file.string());
    const CheckpointContent c = load_checkpoint(file, loaded.params, loaded.buffers, nullptr, kRun);
    ASSERT_EQ(c.notes.size(), 1u);
    EXPECT_EQ(c.notes[0], "checkpoint ckpt-e0001-s00000.pt was written on a GPU and the run continues on the CPU: its "
                          "random draws (dropout, sampling) differ from an uninterrupted run's");
    EXPECT_TRUE(at::equal(loaded.params[0].second, saved.params[0].second));
}

// On a GPU the device generator's state travels with the checkpoint and the
// optimizer state is loaded onto the GPU. It needs one: it runs on the GPU
// machine (docs/gpu.md) and is skipped elsewhere.
TEST(Checkpoint, OnAGpuTheDeviceRandomSequenceContinues) {
    if (!at::hasCUDA()) GTEST_SKIP() << "this LibTorch sees no GPU";
    const at::TensorOptions gpu = at::TensorOptions().device(at::Device(at::kCUDA, 0));
    const testing::TempDir dir;
    const NamedTensors params{{"w", at::randn({3, 4}, gpu).requires_grad_(true)}};
    const experiment::TrainSpec spec;
    const auto optimizer = make_optimizer(spec, params);
    (params[0].second * params[0].second).sum().backward();
    optimizer->step();
    at::manual_seed(3);
    const auto file = dir / checkpoint_name(1, 0);
    save_checkpoint(file, params, {}, optimizer.get(), content_at(1, 0));
    const at::Tensor next = at::randn({8}, gpu);

    at::manual_seed(99);
    const NamedTensors resumed{{"w", at::zeros({3, 4}, gpu).requires_grad_(true)}};
    const auto resumed_optimizer = make_optimizer(spec, resumed);
    const CheckpointContent c = load_checkpoint(file, resumed, {}, resumed_optimizer.get(), kRun);
    EXPECT_TRUE(c.notes.empty());
    EXPECT_TRUE(at::equal(at::randn({8}, gpu), next)) << "the GPU's random sequence continues where it was saved";
    ASSERT_EQ(resumed_optimizer->state().size(), 1u);
    for (const auto& [key, state] : resumed_optimizer->state())
        EXPECT_TRUE(static_cast<const torch::optim::AdamWParamState&>(*state).exp_avg().is_cuda());
}

TEST(Checkpoint, NamesEncodeThePosition) {
    int64_t epoch = -1, step = -1;
    ASSERT_TRUE(parse_checkpoint_name(checkpoint_name(12, 345), epoch, step));
    EXPECT_EQ(epoch, 12);
    EXPECT_EQ(step, 345);
    EXPECT_FALSE(parse_checkpoint_name("best.pt", epoch, step));
    EXPECT_FALSE(parse_checkpoint_name("ckpt-e0001-s00002.pt.tmp", epoch, step));
}

TEST(Checkpoint, ListingSortsByPositionAndSkipsBest) {
    const testing::TempDir dir;
    for (const auto& name : {"ckpt-e0010-s00000.pt", "ckpt-e0002-s00003.pt", "best.pt", "ckpt-e0002-s00000.pt"})
        std::ofstream(dir / name) << "x";
    const auto files = list_checkpoints(dir.path());
    ASSERT_EQ(files.size(), 3u);
    EXPECT_EQ(files[0].filename(), "ckpt-e0002-s00000.pt");
    EXPECT_EQ(files[1].filename(), "ckpt-e0002-s00003.pt");
    EXPECT_EQ(files[2].filename(), "ckpt-e0010-s00000.pt");
}

}  // namespace
}  // namespace distill::train
