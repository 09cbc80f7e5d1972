"""CUDA check of the upstream wrapper, without upstream code or data (GPU machines only).

A stand-in train_gpt.py (written here, in parameter-golf's log format) trains a tiny
model on the GPU under torchrun with NCCL, exactly as the parameter-golf template
launches it (`python -m torch.distributed.run --standalone --nproc_per_node=1`), under
the rlimits of that template's [sandbox.limits]. It checks what CPU tests cannot: CUDA
starts under those limits, worker lines stream live through torchrun, a stop of the
run frees the GPU (no orphaned worker), and a CUDA out-of-memory in a worker is named
with its line in the recipe.

    UPSTREAM_PYTHON=/path/to/python-with-cuda-torch python3.11 tests/gpu/upstream_cuda_check.py

As in a search, the wrapper runs on the harness's Python (3.11+, no packages needed
here) and launches the upstream's own interpreter (UPSTREAM_PYTHON, default this one).

It prints one line per check and exits non-zero if any failed. evaluators/upstream/
gpu_smoke.sh is the check with the real upstream recipes and data.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UPSTREAM_PYTHON = os.environ.get("UPSTREAM_PYTHON", sys.executable)
TEMPLATE = REPO / "evaluators" / "upstream" / "parameter_golf"
STANDIN = """\
import io, math, os, time, zlib
import torch
import torch.distributed as dist

mode, iters = os.environ["STANDIN_MODE"], int(os.environ.get("ITERATIONS", "30"))
dist.init_process_group("nccl")
torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
rank = dist.get_rank()

def log(text):
    if rank == 0:
        print(text, flush=True)

def main():
    model = torch.nn.Sequential(torch.nn.Embedding(256, 64), torch.nn.Linear(64, 256)).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x = torch.randint(0, 256, (64, 32), device="cuda")
    lossf = lambda: torch.nn.functional.cross_entropy(model(x).flatten(0, 1), x.flatten())
    log("warmup_step:1/1")
    start = time.perf_counter()
    for step in range(1, iters + 1):
        loss = lossf()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if mode == "oom" and step == 3:
            torch.empty(1 << 45, dtype=torch.uint8, device="cuda")
        ms = 1000 * (time.perf_counter() - start)
        log(f"step:{step}/{iters} train_loss:{loss.item():.4f} train_time:{ms:.0f}ms step_avg:1ms")
        time.sleep(0.05)
    log(f"peak memory allocated: {torch.cuda.max_memory_allocated() >> 20} MiB reserved: 0 MiB")
    if rank == 0:
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        blob = zlib.compress(buffer.getvalue(), 9)
        with open("final_model.int8.ptz", "wb") as handle:
            handle.write(blob)
        log(f"Serialized model int8+zlib: {len(blob)} bytes")
        log(f"Total submission size int8+zlib: {len(blob) + os.path.getsize(__file__)} bytes")
    if mode == "hang_eval":
        time.sleep(3600)
    with torch.no_grad():
        val = lossf().item()
    log(f"final_int8_zlib_roundtrip_exact val_loss:{val:.8f} val_bpb:{val / math.log(2):.8f}")
    dist.destroy_process_group()

