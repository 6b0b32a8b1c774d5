#!/usr/bin/env python3
"""The peer: distill's reference-v2 training step as a plain PyTorch (eager,
Python) program, written from the docs (docs/reference.md sections 2-4, the
plugins' documented behaviour) with nothing of distill imported.

  peer_step.py [--device cpu|cuda|cuda:N] [--steps N] [--warmup N] [--threads N]
               [--batch N] [--items N] [--epoch E] [--seed S] [--zero-grad none|zeros]

Times one epoch's worth of steps the way bench/train's `--mode trainer` runs
distill's Trainer: --items random [2, 128, 94] maps uniform in [-1, 1], the
training items (warmup + steps) * batch of them, one random permutation,
batches gathered with index_select. Each step is what a Python training loop
does: zero_grad, forward, the four losses with the reference weights (KL
warm-up), float() of the total and of every loss term, backward, global
gradient clipping, AdamW.

Prints the per-step time (zero_grad to optimizer.step, as the trainer's
step_time_s), the per-iteration time (end of one loop iteration to the
end of the next: the batch gather, the step and the readback) and the
process's CPU time and minor page faults per iteration, min and
median over the timed steps (on CUDA the float() readbacks synchronise each
step). bench/compare_peer reads these lines.

Debian's python3-torch (1.13.1) uses the same LibTorch build as distill.
"""

import argparse
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The reference-v2 settings (docs/reference.md; experiments/reference-v2.toml).
# bench/peer/check_export.py compares them with distill's resolved
# experiment, so a changed default is caught rather than silently differing.
REFERENCE = {
    "n_mels": 128,
    "frames": 94,
    "latent_dim": 128,
    "dropout": 0.2,
    "bn_eps": 1e-5,
    "bn_momentum": 0.1,
    "logvar_limit": 20.0,
    # loss: (weight, schedule, warmup_fraction), in the order they are summed
    "losses": {
        "stft": (1.0, "constant", 0.3),
        "mag_l1": (0.1, "constant", 0.3),
        "if_l1": (0.05, "constant", 0.3),
        "kl": (0.01, "linear_warmup", 0.3),
    },
    "stft_fft": (512, 1024, 2048),
    "stft_hop": (128, 256, 512),
    "stft_win": (512, 1024, 2048),
    "stft_channel": 0,
    "stft_power_floor": 1e-8,
    "if_mean_eps": 1e-8,
    "free_bits": 0.1,
    "epochs": 200,
    "batch_size": 32,
    "lr": 1e-3,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "weight_decay": 0.01,
    "grad_clip": 1.0,
}

CHANNELS = (2, 64, 128, 256, 512, 1024)
DOWNSAMPLE = 32  # five stride-2 blocks


def round_up(value, multiple):
    return (value + multiple - 1) // multiple * multiple


# --- the model (docs/reference.md#2-model-conv_vae) --------------------------

class Encoder(nn.Module):
    def __init__(self, flat, latent_dim, dropout, cfg):
        super().__init__()
        layers = []
        for i in range(5):
            layers += [
                nn.Conv2d(CHANNELS[i], CHANNELS[i + 1], 3, stride=2, padding=1),
                nn.BatchNorm2d(CHANNELS[i + 1], eps=cfg["bn_eps"], momentum=cfg["bn_momentum"]),
                nn.ReLU(),
                nn.Dropout2d(dropout),
            ]
        self.convs = nn.Sequential(*layers)
        self.fc_mu = nn.Linear(flat, latent_dim)
        self.fc_logvar = nn.Linear(flat, latent_dim)
        self.logvar_limit = cfg["logvar_limit"]

    def forward(self, x):
        h = self.convs(x).flatten(1)  # C, H, W order
        return self.fc_mu(h), self.fc_logvar(h).clamp(-self.logvar_limit, self.logvar_limit)


