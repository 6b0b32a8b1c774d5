#include "store/metrics_writer.hpp"

#include "store/database.hpp"
#include "store/row_sql.hpp"
#include "store/run_store.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>

#include <iostream>

namespace distill::store {

namespace {

template <class... F>
struct Overloaded : F... {
    using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

MetricsWriter::MetricsWriter(const std::filesystem::path& db_path, int64_t run_id, WriterOptions options)
    : run_id_(run_id), options_(options), db_(open_database(db_path, OpenMode::kCreate)) {
    if (options_.batch_rows == 0) throw StoreError("MetricsWriter: batch_rows must be at least 1");
    last_heartbeat_ = std::chrono::steady_clock::now();
    thread_ = std::thread(&MetricsWriter::thread_main, this);
}

MetricsWriter::MetricsWriter(RunStore& store, int64_t run_id, WriterOptions options)
    : MetricsWriter(store.path(), run_id, options) {}

MetricsWriter::~MetricsWriter() {
    try {
        close();
    } catch (const std::exception& e) {
        std::cerr << "distill: metrics writer for run " << run_id_ << ": " << e.what() << "\n";
    }
}

void MetricsWriter::throw_pending_locked() {
    if (pending_error_.empty()) return;
    std::string message = std::move(pending_error_);
    pending_error_.clear();
    throw StoreError(message);
}

void MetricsWriter::enqueue(Row row, bool urgent) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (closed_) throw StoreError("metrics writer for run " + std::to_string(run_id_) + " is closed");
    throw_pending_locked();
    if (queue_.empty()) oldest_queued_ = std::chrono::steady_clock::now();
    queue_.push_back(std::move(row));
    ++queued_seq_;
    urgent_ = urgent_ || urgent;
    // Wake the writer only when it has something to do now; otherwise its
    // own timer picks the rows up, which keeps this call to a push.
    if (urgent || queue_.size() >= options_.batch_rows) wake_writer_.notify_one();
}

void MetricsWriter::write_step(const StepMetrics& m) { enqueue(m, false); }

void MetricsWriter::write_epoch(const EpochMetrics& m) { enqueue(m, true); }

void MetricsWriter::write_loss_terms(const std::vector<LossTermRow>& rows) {
    for (const auto& r : rows) enqueue(r, false);
}

void MetricsWriter::write_event(const Event& e) { enqueue(TimedEvent{e, now_iso8601()}, false); }

void MetricsWriter::flush() {
    std::unique_lock<std::mutex> lock(mutex_);
    // After close() the thread is gone and everything was committed.
    if (closed_) return throw_pending_locked();
    const uint64_t target = queued_seq_;
    urgent_ = true;
    wake_writer_.notify_one();
    wake_flushers_.wait(lock, [&] { return done_seq_ >= target; });
    throw_pending_locked();
}

void MetricsWriter::close() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return;
        closed_ = true;
        stopping_ = true;
        wake_writer_.notify_one();
    }
    thread_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    throw_pending_locked();
}

int64_t MetricsWriter::committed_rows() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return committed_rows_;
}

void MetricsWriter::thread_main() {
    std::deque<Row> batch;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        const auto deadline = queue_.empty() ? std::chrono::steady_clock::now() + options_.max_delay
                                             : oldest_queued_ + options_.max_delay;
        wake_writer_.wait_until(lock, deadline,
                                [&] { return stopping_ || urgent_ || queue_.size() >= options_.batch_rows; });
        // Whatever woke us (count, time, epoch end, flush, close), everything
        // queued goes into this transaction.
        const bool stop = stopping_;
        urgent_ = false;
        batch.swap(queue_);  // O(1) under the lock; the caller never waits on a batch
        lock.unlock();
        const size_t n = batch.size();
        if (n > 0) {
            commit(batch);
        } else if (std::chrono::steady_clock::now() - last_heartbeat_ >
                   std::chrono::duration<double>(kHeartbeatSeconds)) {
            touch_heartbeat();
        }
        batch.clear();  // frees event strings outside the lock
        lock.lock();
        done_seq_ += n;
        wake_flushers_.notify_all();
        if (stop && queue_.empty()) return;
    }
}

