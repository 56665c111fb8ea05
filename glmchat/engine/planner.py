"""Offload planning: which parts of the model go to the GPU and which stay in system RAM.

A 30B MoE model is fast only when placed well. Per layer the weights split into the *dense* part
(attention, norms, the shared expert, the router) that every token uses, and the *routed experts*
(`ffn_{gate,up,down}_exps`, 64 per layer in GLM-4.7-Flash, 4 used per token) that make up ~90% of
the bytes but are each read rarely. So, in order:

1. everything fits in free VRAM → all layers on the GPU;
2. an MoE model short of VRAM → keep the routed experts of the first N layers in RAM (llama.cpp's
   `--n-cpu-moe N`, done through tensor buffer-type overrides) with the smallest N that fits;
3. still short with every expert in RAM → also put fewer layers on the GPU (`n_gpu_layers`);
4. no GPU → CPU only (weights memory-mapped).

The KV cache of the configured context and llama.cpp's compute buffers are counted against the
device they live on. The plan is pure arithmetic over a `ModelLayout`, which comes from a GGUF header
(`layout_from_gguf`) or, for tests and the README table, from GLM-4.7-Flash's published shape
(`glm47_flash_layout`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GIB = 1024**3
_EXPERT_RE = re.compile(r"^blk\.(\d+)\.ffn_(gate|up|down|gate_up)_exps\b")
_LAYER_RE = re.compile(r"^blk\.(\d+)\.")


@dataclass
class ModelLayout:
    n_layers: int
    dense_bytes: list[int]  # per layer: attention, norms, shared expert, router
    expert_bytes: list[int]  # per layer: routed experts (0 for dense layers)
    output_bytes: int  # output head + final norm (on the GPU when all layers are)
    embd_bytes: int  # token embeddings (llama.cpp keeps them in RAM)
    kv_bytes_per_token_layer: int  # at f16
    n_vocab: int = 32000
    n_ctx_train: int = 0
    name: str = "model"
    nextn_layers: int = 0  # GLM's NextN (MTP) blocks the file carries (glmchat.engine.gguf_meta.nextn_layers)

    @property
    def total_bytes(self) -> int:
        return sum(self.dense_bytes) + sum(self.expert_bytes) + self.output_bytes + self.embd_bytes

    @property
    def is_moe(self) -> bool:
        return any(self.expert_bytes)


@dataclass
class OffloadPlan:
    backend: str
    n_layers: int
    n_gpu_layers: int  # llama.cpp's value: layers on the GPU (n_layers + 1 also puts the output head there)
    cpu_moe_layers: int  # leading layers whose routed experts stay in RAM
    gpu_bytes: int
    ram_bytes: int
    kv_bytes: int
    vram_budget: int
    ram_budget: int
    fits: bool
    flash_attn: bool
    reason: str
    overrides: list[str] = field(default_factory=list)  # regexes of tensors kept in RAM

    @property
    def gpu_layers_shown(self) -> int:
        return min(self.n_gpu_layers, self.n_layers)

    def summary(self) -> str:
        """One line for the status bar and `doctor`."""
        if self.n_gpu_layers == 0:
            return "CPU only"
        text = f"{self.backend} {self.gpu_layers_shown}/{self.n_layers} layers"
        if self.cpu_moe_layers:
            text += f", experts of {self.cpu_moe_layers} in RAM"
        return text


def kv_bytes_per_token_layer(meta: dict, arch: str) -> int:
    """K+V bytes (f16) one token takes in one layer's cache."""
    get = lambda k, d=None: meta.get(f"{arch}.{k}", d)  # noqa: E731
    kv_lora = get("attention.kv_lora_rank")
    if kv_lora:  # MLA: llama.cpp caches the compressed latent + rope part as K; V is read from it (no V cache)
        rope = get("rope.dimension_count", 64) or 64
        return (int(kv_lora) + int(rope)) * 2
    n_embd = int(get("embedding_length", 4096) or 4096)
    n_head = int(get("attention.head_count", 32) or 32)
    n_head_kv = get("attention.head_count_kv", n_head) or n_head
    if isinstance(n_head_kv, list):
        n_head_kv = max(n_head_kv)
    k_len = int(get("attention.key_length", n_embd // n_head) or n_embd // n_head)
    v_len = int(get("attention.value_length", n_embd // n_head) or n_embd // n_head)
    return int(n_head_kv) * (k_len + v_len) * 2


def layout_from_gguf(info) -> ModelLayout:
    """Build a layout from a parsed GGUF header (glmchat.engine.gguf_meta.GgufInfo)."""
    from glmchat.engine.gguf_meta import nextn_layers

    arch = info.architecture
    n_layers = int(info.arch_value("block_count", 0) or 0)
    dense = [0] * n_layers
    experts = [0] * n_layers
    output = embd = 0
    for t in info.tensors:
        m = _EXPERT_RE.match(t.name)
        if m and int(m.group(1)) < n_layers:
            experts[int(m.group(1))] += t.nbytes
            continue
        m = _LAYER_RE.match(t.name)
        if m and int(m.group(1)) < n_layers:
            dense[int(m.group(1))] += t.nbytes
        elif t.name.startswith("token_embd"):
            embd += t.nbytes
        else:  # output, output_norm, rope factors, extra (e.g. MTP) blocks
            output += t.nbytes
    return ModelLayout(
        n_layers=n_layers,
        dense_bytes=dense,
        expert_bytes=experts,
        output_bytes=output,
        embd_bytes=embd,
        kv_bytes_per_token_layer=kv_bytes_per_token_layer(info.metadata, arch),
        n_vocab=info.vocab_size or int(info.arch_value("vocab_size", 32000) or 32000),
        n_ctx_train=int(info.arch_value("context_length", 0) or 0),
        name=str(info.metadata.get("general.name", info.path.name)),
        nextn_layers=nextn_layers(info),
    )


def glm47_flash_layout(file_bytes: int) -> ModelLayout:
    """GLM-4.7-Flash's published shape, with bytes scaled to a quant's file size.

    47 layers (1 dense, 46 MoE), hidden 2048, 20 heads, MLA (q_lora 768, kv_lora 512, rope 64,
    qk_nope 192, v 256), 64 routed experts of width 1536 + 1 shared, dense FFN 10240, vocab 154,880.
    """
    hidden, heads, vocab = 2048, 20, 154880
    attn = hidden * 768 + 768 * heads * (192 + 64) + hidden * (512 + 64) + 512 * heads * (192 + 256) + heads * 256 * hidden
    norms = 4 * hidden
    dense_ffn = 3 * hidden * 10240
    shared = 3 * hidden * 1536
    router = hidden * 64 + 64
    routed = 64 * 3 * hidden * 1536
    params_dense = [attn + norms + (dense_ffn if i == 0 else shared + router) for i in range(47)]
    params_exp = [0 if i == 0 else routed for i in range(47)]
    embd = output = vocab * hidden
    total = sum(params_dense) + sum(params_exp) + embd + output
    scale = file_bytes / total
    return ModelLayout(
        n_layers=47,
        dense_bytes=[int(p * scale) for p in params_dense],
        expert_bytes=[int(p * scale) for p in params_exp],
        output_bytes=int(output * scale),
        embd_bytes=int(embd * scale),
        kv_bytes_per_token_layer=(512 + 64) * 2,
        n_vocab=vocab,
        n_ctx_train=202752,
        name="GLM-4.7-Flash",
    )


KV_TYPE_FACTOR = {"f16": 1.0, "q8_0": 34 / 64, "q4_0": 18 / 64}


def compute_buffer_bytes(layout: ModelLayout, n_ctx: int, n_batch: int = 512) -> int:
    """llama.cpp's scratch buffers: logits for a batch plus attention work space (an estimate)."""
    return 256 * 1024**2 + n_batch * layout.n_vocab * 4 + n_ctx * 64 * 1024 // 1024


def extra_compute_bytes(layout: ModelLayout, *, n_ctx: int, backend_sampling: str = "auto", speculative: str = "auto", n_batch: int = 512) -> int:
    """Scratch memory beyond the main context's buffers, on the device of the output layer: in-graph
    sampling's padded copy of a batch's logits (n_batch × n_vocab floats, glmchat.engine.backend_sampling;
    "auto" uses it exactly when that device is a GPU), and the MTP draft context's own buffers when the
    file's NextN layer will run (glmchat.engine.mtp_draft)."""
    extra = n_batch * layout.n_vocab * 4 if backend_sampling != "off" else 0
    if layout.nextn_layers and speculative in ("auto", "mtp"):
        extra += compute_buffer_bytes(layout, n_ctx, n_batch)
    return extra


@dataclass
class _Sizing:
    """Bytes on each device for a candidate placement, and the OffloadPlan it makes."""

    layout: ModelLayout
    kv_layer: int  # KV cache bytes of one layer at the configured context and cache type
    compute: int  # llama.cpp's compute buffers
    vram_free: int
    vram_reserve: float
    ram_budget: int
    backend: str

    @property
    def vram_budget(self) -> int:
        return int(self.vram_free * (1 - self.vram_reserve))

    def usage(self, n_gpu: int, moe_cpu: int) -> tuple[int, int]:
        """(GPU bytes, RAM bytes) with the last `n_gpu` layers on the GPU, experts of the first `moe_cpu` in RAM."""
        layout, n, kv_layer = self.layout, self.layout.n_layers, self.kv_layer
        first_gpu = n - min(n_gpu, n)
        gpu, ram = 0, layout.embd_bytes
        for i in range(n):
            on_gpu = i >= first_gpu
            exp_on_cpu = i < moe_cpu or not on_gpu
            if on_gpu:
                gpu += layout.dense_bytes[i] + kv_layer
            else:
                ram += layout.dense_bytes[i] + kv_layer
            if exp_on_cpu:
                ram += layout.expert_bytes[i]
            else:
                gpu += layout.expert_bytes[i]
        if n_gpu > n:
            gpu += layout.output_bytes
        else:
            ram += layout.output_bytes
        if n_gpu:
            gpu += self.compute
        else:
            ram += self.compute
        return gpu, ram

    def gpu_fits(self, n_gpu: int, moe_cpu: int) -> bool:
        """Whether the GPU part of this placement fits the VRAM budget."""
        gpu, _ = self.usage(n_gpu, moe_cpu)
        return gpu - self.compute <= self.vram_budget - self.compute

    def plan(self, n_gpu: int, moe_cpu: int, reason: str) -> OffloadPlan:
        layout, n = self.layout, self.layout.n_layers
        gpu, ram_b = self.usage(n_gpu, moe_cpu)
        fits = (n_gpu == 0 or gpu <= self.vram_budget) and ram_b <= self.ram_budget
        if ram_b > self.ram_budget:
            reason += f"; needs {ram_b / GIB:.1f} GiB of RAM, more than the {self.ram_budget / GIB:.1f} GiB usable: it runs from disk (mmap), slowly"
        moe_layers = [i for i in range(min(moe_cpu, n)) if layout.expert_bytes[i]]
        overrides = []
        if moe_layers and n_gpu:
            overrides = [r"^blk\.(" + "|".join(map(str, moe_layers)) + r")\.ffn_(gate|up|down|gate_up)_exps\."]
        return OffloadPlan(
            backend=self.backend if n_gpu else "CPU",
            n_layers=n,
            n_gpu_layers=n_gpu,
            cpu_moe_layers=len(moe_layers) if n_gpu else 0,
            gpu_bytes=gpu if n_gpu else 0,
            ram_bytes=ram_b,
            kv_bytes=self.kv_layer * n,
            vram_budget=self.vram_budget,
            ram_budget=self.ram_budget,
            fits=fits,
            flash_attn=True,  # faster on GPUs and, measured on SmolLM2, ~5% on the CPU too
            reason=reason,
            overrides=overrides,
        )


def plan_offload(
    layout: ModelLayout,
    *,
    n_ctx: int,
    vram_free: int,
    ram_total: int,
    backend: str = "CUDA",
    kv_type: str = "f16",
    gpu_layers: int | str = "auto",
    cpu_moe: int | str | None = None,
    vram_reserve: float = 0.05,
    extra_compute: int = 0,
) -> OffloadPlan:
    """Choose n_gpu_layers and the experts kept in RAM so the GPU part fits in `vram_free`
    (`extra_compute`: more scratch memory beside the compute buffers, `extra_compute_bytes`)."""
    sizing = _Sizing(
        layout=layout,
        kv_layer=int(layout.kv_bytes_per_token_layer * KV_TYPE_FACTOR.get(kv_type, 1.0) * n_ctx),
        compute=compute_buffer_bytes(layout, n_ctx) + extra_compute,
        vram_free=vram_free,
        vram_reserve=vram_reserve,
        ram_budget=int(ram_total * 0.9),
        backend=backend,
    )
    n = layout.n_layers
    moe_all = n if cpu_moe == "all" else int(cpu_moe or 0)
    if vram_free <= 0 or gpu_layers == 0:
        return sizing.plan(0, 0, "no GPU memory available: CPU only" if vram_free <= 0 else "GPU offload turned off (--gpu-layers 0)")
    if gpu_layers not in ("auto", None):
        n_gpu = n + 1 if gpu_layers == "all" else int(gpu_layers)
        return sizing.plan(n_gpu, moe_all, f"manual: --gpu-layers {gpu_layers}" + (f", --cpu-moe {cpu_moe}" if cpu_moe else ""))
    if cpu_moe is not None:
        return sizing.plan(n + 1, moe_all, f"manual: --cpu-moe {cpu_moe}")
    return _auto_plan(sizing)


def _auto_plan(sizing: _Sizing) -> OffloadPlan:
    """The whole model if it fits; else experts in RAM layer by layer (MoE); else fewer GPU layers."""
    layout, n = sizing.layout, sizing.layout.n_layers
    vram = f"{sizing.vram_free / GIB:.1f} GiB"
    if sizing.gpu_fits(n + 1, 0):
        return sizing.plan(n + 1, 0, f"the whole model fits in {vram} of free VRAM")
    moe_all = 0
    if layout.is_moe:
        for k in range(1, n + 1):
            if sizing.gpu_fits(n + 1, k):
                return sizing.plan(n + 1, k, f"routed experts of the first {k} layers stay in RAM so the rest fits in {vram} of VRAM")
        moe_all = n
    for n_gpu in range(n, 0, -1):
        if sizing.gpu_fits(n_gpu, moe_all):
            what = "all routed experts in RAM and " if moe_all else ""
            return sizing.plan(n_gpu, moe_all, f"{what}{n_gpu} of {n} layers on the GPU fit in {vram} of VRAM")
    return sizing.plan(0, 0, f"{vram} of VRAM is too little for any layer: CPU only")


def plan_for_machine(layout: ModelLayout, machine, *, n_ctx: int, kv_type: str = "f16", gpu_layers: int | str = "auto",
                     cpu_moe: int | str | None = None, backend_sampling: str = "auto", speculative: str = "auto") -> OffloadPlan:
    """The plan glmchat uses on `machine` (glmchat.engine.devices.MachineInfo): GPU memory counts only
    when the installed llama.cpp build can offload to it; `backend_sampling` and `speculative` (the
    [model] settings) add the scratch memory they take (`extra_compute_bytes`)."""
    return plan_offload(
        layout,
        n_ctx=n_ctx,
        vram_free=usable_vram(machine),
        ram_total=machine.ram_total,
        backend=machine.backend,
        kv_type=kv_type,
        gpu_layers=gpu_layers,
        cpu_moe=cpu_moe,
        extra_compute=extra_compute_bytes(layout, n_ctx=n_ctx, backend_sampling=backend_sampling, speculative=speculative),
    )


def usable_vram(machine) -> int:
    return machine.vram_free if machine.gpu_offload else 0


def largest_context(layout: ModelLayout, *, vram_free: int, ram_total: int, kv_type: str = "f16", backend: str = "CUDA") -> int:
    """The largest context (multiple of 1024, up to the trained one) whose plan still fits."""
    hi = layout.n_ctx_train or 131072
    lo, best = 1024, 0
    while lo <= hi:
        mid = (lo + hi) // 2 // 1024 * 1024 or 1024
        plan = plan_offload(layout, n_ctx=mid, vram_free=vram_free, ram_total=ram_total, kv_type=kv_type, backend=backend)
        if plan.fits:
            best, lo = mid, mid + 1024
        else:
            hi = mid - 1024
    return best


def plan_table(n_ctx: int = 16384) -> str:
    """The README's table: the plan for GLM-4.7-Flash quants on common GPU and RAM sizes."""
    quants = {"UD-Q4_K_XL": 16.31 * GIB, "Q8_0": 29.65 * GIB}
    rows = ["| quant | VRAM | RAM | plan | on GPU | in RAM |", "| --- | --- | --- | --- | --- | --- |"]
    for quant, size in quants.items():
        layout = glm47_flash_layout(int(size))
        for ram in (32, 64):
            for vram in (8, 12, 16, 24, 80):
                p = plan_offload(layout, n_ctx=n_ctx, vram_free=vram * GIB, ram_total=ram * GIB)
                rows.append(f"| {quant} | {vram} GB | {ram} GB | {p.summary()} | {p.gpu_bytes / GIB:.1f} GiB | {p.ram_bytes / GIB:.1f} GiB |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(plan_table())
