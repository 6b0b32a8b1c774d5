// The trainer driven directly (no CLI, no SQL): a non-finite total must skip
// the optimizer step, leaving every parameter exactly as it was.
#include "train/trainer.hpp"
#include "small_model.hpp"
#include "train_fixture.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace distill::train {
namespace {

// Snapshots the model's parameters each time a step row arrives: the trainer
// writes the row after the optimizer step (or after skipping it).
class SnapshotSink final : public MetricsSink {
public:
    explicit SnapshotSink(NamedTensors parameters) : parameters_(std::move(parameters)) {}
    void step(const store::StepMetrics& row) override {
        std::vector<at::Tensor> copy;
        for (const auto& [name, t] : parameters_) copy.push_back(t.detach().clone());
        after_step.push_back(std::move(copy));
        totals.push_back(row.train_loss);
    }
    void epoch(const store::EpochMetrics&) override {}
    void loss_terms(const std::vector<store::LossTermRow>&) override {}
    void event(const store::Event& e) override { events.push_back(e); }
    void flush() override {}

    std::vector<std::vector<at::Tensor>> after_step;
    std::vector<double> totals;
    std::vector<store::Event> events;

private:
    NamedTensors parameters_;
};

bool all_equal(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
    for (size_t i = 0; i < a.size(); ++i)
        if (!at::equal(a[i], b[i])) return false;
    return true;
}

TEST(TrainerNanStep, NonFiniteTotalLeavesEveryParameterUnchanged) {
    at::manual_seed(3);
    testing::SmallModel small("cpu", {{"dropout", 0.0}});
    small.add_loss("mag_l1", {}, WeightSchedule::constant(1.0));
    // NaN at the second step of the first epoch.
    small.add_loss("nan_at", {{"epoch", int64_t{0}}, {"step", int64_t{1}}}, WeightSchedule::constant(1.0));
    host::ModelInstance& model = *small.model;
    const WeightedLosses& losses = small.losses;

    TrainerConfig config;
    config.train.epochs = 1;
    config.train.batch_size = 4;
    config.train.checkpoint_every = 0;
    const testing::TempDir dir;
    config.checkpoint_dir = dir.path();
    SnapshotSink sink(model.parameters());
    const at::Tensor items = at::rand({12, 2, 32, 16});  // 3 steps of 4
    Trainer trainer(config, model, losses, sink, items, at::rand({4, 2, 32, 16}));
    NamedTensors before_named = model.parameters();
    std::vector<at::Tensor> before;
    for (const auto& [name, t] : before_named) before.push_back(t.detach().clone());

    const TrainingResult result = trainer.run();
    ASSERT_EQ(result.outcome, Outcome::completed);
    ASSERT_EQ(sink.after_step.size(), 3u);
    EXPECT_TRUE(std::isfinite(sink.totals[0]));
    EXPECT_TRUE(std::isnan(sink.totals[1]));
    EXPECT_TRUE(std::isfinite(sink.totals[2]));
    // Finite steps move the parameters; the NaN step moves none of them.
    EXPECT_FALSE(all_equal(before, sink.after_step[0]));
    EXPECT_TRUE(all_equal(sink.after_step[0], sink.after_step[1]));
    EXPECT_FALSE(all_equal(sink.after_step[1], sink.after_step[2]));
    size_t non_finite_events = 0;
    for (const auto& e : sink.events)
        if (e.kind == "non_finite") {
            ++non_finite_events;
            EXPECT_EQ(e.epoch, 0);
            EXPECT_EQ(e.step, 1);
        }
    EXPECT_EQ(non_finite_events, 1u);
}

}  // namespace
}  // namespace distill::train
