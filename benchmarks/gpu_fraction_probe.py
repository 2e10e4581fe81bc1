"""Measure achievable fractions of a GPU for the digital-baseline spec (not a test; needs CUDA).

Dense GEMM (bf16, fp16; int8 via torch._int_mm) at 8192^3 and device-to-device copy bandwidth (1 GiB,
read + write counted), medians of timed repeats with CUDA events. Prints JSON; the numbers are
carried into hw_specs/h100.yaml `sources` as the measured achievable fractions.
Run: python benchmarks/gpu_fraction_probe.py
"""

from __future__ import annotations

import json
import statistics

import torch


def _median_time_s(fn, repeats: int = 20, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def main() -> None:
    n = 8192
    out: dict[str, object] = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        a = torch.randn(n, n, device="cuda", dtype=dtype)
        b = torch.randn(n, n, device="cuda", dtype=dtype)
        t = _median_time_s(lambda a=a, b=b: a @ b)
        out[f"gemm_{name}_flops_per_s"] = 2 * n**3 / t
    a8 = torch.randint(-128, 127, (n, n), device="cuda", dtype=torch.int8)
    b8 = torch.randint(-128, 127, (n, n), device="cuda", dtype=torch.int8)
    t = _median_time_s(lambda: torch._int_mm(a8, b8))
    out["gemm_int8_ops_per_s"] = 2 * n**3 / t
    nbytes = 1 << 30
    src = torch.empty(nbytes, device="cuda", dtype=torch.uint8)
    dst = torch.empty_like(src)
    t = _median_time_s(lambda: dst.copy_(src))
    out["copy_bytes_per_s"] = 2 * nbytes / t
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
