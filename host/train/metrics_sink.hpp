// Where the trainer's rows, events and files go. The trainer knows these
// plain row types and nothing of SQL: the run session connects a sink to the
// SQLite store, tests may collect rows in memory.
#pragma once

#include "store/records.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace distill::train {

class MetricsSink {
public:
    virtual ~MetricsSink() = default;
    virtual void step(const store::StepMetrics& row) = 0;
    virtual void epoch(const store::EpochMetrics& row) = 0;
    virtual void loss_terms(const std::vector<store::LossTermRow>& rows) = 0;
    virtual void event(const store::Event& event) = 0;
    // Everything handed in so far is durable when this returns.
    virtual void flush() = 0;
    // A file the run wrote (kind: checkpoint | best | last), and one it
    // removed again. Recorded at once: the trainer calls these only after
    // flush(), so a recorded checkpoint never runs ahead of its rows.
    virtual void file_written(const std::string& kind, const std::filesystem::path& file) {
        (void)kind, (void)file;
    }
    virtual void file_removed(const std::filesystem::path& file) { (void)file; }
};

}  // namespace distill::train
