#include "audio/stft.hpp"

#include <c10/util/Exception.h>

namespace distill::audio {
namespace {

// frames [N, T, n_fft] placed every hop samples and summed -> [N, total].
at::Tensor overlap_add(const at::Tensor& frames, int64_t hop, int64_t total) {
    const int64_t n = frames.size(0), count = frames.size(1), n_fft = frames.size(2);
    if (n_fft % hop == 0) {
        // Each frame is n_fft / hop whole hops: add hop-long slices at shifted
        // rows (a handful of adds, several times faster than col2im on CPU).
        const int64_t parts = n_fft / hop;
        const at::Tensor slices = frames.reshape({n, count, parts, hop});
        at::Tensor rows = at::zeros({n, count + parts - 1, hop}, frames.options());
        for (int64_t r = 0; r < parts; ++r) rows.narrow(1, r, count).add_(slices.select(2, r));
        return rows.reshape({n, total});
    }
    // Any hop: col2im (F.fold) on [N, n_fft, T] columns of a 1 x total image.
    return at::col2im(frames.transpose(1, 2).contiguous(), {1, total}, {1, n_fft}, {1, 1}, {0, 0}, {1, hop})
        .reshape({n, total});
}

// The summed squared window of `count` frames, [total]: what overlap-add of
// windowed frames is divided by.
at::Tensor window_envelope(const at::Tensor& window, int64_t count, int64_t hop, int64_t total) {
    const at::Tensor squared = window.pow(2);
    const int64_t n_fft = window.size(0);
    if (n_fft % hop == 0) {
        const int64_t parts = n_fft / hop;
        at::Tensor rows = at::zeros({count + parts - 1, hop}, window.options());
        for (int64_t r = 0; r < parts; ++r) rows.narrow(0, r, count).add_(squared.narrow(0, r * hop, hop));
        return rows.reshape({total});
    }
    return overlap_add(squared.expand({1, count, n_fft}), hop, total).reshape({total});
}

}  // namespace

at::Tensor analysis_window(const StftGeometry& g, const at::TensorOptions& options) {
    const at::Tensor hann = at::hann_window(g.win, /*periodic=*/true, options.dtype(at::kFloat));
    const int64_t left = (g.n_fft - g.win) / 2;
    return at::constant_pad_nd(hann, {left, g.n_fft - g.win - left}, 0.0);
}

at::Tensor stft_frames(const at::Tensor& signal, const StftGeometry& g) {
    TORCH_CHECK(signal.dim() == 2, "stft: signal must be [N, samples], got ", signal.sizes());
    TORCH_CHECK(signal.size(1) > g.n_fft / 2, "stft: ", signal.size(1), " samples are too few for n_fft ", g.n_fft,
                " (reflect padding needs more than n_fft/2)");
    const at::Tensor x = signal.to(at::kFloat);
    const at::Tensor padded = at::reflection_pad1d(x.unsqueeze(1), {g.n_fft / 2, g.n_fft / 2}).squeeze(1);
    const at::Tensor frames = padded.unfold(1, g.n_fft, g.hop);  // [N, T, n_fft]
    return at::fft_rfft(frames * analysis_window(g, x.options()), g.n_fft, -1);
}

at::Tensor istft_frames(const at::Tensor& spec, const StftGeometry& g, int64_t length) {
    TORCH_CHECK(spec.dim() == 3 && spec.size(2) == g.bins(), "istft: spectrum must be [N, frames, ", g.bins(),
                "], got ", spec.sizes());
    const int64_t frames = spec.size(1);
    const at::Tensor window = analysis_window(g, spec.options().dtype(at::kFloat));
    const at::Tensor pieces = at::fft_irfft(spec, g.n_fft, -1).mul_(window);  // [N, T, n_fft]
    const int64_t total = g.n_fft + g.hop * (frames - 1);
    const at::Tensor envelope = window_envelope(window, frames, g.hop, total);
    // Where no window reaches (only possible with win < n_fft) the sum is 0 too.
    const at::Tensor audio = overlap_add(pieces, g.hop, total).div_(at::where(envelope > 1e-11, envelope, at::ones_like(envelope)));
    const int64_t start = g.n_fft / 2;
    const int64_t available = std::max<int64_t>(0, std::min(length, total - start));
    at::Tensor out = audio.narrow(1, start, available);
    if (available < length) out = at::constant_pad_nd(out, {0, length - available}, 0.0);
    return out;
}

at::Tensor stft(const at::Tensor& signal, const StftGeometry& g) { return stft_frames(signal, g).transpose(1, 2); }

at::Tensor istft(const at::Tensor& spec, const StftGeometry& g, int64_t length) {
    TORCH_CHECK(spec.dim() == 3, "istft: spectrum must be [N, bins, frames], got ", spec.sizes());
    return istft_frames(spec.transpose(1, 2), g, length);
}

}  // namespace distill::audio
