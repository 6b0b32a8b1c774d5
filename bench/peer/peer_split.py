#!/usr/bin/env python3
"""Where the peer's step spends its time, phase by phase, with the losses'
backward separated from the model's: the losses run on detached copies of
recon/mu/logvar, their backward stops there, and the model's backward is
then driven with those gradients. Same kernels as distill (Debian's
python3-torch is the LibTorch that distill links), so the split carries over.

  peer_split.py [--steps N] [--threads N] [--epoch E]

Prints, per phase, the median wall and CPU milliseconds (CPU: user + system
of every thread of the process) and the phase's share of the summed CPU;
then the STFT loss alone and the other three losses alone (forward and
backward, CPU).
"""

import argparse
import statistics
import time

import torch

import peer_step as P

PHASES = ("zero_grad", "forward", "loss_fwd", "readback", "loss_bwd", "model_bwd", "clip", "adamw")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epoch", type=int, default=0, help="0: KL weight 0 (warm-up), as the trainer bench")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = P.REFERENCE
    torch.manual_seed(0)
    items = torch.rand(256, 2, cfg["n_mels"], cfg["frames"]) * 2 - 1
    model = P.ConvVAE(cfg)
    model.train()
    optimizer = P.make_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(1)
    wall = {p: [] for p in PHASES}
    cpu = {p: [] for p in PHASES}
    alone = {k: [] for k in ("stft forward", "stft backward", "mag_l1+if_l1+kl forward", "mag_l1+if_l1+kl backward")}

    def now():
        return time.perf_counter(), time.process_time()

    warmup = 2
    for i in range(warmup + args.steps):
        batch = items.index_select(0, torch.randperm(items.size(0), generator=generator)[:cfg["batch_size"]])
        marks = [now()]
        optimizer.zero_grad(set_to_none=True)
        marks.append(now())
        recon, mu, logvar = model(batch)
        marks.append(now())
        leaves = [t.detach().requires_grad_() for t in (recon, mu, logvar)]
        total, terms = P.compute_losses(leaves[0], batch, leaves[1], leaves[2], args.epoch, cfg["epochs"], cfg)
        marks.append(now())
        for raw, _, sub in terms.values():
            float(raw)
            for t in sub.values():
                float(t)
        float(total)
        marks.append(now())
        total.backward()
        marks.append(now())
        pairs = [(out, leaf.grad) for out, leaf in zip((recon, mu, logvar), leaves) if leaf.grad is not None]
        torch.autograd.backward([p[0] for p in pairs], [p[1] for p in pairs])
        marks.append(now())
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        marks.append(now())
        optimizer.step()
        marks.append(now())

        # Each loss alone on fresh leaves, CPU time.
        x = recon.detach().requires_grad_()
        c0 = time.process_time()
        stft, _ = P.stft_loss(x, batch, cfg)
        c1 = time.process_time()
        stft.backward()
        c2 = time.process_time()
        x, m, lv = (t.detach().requires_grad_() for t in (recon, mu, logvar))
        c3 = time.process_time()
        others = 0.1 * P.mag_l1_loss(x, batch) + 0.05 * P.if_l1_loss(x, batch, cfg) + 0.01 * P.kl_loss(m, lv, cfg)[0]
        c4 = time.process_time()
        others.backward()
        c5 = time.process_time()
        if i < warmup:
            continue
        for k, p in enumerate(PHASES):
            wall[p].append(marks[k + 1][0] - marks[k][0])
            cpu[p].append(marks[k + 1][1] - marks[k][1])
        for key, value in zip(alone, (c1 - c0, c2 - c1, c4 - c3, c5 - c4)):
            alone[key].append(value)

    med = statistics.median
    total_cpu = sum(med(cpu[p]) for p in PHASES)
    print(f"peer_split: {args.steps} steps after {warmup}, {torch.get_num_threads()} threads, epoch {args.epoch}, "
          f"batch {cfg['batch_size']}")
    print(f"  {'phase':<10} {'wall ms':>9} {'cpu ms':>9} {'cpu share':>9}")
    for p in PHASES:
        print(f"  {p:<10} {1e3 * med(wall[p]):9.1f} {1e3 * med(cpu[p]):9.1f} {med(cpu[p]) / total_cpu:9.1%}")
    print(f"  {'sum':<10} {1e3 * sum(med(wall[p]) for p in PHASES):9.1f} {1e3 * total_cpu:9.1f}")
    for key, values in alone.items():
        print(f"  alone: {key:<26} cpu {1e3 * med(values):7.1f} ms")


if __name__ == "__main__":
    main()
