// [sweep] grid expansion.
#include "experiment/sweep.hpp"
#include "fixture.hpp"

#include <nlohmann/json.hpp>

namespace distill::test {
namespace {

using experiment::ExperimentError;
using experiment::Sweep;
using experiment::UnknownKeyError;

class SweepTest : public ExperimentTest {
protected:
    Sweep expand(const fs::path& file, const std::vector<std::string>& overrides = {}) {
        return experiment::expand_sweep(file, overrides, registry);
    }
    static double weight_of(const experiment::Experiment& e, const std::string& name) {
        for (const auto& l : e.losses)
            if (l.name == name) return l.weight;
        return -1;
    }
    static std::vector<std::string> loss_names(const experiment::Experiment& e) {
        std::vector<std::string> out;
        for (const auto& l : e.losses) out.push_back(l.name);
        return out;
    }
};

const std::string kData = "[data]\ndir = \"corpus\"\n";

// Issue 19: a grid of 10^9 trials hung while being expanded in full.
TEST_F(SweepTest, AGridAboveTheLimitIsRefusedBeforeAnythingIsExpanded) {
    std::string values = "[";
    for (int i = 1; i <= 1000; ++i) values += (i > 1 ? ", " : "") + std::to_string(i) + "e-6";
    values += "]";
    const auto file = write("huge.toml", kData + "[sweep]\n\"train.lr\" = " + values + "\n\"train.eps\" = " + values +
                                             "\n\"train.eta_min\" = " + values + "\n");
    try {
        experiment::expand_sweep(experiment::read_experiment_source(file), {}, registry, 10000);
        FAIL() << "expected ExperimentError";
    } catch (const ExperimentError& e) {
        EXPECT_NE(std::string(e.what()).find("1000000000 trials, more than the limit of 10000"), std::string::npos)
            << e.what();
    }
    // One trial of it is still reachable without building the others.
    const experiment::Trial t = experiment::sweep_trial(experiment::read_experiment_source(file), {}, registry, 999999999);
    EXPECT_EQ(t.params.back(), (std::pair<std::string, std::string>{"train.eta_min", "0.001"}));
    EXPECT_THROW(experiment::sweep_trial(experiment::read_experiment_source(file), {}, registry, 1000000000),
                 ExperimentError);
}

TEST_F(SweepTest, ThreeByTwoGridFirstKeySlowest) {
    // train.lr is written first, so it varies slowest even though TOML++
    // would sort "loss..." before "train...".
    const auto file = write("s.toml", kData +
                                          "[sweep]\n"
                                          "\"train.lr\" = [1e-3, 5e-4]\n"
                                          "\"loss.if_l1.weight\" = [0.0, 0.05, 0.1]\n");
    const Sweep s = expand(file);
    EXPECT_EQ(s.keys, (std::vector<std::string>{"train.lr", "loss.if_l1.weight"}));
    ASSERT_EQ(s.trials.size(), 6u);  // 2 x 3
    const double lrs[] = {1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4};
    const double ws[] = {0.0, 0.05, 0.1, 0.0, 0.05, 0.1};
    const char* lr_text[] = {"0.001", "0.001", "0.001", "0.0005", "0.0005", "0.0005"};
    const char* w_text[] = {"0.0", "0.05", "0.1", "0.0", "0.05", "0.1"};
    for (size_t i = 0; i < 6; ++i) {
        const auto& t = s.trials[i];
        ASSERT_TRUE(t.error.empty()) << t.error;
        EXPECT_EQ(t.index, static_cast<int64_t>(i));
        EXPECT_EQ(t.experiment.train.lr, lrs[i]);
        EXPECT_EQ(weight_of(t.experiment, "if_l1"), ws[i]);
        EXPECT_EQ(weight_of(t.experiment, "stft"), 1.0);  // untouched entries keep the reference weight
        EXPECT_EQ(t.params, (std::vector<std::pair<std::string, std::string>>{{"train.lr", lr_text[i]},
                                                                              {"loss.if_l1.weight", w_text[i]}}));
    }
    EXPECT_EQ(s.grid_json, "{\"train.lr\": [0.001, 0.0005], \"loss.if_l1.weight\": [0.0, 0.05, 0.1]}");
}

// The grid's JSON text is part of a sweep's identity (sweeps.grid, and the
// hash in sweeps.identity): the same file must give the same bytes in every
// version (one deliberate exception below), or `sweep --resume` and `db merge`
// stop recognising old sweeps. Every grid below is also valid JSON.
TEST_F(SweepTest, GridJsonBytesAreStable) {
    struct Case {
        std::string sweep, bytes;
    };
    const std::vector<Case> cases{
        {"\"data.n_mels\" = [64, 128]\n"
         "\"data.mask_threshold\" = [1e-5, 1e-7, 24000.0, 1e20, 2.5e-300]\n"
         "\"train.stop_on_divergence\" = [true, false]\n",
         R"({"data.n_mels": [64, 128], "data.mask_threshold": [1e-5, 1e-7, 24000.0, 1e20, 2.5e-300], )"
         R"("train.stop_on_divergence": [true, false]})"},
        // JSON has no NaN or infinity: they are kept as strings.
        {"\"train.lr\" = [nan, inf, -inf, 0.001]\n", R"({"train.lr": ["nan", "inf", "-inf", 0.001]})"},
        {"\"data.dir\" = [\"a\\\"b\", \"c\\\\d\", \"tab\\there\", \"\\u0001\", \"é\", \"corpus\"]\n",
         R"({"data.dir": ["a\"b", "c\\d", "tab\there", "\u0001", "é", "corpus"]})"},
        // The one change: backspace and form feed now use JSON's short escapes
        // (they were \u0008 and \u000c, which parse to the same string).
        {"\"data.dir\" = [\"x\\by\\fz\", \"corpus\"]\n", R"({"data.dir": ["x\by\fz", "corpus"]})"},
        // Values with no JSON counterpart (tables, dates) are kept as their TOML text.
        {"losses = [[\"stft\", \"kl\"], [\"kl\"]]\n\"train.lr\" = [{ a = 1 }, 1979-05-27, 0.001]\n",
         R"({"losses": [["stft", "kl"], ["kl"]], "train.lr": ["{ a = 1 }", "1979-05-27", 0.001]})"},
    };
    for (const Case& c : cases) {
        const Sweep s = expand(write("g.toml", kData + "[sweep]\n" + c.sweep));
        EXPECT_EQ(s.grid_json, c.bytes) << c.sweep;
        EXPECT_TRUE(nlohmann::json::accept(s.grid_json)) << s.grid_json;
    }
}

