// Issue 16 on a GPU: the training step must never make the host wait for the
// device. LibTorch's sync debug mode turns every synchronising CUDA call
// (a read-back, a stream or device synchronise) into an error; the trainer's
// steps run under it, and only the readback that records them may wait.
#include "plugins/plugin_registry.hpp"
#include "train/trainer.hpp"
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
    host::PluginRegistry registry;
    registry.load_all({DISTILL_PLUGIN_DIR, DISTILL_TRAIN_TEST_PLUGIN_DIR});
    at::manual_seed(3);
    const auto& vae = registry.require("conv_vae", DISTILL_KIND_MODEL);
    host::ModelInstance model(vae,
                              host::resolve_params(*vae.descriptor, {{"latent_dim", int64_t{8}},
                                                                     {"n_mels", int64_t{32}},
                                                                     {"frames", int64_t{16}}}),
                              "cuda");
    WeightedLosses losses;
    auto add = [&](const std::string& plugin, const std::map<std::string, host::ParamValue>& params, double weight) {
        const auto& p = registry.require(plugin, DISTILL_KIND_LOSS);
        losses.add(plugin, std::make_unique<host::LossInstance>(p, host::resolve_params(*p.descriptor, params), "cuda"),
                   WeightSchedule::constant(weight));
    };
    add("stft", {{"fft_sizes", std::vector<int64_t>{64, 128}}, {"hop_sizes", std::vector<int64_t>{16, 32}}}, 1.0);
    add("mag_l1", {}, 1.0);
    add("if_l1", {}, 0.5);
    add("kl", {}, 0.01);
    add("nan_at", {{"epoch", int64_t{0}}, {"step", int64_t{2}}}, 1.0);  // one masked step among them

    TrainerConfig config;
    config.train.epochs = 1;
    config.train.batch_size = 4;
    config.device = c10::Device(c10::kCUDA, 0);
    const testing::TempDir dir;
    config.checkpoint_dir = dir.path();
    CountingSink sink;
    const at::Tensor items = at::rand({24, 2, 32, 16}, at::TensorOptions().device(config.device));
    Trainer trainer(config, model, losses, sink, items, items.slice(0, 0, 4));
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