class Decoder(nn.Module):
    def __init__(self, bottleneck, latent_dim, dropout, out_hw, cfg):
        super().__init__()
        self.bottleneck = bottleneck  # (C, h, w)
        self.out_hw = out_hw
        self.fc = nn.Linear(latent_dim, bottleneck[0] * bottleneck[1] * bottleneck[2])
        layers = []
        for i in range(5, 1, -1):
            layers += [
                nn.ConvTranspose2d(CHANNELS[i], CHANNELS[i - 1], 3, stride=2, padding=1, output_padding=1),
                nn.BatchNorm2d(CHANNELS[i - 1], eps=cfg["bn_eps"], momentum=cfg["bn_momentum"]),
                nn.ReLU(),
                nn.Dropout2d(dropout),
            ]
        layers.append(nn.ConvTranspose2d(CHANNELS[1], CHANNELS[0], 3, stride=2, padding=1, output_padding=1))
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z):
        h = self.fc(z).view(z.size(0), *self.bottleneck)
        height, width = self.out_hw
        raw = self.deconvs(h)[:, :, :height, :width]
        magnitude = F.softplus(raw[:, 0:1], beta=1, threshold=20)
        frequency = torch.tanh(raw[:, 1:2])
        return torch.cat([magnitude, frequency], 1)