TEST_F(SweepTest, NoSweepIsOneTrial) {
    const Sweep s = expand(write("s.toml", kData));
    EXPECT_TRUE(s.keys.empty());
    ASSERT_EQ(s.trials.size(), 1u);
    EXPECT_TRUE(s.trials[0].error.empty());
    EXPECT_EQ(s.grid_json, "{}");
}

TEST_F(SweepTest, UnknownSweptKeyIsAnErrorBeforeAnyTrial) {
    // Line 4, column 16: the first value of the list (after `"train.lrr" = [`).
    const auto file = write("s.toml", kData + "[sweep]\n\"train.lrr\" = [1e-3, 5e-4]\n");
    EXPECT_THROW(expand(file), UnknownKeyError);
    try {
        expand(file);
    } catch (const UnknownKeyError& e) {
        EXPECT_EQ(std::string(e.what()),
                  file.string() + ":4:16: unknown key 'train.lrr' in [train] (did you mean 'lr'?)");
    }
    // "\"loss.if_l2.weight\" = [" is 23 characters: the value is at column 24.
    const auto loss_file = write("t.toml", kData + "[sweep]\n\"loss.if_l2.weight\" = [0.0]\n");
    try {
        expand(loss_file);
        ADD_FAILURE() << "no error for an unknown loss entry";
    } catch (const UnknownKeyError& e) {
        EXPECT_EQ(std::string(e.what()),
                  loss_file.string() + ":4:24: no [[loss]] entry named 'if_l2' (did you mean 'if_l1'?)");
    }
}

