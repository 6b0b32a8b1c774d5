// Off-the-hot-path writer for one run's metrics. The training thread only
// appends to an in-memory queue (a mutex held for a push, never for I/O); a
// background thread with its own connection commits batched transactions and
// refreshes the run's heartbeat.
#pragma once

#include "store/records.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace SQLite {
class Database;
}

namespace distill::store {

class RunStore;

struct WriterOptions {
    size_t batch_rows = 256;                          // commit once this many rows are queued...
    std::chrono::milliseconds max_delay{1000};        // ...or the oldest queued row is this old
};

class MetricsWriter {
public:
    // Opens its own connection to `db_path` (which must already hold the
    // schema, e.g. through a RunStore) and starts the writer thread.
    MetricsWriter(const std::filesystem::path& db_path, int64_t run_id, WriterOptions options = {});
    MetricsWriter(RunStore& store, int64_t run_id, WriterOptions options = {});
    // Closes; an error still pending is printed to stderr (a destructor
    // cannot throw). Call close() to get it as an exception instead.
    ~MetricsWriter();
    MetricsWriter(const MetricsWriter&) = delete;
    MetricsWriter& operator=(const MetricsWriter&) = delete;

    // Queue one row; never touch the disk. Each throws StoreError when an
    // earlier commit on the writer thread failed (reported once).
    void write_step(const StepMetrics& m);
    void write_epoch(const EpochMetrics& m);  // also asks for a commit now (epoch end)
    void write_loss_terms(const std::vector<LossTermRow>& rows);
    void write_event(const Event& e);  // `at` is the time of this call

    // Blocks until every row given so far is committed; throws the pending
    // writer error, if any.
    void flush();
    // flush() and stop the thread; later write_* calls throw. Idempotent.
    void close();

    int64_t run_id() const { return run_id_; }
    // Rows committed so far (metrics rows and events, including the
    // non_finite events the writer adds).
    int64_t committed_rows() const;

private:
    struct TimedEvent {
        Event event;
        std::string at;
    };
    using Row = std::variant<StepMetrics, EpochMetrics, LossTermRow, TimedEvent>;

    void enqueue(Row row, bool urgent);
    void throw_pending_locked();
    void thread_main();
    void commit(std::deque<Row>& rows);
    void commit_rows(std::deque<Row>& rows, bool skip_bad_rows);
    void touch_heartbeat();

    const int64_t run_id_;
    const WriterOptions options_;
    std::unique_ptr<SQLite::Database> db_;

    mutable std::mutex mutex_;
    std::condition_variable wake_writer_, wake_flushers_;
    std::deque<Row> queue_;  // a deque: growing it never copies queued rows
    std::chrono::steady_clock::time_point oldest_queued_{};
    bool urgent_ = false, stopping_ = false, closed_ = false;
    uint64_t queued_seq_ = 0, done_seq_ = 0;  // rows handed in / rows processed (committed or failed)
    int64_t committed_rows_ = 0;
    std::string pending_error_;
    std::chrono::steady_clock::time_point last_heartbeat_{};
    std::thread thread_;
};

}  // namespace distill::store
