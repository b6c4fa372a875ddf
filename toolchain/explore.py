"""``arith4ml explore CONFIG.yml -o DIR``: design-space exploration of ROUP approximate-multiplier assignments.

Following MAx-DNN, the sweep assigns approximate multipliers at **layer**, **filter** (output channel) and
**kernel** (output x input channel) granularity, giving the most error-resilient units the most aggressive
multiplier of a ladder (``multipliers``, least to most aggressive).  Resilience is a cheap proxy measured once
on a calibration split (per-kernel injected output error from second moments of the calibration activations,
normalised by the output channel's spread, weighted by each layer's measured output sensitivity); the exact
definition, the ranking and the graded assignment of a point ``(granularity, level, fraction)`` are in
:mod:`toolchain.explore_plan` and docs/explore.md.  The config keys are in :mod:`toolchain.explore_config`.

Each point is then evaluated for real: test accuracy of the 8-bit model whose Dense/Conv2D layers are
``toolchain.quant.to_approx`` layers running the **closed-form** emulation (``toolchain.arith.approx``), loss
in points vs the all-exact 8-bit model (point 0), and multiplier energy from ``toolchain.energy``
(``sum_units products x multiplier_energy``; saving vs all products on ``exact_multiplier_energy()``).

Outputs in DIR, each written atomically: ``points.csv`` (rewritten after every finished point, so Ctrl-C keeps
the finished rows and a re-run resumes, skipping the point ids already there with the same assignment),
``pareto.png``, ``best.yml`` (hls4ml config of the highest-saving point within ``budget`` points of loss, read by
``arith4ml convert ... --backend approx --config best.yml``) and ``approx_model.h5`` (that point's model with the
calibration-chosen 8-bit grids).

Execution: in-process (``--workers 1``), ``--workers N`` local spawn processes, or ``--ray ADDRESS|local``
(Ray actors, ``--workers`` of them); each worker loads the model once.  Results are the same in every mode.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from toolchain.atomic import atomic_file, write_text_atomic
from toolchain.errors import Arith4mlError, ConfigError, DataError
from toolchain.explore_config import ExploreConfig, load_config
from toolchain.explore_model import Evaluator, Job
from toolchain.explore_plan import (
    LayerShape,
    Point,
    decode_assignment,
    layer_shapes,
    measure_resilience,
    plan_sweep,
    point_energy,
)

COLUMNS = ("id", "granularity", "level", "fraction", "top_multiplier", "approx_fraction", "correct", "samples",
           "accuracy", "loss_points", "energy_pj", "exact_energy_pj", "saving", "ladder", "assignment")
POINTS, PARETO, BEST, APPROX_MODEL = "points.csv", "pareto.png", "best.yml", "approx_model.h5"
RAY_CONNECT_TIMEOUT_S = 3.0  # TCP check of a Ray address before ray.init, which may otherwise retry for minutes
Task = tuple  # (point id, {layer: ladder index array})


# --------------------------------------------------------------------------- workers

_WORKER: dict = {}


def _pool_init(job: Job) -> None:
    """Spawned worker: the parent handles Ctrl-C (and terminates the pool), so the worker ignores SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        _WORKER["ev"] = Evaluator(job)
    except Exception as exc:  # a failing initializer would be respawned forever: report it from the first task
        _WORKER["error"] = exc


def _pool_eval(task: Task) -> tuple[int, int, int]:
    if "error" in _WORKER:
        raise _WORKER["error"]
    pid, index = task
    return (pid, *_WORKER["ev"].accuracy(index))


class RayEvaluator:
    """Body of a Ray actor: one :class:`Evaluator` per actor."""

    def __init__(self, job: Job):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.ev = Evaluator(job)

    def evaluate(self, task: Task) -> tuple[int, int, int]:
        pid, index = task
        return (pid, *self.ev.accuracy(index))