void MetricsWriter::commit(std::deque<Row>& rows) {
    try {
        commit_rows(rows, false);
        return;
    } catch (const std::exception&) {
        // One bad row (e.g. a step written twice) must not take the rest of
        // the batch with it: redo the batch row by row, dropping only the
        // rows that fail, and report the first failure.
        try {
            commit_rows(rows, true);
        } catch (const std::exception& e2) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (pending_error_.empty())
                pending_error_ = "run database '" + db_->getFilename() + "', run " + std::to_string(run_id_) +
                                 ": lost " + std::to_string(rows.size()) + " rows: " + e2.what();
        }
    }
}

void MetricsWriter::commit_rows(std::deque<Row>& rows, bool skip_bad_rows) {
    int64_t committed = 0;
    std::string first_error;
    int64_t failed = 0;
    write_transaction(*db_, [&] {
        committed = 0;
        failed = 0;
        first_error.clear();
        SQLite::Statement step(*db_, kInsertStep), epoch(*db_, kInsertEpoch), term(*db_, kInsertLossTerm),
            event(*db_, kInsertEvent);
        const std::string now = now_iso8601();
        auto run = [&](SQLite::Statement& stmt, const std::string& what) {
            try {
                stmt.exec();
                ++committed;
            } catch (const SQLite::Exception& e) {
                if (!skip_bad_rows || is_busy(e)) throw;
                ++failed;
                if (first_error.empty()) first_error = what + ": " + e.what();
            }
            // reset() would rethrow the failed step's error code.
            stmt.tryReset();
        };
        auto add_non_finite = [&](const char* table, int64_t ep, int64_t st, const std::string& nonfinite) {
            if (nonfinite.empty()) return;
            bind_event(event, run_id_, non_finite_event(table, ep, st, nonfinite), now);
            run(event, "non_finite event");
        };
        for (const Row& row : rows) {
            std::visit(Overloaded{
                           [&](const StepMetrics& m) {
                               const std::string nf = bind_step(step, run_id_, m);
                               run(step, "step_metrics epoch " + std::to_string(m.epoch) + " step " +
                                             std::to_string(m.step));
                               add_non_finite("step_metrics", m.epoch, m.step, nf);
                           },
                           [&](const EpochMetrics& m) {
                               const std::string nf = bind_epoch(epoch, run_id_, m);
                               run(epoch, "epoch_metrics epoch " + std::to_string(m.epoch));
                               add_non_finite("epoch_metrics", m.epoch, -1, nf);
                           },
                           [&](const LossTermRow& r) {
                               const std::string nf = bind_loss_term(term, run_id_, r);
                               run(term, "loss_terms " + r.split + "/" + r.term + " epoch " + std::to_string(r.epoch));
                               add_non_finite("loss_terms", r.epoch, r.step, nf);
                           },
                           [&](const TimedEvent& e) {
                               bind_event(event, run_id_, e.event, e.at);
                               run(event, "event " + e.event.kind);
                           },
                       },
                       row);
        }
        SQLite::Statement heartbeat(*db_, "UPDATE runs SET heartbeat_at = ?2 WHERE id = ?1");
        heartbeat.bind(1, run_id_);
        heartbeat.bind(2, now);
        heartbeat.exec();
    });
    last_heartbeat_ = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mutex_);
    committed_rows_ += committed;
    if (failed > 0 && pending_error_.empty())
        pending_error_ = "run database '" + db_->getFilename() + "', run " + std::to_string(run_id_) + ": dropped " +
                         std::to_string(failed) + " row(s); first: " + first_error;
}

void MetricsWriter::touch_heartbeat() {
    try {
        write_transaction(*db_, [&] {
            SQLite::Statement heartbeat(*db_, "UPDATE runs SET heartbeat_at = ?2 WHERE id = ?1");
            heartbeat.bind(1, run_id_);
            heartbeat.bind(2, now_iso8601());
            heartbeat.exec();
        });
        last_heartbeat_ = std::chrono::steady_clock::now();
    } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (pending_error_.empty()) pending_error_ = std::string("heartbeat: ") + e.what();
    }
}

}  // namespace distill::store
