#include "audio/timeline.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace distill::audio {
namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr double kSilentPeak = 1e-6;  // make_chunks leaves quieter chunks as they are
constexpr double kEdgeWeight = 1e-3;  // a reflect-padded edge frame against a neighbour's full one
}  // namespace

ChunkLayout plan_chunks(int64_t samples, const data::PipelineConfig& cfg, int64_t overlap_frames) {
    ChunkLayout l;
    l.samples = samples;
    l.chunk_samples = cfg.chunk_samples();
    l.chunk_frames = cfg.frames();
    l.hop = cfg.hop_length;
    l.edge_frames = (cfg.n_fft / 2 + l.hop - 1) / l.hop;
    if (overlap_frames <= l.edge_frames)
        throw std::invalid_argument("chunks must overlap by more than the " + std::to_string(l.edge_frames) +
                                    " frames at each edge that see reflect padding, got " +
                                    std::to_string(overlap_frames));
    // A chunk's frames after the last whole hop of its samples would lie past
    // its end on the file's grid; the stride keeps every frame inside.
    l.stride_frames = std::min(l.chunk_frames - overlap_frames, l.chunk_samples / l.hop);
    if (l.stride_frames < 1)
        throw std::invalid_argument("a chunk of " + std::to_string(l.chunk_frames) + " frames cannot overlap by " +
                                    std::to_string(overlap_frames));
    l.total_frames = 1 + samples / l.hop;
    // Enough chunks that the last one's frames reach the file's last frame.
    l.count = 1;
    while ((l.count - 1) * l.stride_frames + l.chunk_frames < l.total_frames) ++l.count;
    return l;
}

Chunks cut_chunks(const at::Tensor& audio, const ChunkLayout& l) {
    const at::Tensor x = audio.reshape({-1}).to(at::kCPU, at::kFloat);
    Chunks c;
    c.audio = at::zeros({l.count, l.chunk_samples}, at::kFloat);
    for (int64_t i = 0; i < l.count; ++i) {
        const int64_t start = l.start_sample(i);
        const int64_t n = std::max<int64_t>(0, std::min(l.chunk_samples, l.samples - start));
        if (n > 0) c.audio[i].narrow(0, 0, n).copy_(x.narrow(0, start, n));
    }
    const at::Tensor peak = c.audio.abs().amax(1).to(at::kDouble);
    c.peaks = at::where(peak > kSilentPeak, peak, at::ones_like(peak));
    c.audio = c.audio / c.peaks.to(at::kFloat).unsqueeze(1);
    return c;
}

at::Tensor join_features(const at::Tensor& raw, const at::Tensor& peaks, const ChunkLayout& l) {
    if (raw.dim() != 4 || raw.size(0) != l.count || raw.size(1) != 2 || raw.size(3) != l.chunk_frames)
        throw std::invalid_argument("join_features: expected [" + std::to_string(l.count) + ", 2, M, " +
                                    std::to_string(l.chunk_frames) + "] features");
    const auto options = raw.options().dtype(at::kFloat);
    const int64_t mels = raw.size(2);
    // Frames whose window reaches past the chunk's edge saw reflect padding,
    // not the file: they get (almost) no say where a neighbour covers them.
    // Linear ramps over the rest of the overlap at both ends. Every weight is
    // > 0, so a frame only one chunk covers takes that chunk's value.
    const int64_t edge = l.edge_frames;
    const int64_t overlap = std::max<int64_t>(edge + 1, l.chunk_frames - l.stride_frames);
    const at::Tensor t = at::arange(l.chunk_frames, options);
    const double span_ramp = static_cast<double>(overlap - edge + 1);
    const at::Tensor ramp = at::minimum((t - edge + 1) / span_ramp, (l.chunk_frames - edge - t) / span_ramp)
                                .clamp(kEdgeWeight, 1.0);

    const int64_t span = (l.count - 1) * l.stride_frames + l.chunk_frames;
    at::Tensor power = at::zeros({mels, span}, options), weight = at::zeros({1, span}, options);
    at::Tensor re = at::zeros({mels, span}, options), im = at::zeros({mels, span}, options);
    const at::Tensor scale = peaks.to(raw.device(), at::kFloat).pow(2);
    for (int64_t i = 0; i < l.count; ++i) {
        const int64_t at_frame = i * l.stride_frames;
        const at::Tensor p = at::expm1(raw[i][0].to(at::kFloat)).clamp_min(0.0) * scale[i];
        const at::Tensor angle = raw[i][1].to(at::kFloat) * kPi;
        power.narrow(1, at_frame, l.chunk_frames).add_(p * ramp);
        weight.narrow(1, at_frame, l.chunk_frames).add_(ramp);
        re.narrow(1, at_frame, l.chunk_frames).add_(at::cos(angle) * p * ramp);
        im.narrow(1, at_frame, l.chunk_frames).add_(at::sin(angle) * p * ramp);
    }
    const at::Tensor mel = (power / weight).narrow(1, 0, l.total_frames);
    const at::Tensor phase_if = (at::atan2(im, re) / kPi).narrow(1, 0, l.total_frames);
    return at::stack({at::log1p(mel), phase_if}, 0);
}

}  // namespace distill::audio