main()
"""


def make_config(root: Path, mode: str) -> Path:
    """upstream.json as `init` writes it, from the real template, for the stand-in."""
    raw = tomllib.loads((TEMPLATE / "upstream.toml").read_text())
    checkout = root / "checkout"
    checkout.mkdir()
    (checkout / "train_gpt.py").write_text(STANDIN)
    raw.update(checkout=str(checkout), data=str(root), python=UPSTREAM_PYTHON, nproc=1)
    raw["env"] = {"STANDIN_MODE": mode}
    if mode == "hang_eval":
        raw["phases"]["eval_seconds"] = 5
    path = root / "upstream.json"
    path.write_text(json.dumps(raw))
    return path


def limit() -> None:
    """The template's [sandbox.limits], set as the harness's shim sets them."""
    limits = tomllib.loads((TEMPLATE / "task.toml").read_text())["sandbox"]["limits"]
    mib = 1 << 20
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_mb"] * mib,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_mb"] * mib,) * 2)
    cpu = int(limits["cpu_seconds_factor"] * 2200) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def run(mode: str, smoke: bool = False) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix=f"cuda-{mode}-"))
    config, work = make_config(root, mode), root / "work"
    work.mkdir()
    shutil.copy(root / "checkout" / "train_gpt.py", work)
    artifact = work / "artifacts" / "0"
    artifact.mkdir(parents=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(work),
        "PYTHONPATH": str(REPO),
        "AUTORECIPE_SEED": "0",
        "AUTORECIPE_ARTIFACT": str(artifact),
        "AUTORECIPE_SMOKE": "1" if smoke else "0",
    }
    argv = [sys.executable, "-P", "-m", "evaluators.upstream.run", str(config)]
    started = time.monotonic()
    done = subprocess.run(
        argv,
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=300,
        check=False,
    )
    arrivals = [json.loads(line) for line in done.stdout.splitlines()]
    result_file = artifact.with_name("0.upstream.json")
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    return {
        "rc": done.returncode,
        "log": done.stderr,
        "progress": arrivals,
        "result": result,
        "seconds": time.monotonic() - started,
        "files": sorted(p.name for p in artifact.iterdir()),
    }


def gpu_pids() -> list[str]:
    out = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return out.split()


def checks() -> list[tuple[str, bool, str]]:
    found = []
    ok = run("ok")
    found.append(
        (
            "torchrun+CUDA run under the limits scores",
            ok["rc"] == 0
            and ok["result"].get("label") == ""
            and ok["result"].get("score") is not None,
            f"rc={ok['rc']} result={json.dumps(ok['result'])[:300]} log_tail={ok['log'][-600:]!r}",
        )
    )
    found.append(
        (
            "progress streams from the worker",
            len(ok["progress"]) >= 20,
            f"{len(ok['progress'])} lines, first {ok['progress'][:2]}",
        )
    )
    found.append(
        (
            "the artifact holds code and model",
            ok["files"] == ["final_model.int8.ptz", "train_gpt.py"],
            str(ok["files"]),
        )
    )
    smoke = run("ok", smoke=True)
    found.append(
        (
            "smoke run stops at the size line",
            smoke["result"].get("stopped") == "smoke_done",
            f"stopped={smoke['result'].get('stopped')} in {smoke['seconds']:.1f} s",
        )
    )
    oom = run("oom")
    tail = oom["log"].strip().splitlines()[-2:]
    found.append(
        (
            "CUDA OOM is named at its recipe line",
            oom["rc"] != 0 and "OutOfMemoryError" in tail[-1] and "train_gpt.py" in tail[0],
            f"rc={oom['rc']} tail={tail} reason={oom['result'].get('reason', '')[:200]}",
        )
    )
    before = set(gpu_pids())
    hang = run("hang_eval")
    time.sleep(2)
    left = set(gpu_pids()) - before
    found.append(
        (
            "an evaluation past its cap is stopped and frees the GPU",
            hang["result"].get("label") == "eval_budget_overrun"
            and not left
            and hang["seconds"] < 120,
            f"label={hang['result'].get('label')} in {hang['seconds']:.1f} s, left on GPU: {left}",
        )
    )
    return found


def main() -> int:
    probe = (
        "import sys, torch; print(sys.version.split()[0], torch.__version__,"
        " torch.version.cuda, torch.cuda.get_device_name(0))"
    )
    versions = subprocess.run(
        [UPSTREAM_PYTHON, "-c", probe], capture_output=True, text=True, check=False
    )
    upstream = versions.stdout.strip() or versions.stderr[-300:]
    print(f"harness python {sys.version.split()[0]}; upstream python, torch, cuda, gpu: {upstream}")
    failed = 0
    for name, passed, detail in checks():
        failed += not passed
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
