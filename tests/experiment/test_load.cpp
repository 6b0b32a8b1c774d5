// Valid experiments: defaults filled in, paths resolved, --set overrides.
#include "fixture.hpp"

#include <algorithm>

namespace distill::test {
namespace {

using experiment::ExperimentError;
using experiment::UnknownKeyError;

const host::ParamValue& param(const host::ParamValues& values, const std::string& name) {
    for (const auto& [n, v] : values)
        if (n == name) return v;
    throw std::out_of_range("no param " + name);
}

TEST_F(ExperimentTest, MinimalFileGetsEveryReferenceDefault) {
    const auto file = write("minimal.toml", "[data]\ndir = \"corpus\"\n");
    const auto e = load(file);
    EXPECT_EQ(e.name, "minimal");  // the file stem
    EXPECT_EQ(e.seed, 0u);
    EXPECT_EQ(e.device, "auto");
    EXPECT_EQ(e.threads, 0);
    EXPECT_EQ(e.data.dir, (dir / "corpus").string());
    // docs/reference.md#1-audio-to-features
    EXPECT_EQ(e.data.pipeline.sample_rate, 48000);
    EXPECT_EQ(e.data.pipeline.n_fft, 2048);
    EXPECT_EQ(e.data.pipeline.hop_length, 512);
    EXPECT_EQ(e.data.pipeline.win_length, 2048);
    EXPECT_EQ(e.data.pipeline.n_mels, 128);
    EXPECT_EQ(e.data.pipeline.fmax, 24000.0);
    EXPECT_EQ(e.data.pipeline.normalize, "scale");
    EXPECT_EQ(e.data.split.split, "file");
    EXPECT_EQ(e.data.split.val_fraction, 0.2);
    // docs/reference.md#4-training
    EXPECT_EQ(e.train.epochs, 200);
    EXPECT_EQ(e.train.batch_size, 32);
    EXPECT_EQ(e.train.optimizer, "adamw");
    EXPECT_EQ(e.train.lr, 1e-3);
    EXPECT_EQ(e.train.betas, (std::vector<double>{0.9, 0.999}));
    EXPECT_EQ(e.train.weight_decay, 0.01);
    EXPECT_EQ(e.train.checkpoint_every, 10);
    EXPECT_EQ(e.train.keep_checkpoints, 1);
    EXPECT_FALSE(e.train.keep_step_checkpoints);
    // A run's files go beside the database unless output.dir says otherwise.
    EXPECT_EQ(e.output.dir, "");
    // The model's input shape comes from the data: 128 mel bands and
    // 1 + floor(48000 / 512) = 94 frames.
    EXPECT_EQ(e.model.plugin, "conv_vae");
    EXPECT_EQ(std::get<int64_t>(param(e.model.params, "n_mels")), 128);
    EXPECT_EQ(std::get<int64_t>(param(e.model.params, "frames")), 94);
    EXPECT_EQ(std::get<int64_t>(param(e.model.params, "latent_dim")), 128);
    // No [[loss]]: the reference set stft 1.0, mag_l1 0.1, if_l1 0.05, kl 0.01 with warm-up 0.3.
    ASSERT_EQ(e.losses.size(), 4u);
    const std::vector<std::pair<std::string, double>> want{{"stft", 1.0}, {"mag_l1", 0.1}, {"if_l1", 0.05}, {"kl", 0.01}};
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(e.losses[i].name, want[i].first);
        EXPECT_EQ(e.losses[i].plugin, want[i].first);
        EXPECT_EQ(e.losses[i].weight, want[i].second);
        EXPECT_EQ(e.losses[i].schedule, i == 3 ? "linear_warmup" : "constant");
    }
    EXPECT_EQ(e.losses[3].warmup_fraction, 0.3);
    EXPECT_EQ(std::get<std::vector<int64_t>>(param(e.losses[0].params, "fft_sizes")),
              (std::vector<int64_t>{512, 1024, 2048}));
    EXPECT_EQ(std::get<double>(param(e.losses[3].params, "free_bits")), 0.1);

