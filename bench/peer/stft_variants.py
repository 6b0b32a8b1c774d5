#!/usr/bin/env python3
"""The multi-resolution STFT loss (docs/reference.md#3-losses, reference
resolutions) written four ways, timed forward and backward in turn on the
same [B, 2, 128, 94] batch, with the value and gradient norm each gives:

  plugin      what plugins/loss_stft does: reflect pad, unfold, window,
              rfft, |X| = sqrt(clamp(re^2 + im^2, 1e-8)) with its backward
              in closed form, one irfft (peer_step.SpectrumMagnitude)
  plain       what the plugin did before: the same framing and |X| by
              plain autograd, view_as_real(X).pow(2).sum(-1) (same values)
  abs         the same framing, |X| = clamp(complex abs, 1e-4) (the same
              floor: sqrt(1e-8) = 1e-4)
  torch.stft  what the peer did before it took the plugin's backward:
              torch.stft(center, reflect), re^2 + im^2, plain autograd

  stft_variants.py [--iterations N] [--threads N] [--batch N] [--profile VARIANT]

CPU milliseconds (user + system, every thread), median over the iterations.
--profile prints the operators of one variant (torch.profiler, 3 passes).
"""

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_step import SpectrumMagnitude  # noqa: E402

RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))


def frames(signal, n_fft, hop):
    padded = F.pad(signal.unsqueeze(1), (n_fft // 2, n_fft // 2), mode="reflect").squeeze(1)
    return padded.unfold(1, n_fft, hop) * torch.hann_window(n_fft, periodic=True)


def magnitude_plugin(signal, n_fft, hop):
    return SpectrumMagnitude.apply(frames(signal, n_fft, hop), n_fft, 1e-8)


def magnitude_plain(signal, n_fft, hop):
    spectrum = torch.fft.rfft(frames(signal, n_fft, hop), n_fft, -1)
    return torch.view_as_real(spectrum).pow(2).sum(-1).clamp_min(1e-8).sqrt()


def magnitude_abs(signal, n_fft, hop):
    return torch.fft.rfft(frames(signal, n_fft, hop), n_fft, -1).abs().clamp_min(1e-4)


def magnitude_torch_stft(signal, n_fft, hop):
    spec = torch.stft(signal, n_fft, hop, n_fft, torch.hann_window(n_fft, periodic=True), center=True,
                      pad_mode="reflect", return_complex=True)
    return (spec.real.pow(2) + spec.imag.pow(2)).clamp_min(1e-8).sqrt()


VARIANTS = {"plugin": magnitude_plugin, "plain": magnitude_plain, "abs": magnitude_abs,
            "torch.stft": magnitude_torch_stft}


def stft_loss(magnitude, x, y):
    total = 0
    for n_fft, hop in RESOLUTIONS:
        mag_x, mag_y = magnitude(x, n_fft, hop), magnitude(y, n_fft, hop)
        sc = torch.linalg.vector_norm(mag_y - mag_x) / torch.linalg.vector_norm(mag_y)
        total = total + sc + (mag_x.log() - mag_y.log()).abs().mean()
    return total / len(RESOLUTIONS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--profile", choices=tuple(VARIANTS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    recon = torch.rand(args.batch, 2, 128, 94)
    target = torch.rand(args.batch, 2, 128, 94)
    y = target[:, 0].reshape(args.batch, -1)
    forward = {k: [] for k in VARIANTS}
    backward = {k: [] for k in VARIANTS}
    result = {}
    for i in range(args.iterations + 2):
        for name, magnitude in VARIANTS.items():
            leaf = recon.clone().requires_grad_()
            c0 = time.process_time()
            loss = stft_loss(magnitude, leaf[:, 0].reshape(args.batch, -1), y)
            c1 = time.process_time()
            loss.backward()
            c2 = time.process_time()
            result[name] = (loss.item(), leaf.grad.norm().item())
            if i >= 2:
                forward[name].append(c1 - c0)
                backward[name].append(c2 - c1)
    print(f"stft_variants: batch {args.batch}, {torch.get_num_threads()} threads, {args.iterations} iterations")
    for name in VARIANTS:
        f, b = statistics.median(forward[name]), statistics.median(backward[name])
        print(f"  {name:<11} cpu ms: forward {1e3 * f:6.1f}  backward {1e3 * b:6.1f}  total {1e3 * (f + b):6.1f}   "
              f"loss {result[name][0]:.7f}  |grad| {result[name][1]:.7g}")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                leaf = recon.clone().requires_grad_()
                stft_loss(VARIANTS[args.profile], leaf[:, 0].reshape(args.batch, -1), y).backward()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=16))


if __name__ == "__main__":
    main()
