// Bad experiment files: `distill run` exits 2 naming the fault and records no run.
#include "train_fixture.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

namespace distill::train::testing {
namespace {

struct Broken {
    const char* label;
    std::string from, to;   // replaced once in the good experiment text
    std::string expected;   // on stderr, after "bad.toml:LINE:" where a line is known
    bool has_position = true;
};

// 1-based line of `needle` in `text`.
int line_of(const std::string& text, const std::string& needle) {
    const auto at = text.find(needle);
    return at == std::string::npos ? -1 : 1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
}

TEST(BrokenExperiments, EachExitsTwoWithItsMessageAndWritesNoRun) {
    TempDir dir;
    write_corpus(dir / "corpus");
    fs::create_directories(dir / "empty");
    const std::string losses = "[[loss]]\nplugin = \"mag_l1\"\n";
    const std::string good = experiment_text(dir.path(), "epochs = 2\n", losses);
    const std::string corpus_line = "dir = \"" + (dir / "corpus").string() + "\"";
    const std::vector<Broken> cases{
        {"bad TOML syntax", "epochs = 2", "epochs = = 2", "TOML syntax error"},
        {"unknown key", "epochs = 2", "epoch = 2", "unknown key 'train.epoch' in [train] (did you mean 'epochs'?)"},
        {"wrong type", "epochs = 2", "epochs = \"two\"", "train.epochs must be an integer, got string \"two\""},
        {"unknown plugin", "plugin = \"mag_l1\"", "plugin = \"mag_l2\"", "unknown loss plugin 'mag_l2'"},
        {"bad plugin parameter", "latent_dim = 8", "latent_dim = 0",
         "model.latent_dim: parameter 'latent_dim' must be in [1, 8192], got 0"},
        {"unknown plugin parameter", "plugin = \"mag_l1\"", "plugin = \"mag_l1\"\nfft_size = 3", "fft_size"},
        {"missing data dir", corpus_line, "dir = \"" + (dir / "absent").string() + "\"",
         "data.dir: directory '" + (dir / "absent").string() + "' does not exist"},
        {"empty corpus", corpus_line, "dir = \"" + (dir / "empty").string() + "\"",
         "data.dir: no audio files", false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.label);
        std::string text = good;
        const auto at = text.find(c.from);
        ASSERT_NE(at, std::string::npos);
        text.replace(at, c.from.size(), c.to);
        std::ofstream(dir / "bad.toml") << text;
        fs::remove(dir / "bad.db");

        const Finished f = run_distill(dir.path(), {"run", (dir / "bad.toml").string(), "--db", "bad.db"});
        EXPECT_EQ(f.exit_code, 2) << f.out << f.err;
        EXPECT_NE(f.err.find(c.expected), std::string::npos) << f.err;
        if (c.has_position) {
            // The message starts at the file and the line of the (last) changed line.
            const std::string changed_line = c.to.substr(c.to.rfind('\n') == std::string::npos ? 0 : c.to.rfind('\n') + 1);
            EXPECT_NE(f.err.find("bad.toml:" + std::to_string(line_of(text, changed_line)) + ":"), std::string::npos)
                << f.err;
        }
        if (fs::exists(dir / "bad.db")) {
            SQLite::Database db((dir / "bad.db").string(), SQLite::OPEN_READONLY);
            EXPECT_EQ(db.execAndGet("SELECT count(*) FROM runs").getInt(), 0);
        }
    }
}

}  // namespace
}  // namespace distill::train::testing
