// Where the trainer's rows and events go. The trainer knows these plain row
// types and nothing of SQL: the CLI connects a sink to the SQLite store's
// MetricsWriter, tests may collect rows in memory.
#pragma once

#include "store/records.hpp"

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
};

}  // namespace distill::train
