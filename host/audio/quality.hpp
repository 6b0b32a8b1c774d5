// How close rendered audio is to a reference: the figures of docs/audio.md.
// All take reference and estimate as [N, L] (or [L]) at one sample rate and
// compare their linear STFT magnitudes, so they are blind to phase except
// through what phase does to the magnitude of overlapping frames.
#pragma once

#include "audio/stft.hpp"

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace distill::audio {

// || |S_ref| - |S_est| ||_F / || |S_ref| ||_F over the whole batch (0 = equal).
double spectral_convergence(const at::Tensor& reference, const at::Tensor& estimate, const StftGeometry& g);

// Mean over frames of the RMS over bins of the difference of 10 log10(|S|^2 + 1e-10), in dB.
double log_spectral_distance(const at::Tensor& reference, const at::Tensor& estimate, const StftGeometry& g);

// The stft loss plugin's figure: mean over resolutions of spectral
// convergence + mean |ln|S_est| - ln|S_ref|| (power floored at 1e-8).
double multi_resolution_stft_distance(const at::Tensor& reference, const at::Tensor& estimate,
                                      const std::vector<StftGeometry>& resolutions);
// (512, 128), (1024, 256), (2048, 512): the loss plugin's defaults.
std::vector<StftGeometry> default_resolutions();

// How audible the joins of consecutive pieces are: at each border sample b,
// the largest |x[n] - x[n-1]| for n in [b-1, b+1] divided by the RMS of
// x[n] - x[n-1] over [b - 512, b + 512). About 2 to 4 for ordinary audio;
// a click makes it large. Mean over borders inside the signal (0 if none).
double seam_ratio(const at::Tensor& audio, const std::vector<int64_t>& borders);

}  // namespace distill::audio
