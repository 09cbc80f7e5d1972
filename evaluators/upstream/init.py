"""Make a task folder for an upstream adapter from the user's checkout, data and Python.

    python -m evaluators.upstream.init parameter-golf --checkout ~/parameter-golf \\
        --data ~/parameter-golf/data --python ~/parameter-golf/.venv/bin/python --out ~/pg-task
    python cli.py search --task ~/pg-task --unsafe-no-sandbox --trials 20

The folder holds the template's task.toml, an upstream.json with the absolute paths and
launch rules, and recipe/ with the checkout's recipe files as the seed recipe. So the
task's content hash (recorded in every search) covers the exact upstream code, paths and
rules; re-run init after changing the checkout. `--list` names the adapters.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

from evaluators.tasks import TaskError, load
from evaluators.upstream.config import Config, adapter_names, template_dir

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = Path("~/.cache/autorecipe-upstream").expanduser()


class InitError(ValueError):
    """A folder that cannot be made; the message is one line for the user."""


def make_task(
    adapter: str, checkout: Path, data: Path, python: Path, out: Path, **overrides: Any
) -> Path:
    template = template_dir(adapter)
    if not (template / "upstream.toml").is_file():
        raise InitError(f"unknown adapter {adapter!r}: {', '.join(adapter_names())}")
    _check_inputs(checkout, data, python)
    task_text = (template / "task.toml").read_text()
    recipe = tomllib.loads(task_text)["recipe"]
    missing = [name for name in recipe if not (checkout / name).is_file()]
    if missing:
        raise InitError(f"{checkout}: not a {adapter} checkout, missing {', '.join(missing)}")
    _fresh(out, overrides.pop("force", False))
    root = json.dumps(str(PROJECT_ROOT))[1:-1]  # as it must appear inside a TOML string
    (out / "task.toml").write_text(task_text.replace("{autorecipe}", root))
    config = _config(template, checkout, data, python, **overrides)
    (out / "upstream.json").write_text(config.to_json())
    for name in recipe:
        (out / "recipe" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(checkout / name, out / "recipe" / name)
    try:
        load(str(out))
    except TaskError as error:
        raise InitError(str(error)) from None
    return out


def _config(template: Path, checkout: Path, data: Path, python: Path, **overrides: Any) -> Config:
    raw = tomllib.loads((template / "upstream.toml").read_text())
    raw.update(checkout=str(checkout), data=str(data), python=str(python))
    cache = overrides.get("cache") or DEFAULT_CACHE / raw["adapter"]
    raw["env"] = {**_compile_caches(cache), **raw.get("env", {}), **overrides.get("env", {})}
    if overrides.get("launch"):
        raw["launch"] = overrides["launch"]
    raw["launch"] = [*raw["launch"], *overrides.get("args", [])]
    if overrides.get("nproc"):
        raw["nproc"] = overrides["nproc"]
    return Config.from_dict(raw)


def _compile_caches(cache: Path) -> dict[str, str]:
    """Triton and inductor caches that outlive a trial: each train command gets its work
    dir as HOME, so the default (~/.triton) would compile every kernel afresh in every
    trial and seed, and airbench's time-per-cold-run would count that compile."""
    return {
        "TRITON_CACHE_DIR": str(cache / "triton"),
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
    }


def _check_inputs(checkout: Path, data: Path, python: Path) -> None:
    for path, what in ((checkout, "checkout"), (data, "data folder")):
        if not path.is_dir():
            raise InitError(f"{what} {path} is not a folder")
    if not python.is_file():
        raise InitError(f"{python}: no interpreter there (pass the one with your CUDA torch)")


def _fresh(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()) and not force:
        raise InitError(f"{out} is not empty (pass --force to replace the task files in it)")
    shutil.rmtree(out / "recipe", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluators.upstream.init", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("adapter", nargs="?", help=", ".join(adapter_names()))
    parser.add_argument("--list", action="store_true", help="name the adapters and exit")
    parser.add_argument("--checkout", type=Path, help="the upstream repository checkout")
    parser.add_argument("--data", type=Path, help="the data folder the upstream reads")
    parser.add_argument(
        "--python",
        type=Path,
        help="interpreter with the upstream's packages (default: CHECKOUT/.venv/bin/python)",
    )
    parser.add_argument("--out", type=Path, help="the task folder to write")
    parser.add_argument("--nproc", type=int, help="processes (GPUs) for torchrun")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment for the upstream run (repeatable)",
    )
    parser.add_argument(
        "--arg",
        action="append",
        default=[],
        dest="args",
        help="an argument appended to the launch (repeatable)",
    )
    parser.add_argument("--launch", type=json.loads, help="the whole launch argv, as JSON")
    parser.add_argument(
        "--cache",
        type=Path,
        help=f"compile caches shared by the trials (default: {DEFAULT_CACHE}/ADAPTER)",
    )
    parser.add_argument("--force", action="store_true")
    return parser


def _pairs(items: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, _sep, value = item.partition("=")
        pairs[key] = value
    return pairs


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.list or not args.adapter:
        sys.stdout.write("\n".join(adapter_names()) + "\n")
        return 0
    if args.checkout is None or args.data is None or args.out is None:
        sys.stderr.write("error: --checkout, --data and --out are required\n")
        return 2
    checkout, data = args.checkout.expanduser().resolve(), args.data.expanduser().resolve()
    python = (args.python or checkout / ".venv" / "bin" / "python").expanduser().absolute()
    env = _pairs(args.env)
    try:
        out = make_task(
            args.adapter,
            checkout,
            data,
            python,
            args.out.expanduser().resolve(),
            env=env,
            args=args.args,
            launch=args.launch,
            nproc=args.nproc,
            cache=args.cache and args.cache.expanduser().resolve(),
            force=args.force,
        )
    except InitError as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    sys.stdout.write(f"wrote {out}\nrun: python cli.py search --task {out} --unsafe-no-sandbox\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