def check_ray_address(address: str) -> None:
    """ConfigError (one line) unless ``address`` is ``local`` or a ``[ray://]HOST:PORT`` that accepts TCP within
    :data:`RAY_CONNECT_TIMEOUT_S`."""
    if address == "local":
        return
    text = address.split("://", 1)[-1]
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"--ray {address!r}: expected 'local', HOST:PORT (a Ray head's GCS) or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConfigError(f"Ray address {address!r} does not answer ({host}:{port}: {reason} within "
                          f"{RAY_CONNECT_TIMEOUT_S:g} s); start the cluster ('ray start --head') or use --ray local") \
            from None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'arith4ml[ray]'") from None
    return ray


def _run_ray(job: Job, tasks: list[Task], address: str, n: int, on_result: Callable) -> None:
    ray = _import_ray()
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        if address == "local":
            ray.init(num_cpus=n, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except Exception as exc:  # noqa: BLE001 - Ray raises many types; the user needs one line
        raise ConfigError(f"cannot start or join Ray at {address!r}: {(str(exc).splitlines() or [''])[0]}") from None
    try:
        from ray.util import ActorPool

        actor = ray.remote(num_cpus=1)(RayEvaluator)
        pool = ActorPool([actor.remote(job) for _ in range(n)])
        for result in pool.map_unordered(lambda a, t: a.evaluate.remote(t), tasks):
            on_result(*result)
    finally:
        ray.shutdown()


def _run_pool(job: Job, tasks: list[Task], n: int, on_result: Callable) -> None:
    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(n, initializer=_pool_init, initargs=(job,))
    try:
        for result in pool.imap_unordered(_pool_eval, tasks):
            on_result(*result)
        pool.close()
    finally:
        pool.terminate()  # also on Ctrl-C: no orphaned workers
        pool.join()


def run_tasks(job: Job, tasks: list[Task], on_result: Callable, workers: int = 1, ray_address: str | None = None,
              evaluator: Evaluator | None = None) -> None:
    """Evaluate ``tasks`` in-process (``workers == 1``, reusing ``evaluator``), in ``workers`` spawned processes,
    or as Ray actors; ``on_result(point_id, correct, samples)`` for each as it finishes (in the calling thread)."""
    if not tasks:
        return
    if ray_address is not None:
        _run_ray(job, tasks, ray_address, workers, on_result)
    elif workers > 1:
        _run_pool(job, tasks, min(workers, len(tasks)), on_result)
    else:
        ev = evaluator or Evaluator(job)
        for pid, index in tasks:
            on_result(pid, *ev.accuracy(index))


# --------------------------------------------------------------------------- points.csv

def _fmt(v: float, digits: int = 6) -> str:
    return f"{v:.{digits}f}"


def point_row(point: Point, correct: int, samples: int, base_acc: float, energy: float, exact: float,
              ladder: tuple[str, ...]) -> dict[str, str]:
    """The points.csv row of ``point`` (strings, so that a resumed table is copied byte for byte)."""
    acc = correct / samples
    return {"id": str(point.id), "granularity": point.granularity, "level": str(point.level),
            "fraction": _fmt(point.fraction, 4), "top_multiplier": ladder[point.level] if point.level else "exact",
            "approx_fraction": _fmt(point.approx_fraction), "correct": str(correct), "samples": str(samples),
            "accuracy": _fmt(acc), "loss_points": _fmt(100.0 * (base_acc - acc), 4), "energy_pj": _fmt(energy, 4),
            "exact_energy_pj": _fmt(exact, 4), "saving": _fmt(1.0 - energy / exact if exact else 0.0),
            "ladder": "|".join(ladder), "assignment": point.assignment}


def _same_point(row: dict, point: Point, ladder: tuple[str, ...]) -> bool:
    return (row.get("granularity") == point.granularity and row.get("level") == str(point.level)
            and row.get("fraction") == _fmt(point.fraction, 4) and row.get("ladder") == "|".join(ladder)
            and row.get("assignment") == point.assignment)


def read_points(path: Path) -> list[dict[str, str]]:
    """The rows of an existing points.csv (ConfigError if it is not one of ours)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise ConfigError(f"'{path}' is not an arith4ml explore points table (other columns); remove it or "
                                  "choose another output directory")
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"'{path}' is not a readable points table ({exc}); remove it or choose another "
                          "output directory") from None


def write_points(path: Path, rows: Iterable[dict[str, str]]) -> None:
    """points.csv sorted by id, replaced atomically."""
    with atomic_file(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in sorted(rows, key=lambda r: int(r["id"])):
            writer.writerow(row)


# --------------------------------------------------------------------------- best point, best.yml, pareto.png

def pareto_front(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows no other row beats on both saving (higher) and loss (lower), by increasing saving."""
    pts = [(float(r["saving"]), float(r["loss_points"]), r) for r in rows]
    front = [r for s, lo, r in pts
             if not any(s2 >= s and lo2 <= lo and (s2 > s or lo2 < lo) for s2, lo2, _ in pts)]
    return sorted(front, key=lambda r: (float(r["saving"]), float(r["loss_points"])))


def best_row(rows: list[dict[str, str]], budget: float) -> dict[str, str]:
    """Highest saving with loss <= ``budget`` points (then the lower loss, then the lower id)."""
    ok = [r for r in rows if float(r["loss_points"]) <= budget + 1e-9]
    return min(ok, key=lambda r: (-float(r["saving"]), float(r["loss_points"]), int(r["id"])))


def approx_config(row: dict[str, str], shapes: list[LayerShape]) -> dict:
    """``{layer: Approx value}`` of a row for every Dense/Conv2D layer: a spec string where one multiplier serves
    the whole layer, else ``{multipliers: [used specs], index: [...]}`` (filter: n_out, kernel: n_out x n_in)."""
    ladder = row["ladder"].split("|")
    index = decode_assignment(row["assignment"], shapes, row["granularity"]) if row["granularity"] != "exact" else {}
    out = {}
    for s in shapes:
        idx = index.get(s.name)
        used = [] if idx is None else sorted(set(int(v) for v in np.asarray(idx).reshape(-1)))
        if idx is None:
            out[s.name] = "exact"
        elif len(used) == 1:
            out[s.name] = ladder[used[0]]
        else:
            remap = np.zeros(len(ladder), dtype=np.int64)
            remap[used] = np.arange(len(used))
            out[s.name] = {"multipliers": [ladder[u] for u in used], "index": remap[idx].tolist()}
    return out


def write_best_yml(path: Path, row: dict[str, str], shapes: list[LayerShape], budget: float) -> None:
    import yaml

    layers = {name: {"Approx": value} for name, value in approx_config(row, shapes).items()}
    head = (f"# arith4ml explore: the highest multiplier-energy saving within {budget:g} points of accuracy loss\n"
            f"# point {row['id']} ({row['granularity']}, level {row['level']}, fraction {row['fraction']}): "
            f"accuracy {row['accuracy']}, loss {row['loss_points']} points, saving {float(row['saving']):.4f}\n"
            f"# arith4ml convert {APPROX_MODEL} --backend approx --config {BEST}\n")
    body = yaml.safe_dump({"LayerName": layers}, sort_keys=False, default_flow_style=None, width=120)
    write_text_atomic(path, head + body)


def write_pareto_png(path: Path, rows: list[dict[str, str]], best: dict[str, str], budget: float,
                     title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for g, marker in (("layer", "s"), ("filter", "^"), ("kernel", "o"), ("exact", "D")):
        sel = [r for r in rows if r["granularity"] == g]
        if sel:
            ax.scatter([100 * float(r["saving"]) for r in sel], [float(r["loss_points"]) for r in sel],
                       marker=marker, s=28, alpha=0.75, label=g if g != "exact" else "all exact")
    front = pareto_front(rows)
    ax.plot([100 * float(r["saving"]) for r in front], [float(r["loss_points"]) for r in front], "k--", lw=1,
            label="Pareto front")
    ax.scatter([100 * float(r["saving"]) for r in front], [float(r["loss_points"]) for r in front],
               facecolors="none", edgecolors="k", s=70)
    ax.axhline(budget, color="C3", lw=0.8, ls=":", label=f"budget {budget:g} points")
    ax.scatter([100 * float(best["saving"])], [float(best["loss_points"])], marker="*", s=220, color="C3",
               zorder=5, label=f"best.yml (point {best['id']})")
    ax.set_xlabel("multiplier-energy saving vs exact 8-bit (%)")
    ax.set_ylabel("accuracy loss (points)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    with atomic_file(path, "wb") as fh:
        fh.write(buf.getvalue())


def write_approx_model(path: Path, ev: Evaluator, row: dict[str, str], shapes: list[LayerShape]) -> None:
    """The row's model from ``to_approx`` (calibration-chosen 8-bit grids), saved as HDF5 atomically."""
    from toolchain.files import save_keras_h5
    from toolchain.quant.approx_layers import to_approx

    cfg = approx_config(row, shapes)
    mults = {n: (v["multipliers"] if isinstance(v, dict) else v) for n, v in cfg.items()}
    asg = {n: v["index"] for n, v in cfg.items() if isinstance(v, dict)}
    model = to_approx(ev.model, mults, calib_x=ev.calib_x, assignment=asg)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_keras_h5(model, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the command

def _job(cfg: ExploreConfig, targets: tuple[str, ...]) -> Job:
    d = cfg.data
    return Job(model=cfg.model, data_name=d.name, data_options=tuple(sorted(d.options().items())),
               calibration=cfg.calibration, test_samples=cfg.test_samples, seed=cfg.seed, ladder=cfg.multipliers,
               targets=targets)


def _evaluator(cfg: ExploreConfig) -> Evaluator:
    """The main process's evaluator; data problems name the config's data key."""
    try:
        return Evaluator(_job(cfg, ()))
    except DataError as exc:
        if "model file" in str(exc) or "Keras model" in str(exc):
            raise cfg.error(("model",), str(exc), DataError) from None
        raise cfg.error(("data",), str(exc), DataError) from None


def _targets(cfg: ExploreConfig, ev: Evaluator) -> tuple[str, ...]:
    known = list(ev.layers)
    if not known:
        raise cfg.error(("model",), "the model has no Dense or Conv2D layer to approximate")
    if cfg.layers is None:
        return tuple(known)
    for i, name in enumerate(cfg.layers):
        if name not in ev.layers:
            raise cfg.error(("layers", i), f"layer {name!r} is not a Dense/Conv2D layer of the model "
                                           f"(those are: {', '.join(known)})")
    return tuple(n for n in known if n in cfg.layers)


def _say(text: str) -> None:
    print(f"arith4ml explore: {text}", file=sys.stderr, flush=True)


def explore(cfg: ExploreConfig, out_dir: str | os.PathLike | None = None, workers: int = 1,
            ray_address: str | None = None, quiet: bool = False) -> dict:
    """Run (or resume) the sweep of ``cfg`` into ``out_dir``; returns a summary (baseline, best row, outputs)."""
    from tqdm import tqdm

    from toolchain.energy import exact_multiplier_energy, multiplier_energy

    if ray_address is not None:
        _import_ray()
        check_ray_address(ray_address)
    out = cfg.output_dir(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output '{out}' exists and is not a directory")
    t0 = time.perf_counter()
    ev = _evaluator(cfg)
    targets = _targets(cfg, ev)
    job = _job(cfg, targets)
    ev.job = job
    shapes = layer_shapes(ev.amodel, targets)
    exact_e = exact_multiplier_energy()
    energies = [multiplier_energy(m) for m in ev.ladder]
    all_exact = sum(s.products for s in shapes) * exact_e

    n_res = sum(s.explored for s in shapes) * (len(ev.ladder) - 1)
    with tqdm(total=n_res, desc="resilience", unit="layer-level", file=sys.stderr, disable=quiet, leave=False) as bar:
        res = measure_resilience(ev, shapes, progress=lambda: bar.update(1))
    points = plan_sweep(shapes, res, cfg.granularities, cfg.levels, cfg.fractions)

    out.mkdir(parents=True, exist_ok=True)
    done: dict[int, dict[str, str]] = {}
    if (out / POINTS).exists():
        old = {r.get("id"): r for r in read_points(out / POINTS)}
        done = {p.id: old[str(p.id)] for p in points if str(p.id) in old and _same_point(old[str(p.id)], p,
                                                                                         cfg.multipliers)}
        other = len(old) - len(done)
        _say(f"resuming: {len(done)} of {len(points)} points already in {out / POINTS}"
             + (f"; {other} row(s) of another sweep recomputed" if other else ""))
    by_id = {p.id: p for p in points}
    if 0 not in done:  # the all-exact baseline, in this process: every loss is measured against it
        done[0] = point_row(points[0], *ev.accuracy({}), 1.0, all_exact, all_exact, cfg.multipliers)
        done[0]["loss_points"] = _fmt(0.0, 4)
        write_points(out / POINTS, done.values())
    base_acc = int(done[0]["correct"]) / int(done[0]["samples"])

    todo = [(p.id, p.index) for p in points if p.id not in done]
    with tqdm(total=len(todo), desc="explore", unit="point", file=sys.stderr, disable=quiet) as bar:
        def finished(pid: int, correct: int, samples: int) -> None:
            p = by_id[pid]
            energy = point_energy(p, shapes, energies, exact_e)
            done[pid] = point_row(p, correct, samples, base_acc, energy, all_exact, cfg.multipliers)
            write_points(out / POINTS, done.values())
            bar.update(1)

        run_tasks(job, todo, finished, workers=workers, ray_address=ray_address, evaluator=ev)

    rows = [done[p.id] for p in points]
    best = best_row(rows, cfg.budget)
    write_best_yml(out / BEST, best, shapes, cfg.budget)
    write_pareto_png(out / PARETO, rows, best, cfg.budget, f"{Path(cfg.path).name}: {Path(cfg.model).name}")
    write_approx_model(out / APPROX_MODEL, ev, best, shapes)
    return {"output": str(out), "baseline_accuracy": base_acc, "best": best, "points": len(rows),
            "seconds": time.perf_counter() - t0,
            "best_by_granularity": {g: best_row([r for r in rows if r["granularity"] in (g, "exact")], cfg.budget)
                                    for g in cfg.granularities}}


def _run(args) -> int:
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: needs at least 1")
    cfg = load_config(args.config)
    try:
        summary = explore(cfg, args.output, workers=args.workers, ray_address=args.ray, quiet=args.quiet)
    except Arith4mlError:
        raise
    b = summary["best"]
    print(f"baseline (all exact, 8-bit) accuracy {summary['baseline_accuracy']:.4f}; {summary['points']} points")
    for g, r in summary["best_by_granularity"].items():
        print(f"  best {g:6s} within {cfg.budget:g} points: saving {100 * float(r['saving']):5.1f} %  loss "
              f"{float(r['loss_points']):5.2f} points  (point {r['id']})")
    print(f"best point {b['id']} ({b['granularity']}): saving {100 * float(b['saving']):.1f} %, loss "
          f"{float(b['loss_points']):.2f} points -> {summary['output']}/{{{POINTS},{PARETO},{BEST},{APPROX_MODEL}}}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("explore", help="sweep approximate-multiplier (ROUP) assignments at layer, filter and "
                                              "kernel granularity (points.csv, pareto.png, best.yml)",
                              description="Design-space exploration of approximate-multiplier assignments "
                                          "(MAx-DNN): rank layers, filters and kernels by a calibration resilience "
                                          "proxy, give the most resilient the most aggressive multiplier of the "
                                          "ladder, evaluate every point's test accuracy and multiplier energy, and "
                                          "write points.csv, pareto.png, best.yml (hls4ml config for "
                                          "'convert --backend approx') and approx_model.h5. See docs/explore.md.")
    p.add_argument("config", help="YAML explore config (see examples/explore_digits.yml)")
    p.add_argument("-o", "--output", help="output directory (default: 'output' key or runs/<config name>); a "
                                          "points.csv already there is resumed")
    p.add_argument("--workers", type=int, default=1, help="worker processes (1: in this process), or Ray actors "
                                                          "with --ray (default 1)")
    p.add_argument("--ray", metavar="ADDRESS", help="run the points as Ray actor tasks: 'local' starts a local Ray, "
                                                    "HOST:PORT or ray://HOST:PORT joins a cluster (which must see "
                                                    "the model and data files)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)
