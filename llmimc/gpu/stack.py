"""Software stacks on a GPU: the few named terms in which a serving engine and Hugging Face eager differ.

Both stacks run the same kernel cost model (llmimc.gpu.kernels); they differ only in how traced ops
become kernels and which tensors those kernels move:

=====================  ==========================================  ==============================================
term                   serving (vLLM / TensorRT-LLM style)         hf-eager (transformers eager forward)
=====================  ==========================================  ==============================================
fuse_sibling_gemms     Q/K/V and gate/up projections: one GEMM     one GEMM per nn.Linear
fuse_elementwise       a chain of norm / activation / residual     one kernel per aten op (count from the traced
                       ops between two GEMMs: one kernel, reads    bytes, see llmimc.gpu.lower), each reading and
                       its inputs and writes its output once       writing its own tensors
kv_update              paged: write the T new K/V rows             DynamicCache: torch.cat of the whole cache
                       (reshape_and_cache)                         every step (read L - T rows, write L rows)
logits                 last token of each sequence                 every prompt position in prefill
cuda_graphs            yes: launch gaps hidden (kernel time =      no: the CPU launches every kernel (its gaps
                       wall time)                                  are NOT modelled: kernel time only)
=====================  ==========================================  ==============================================

Attention is a fused kernel in both (FlashAttention in engines, SDPA's flash backend in transformers);
eager's cuDNN SDPA adds one small reduction kernel per decode call (seen in the calibration breakdown).
Sources: vLLM (Kwon et al., SOSP 2023, PagedAttention; vllm/model_executor/layers: QKVParallelLinear,
MergedColumnParallelLinear, fused_add_rms_norm, silu_and_mul, reshape_and_cache); transformers
DynamicCache.update (torch.cat) and LlamaForCausalLM.forward(logits_to_keep=0 = all positions);
the shared H100 kernel breakdowns (gpu_calibration/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmimc.hw.spec import SoftwareStackName


@dataclass(frozen=True)
class SoftwareStack:
    name: SoftwareStackName
    fuse_sibling_gemms: bool
    fuse_elementwise: bool
    paged_kv: bool  # False: DynamicCache concat every step
    last_token_logits: bool  # False: logits for every prompt position in prefill
    cuda_graphs: bool
    attn_extra_decode_kernels: int  # small kernels an attention call adds in decode (cuDNN reduction)


SERVING = SoftwareStack(
    name=SoftwareStackName.SERVING,
    fuse_sibling_gemms=True,
    fuse_elementwise=True,
    paged_kv=True,
    last_token_logits=True,
    cuda_graphs=True,
    attn_extra_decode_kernels=0,
)

HF_EAGER = SoftwareStack(
    name=SoftwareStackName.HF_EAGER,
    fuse_sibling_gemms=False,
    fuse_elementwise=False,
    paged_kv=False,
    last_token_logits=False,
    cuda_graphs=False,
    attn_extra_decode_kernels=1,
)


def software_stack(name: SoftwareStackName) -> SoftwareStack:
    return SERVING if name == SoftwareStackName.SERVING else HF_EAGER
