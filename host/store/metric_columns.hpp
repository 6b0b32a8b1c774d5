// The columns of the metrics tables (step_metrics, epoch_metrics,
// loss_terms), declared once. Everything else is generated from these lists:
// the ALTER TABLE of the migration that added a column (schema.cpp), the
// INSERT statements and their binds, the SELECTs and their reads
// (row_sql.cpp), the column lists `db merge` copies (merge.cpp). Adding a
// column is one line here (with the schema version that adds it), the
// version bump in database.hpp and its row in docs/schema.md (a test checks
// that every column declared here is documented there).
//
// Also here: the reference metrics. step_metrics and epoch_metrics keep
// fixed columns users query by name (stft_loss, kl_loss, ...); which loss
// plugin fills them is declared by the plugin itself (plugin.h,
// distill_metric_binding), never matched by its id. A reference column is
// NULL when no entry of the run's experiment declares its metric.
//
// Plain data, no SQL and no torch: the trainer and the plugin host read it too.
#pragma once

#include "store/records.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

namespace distill::store {

// ------------------------------------------------------- reference metrics

// How the loss entries that declare a reference metric fill it.
enum class Fill {
    kRaw,          // the source's unweighted value; the first entry (in experiment order) that declares it wins
    kWeightedSum,  // weight x the source's value, summed over every entry that declares it
    kWeight,       // the declaring entry's weight at that epoch; the first entry wins
};

struct ReferenceMetric {
    const char* name;  // what a plugin declares (plugin.h, distill_metric_binding::metric)
    Fill fill;
};

// Every name a loss plugin may declare; docs/schema.md ("Reference columns")
// says what each means.
inline constexpr ReferenceMetric kReferenceMetrics[] = {
    {"recon_loss", Fill::kWeightedSum},
    {"kl_loss", Fill::kRaw},
    {"kl_weight", Fill::kWeight},
    {"kl_divergence", Fill::kRaw},
    {"stft_loss", Fill::kRaw},
    {"mag_recon_loss", Fill::kRaw},
    {"if_recon_loss", Fill::kRaw},
};
inline constexpr size_t kReferenceMetricCount = std::size(kReferenceMetrics);

// Position in kReferenceMetrics; -1 for a name that is not one.
inline int reference_metric_index(std::string_view name) {
    for (size_t i = 0; i < kReferenceMetricCount; ++i)
        if (name == kReferenceMetrics[i].name) return static_cast<int>(i);
    return -1;
}

// "recon_loss, kl_loss, ..." for messages.
inline std::string reference_metric_names() {
    std::string names;
    for (const ReferenceMetric& m : kReferenceMetrics) names += (names.empty() ? "" : ", ") + std::string(m.name);
    return names;
}

// One step's (or one validation pass's) value of each reference metric, in
// kReferenceMetrics order; nullopt where no loss entry declares it.
using ReferenceValues = std::array<std::optional<double>, kReferenceMetricCount>;

// ----------------------------------------------------------------- columns

enum class ColumnKind {
    kInteger,        // int64_t field, never NULL
    kIndex,          // int64_t field, -1 stored as NULL (loss_terms.step)
    kText,           // std::string field
    kReal,           // double field; NaN stored as NULL and named in `nonfinite`
    kReference,      // std::optional<double> field filled by a reference metric; nullopt = NULL; NaN as kReal
    kNonfiniteList,  // `nonfinite`: the row's non-finite fields, "name=nan,name=inf" (NULL when none)
    kNonfiniteFlag,  // `has_nonfinite`: 1 when `nonfinite` is not NULL, else 0
};

template <class Row>
struct Column {
    const char* name;
    ColumnKind kind;
    int since = 1;  // the schema version that added it (1: in the table's CREATE TABLE)
    int64_t Row::*integer = nullptr;
    std::string Row::*text = nullptr;
    double Row::*real = nullptr;
    std::optional<double> Row::*reference = nullptr;
    const char* metric = nullptr;  // kReference: the reference metric that fills it
};

namespace column {
template <class Row>
constexpr Column<Row> integer(const char* name, int64_t Row::*field, int since = 1) {
    Column<Row> c{name, ColumnKind::kInteger, since};
    c.integer = field;
    return c;
}
template <class Row>
constexpr Column<Row> index(const char* name, int64_t Row::*field) {
    Column<Row> c{name, ColumnKind::kIndex};
    c.integer = field;
    return c;
}
template <class Row>
constexpr Column<Row> text(const char* name, std::string Row::*field) {
    Column<Row> c{name, ColumnKind::kText};
    c.text = field;
    return c;
}
template <class Row>
constexpr Column<Row> real(const char* name, double Row::*field) {
    Column<Row> c{name, ColumnKind::kReal};
    c.real = field;
    return c;
}
// A reference column named as its metric (step_metrics), or filled by `metric`
// under another name (epoch_metrics' val_* columns).
template <class Row>
constexpr Column<Row> reference(const char* name, std::optional<double> Row::*field, const char* metric = nullptr) {
    Column<Row> c{name, ColumnKind::kReference};
    c.reference = field;
    c.metric = metric != nullptr ? metric : name;
    return c;
}
template <class Row>
constexpr Column<Row> nonfinite_list() {
    return Column<Row>{"nonfinite", ColumnKind::kNonfiniteList};
}
template <class Row>
constexpr Column<Row> nonfinite_flag(int since) {
    return Column<Row>{"has_nonfinite", ColumnKind::kNonfiniteFlag, since};
}
}  // namespace column

// In the order of the table as migrations built it (PRAGMA table_info),
// run_id (always first) left out.
inline constexpr Column<StepMetrics> kStepColumns[] = {
    column::integer("epoch", &StepMetrics::epoch),
    column::integer("step", &StepMetrics::step),
    column::integer("total_steps", &StepMetrics::steps_per_epoch),
    column::real("train_loss", &StepMetrics::train_loss),
    column::reference("recon_loss", &StepMetrics::recon_loss),
    column::reference("kl_loss", &StepMetrics::kl_loss),
    column::reference("kl_weight", &StepMetrics::kl_weight),
    column::real("learning_rate", &StepMetrics::learning_rate),
    column::real("step_time_s", &StepMetrics::step_time_s),
    column::reference("stft_loss", &StepMetrics::stft_loss),
    column::reference("mag_recon_loss", &StepMetrics::mag_recon_loss),
    column::reference("if_recon_loss", &StepMetrics::if_recon_loss),
    column::nonfinite_list<StepMetrics>(),
    column::integer("steps_per_epoch", &StepMetrics::steps_per_epoch, 3),
    column::nonfinite_flag<StepMetrics>(3),
};

inline constexpr Column<EpochMetrics> kEpochColumns[] = {
    column::integer("epoch", &EpochMetrics::epoch),
    column::integer("total_epochs", &EpochMetrics::total_epochs),
    column::real("train_loss", &EpochMetrics::train_loss),
    column::real("val_loss", &EpochMetrics::val_loss),
    column::reference("val_recon_loss", &EpochMetrics::val_recon_loss, "recon_loss"),
    column::reference("val_kl_loss", &EpochMetrics::val_kl_loss, "kl_loss"),
    column::reference("kl_divergence", &EpochMetrics::kl_divergence),
    column::real("overfitting_gap", &EpochMetrics::overfitting_gap),
    column::real("learning_rate", &EpochMetrics::learning_rate),
    column::real("eta_seconds", &EpochMetrics::eta_seconds),
    column::real("elapsed_seconds", &EpochMetrics::elapsed_seconds),
    column::reference("val_stft_loss", &EpochMetrics::val_stft_loss, "stft_loss"),
    column::reference("val_mag_recon_loss", &EpochMetrics::val_mag_recon_loss, "mag_recon_loss"),
    column::reference("val_if_recon_loss", &EpochMetrics::val_if_recon_loss, "if_recon_loss"),
    column::nonfinite_list<EpochMetrics>(),
    column::nonfinite_flag<EpochMetrics>(3),
};

inline constexpr Column<LossTermRow> kLossTermColumns[] = {
    column::integer("epoch", &LossTermRow::epoch),
    column::index("step", &LossTermRow::step),
    column::text("split", &LossTermRow::split),
    column::text("term", &LossTermRow::term),
    column::real("raw", &LossTermRow::raw),
    column::real("weighted", &LossTermRow::weighted),
    column::nonfinite_list<LossTermRow>(),
    column::nonfinite_flag<LossTermRow>(3),
};

template <class Row>
struct MetricTable {
    const char* name;
    const Column<Row>* columns;
    size_t count;
    const char* order_by;  // of the readers
    const Column<Row>* begin() const { return columns; }
    const Column<Row>* end() const { return columns + count; }
};

inline constexpr MetricTable<StepMetrics> kStepTable{"step_metrics", kStepColumns, std::size(kStepColumns),
                                                     "epoch, step"};
inline constexpr MetricTable<EpochMetrics> kEpochTable{"epoch_metrics", kEpochColumns, std::size(kEpochColumns),
                                                       "epoch"};
inline constexpr MetricTable<LossTermRow> kLossTermTable{"loss_terms", kLossTermColumns,
                                                         std::size(kLossTermColumns), "rowid"};

// Sets every reference column of `row` from `values` (a column whose metric
// is absent from `values` becomes nullopt).
template <class Row>
void set_references(Row& row, const MetricTable<Row>& table, const ReferenceValues& values) {
    for (const Column<Row>& c : table) {
        if (c.kind != ColumnKind::kReference) continue;
        const int i = reference_metric_index(c.metric);
        row.*c.reference = i < 0 ? std::nullopt : values[static_cast<size_t>(i)];
    }
}
inline void set_references(StepMetrics& row, const ReferenceValues& values) { set_references(row, kStepTable, values); }
inline void set_references(EpochMetrics& row, const ReferenceValues& values) {
    set_references(row, kEpochTable, values);
}

}  // namespace distill::store