class ConvVAE(nn.Module):
    def __init__(self, cfg=REFERENCE):
        super().__init__()
        self.height, self.width = cfg["n_mels"], cfg["frames"]
        self.padded = (round_up(self.height, DOWNSAMPLE), round_up(self.width, DOWNSAMPLE))
        bottleneck = (CHANNELS[-1], self.padded[0] // DOWNSAMPLE, self.padded[1] // DOWNSAMPLE)
        flat = bottleneck[0] * bottleneck[1] * bottleneck[2]
        self.encoder = Encoder(flat, cfg["latent_dim"], cfg["dropout"], cfg)
        self.decoder = Decoder(bottleneck, cfg["latent_dim"], cfg["dropout"], (self.height, self.width), cfg)

    def forward(self, x):
        x = F.pad(x, (0, self.padded[1] - self.width, 0, self.padded[0] - self.height))
        mu, logvar = self.encoder(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        return self.decoder(z), mu, logvar


# --- the losses (docs/reference.md#3-losses) ---------------------------------

class SpectrumMagnitude(torch.autograd.Function):
    """|rfft(frames)| = sqrt(max(re^2 + im^2, floor)) with the gradient the
    stft plugin computes (docs/reference.md, `stft`): one inverse real FFT of
    grad * mask * X / |X|, the bins other than 0 and n/2 halved. The values
    are those of plain autograd (or torch.stft) to the bit; the gradient is
    theirs up to rounding, and op for op distill's. It has to be: AdamW's
    first steps turn roundoff in near-zero gradients into whole updates, and
    with torch.stft's own backward check_export.py finds the parameters after
    two steps 0.021 of an update apart (tolerance 0.001)."""

    @staticmethod
    def forward(ctx, frames, n_fft, floor):
        spectrum = torch.fft.rfft(frames, n_fft, -1)
        parts = torch.view_as_real(spectrum)
        squares = parts * parts
        power = squares.select(-1, 0) + squares.select(-1, 1)
        mag = power.clamp_min(floor).sqrt()
        ctx.save_for_backward(spectrum, power, mag)
        ctx.n_fft, ctx.floor = n_fft, floor
        return mag

    @staticmethod
    def backward(ctx, grad):
        spectrum, power, mag = ctx.saved_tensors
        # grad where power >= floor, else 0 (clamp_min's mask), in one pass:
        # zero where power <= the largest value of its type below the floor
        floor = torch.tensor(ctx.floor, dtype=power.dtype)
        below = torch.nextafter(floor, torch.zeros_like(floor)).item()
        scale = torch.ops.aten.threshold_backward(grad / mag, power, below)
        bins = scale.size(-1)
        twice = bins - 2 if ctx.n_fft % 2 == 0 else bins - 1
        if twice > 0:
            scale.narrow(-1, 1, twice).mul_(0.5)
        parts = torch.view_as_real(spectrum)
        z_parts = torch.empty_like(parts)
        torch.mul(parts.select(-1, 0), scale, out=z_parts.select(-1, 0))
        torch.mul(parts.select(-1, 1), scale, out=z_parts.select(-1, 1))
        z = torch.view_as_complex(z_parts)
        return torch.fft.irfft(z, ctx.n_fft, -1, norm="forward"), None, None


def stft_magnitude(signal, n_fft, hop, win, floor):
    """|STFT| as torch.stft(center=True, pad_mode="reflect") frames it: reflect
    padding of n_fft/2, frames every hop, a periodic Hann of win centred in n_fft."""
    padded = F.pad(signal.unsqueeze(1), (n_fft // 2, n_fft // 2), mode="reflect").squeeze(1)
    window = torch.hann_window(win, periodic=True, dtype=signal.dtype, device=signal.device)
    left = (n_fft - win) // 2
    window = F.pad(window, (left, n_fft - win - left))
    frames = padded.unfold(1, n_fft, hop) * window
    return SpectrumMagnitude.apply(frames, n_fft, floor)


def stft_loss(recon, target, cfg):
    """Multi-resolution STFT loss on one channel, each item's map read row-major."""
    c = cfg["stft_channel"]
    x = recon[:, c].reshape(recon.size(0), -1)
    y = target[:, c].reshape(target.size(0), -1)
    sc_sum = lm_sum = None
    for n_fft, hop, win in zip(cfg["stft_fft"], cfg["stft_hop"], cfg["stft_win"]):
        mag_x = stft_magnitude(x, n_fft, hop, win, cfg["stft_power_floor"])
        mag_y = stft_magnitude(y, n_fft, hop, win, cfg["stft_power_floor"])
        sc = torch.linalg.vector_norm(mag_y - mag_x) / torch.linalg.vector_norm(mag_y)
        lm = (mag_x.log() - mag_y.log()).abs().mean()
        sc_sum = sc if sc_sum is None else sc_sum + sc
        lm_sum = lm if lm_sum is None else lm_sum + lm
    n = len(cfg["stft_fft"])
    sc, lm = sc_sum / n, lm_sum / n
    return sc + lm, {"sc": sc, "log_mag": lm}


def mag_l1_loss(recon, target):
    return (recon[:, 0] - target[:, 0]).abs().mean()


def if_l1_loss(recon, target, cfg):
    magnitude = target[:, 0]
    weight = magnitude / (magnitude.mean() + cfg["if_mean_eps"])
    return ((recon[:, 1] - target[:, 1]).abs() * weight).mean()


def kl_loss(mu, logvar, cfg):
    kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())
    return kl.clamp_min(cfg["free_bits"]).sum(1).mean(), {"kl_raw": kl.sum(1).mean()}


def loss_weight(name, epoch, epochs, cfg):
    weight, schedule, fraction = cfg["losses"][name]
    if schedule == "constant" or epochs <= 0:
        return weight
    warmup = math.floor(epochs * fraction)
    return weight if warmup == 0 else weight * min(1.0, epoch / warmup)


def compute_losses(recon, target, mu, logvar, epoch, epochs, cfg):
    """Returns (total, terms): terms maps each name to (raw, weight, sub-terms)."""
    stft, stft_sub = stft_loss(recon, target, cfg)
    kl, kl_sub = kl_loss(mu, logvar, cfg)
    raws = {
        "stft": (stft, stft_sub),
        "mag_l1": (mag_l1_loss(recon, target), {}),
        "if_l1": (if_l1_loss(recon, target, cfg), {}),
        "kl": (kl, kl_sub),
    }
    total, terms = None, {}
    for name in cfg["losses"]:
        raw, sub = raws[name]
        weight = loss_weight(name, epoch, epochs, cfg)
        terms[name] = (raw, weight, sub)
        if weight != 0.0:  # a switched-off term adds exactly 0, never 0 * inf
            weighted = raw * weight
            total = weighted if total is None else total + weighted
    if total is None:
        total = torch.zeros((), dtype=recon.dtype, device=recon.device)
    return total, terms


# --- the step (docs/reference.md#4-training) ---------------------------------

def make_optimizer(model, cfg):
    return torch.optim.AdamW(model.parameters(), lr=cfg["lr"], betas=cfg["betas"], eps=cfg["eps"],
                             weight_decay=cfg["weight_decay"])


def train_step(model, optimizer, batch, epoch, epochs, cfg, set_to_none=True):
    """One optimizer step; returns (total, {term: raw, "term.sub": value}) as Python floats."""
    optimizer.zero_grad(set_to_none=set_to_none)
    recon, mu, logvar = model(batch)
    total, terms = compute_losses(recon, batch, mu, logvar, epoch, epochs, cfg)
    # What a Python loop does to log or check a step: float() of each value.
    values = {}
    for name, (raw, weight, sub) in terms.items():
        values[name] = float(raw)
        for sub_name, t in sub.items():
            values[name + "." + sub_name] = float(t)
    total_value = float(total)
    if math.isfinite(total_value) and total.requires_grad:
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        optimizer.step()
    return total_value, values


def median(values):
    return statistics.median(values) if values else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--batch", type=int, default=REFERENCE["batch_size"])
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--epoch", type=int, default=0, help="0-based epoch (KL warm-up: weight 0 at epoch 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--zero-grad", choices=("none", "zeros"), default="none",
                        help="optimizer.zero_grad(set_to_none=True) (none) or zero-filled gradients (zeros)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.batch < 2 or args.items < args.batch:
        parser.error("want --steps >= 1, --warmup >= 0, --batch >= 2, --items >= --batch")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cfg = REFERENCE

    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    items = (torch.rand(args.items, 2, cfg["n_mels"], cfg["frames"]) * 2 - 1).to(device)
    n = (args.warmup + args.steps) * args.batch
    train_items = items.index_select(0, torch.arange(n, device=device).remainder(args.items))
    model = ConvVAE(cfg).to(device)
    model.train()
    optimizer = make_optimizer(model, cfg)
    order = torch.randperm(n).to(device)

    print(f"peer_step: torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"items [{args.items}, 2, {cfg['n_mels']}, {cfg['frames']}], epoch {args.epoch}, "
          f"zero_grad set_to_none={args.zero_grad == 'none'}")
    print(f"warm-up {args.warmup} steps, then {args.steps} timed steps")
    step_s, iteration_s, cpu_s, faults = [], [], [], []

    def usage():  # CPU time of every thread (user + system), minor page faults
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime, u.ru_minflt

    last, last_usage = time.perf_counter(), usage()
    for step in range(args.warmup + args.steps):
        batch = train_items.index_select(0, order[step * args.batch:(step + 1) * args.batch])
        started = time.perf_counter()
        train_step(model, optimizer, batch, args.epoch, cfg["epochs"], cfg, set_to_none=args.zero_grad == "none")
        now, now_usage = time.perf_counter(), usage()
        if step >= args.warmup:
            step_s.append(now - started)
            iteration_s.append(now - last)
            cpu_s.append(now_usage[0] - last_usage[0])
            faults.append(now_usage[1] - last_usage[1])
        last, last_usage = now, now_usage
    print(f"peer ms/step: min {1e3 * min(step_s):.2f}  median {1e3 * median(step_s):.2f}   "
          f"samples/s (median): {args.batch / median(step_s):.1f}")
    print(f"peer ms/iteration (loop end to loop end): min {1e3 * min(iteration_s):.2f}  "
          f"median {1e3 * median(iteration_s):.2f}")
    print(f"peer cpu ms/iteration: min {1e3 * min(cpu_s):.2f}  median {1e3 * median(cpu_s):.2f}   "
          f"minor page faults/iteration (median): {median(faults):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
