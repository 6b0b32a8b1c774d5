// Issue 16 on a GPU: the training step must never make the host wait for the
// device. LibTorch's sync debug mode turns every synchronising CUDA call
// (a read-back, a stream or device synchronise) into an error; the trainer's
// steps run under it, and only the readback that records them may wait.
#include "train/trainer.hpp"
#include "small_model.hpp"
#include "train_fixture.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#ifdef DISTILL_TEST_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace distill::train {
namespace {

struct CountingSink final : public MetricsSink {
    void step(const store::StepMetrics& row) override { totals.push_back(row.train_loss); }
    void epoch(const store::EpochMetrics&) override {}
    void loss_terms(const std::vector<store::LossTermRow>&) override {}
    void event(const store::Event&) override {}
    void flush() override {}
    std::vector<double> totals;
};

TEST(SyncFreeStep, NeverWaitsForTheGpu) {
#ifndef DISTILL_TEST_CUDA
    GTEST_SKIP() << "this LibTorch was built without CUDA: the sync-free step is checked by "
                    "Readback.RowsAreIdenticalWithBatchingOnAndOff on the CPU";
#else
    if (!torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has CUDA but the machine has no GPU";
    at::manual_seed(3);
    testing::SmallModel small("cuda");
    small.add_reference_losses();
    // One masked step among them.
    small.add_loss("nan_at", {{"epoch", int64_t{0}}, {"step", int64_t{2}}}, WeightSchedule::constant(1.0));

    TrainerConfig config;
    config.train.epochs = 1;
    config.train.batch_size = 4;
    config.device = c10::Device(c10::kCUDA, 0);
    const testing::TempDir dir;
    config.checkpoint_dir = dir.path();
    CountingSink sink;
    const at::Tensor items = at::rand({24, 2, 32, 16}, at::TensorOptions().device(config.device));
    Trainer trainer(config, *small.model, small.losses, sink, items, items.slice(0, 0, 4));
    ASSERT_TRUE(trainer.sync_free());
    auto batch = [&](int64_t step) { return items.slice(0, 4 * step, 4 * step + 4); };
    trainer.train_step(batch(0), 0, 0, 6, 1e-3);  // warm-up: plans, workspaces, optimizer state

    auto& warnings = c10::cuda::warning_state();
    warnings.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_ERROR);
    try {
        for (int64_t step = 1; step < 5; ++step) trainer.launch_step(batch(step), 0, step, 6, 1e-3);
    } catch (const std::exception& e) {
        warnings.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
        FAIL() << "the step waited for the device: " << e.what();
    }
    warnings.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
    trainer.train_step(batch(5), 0, 5, 6, 1e-3);  // reads steps 1..5 back in one copy
    ASSERT_EQ(sink.totals.size(), 6u);
    for (size_t i = 0; i < sink.totals.size(); ++i) EXPECT_EQ(std::isfinite(sink.totals[i]), i != 2) << "step " << i;
#endif
}

}  // namespace
}  // namespace distill::train
