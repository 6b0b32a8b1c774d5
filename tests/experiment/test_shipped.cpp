// The experiments shipped in experiments/ validate against plugins with the
// real schemas.
#include "experiment/sweep.hpp"
#include "fixture.hpp"

namespace distill::test {
namespace {

class ShippedExperiment : public ExperimentTest {
protected:
    // The shipped files point at the Debian demo corpus; where it is not
    // installed, point data.dir at an empty folder so the rest still gets checked.
    std::vector<std::string> corpus_override() {
        if (fs::is_directory("/usr/share/sounds/sound-icons")) return {};
        return {"data.dir=\"" + (dir / "corpus").string() + "\""};
    }
    static fs::path shipped(const std::string& name) { return fs::path(DISTILL_SOURCE_DIR) / "experiments" / name; }
};

TEST_F(ShippedExperiment, QuickstartIsSmall) {
    const auto e = load(shipped("quickstart.toml"), corpus_override());
    EXPECT_EQ(e.name, "quickstart");
    // "A few minutes on 2 CPU cores": what costs is optimizer steps. The demo
    // corpus gives ~40 one-second chunks (33 for training with the default
    // split), and a full-size step of 8 items takes ~0.3-0.5 s there, so keep
    // the run at or under ~100 steps.
    const int64_t steps_per_epoch = (33 + e.train.batch_size - 1) / e.train.batch_size;
    EXPECT_LE(e.train.epochs * steps_per_epoch, 100);
    EXPECT_EQ(e.losses.size(), 4u);  // the reference loss set
    EXPECT_EQ(value_of(e, "model.latent_dim"), "32");
}

TEST_F(ShippedExperiment, ReferenceV2WritesOutExactlyTheDefaults) {
    const auto overrides = corpus_override();
    const auto reference = load(shipped("reference-v2.toml"), overrides);
    // A file giving only the corpus must resolve to the same settings, key for key.
    const std::string corpus = overrides.empty() ? "/usr/share/sounds/sound-icons" : (dir / "corpus").string();
    const auto minimal = load(write("reference-v2.toml", "[data]\ndir = \"" + corpus + "\"\n"));
    EXPECT_EQ(reference.resolved, minimal.resolved);
    EXPECT_GT(reference.resolved.size(), 50u);
}

TEST_F(ShippedExperiment, SweepLossWeightsExpandsToSixValidTrials) {
    const auto s = experiment::expand_sweep(shipped("sweep-loss-weights.toml"), corpus_override(), registry);
    EXPECT_EQ(s.keys, (std::vector<std::string>{"loss.if_l1.weight", "losses"}));
    ASSERT_EQ(s.trials.size(), 6u);  // 3 weights x 2 loss sets
    for (const auto& t : s.trials) EXPECT_TRUE(t.error.empty()) << t.error;
    EXPECT_EQ(s.trials[0].experiment.losses.size(), 4u);  // with stft
    EXPECT_EQ(s.trials[1].experiment.losses.size(), 3u);  // without
    EXPECT_EQ(s.trials[1].experiment.losses[0].name, "mag_l1");
}

}  // namespace
}  // namespace distill::test
