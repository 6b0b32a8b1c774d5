// store_bench [ROWS] [DB]: rows/s through MetricsWriter (write_step until
// close() returns, i.e. committed) and the time one write_step call costs the
// training thread (mean and max).
#include "store/metrics_writer.hpp"
#include "store/run_store.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

int main(int argc, char** argv) {
    using Clock = std::chrono::steady_clock;
    const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 200000;
    const std::filesystem::path db =
        argc > 2 ? std::filesystem::path(argv[2])
                 : std::filesystem::temp_directory_path() / ("store_bench_" + std::to_string(::getpid()) + ".db");
    try {
        distill::store::RunStore store(db);
        const int64_t exp = store.record_experiment("bench", "name = \"bench\"\n");
        distill::store::RunInfo info;
        info.experiment_id = exp;
        info.device = "cpu";
        info.host_version = "bench";
        const int64_t run = store.create_run(info);

        double total_call_s = 0, max_call_s = 0;
        const auto start = Clock::now();
        {
            distill::store::MetricsWriter writer(store, run);
            for (int64_t i = 0; i < rows; ++i) {
                distill::store::StepMetrics m{i / 1000, i % 1000, 1000, 1.0 / (i + 1), 0.5, 0.25, 0.1, 1e-3,
                                              0.01,     0.3,      0.2,  0.1};
                const auto t0 = Clock::now();
                writer.write_step(m);
                const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
                total_call_s += dt;
                max_call_s = std::max(max_call_s, dt);
            }
            writer.close();
        }
        const double wall = std::chrono::duration<double>(Clock::now() - start).count();
        store.finish_run(run, "completed");
        std::printf("rows: %lld committed in %.3f s -> %.0f rows/s\n", static_cast<long long>(rows), wall,
                    static_cast<double>(rows) / wall);
        std::printf("write_step: mean %.3f us, max %.3f us per call\n", 1e6 * total_call_s / static_cast<double>(rows),
                    1e6 * max_call_s);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "store_bench: %s\n", e.what());
        return 1;
    }
    if (argc <= 2) {
        for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);
    }
    return 0;
}
