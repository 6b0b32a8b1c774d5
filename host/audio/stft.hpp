// Short-time Fourier transform and its inverse, framed by hand so they give
// the same numbers on LibTorch 1.13 and 2.x (whose at::stft / at::istft
// arguments differ) and run on whatever device the tensors live on.
// Conventions are the data pipeline's: periodic Hann of win samples,
// zero-padded and centred to n_fft, center=True with reflect padding,
// onesided, not normalised.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace distill::audio {

struct StftGeometry {
    int64_t n_fft = 2048;
    int64_t hop = 512;
    int64_t win = 2048;
    int64_t bins() const { return n_fft / 2 + 1; }
    // center=True: one frame every hop, the first centred on sample 0.
    int64_t frames_for(int64_t samples) const { return 1 + samples / hop; }
};

// Periodic Hann of g.win samples, zero-padded and centred to g.n_fft.
at::Tensor analysis_window(const StftGeometry& g, const at::TensorOptions& options);

// signal [N, L] (real) -> complex [N, bins, frames]. Reflect padding needs
// L > n_fft / 2.
at::Tensor stft(const at::Tensor& signal, const StftGeometry& g);

// complex [N, bins, frames] -> real [N, length]: windowed overlap-add
// divided by the summed squared window, the centre padding cut off. Samples
// past the last frame's reach are 0.
at::Tensor istft(const at::Tensor& spec, const StftGeometry& g, int64_t length);

// The same, frame-major: [N, frames, bins]. What Griffin-Lim iterates on
// (no transposes in the loop).
at::Tensor stft_frames(const at::Tensor& signal, const StftGeometry& g);
at::Tensor istft_frames(const at::Tensor& spec, const StftGeometry& g, int64_t length);

}  // namespace distill::audio
