"""GPUs as first-class targets (issue 10): a per-kernel cost model over the traced OpGraph.

``lower`` maps ops to kernels under a software stack (``stack``: serving engine or Hugging Face
eager), ``kernels`` costs each kernel as max(flops / throughput, bytes / bandwidth, minimum time),
``model`` wraps it as the serving simulator's iteration cost model, ``profile`` builds a ProfileResult.
"""

from llmimc.gpu.model import GpuCostModel, GpuSystem, build_gpu_system
from llmimc.gpu.stack import HF_EAGER, SERVING, SoftwareStack, software_stack

__all__ = [
    "HF_EAGER",
    "SERVING",
    "GpuCostModel",
    "GpuSystem",
    "SoftwareStack",
    "build_gpu_system",
    "software_stack",
]
