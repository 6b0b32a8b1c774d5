#include "data/chunker.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace distill::data {

void peak_normalise(float* row, int64_t len) {
    float peak = 0.0f;
    for (int64_t i = 0; i < len; ++i) peak = std::max(peak, std::fabs(row[i]));
    if (peak > 1e-6f)
        for (int64_t i = 0; i < len; ++i) row[i] /= peak;
}

ChunkBatcher::ChunkBatcher(int64_t chunk_samples, int64_t rows_per_batch, Emit emit)
    : len_(chunk_samples), rows_per_batch_(std::max<int64_t>(1, rows_per_batch)), emit_(std::move(emit)) {
    if (len_ <= 0) throw std::invalid_argument("ChunkBatcher: chunk length must be > 0");
    buf_.resize(static_cast<size_t>(rows_per_batch_ * len_));
}

void ChunkBatcher::push(const float* samples, size_t count) {
    while (count > 0) {
        float* row = buf_.data() + rows_ * len_;
        const auto take = static_cast<size_t>(std::min<int64_t>(len_ - fill_, static_cast<int64_t>(count)));
        std::copy(samples, samples + take, row + fill_);
        fill_ += static_cast<int64_t>(take);
        samples += take;
        count -= take;
        if (fill_ == len_) close_row();
    }
}

void ChunkBatcher::finish() {
    if (fill_ > 0) {
        float* row = buf_.data() + rows_ * len_;
        std::fill(row + fill_, row + len_, 0.0f);
        close_row();
    }
    flush();
}

void ChunkBatcher::close_row() {
    peak_normalise(buf_.data() + rows_ * len_, len_);
    fill_ = 0;
    if (++rows_ == rows_per_batch_) flush();
}

void ChunkBatcher::flush() {
    if (rows_ == 0) return;
    emit_(buf_.data(), rows_);
    emitted_ += rows_;
    rows_ = 0;
}

}  // namespace distill::data
