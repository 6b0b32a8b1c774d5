#include "support/run_fixture.hpp"

#include <sndfile.h>

#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace distill::test_support {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kSampleRate = 16000;

void write_wav(const fs::path& file, const std::vector<float>& samples) {
    SF_INFO info{};
    info.samplerate = kSampleRate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE* f = sf_open(file.c_str(), SFM_WRITE, &info);
    if (f == nullptr) throw std::runtime_error("cannot write " + file.string() + ": " + sf_strerror(nullptr));
    sf_writef_float(f, samples.data(), static_cast<sf_count_t>(samples.size()));
    sf_close(f);
}

}  // namespace

std::string read_file(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_corpus(const fs::path& dir) {
    fs::create_directories(dir);
    std::mt19937 rng(11);
    std::normal_distribution<float> gauss(0.0f, 0.2f);
    for (int i = 0; i < 8; ++i) {
        std::vector<float> v(kSampleRate);
        const double f0 = 110.0 * (i + 1), f1 = f0 * (i % 2 ? 3.0 : 0.5);
        for (size_t n = 0; n < v.size(); ++n) {
            const double t = static_cast<double>(n) / kSampleRate;
            const double tone = i < 3   ? std::sin(2 * kPi * f0 * t)                        // sine
                                : i < 6 ? std::sin(2 * kPi * (f0 * t + 0.5 * (f1 - f0) * t * t))  // chirp
                                        : 0.0;                                              // noise
            v[n] = static_cast<float>(0.5 * tone) + (i >= 6 ? gauss(rng) : 0.0f);
        }
        write_wav(dir / ("clip" + std::to_string(i) + ".wav"), v);
    }
}

std::string test_device() {
    const char* device = std::getenv("DISTILL_TEST_DEVICE");
    return device != nullptr && *device != '\0' ? device : "cpu";
}

std::string experiment_text(const fs::path& root, const std::string& train_keys, const std::string& losses) {
    std::ostringstream t;
    t << "name = \"train-test\"\nseed = 7\ndevice = \"" << test_device() << "\"\nthreads = 1\n\n"
      << "[data]\ndir = \"" << (root / "corpus").string() << "\"\n"
      << "cache_dir = \"" << (root / "cache").string() << "\"\n"
      << "sample_rate = 16000\nchunk_seconds = 0.5\nn_fft = 512\nhop_length = 128\nn_mels = 32\n"
      << "split = \"file\"\n\n"
      << "[model]\nplugin = \"conv_vae\"\nlatent_dim = 8\ndropout = 0.0\n\n"
      << "[train]\nbatch_size = 4\nval_fraction = 0.25\nlog_every = 1\n"
      << train_keys << "\n\n"
      << losses << "\n";
    return t.str();
}

fs::path write_experiment(const fs::path& root, const std::string& name, const std::string& train_keys,
                          const std::string& losses) {
    const fs::path file = root / name;
    std::ofstream(file) << experiment_text(root, train_keys, losses);
    return file;
}

Child::Child(const fs::path& cwd, const std::vector<std::string>& args, int as_uid) {
    static int n = 0;
    const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(n++);
    out_ = cwd / ("distill-" + tag + ".out");
    err_ = cwd / ("distill-" + tag + ".err");
    std::vector<std::string> argv_text{DISTILL_BINARY};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        if (::chdir(cwd.c_str()) != 0) ::_exit(127);
        if (!std::freopen(out_.c_str(), "w", stdout) || !std::freopen(err_.c_str(), "w", stderr)) ::_exit(127);
        if (as_uid >= 0) {
            const gid_t gid = static_cast<gid_t>(as_uid);
            if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(static_cast<uid_t>(as_uid)) != 0)
                ::_exit(126);
        }
        ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        std::vector<char*> argv;
        for (auto& a : argv_text) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
}

Child::~Child() {
    if (!waited_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

std::string Child::stdout_text() const { return read_file(out_); }

bool Child::wait_for_output(const std::string& text, double seconds) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        if (stdout_text().find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

Finished Child::wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    waited_ = true;
    Finished f;
    f.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    f.out = read_file(out_);
    f.err = read_file(err_);
    return f;
}

Finished run_distill(const fs::path& cwd, const std::vector<std::string>& args) { return Child(cwd, args).wait(); }

}  // namespace distill::test_support
