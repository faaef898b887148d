"""GPU training throughput of the study's backbones against timm's published RTX 3090 figures.

    python -m benchmarks.gpu_check [--batch-size 64] [--warmup 10] [--steps 30]

bf16 autocast, channels_last, random data already on the device, pretrained=False, AdamW; each timed
window is bracketed by cuda.synchronize. Also measures the EdgeNet overhead (residual stem, same
backbone). Prints a markdown table. Without CUDA it prints one line and exits 0.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from model.classifier import build_model
from model.config import EdgeNetConfig, ModelConfig


@dataclass(frozen=True)
class Case:
    label: str
    backbone: str
    size: int
    reference: float | None
    """timm's published RTX 3090 AMP training img/s (None: no reference)."""
    edgenet: str = "off"


CASES = (
    Case("BEiT-B/16", "beit", 224, 358.0),
    Case("DeiT-S/16", "deit", 224, 1054.0),
    Case("Swin V2-T w8", "swinv2", 256, 354.0),
    Case("DeiT-S/16 + EdgeNet", "deit", 224, None, "residual"),
    Case("Swin V2-T w8 + EdgeNet", "swinv2", 256, None, "residual"),
)


def train_throughput(case: Case, batch_size: int, warmup: int, steps: int, num_classes: int = 59) -> float:
    """Training images per second of one case (forward, backward, optimizer step)."""
    cfg = ModelConfig(backbone=case.backbone, image_size=case.size, edgenet=EdgeNetConfig(mode=case.edgenet))
    model = build_model(cfg, num_classes).cuda().to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch_size, 3, case.size, case.size, device="cuda").to(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch_size,), device="cuda")

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> str:
    """Measure and print the GPU section of docs/BENCHMARKS.md (a note when there is no CUDA device)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return ("## GPU training throughput\n\nNot measured in this run: no CUDA device on this machine. "
                "On a CUDA machine: `python -m benchmarks.gpu_check` (BEiT-B, DeiT-S, Swin V2-T with bf16 "
                "against timm's RTX 3090 figures 358 / 1054 / 354 img/s).\n")
    torch.backends.cudnn.benchmark = True
    lines = [f"## GPU training throughput\n\n`python -m benchmarks.gpu_check` on {torch.cuda.get_device_name()}, "
             f"torch {torch.__version__}, bf16 autocast, channels_last, batch {args.batch_size}, "
             f"{args.steps} timed steps after {args.warmup} warm-up.\n",
             "| model | px | train img/s | RTX 3090 (timm) | ratio |", "|---|---:|---:|---:|---:|"]
    rates: dict[str, float] = {}
    for case in CASES:
        rates[case.label] = rate = train_throughput(case, args.batch_size, args.warmup, args.steps)
        torch.cuda.empty_cache()  # the case's model and optimizer went with its frame
        ref = f"{case.reference:.0f}" if case.reference else "-"
        ratio = f"{rate / case.reference:.2f}x" if case.reference else "-"
        lines.append(f"| {case.label} | {case.size} | {rate:.0f} | {ref} | {ratio} |")
        print(lines[-1], flush=True)
    lines.append("\nEdgeNet overhead (residual stem, same backbone):\n")
    for base in ("DeiT-S/16", "Swin V2-T w8"):
        with_edge = rates[f"{base} + EdgeNet"]
        lines.append(f"- {base}: {rates[base]:.0f} -> {with_edge:.0f} img/s "
                     f"({100 * (rates[base] / with_edge - 1):+.1f}% time per image)")
    section = "\n".join(lines) + "\n"
    print(section)
    return section


if __name__ == "__main__":
    main()
