"""`glmchat doctor`: what this machine, this llama.cpp build and these model files can do.

Builds a plain report (dicts and strings) so the CLI can print it as a table or JSON. Nothing here
loads model weights: files are judged from their GGUF headers and sizes (and hashed only with
`verify=True`), plans come from `glmchat.engine.planner`.
"""

from __future__ import annotations

import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from glmchat.engine.devices import MachineInfo, detect
from glmchat.engine.gguf_meta import GgufFormatError, nextn_layers, read_gguf
from glmchat.engine.planner import OffloadPlan, largest_context, layout_from_gguf, plan_for_machine, usable_vram
from glmchat.regular_files import NotRegularFileError
from glmchat.units import size_text


def rebuild_hint(machine: MachineInfo) -> str | None:
    """How to get GPU support when the installed llama-cpp-python build has none but a GPU is there."""
    if machine.gpu_offload:
        return None
    if shutil.which("nvidia-smi") or Path("/proc/driver/nvidia").exists():
        return 'An NVIDIA GPU is present but this llama-cpp-python has no CUDA: CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return 'Apple silicon without Metal in this build: CMAKE_ARGS="-DGGML_METAL=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
    return None


def plan_for(path: Path, machine: MachineInfo, n_ctx: int, kv_type: str = "f16", gpu_layers: Any = "auto", cpu_moe: Any = None,
             model_settings: Any = None) -> tuple[OffloadPlan, int]:
    """The offload plan and the largest context that fits; `model_settings` ([model]) adds the scratch
    memory of in-graph sampling and an MTP draft context."""
    layout = layout_from_gguf(read_gguf(path))
    extra = {"backend_sampling": model_settings.backend_sampling, "speculative": model_settings.speculative} if model_settings else {}
    plan = plan_for_machine(layout, machine, n_ctx=n_ctx, kv_type=kv_type, gpu_layers=gpu_layers, cpu_moe=cpu_moe, **extra)
    best = largest_context(layout, vram_free=usable_vram(machine), ram_total=machine.ram_total, kv_type=kv_type, backend=machine.backend)
    return plan, best


def check_file(path: Path, expected_sha256: str | None = None, verify: bool = False) -> dict[str, Any]:
    """Header and size check of one model file; sha256 against the Hub's when `verify`."""
    entry: dict[str, Any] = {"path": str(path)}
    try:
        info = read_gguf(path)
    except FileNotFoundError:
        entry.update(ok=False, problem="missing")
        return entry
    except IsADirectoryError:
        entry.update(ok=False, problem="is a directory")
        return entry
    except PermissionError:
        entry.update(ok=False, problem="not readable (permissions)")
        return entry
    except NotRegularFileError as exc:  # a FIFO or device: refused, never waited on
        entry.update(ok=False, problem=f"{exc.kind}, not a file")
        return entry
    except GgufFormatError as exc:
        entry.update(ok=False, problem=str(exc))
        return entry
    entry.update(
        size=info.file_size,
        architecture=info.architecture,
        layers=info.arch_value("block_count"),
        nextn_layers=nextn_layers(info),  # a NextN (MTP) layer: `speculative = "mtp"` can draft with it
        context_train=info.arch_value("context_length"),
        ok=not info.truncated,
    )
    split = info.metadata.get("split.count")
    if split and int(split) > 1:
        entry["split"] = int(split)
    if info.truncated:
        entry["problem"] = f"truncated: {info.file_size:,} of {info.data_end:,} bytes"
    if verify and expected_sha256 and entry["ok"]:
        import hashlib

        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        entry["sha256_ok"] = h.hexdigest() == expected_sha256
        entry["ok"] = entry["sha256_ok"]
        if not entry["ok"]:
            entry["problem"] = "sha256 does not match the Hub's"
    return entry


def model_files(extra: list[Path], verify: bool = False) -> list[dict[str, Any]]:
    """The given files plus every downloaded GLM-4.7-Flash quant in the Hugging Face cache."""
    out = [check_file(p) for p in extra]
    try:
        from glmchat import hub

        catalog = hub.Catalog.load(offline=True)
        for quant in catalog.quants:
            path = hub.local_model_path(quant.name)
            if path is None:
                continue
            for f in quant.files:
                fp = path.parent / Path(f.path).name
                e = check_file(fp, f.sha256, verify)
                e["quant"] = quant.name
                out.append(e)
    except Exception as exc:  # the cache listing is a nicety; never let it break doctor
        out.append({"path": "(Hugging Face cache)", "ok": True, "problem": f"could not list downloaded quants: {exc}"})
    return out


