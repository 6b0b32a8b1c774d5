// Mono samples -> fixed-length, peak-normalised chunks, emitted a batch of
// rows at a time so a long file never needs all its chunks in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace distill::data {

class ChunkBatcher {
public:
    // Receives `rows` complete chunks, row-major [rows, chunk_samples].
    using Emit = std::function<void(const float* rows, int64_t n_rows)>;

    ChunkBatcher(int64_t chunk_samples, int64_t rows_per_batch, Emit emit);

    void push(const float* samples, size_t count);
    // Zero-pads the last partial chunk and emits what is left.
    void finish();

    int64_t chunks_emitted() const { return emitted_; }

private:
    void close_row();
    void flush();

    int64_t len_, rows_per_batch_;
    Emit emit_;
    std::vector<float> buf_;  // rows_per_batch_ rows
    int64_t rows_ = 0;        // complete rows in buf_
    int64_t fill_ = 0;        // samples in the row being filled
    int64_t emitted_ = 0;
};

// Divides the row by its max |x| when that exceeds 1e-6 (silence stays as is).
void peak_normalise(float* row, int64_t len);

}  // namespace distill::data