    EXPECT_TRUE(std::is_sorted(e.resolved.begin(), e.resolved.end()));
    EXPECT_EQ(value_of(e, "loss.kl.weight"), "0.01");
    EXPECT_EQ(value_of(e, "loss.kl.schedule"), "\"linear_warmup\"");
    EXPECT_EQ(value_of(e, "model.frames"), "94");
    EXPECT_EQ(value_of(e, "train.lr"), "0.001");
    EXPECT_EQ(value_of(e, "train.epochs"), "200");
    EXPECT_EQ(value_of(e, "train.betas"), "[0.9, 0.999]");
    EXPECT_EQ(value_of(e, "loss.stft.weight"), "1.0");  // float syntax kept
    EXPECT_EQ(value_of(e, "data.fmax"), "24000.0");     // not 2.4e+04
    EXPECT_EQ(value_of(e, "train.eps"), "1e-8");
    EXPECT_EQ(value_of(e, "data.mask_threshold"), "1e-5");
    EXPECT_EQ(value_of(e, "data.dir"), "\"" + (dir / "corpus").string() + "\"");
    EXPECT_EQ(e.source_text, "[data]\ndir = \"corpus\"\n");
    EXPECT_EQ(e.source_path, file.string());
}

TEST_F(ExperimentTest, ModelShapeFollowsTheData) {
    // 1 + floor(48000 / 256) = 188 frames; 64 mel bands.
    const auto e = load(write("e.toml", "[data]\ndir = \"corpus\"\nn_mels = 64\nhop_length = 256\n"));
    EXPECT_EQ(std::get<int64_t>(param(e.model.params, "n_mels")), 64);
    EXPECT_EQ(std::get<int64_t>(param(e.model.params, "frames")), 188);
    // Agreeing explicit values are fine.
    const auto same = load(write("f.toml", "[data]\ndir = \"corpus\"\nn_mels = 64\n[model]\nn_mels = 64\n"));
    EXPECT_EQ(std::get<int64_t>(param(same.model.params, "n_mels")), 64);
}

TEST_F(ExperimentTest, RelativeDataDirInTheFileIsRelativeToTheFile) {
    const auto file = write("exps/deep/e.toml", "[data]\ndir = \"../../corpus\"\n");
    fs::current_path(fs::temp_directory_path());
    EXPECT_EQ(load(file).data.dir, (dir / "corpus").string());
}

TEST_F(ExperimentTest, RelativeDataDirFromSetIsRelativeToTheWorkingDirectory) {
    fs::create_directories(dir / "work" / "other");
    const auto file = write("exps/e.toml", "[data]\ndir = \"../corpus\"\n");
    fs::current_path(dir / "work");
    // A bare path is not TOML: taken as a string.
    EXPECT_EQ(load(file, {"data.dir=other"}).data.dir, (dir / "work" / "other").string());
    const std::string err = error_of(file, {"data.dir=corpus"});  // dir/work/corpus does not exist
    EXPECT_NE(err.find("--set data.dir: data.dir: directory '" + (dir / "work" / "corpus").string() + "' does not exist"),
              std::string::npos)
        << err;
}

TEST_F(ExperimentTest, SetOverridesNumbersStringsAndLossParameters) {
    fs::create_directories(dir / "elsewhere");
    const auto file = write("e.toml", "name = \"base\"\n[data]\ndir = \"corpus\"\n[train]\nlr = 1e-3\nepochs = 5\n");
    const std::vector<std::string> sets{"train.lr=5e-4",
                                        "data.dir=\"" + (dir / "elsewhere").string() + "\"",
                                        "name=renamed",
                                        "loss.kl.weight=0.02",
                                        "loss.stft.fft_sizes=[256, 512]",
                                        "loss.stft.hop_sizes=[64, 128]",
                                        "train.stop_on_divergence=true",
                                        "model.latent_dim=32",
                                        "train.epochs=3",
                                        "train.epochs=4"};  // the later one wins
    const auto e = load(file, sets);
    EXPECT_EQ(e.train.lr, 5e-4);
    EXPECT_EQ(e.data.dir, (dir / "elsewhere").string());
    EXPECT_EQ(e.name, "renamed");
    EXPECT_EQ(e.losses[3].name, "kl");
    EXPECT_EQ(e.losses[3].weight, 0.02);
    EXPECT_EQ(e.losses[3].schedule, "linear_warmup");  // the rest of the default entry stays
    EXPECT_EQ(std::get<std::vector<int64_t>>(param(e.losses[0].params, "fft_sizes")), (std::vector<int64_t>{256, 512}));
    EXPECT_TRUE(e.train.stop_on_divergence);
    EXPECT_EQ(std::get<int64_t>(param(e.model.params, "latent_dim")), 32);
    EXPECT_EQ(e.train.epochs, 4);
    EXPECT_EQ(e.overrides, sets);
    EXPECT_EQ(value_of(e, "train.lr"), "0.0005");
}

TEST_F(ExperimentTest, SetAddressesNamedLossEntries) {
    const auto file = write("e.toml",
                            "[data]\ndir = \"corpus\"\n"
                            "[[loss]]\nplugin = \"mag_l1\"\nname = \"mag_a\"\nweight = 0.5\n"
                            "[[loss]]\nplugin = \"mag_l1\"\nname = \"mag_b\"\n");
    const auto e = load(file, {"loss.mag_b.weight=0.25"});
    ASSERT_EQ(e.losses.size(), 2u);  // an explicit [[loss]] list replaces the default set
    EXPECT_EQ(e.losses[0].weight, 0.5);
    EXPECT_EQ(e.losses[1].weight, 0.25);
    EXPECT_EQ(value_of(e, "loss.mag_a.weight"), "0.5");
}

TEST_F(ExperimentTest, UnknownSetKeysAreErrorsWithSuggestions) {
    const auto file = write("e.toml", "[data]\ndir = \"corpus\"\n");
    EXPECT_THROW(load(file, {"train.lrr=1"}), UnknownKeyError);
    EXPECT_EQ(error_of(file, {"train.lrr=1"}), "--set train.lrr: unknown key 'train.lrr' in [train] (did you mean 'lr'?)");
    EXPECT_EQ(error_of(file, {"loss.kll.weight=1"}), "--set loss.kll.weight: no [[loss]] entry named 'kll' (did you mean 'kl'?)");
    EXPECT_EQ(error_of(file, {"trian.epochs=1"}), "--set trian.epochs: unknown key 'trian' at the top level (did you mean 'train'?)");
    EXPECT_EQ(error_of(file, {"model.latnt_dim=4"}),
              "--set model.latnt_dim: unknown key 'model.latnt_dim': plugin 'conv_vae' has no parameter 'latnt_dim' "
              "(did you mean 'latent_dim'?)");
    EXPECT_EQ(error_of(file, {"train.epochs"}), "--set train.epochs: expected KEY=VALUE (e.g. --set train.lr=5e-4)");
    // A bad value from --set names the override, not a file position.
    EXPECT_EQ(error_of(file, {"train.epochs=0"}), "--set train.epochs: train.epochs must be >= 1, got 0");
}

}  // namespace
}  // namespace distill::test