def sandbox_report(settings: Any = None) -> dict[str, Any]:
    """Whether run_shell / python run in bubblewrap under these settings' [tools], and why (not)."""
    from glmchat.tools.sandbox import ProcessPolicy, sandbox_state

    policy = ProcessPolicy() if settings is None else ProcessPolicy.from_settings(settings)
    state = sandbox_state(policy)
    return {"active": state.active, "detail": state.reason, "network": policy.network, "env_allow": list(policy.env_allow)}


def sampling_report(settings: Any, machine: MachineInfo) -> dict[str, Any]:
    """[model] backend_sampling: the mode and the sampling path it picks here (glmchat.engine.backend_sampling)."""
    from glmchat.engine.backend_sampling import api_present, configured_path

    mode = getattr(getattr(settings, "model", None), "backend_sampling", "auto")
    try:
        import llama_cpp

        api = api_present(llama_cpp)
    except Exception:  # noqa: BLE001 - doctor reports a broken install elsewhere
        api = False
    return {"mode": mode, "path": configured_path(mode, bool(machine.gpu_offload), api)}


def speculative_report(settings: Any = None, model: Path | None = None) -> dict[str, Any]:
    """[model] speculative: the mode, the drafter it runs (with `model`: on that file, which may carry
    a NextN layer for MTP drafting), a note when they differ."""
    from glmchat.engine.speculative import mode_note, resolve_mode

    mode = getattr(getattr(settings, "model", None), "speculative", "auto")
    plain = {"mode": mode, "runs": resolve_mode(mode), "note": mode_note(mode)}
    if model is None:
        return plain
    try:
        import llama_cpp

        from glmchat.engine.mtp_draft import expected

        return expected(llama_cpp, read_gguf(model), mode)
    except Exception:  # noqa: BLE001 - the plan below reports an unreadable file
        return plain


def mcp_report(settings: Any = None) -> list[dict[str, Any]]:
    """[mcp.servers]: each configured server started (then stopped), with its status and tool names."""
    servers = getattr(getattr(settings, "mcp", None), "servers", None)
    if not servers:
        return []
    from glmchat.mcp.listing import probe_servers

    rows = probe_servers(settings)
    return [{"name": r["name"], "transport": r["transport"], "status": r["status"], "error": r["error"],
             "tools": [t["name"] for t in r["tools"]]} for r in rows]


def report(
    model: Path | None, n_ctx: int, kv_type: str = "f16", gpu_layers: Any = "auto", cpu_moe: Any = None, verify: bool = False,
    settings: Any = None,
) -> dict[str, Any]:
    """The whole report; `settings` (a Settings) decides the tool sandbox line."""
    machine = detect()
    rep: dict[str, Any] = {
        "glmchat": __import__("glmchat").__version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "llama_cpp_python": machine.llama_cpp_version,
        "backend": machine.backend,
        "gpu_offload": machine.gpu_offload,
        "devices": [d.__dict__ for d in machine.devices],
        "ram_total": machine.ram_total,
        "ram_available": machine.ram_available,
        "physical_cores": machine.physical_cores,
        "threads": machine.physical_cores,
        "rebuild_hint": rebuild_hint(machine),
        "sandbox": sandbox_report(settings),
        "speculative": speculative_report(settings),
        "sampling": sampling_report(settings, machine),
        "mcp": mcp_report(settings),
    }
    files = model_files([model] if model else [], verify=verify)
    rep["model_files"] = files
    target = model
    if target is None:
        target = next((Path(f["path"]) for f in files if f.get("ok") and f.get("quant")), None)
    if target is not None and target.exists():
        rep["speculative"] = speculative_report(settings, target)
        trained = next((f.get("context_train") for f in files if f.get("path") == str(target)), None)
        if isinstance(trained, int) and 0 < trained < n_ctx:
            n_ctx = trained  # the engine clamps to the trained context; plan for what it will get
        try:
            plan, best = plan_for(target, machine, n_ctx, kv_type, gpu_layers, cpu_moe, settings.model if settings else None)
            rep["plan"] = {
                "model": str(target),
                "n_ctx": n_ctx,
                "summary": plan.summary(),
                "reason": plan.reason,
                "n_gpu_layers": plan.n_gpu_layers,
                "cpu_moe_layers": plan.cpu_moe_layers,
                "gpu_bytes": plan.gpu_bytes,
                "ram_bytes": plan.ram_bytes,
                "kv_bytes": plan.kv_bytes,
                "fits": plan.fits,
                "flash_attn": plan.flash_attn,
                "largest_context": best,
            }
        except (GgufFormatError, OSError) as exc:
            rep["plan"] = {"model": str(target), "problem": str(exc)}
    return rep


