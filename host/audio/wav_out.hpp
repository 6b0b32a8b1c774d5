// Rendered audio -> a 48 kHz WAV file, peak-normalised.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>

namespace distill::audio {

constexpr int64_t kOutputRate = 48000;
// 16-bit PCM plays everywhere; the peak sits just under full scale so
// rounding never clips.
constexpr double kOutputPeak = 0.99;

// audio [L] (any device) at `rate` -> `file` at kOutputRate (libsoxr when the
// rates differ), mono 16-bit PCM, peak-normalised to kOutputPeak (silence
// stays silent). Creates the parent folder. Throws std::runtime_error
// naming the file when it cannot be written, and when audio has a NaN or inf.
// Returns the number of samples written.
int64_t write_wav(const std::filesystem::path& file, const at::Tensor& audio, int64_t rate);

}  // namespace distill::audio