namespace distill::test {
namespace {

TEST_F(ExperimentTest, AugmentIsOffByDefaultAndEveryKeyIsChecked) {
    const auto off = load(write("plain.toml", "[data]\ndir = \"corpus\"\n"));
    EXPECT_EQ(off.data.augment.expansion, 0);
    const auto on = load(write("aug.toml", "seed = 9\n[data]\ndir = \"corpus\"\n[data.augment]\nexpansion = 10\n"
                                           "speed_factors = [0.9, 1.1]\nsnr_db = [20, 30]\n"));
    EXPECT_EQ(on.data.augment.expansion, 10);
    EXPECT_EQ(on.data.augment.seed, 9u);  // the experiment's seed
    EXPECT_EQ(on.data.augment.speed_factors, (std::vector<double>{0.9, 1.1}));
    EXPECT_EQ(on.data.augment.snr_min_db, 20.0);
    const auto set = load(write("s.toml", "[data]\ndir = \"corpus\"\n"), {"data.augment.expansion=2"});
    EXPECT_EQ(set.data.augment.expansion, 2);
    EXPECT_NE(error_of(write("bad.toml", "[data]\ndir = \"corpus\"\n[data.augment]\ngain = [1.3, 0.7]\n")).find(
                  "data.augment.gain must be [min, max]"),
              std::string::npos);
    EXPECT_NE(error_of(write("bad2.toml", "[data]\ndir = \"corpus\"\n[data.augment]\nexpansoin = 3\n")).find(
                  "did you mean 'expansion'"),
              std::string::npos);
}

}  // namespace
}  // namespace distill::test
