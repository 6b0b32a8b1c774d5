// A corpus of broken experiment files: each error names FILE:LINE:COL and
// the key at fault. Positions are counted by hand in each text (1-based
// line and column of the key or value TOML++ reports).
#include "fixture.hpp"

namespace distill::test {
namespace {

class BrokenExperiment : public ExperimentTest {
protected:
    // Loads `text` as bad.toml; the error must start "FILE:POSITION: " and
    // contain every fragment.
    void expect_error(const std::string& text, const std::string& position, const std::vector<std::string>& fragments) {
        const auto file = write("bad.toml", text);
        const std::string err = error_of(file);
        ASSERT_FALSE(err.empty()) << "no error for:\n" << text;
        EXPECT_EQ(err.rfind(file.string() + ":" + position + ": ", 0), 0u) << err;
        for (const auto& f : fragments) EXPECT_NE(err.find(f), std::string::npos) << "'" << f << "' not in: " << err;
    }
};

const std::string kData = "[data]\ndir = \"corpus\"\n";  // lines 1-2

TEST_F(BrokenExperiment, TomlSyntaxError) {
    // Line 4 "epochs = = 3": the second '=' (column 10) is where a value was expected.
    expect_error(kData + "[train]\nepochs = = 3\n", "4:10", {"TOML syntax error"});
}

TEST_F(BrokenExperiment, UnknownKeySuggestsNearest) {
    expect_error(kData + "[train]\nepocs = 3\n", "4:1", {"unknown key 'train.epocs' in [train] (did you mean 'epochs'?)"});
    expect_error("sed = 1\n" + kData, "1:1", {"unknown key 'sed' at the top level (did you mean 'seed'?)"});
    expect_error(kData + "cache_dri = \"x\"\n", "3:1", {"unknown key 'data.cache_dri' in [data] (did you mean 'cache_dir'?)"});
    // [[loss]] host keys and plugin parameters are suggested together.
    expect_error(kData + "[[loss]]\nplugin = \"kl\"\nwieght = 1\n", "5:1", {"'loss.kl.wieght'", "(did you mean 'weight'?)"});
}

TEST_F(BrokenExperiment, WrongType) {
    // "batch_size = " is 13 characters: the value starts at column 14.
    expect_error(kData + "[train]\nbatch_size = \"big\"\n", "4:14",
                 {"train.batch_size must be an integer, got string \"big\""});
    expect_error(kData + "[train]\nstop_on_divergence = 1\n", "4:22", {"train.stop_on_divergence must be true or false"});
    expect_error(kData + "[train]\nbetas = [0.9]\n", "4:9", {"train.betas must be a list of 2 numbers"});
    expect_error("seed = 1.5\n" + kData, "1:8", {"seed must be an integer, got float 1.5"});
}

TEST_F(BrokenExperiment, OutOfRange) {
    expect_error(kData + "[train]\nepochs = 0\n", "4:10", {"train.epochs must be >= 1, got 0"});
    expect_error(kData + "[train]\nlr = -0.001\n", "4:6", {"train.lr must be > 0, got -0.001"});
    expect_error(kData + "[train]\nval_fraction = 1.0\n", "4:16", {"train.val_fraction must be in (0.0, 1.0), got 1.0"});
    expect_error(kData + "[train]\noptimizer = \"sgd\"\n", "4:13", {"train.optimizer must be one of adamw|adam"});
    expect_error(kData + "fmax = 30000\n", "3:8", {"data.fmax must be in (0.0, 24000.0], got 30000.0"});
    expect_error("device = \"gpu\"\n" + kData, "1:10", {"device must be \"auto\", \"cpu\", \"cuda\" or \"cuda:N\""});
    expect_error(kData + "[[loss]]\nplugin = \"kl\"\nschedule = \"warmup\"\n", "5:12",
                 {"loss.kl.schedule must be one of constant|linear_warmup"});
}

TEST_F(BrokenExperiment, UnknownPluginSuggestsNearest) {
    expect_error(kData + "[model]\nplugin = \"conv_vea\"\n", "4:10",
                 {"model.plugin: unknown model plugin 'conv_vea'", "(did you mean 'conv_vae'?)"});
    expect_error(kData + "[[loss]]\nplugin = \"stfft\"\n", "4:10",
                 {"loss.stfft.plugin: unknown loss plugin 'stfft'", "(did you mean 'stft'?)"});
    // A model where a loss is wanted.
    expect_error(kData + "[[loss]]\nplugin = \"conv_vae\"\n", "4:10", {"is a model plugin, not a loss plugin"});
}

TEST_F(BrokenExperiment, BadPluginParameter) {
    expect_error(kData + "[model]\nlatent_dim = 0\n", "4:14", {"model.latent_dim: parameter 'latent_dim' must be >= 1, got 0"});
    // The article fits the type: "an int" (it read "a int").
    expect_error(kData + "[model]\nlatent_dim = \"big\"\n", "4:14",
                 {"model.latent_dim: parameter 'latent_dim' must be an int, got \"big\""});
    expect_error(kData + "[model]\nlatent_dim = 1979-05-27\n", "4:14",
                 {"model.latent_dim must be an int, got date 1979-05-27"});
    expect_error(kData + "[model]\ndropout = \"high\"\n", "4:11", {"model.dropout: parameter 'dropout' must be a float"});
    expect_error(kData + "[model]\nlatnt_dim = 3\n", "4:1",
                 {"unknown key 'model.latnt_dim': plugin 'conv_vae' has no parameter 'latnt_dim' (did you mean 'latent_dim'?)"});
    expect_error(kData + "[[loss]]\nplugin = \"stft\"\nfft_sizes = [512, \"x\"]\n", "5:13",
                 {"loss.stft.fft_sizes must be a list of int"});
    expect_error(kData + "[[loss]]\nplugin = \"kl\"\nfree_bits = -1\n", "5:13",
                 {"loss.kl.free_bits: parameter 'free_bits' must be >= 0.0, got -1.0"});
    expect_error(kData + "[model]\ndropout = 1.5\n", "4:11",
                 {"model.dropout: parameter 'dropout' must be in [0.0, 1.0], got 1.5"});
}

TEST_F(BrokenExperiment, MissingDataDir) {
    expect_error("[data]\ndir = \"nope\"\n", "2:7",
                 {"data.dir: directory '" + (dir / "nope").string() + "' does not exist"});
    // No [data] at all: no position to give, the file is named.
    const auto file = write("nodata.toml", "seed = 1\n");
    EXPECT_EQ(error_of(file), file.string() + ": [data] is required, with at least dir = \"CORPUS FOLDER\"");
    expect_error("[data]\nn_mels = 64\n", "1:1", {"data.dir is required"});
}

TEST_F(BrokenExperiment, ConflictingModelShape) {
    expect_error(kData + "n_mels = 64\n[model]\nn_mels = 128\n", "5:10",
                 {"model.n_mels = 128 conflicts with the data: data.n_mels gives 64"});
    // 1 + floor(48000 / 512) = 94 frames from the data.
    expect_error(kData + "[model]\nframes = 96\n", "4:10", {"model.frames = 96 conflicts with the data", "gives 94"});
}

TEST_F(BrokenExperiment, DuplicateLossNames) {
    expect_error(kData + "[[loss]]\nplugin = \"kl\"\n[[loss]]\nplugin = \"kl\"\n", "6:10",
                 {"two [[loss]] entries are named 'kl'"});
    expect_error(kData + "[[loss]]\nplugin = \"kl\"\nweight = 1\nname = \"a.b\"\n", "6:8", {"loss.a.b.name"});
}

TEST_F(BrokenExperiment, MissingFile) {
    const std::string err = error_of(dir / "absent.toml");
    EXPECT_EQ(err, (dir / "absent.toml").string() + ": experiment file not found (or not a regular file)");
}

}  // namespace
}  // namespace distill::test