TEST_F(SweepTest, MalformedSweepTable) {
    const auto file = write("s.toml", kData + "[sweep]\n\"train.lr\" = 0.1\n");
    EXPECT_THROW(expand(file), ExperimentError);
    const auto empty = write("e.toml", kData + "[sweep]\n\"train.lr\" = []\n");
    EXPECT_THROW(expand(empty), ExperimentError);
    // load_experiment checks the shape too.
    EXPECT_THROW(load(file), ExperimentError);
}

TEST_F(SweepTest, LossesSwapsComponents) {
    const auto file = write("s.toml", kData +
                                          "[sweep]\n"
                                          "losses = [[\"stft\", \"kl\"], [\"mag_l1\", \"if_l1\", \"kl\"]]\n"
                                          "\"loss.kl.weight\" = [0.01, 0.02]\n");
    const Sweep s = expand(file);
    ASSERT_EQ(s.trials.size(), 4u);
    const std::vector<std::string> a{"stft", "kl"}, b{"mag_l1", "if_l1", "kl"};
    EXPECT_EQ(loss_names(s.trials[0].experiment), a);
    EXPECT_EQ(loss_names(s.trials[1].experiment), a);
    EXPECT_EQ(loss_names(s.trials[2].experiment), b);
    EXPECT_EQ(loss_names(s.trials[3].experiment), b);
    EXPECT_EQ(weight_of(s.trials[0].experiment, "kl"), 0.01);
    EXPECT_EQ(weight_of(s.trials[1].experiment, "kl"), 0.02);
    EXPECT_EQ(s.trials[2].params[0], std::make_pair(std::string("losses"), std::string("[\"mag_l1\", \"if_l1\", \"kl\"]")));
    // A name that is no entry fails the whole sweep, with a suggestion, at
    // the inner list: "losses = [[\"stft\"], " is 20 characters, column 21.
    const auto bad = write("b.toml", kData + "[sweep]\nlosses = [[\"stft\"], [\"kll\"]]\n");
    try {
        expand(bad);
        ADD_FAILURE() << "no error for an unknown loss name";
    } catch (const UnknownKeyError& e) {
        EXPECT_NE(std::string(e.what()).find(bad.string() + ":4:21: [sweep] losses names 'kll', which is no [[loss]] entry "
                                             "(did you mean 'kl'?)"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(SweepTest, AnInvalidValueFailsOnlyItsTrial) {
    const auto file = write("s.toml", kData + "[sweep]\n\"train.lr\" = [1e-3, -1.0, 5e-4]\n");
    const Sweep s = expand(file);
    ASSERT_EQ(s.trials.size(), 3u);
    EXPECT_TRUE(s.trials[0].error.empty()) << s.trials[0].error;
    EXPECT_TRUE(s.trials[2].error.empty()) << s.trials[2].error;
    EXPECT_EQ(s.trials[2].experiment.train.lr, 5e-4);
    // "\"train.lr\" = [1e-3, " is 20 characters: -1.0 starts at column 21.
    EXPECT_EQ(s.trials[1].error, file.string() + ":4:21: train.lr must be > 0, got -1.0");
}

TEST_F(SweepTest, SetFixesAKeyForEveryTrial) {
    const auto file = write("s.toml", kData +
                                          "[sweep]\n"
                                          "\"train.lr\" = [1e-3, 5e-4]\n"
                                          "\"train.epochs\" = [1, 2, 3]\n");
    const Sweep s = expand(file, {"train.lr=0.01", "train.batch_size=4"});
    EXPECT_EQ(s.keys, (std::vector<std::string>{"train.epochs"}));
    ASSERT_EQ(s.trials.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(s.trials[i].experiment.train.lr, 0.01);
        EXPECT_EQ(s.trials[i].experiment.train.batch_size, 4);
        EXPECT_EQ(s.trials[i].experiment.train.epochs, static_cast<int64_t>(i + 1));
        EXPECT_EQ(s.trials[i].experiment.overrides, (std::vector<std::string>{"train.lr=0.01", "train.batch_size=4"}));
    }
}

}  // namespace
}  // namespace distill::test