def render(rep: dict[str, Any]) -> str:
    lines = [
        f"glmchat {rep['glmchat']} · Python {rep['python']} · {rep['platform']}",
        f"llama-cpp-python {rep['llama_cpp_python']} · backend {rep['backend']} · GPU offload {'yes' if rep['gpu_offload'] else 'no'}",
        f"RAM {size_text(rep['ram_available'])} available of {size_text(rep['ram_total'])} · {rep['physical_cores']} physical cores → {rep['threads']} threads",
        "Devices:",
    ]
    for d in rep["devices"]:
        lines.append(f"  {d['name']:<8} {d['kind']:<5} {d['description'][:40]:<40} {device_memory(d)}")
    if rep.get("rebuild_hint"):
        lines.append(f"! {rep['rebuild_hint']}")
    lines.append(sandbox_line(rep.get("sandbox")))
    if rep.get("speculative"):
        spec = rep["speculative"]
        lines.append(f"Speculative decoding: {spec['mode']} (runs: {spec.get('line') or spec['runs']})" + (f" · note: {spec['note']}" if spec["note"] else ""))
    if rep.get("sampling"):
        lines.append(f"Sampling: {rep['sampling']['path']}")
    for server in rep.get("mcp") or []:  # names and errors come from config and servers: the CLI shows them through visible()
        why = f" ({server['error']})" if server["error"] else f" · {len(server['tools'])} tools"
        lines.append(f"MCP server {server['name']} [{server['transport']}]: {server['status']}{why}")
    lines.append("Model files:")
    if not rep["model_files"]:
        lines.append("  none downloaded yet (glmchat download, or --model PATH)")
    for f in rep["model_files"]:
        status = ("ok" if not f.get("problem") else f"note: {f['problem']}") if f.get("ok") else f"PROBLEM: {f.get('problem')}"
        label = f"[{f['quant']}] " if f.get("quant") else ""
        size = f" {size_text(f['size'])}" if f.get("size") else ""
        mtp = " · NextN (MTP) layer" if f.get("nextn_layers") else ""
        lines.append(f"  {label}{f['path']}{size} · {f.get('architecture', '?')}{mtp} · {status}")
    plan = rep.get("plan")
    if plan and "summary" in plan:
        lines += [
            f"Offload plan for {Path(plan['model']).name} at {plan['n_ctx']:,} tokens: {plan['summary']}",
            f"  why: {plan['reason']}",
            f"  GPU {size_text(plan['gpu_bytes'])} · RAM {size_text(plan['ram_bytes'])} · KV cache {size_text(plan['kv_bytes'])} · flash attention {'on' if plan['flash_attn'] else 'off'}",
            f"  largest context that fits: {plan['largest_context']:,} tokens",
        ]
    elif plan:
        lines.append(f"Offload plan: {plan.get('problem')}")
    return "\n".join(lines)


def device_memory(d: dict[str, Any]) -> str:
    """A device's memory for the report; the CPU's is the system RAM, reported once on the RAM line."""
    if d["kind"] == "CPU":
        return "uses the RAM above"
    return f"{size_text(d['free'])} free of {size_text(d['total'])}"


def sandbox_line(box: dict[str, Any] | None) -> str:
    """"Tool sandbox: active (…)" or "Tool sandbox: off — why", for the report."""
    if not box:
        return "Tool sandbox: unknown"
    if box["active"]:
        return f"Tool sandbox: active — {box['detail']}"
    line = f"Tool sandbox: off — {box['detail']}; run_shell, python, /run and /py run without it (secrets still left out)"
    if not box["network"]:
        line += "; [tools] network = false: they are refused"
    return line
