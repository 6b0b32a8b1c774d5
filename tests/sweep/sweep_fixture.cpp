#include "sweep_fixture.hpp"

#include "support/run_fixture.hpp"
#include "support/shell.hpp"

#include <sndfile.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace distill::sweep_test {
namespace {

constexpr int kSampleRate = 48000;

// One second of a sine at `freq` Hz plus a little deterministic noise, so
// the files differ and the model has something to fit.
void write_wav(const fs::path& path, double freq, unsigned seed) {
    SF_INFO info{};
    info.samplerate = kSampleRate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
    ASSERT_NE(file, nullptr) << path << ": " << sf_strerror(nullptr);
    std::vector<float> samples(kSampleRate);
    unsigned state = seed;
    for (size_t i = 0; i < samples.size(); ++i) {
        state = state * 1664525u + 1013904223u;
        const double noise = (static_cast<double>(state >> 8) / static_cast<double>(1u << 24) - 0.5) * 0.05;
        samples[i] = static_cast<float>(0.5 * std::sin(2 * 3.14159265358979 * freq * static_cast<double>(i) /
                                                       kSampleRate) + noise);
    }
    ASSERT_EQ(sf_writef_float(file, samples.data(), kSampleRate), kSampleRate);
    sf_close(file);
}

}  // namespace

std::string experiment_toml(const std::string& name, const std::string& sweep) {
    return "name = \"" + name + "\"\n"
           "seed = 0\n"
           "device = \"" + test_support::test_device() + "\"\n"
           "threads = 1\n"
           "[data]\n"
           "dir = \"corpus\"\n"
           "n_mels = 32\n"
           "[model]\n"
           "latent_dim = 8\n"
           "[[loss]]\nplugin = \"stft\"\n"
           "[[loss]]\nplugin = \"mag_l1\"\nweight = 0.1\n"
           "[[loss]]\nplugin = \"if_l1\"\nweight = 0.05\n"
           "[[loss]]\nplugin = \"kl\"\nweight = 0.01\n"
           "[train]\n"
           "epochs = " + std::to_string(kEpochs) + "\n"
           "batch_size = 4\n"
           "checkpoint_every = 0\n"
           "[sweep]\n" + sweep;
}

void SweepTest::SetUp() {
    char pattern[] = "/tmp/distill-sweep-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "corpus");
    for (int i = 0; i < kCorpusFiles; ++i)
        write_wav(dir_ / "corpus" / ("tone" + std::to_string(i) + ".wav"), 110.0 * (i + 1), 17u + i);
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
}

void SweepTest::TearDown() {
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(dir_, ec);
    else std::cerr << "kept " << dir_ << " for inspection\n";
}

fs::path SweepTest::write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
}

std::pair<int, std::string> SweepTest::distill(const std::string& args) const {
    const auto result = test_support::run_shell("cd " + test_support::shell_quote(dir_.string()) + " && " +
                                                test_support::shell_quote(DISTILL_BINARY) + " " + args);
    return {result.exit_code, result.output};
}

pid_t SweepTest::spawn(const std::vector<std::string>& args, const fs::path& log) const {
    std::vector<std::string> argv{DISTILL_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir_.c_str()) != 0) _exit(126);
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(raw[0], raw.data());
        _exit(127);
    }
    return pid;
}

std::vector<store::RunRecord> SweepTest::sweep_runs(int64_t sweep_id) const {
    store::RunStore db(db_path(), store::OpenMode::kReadOnly);
    SQLite::Statement select(db.db(), "SELECT id FROM runs WHERE sweep_id = ?1 ORDER BY trial_index, id");
    select.bind(1, sweep_id);
    std::vector<store::RunRecord> runs;
    std::vector<int64_t> ids;
    while (select.executeStep()) ids.push_back(select.getColumn(0).getInt64());
    for (int64_t id : ids) runs.push_back(db.run(id));
    return runs;
}

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.find(needle) != std::string::npos) out.push_back(line);
    return out;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace distill::sweep_test
