"""``arith4ml convert``: Keras model -> HLS project with the Bitshift, RNS or Approx backend."""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from toolchain import essop_hls, estimate, project
from toolchain.boards import Board, check_part, known_boards, load_board
from toolchain.errors import ConfigError, DataError


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="convert a Keras/QKeras model into an HLS project for a board or an FPGA part",
                       description="Convert a Keras/QKeras model into an hls4ml project with the Bitshift, RNS or "
                                   "Approx backend (C++ sources, Vivado build_prj.tcl, arith4ml.json).")
    p.add_argument("model", help="Keras model file (.keras or .h5), e.g. model.h5 written by 'arith4ml train'")
    p.add_argument("--backend", required=True, choices=sorted(project.BACKENDS),
                   help="arithmetic backend: bitshift (power-of-two, ternary and (N,k) weights as shifts and adds), "
                        "rns (residue number system) or approx (8-bit products by approximate multipliers: ROUP(k,m) "
                        "or 256x256 tables per layer, filter or kernel; config key Approx)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--board", help=f"board name, one of {', '.join(known_boards())} (sets part and clock)")
    target.add_argument("--part", help="FPGA part, e.g. xc7z020clg400-1 (clock 10 ns)")
    p.add_argument("-o", "--output", required=True,
                   help="project directory to create (refused if it exists, unless --force)")
    p.add_argument("--config",
                   help="hls4ml-style YAML (Model / LayerName keys; Arithmetic, Moduli, Reverse, NK, Approx)")
    p.add_argument("--io-type", default="io_parallel", choices=project.IO_TYPES,
                   help="hls4ml I/O type of the project (default: io_parallel)")
    p.add_argument("--force", action="store_true", help="replace an existing arith4ml project directory")
    p.add_argument("--allow-lambda", action="store_true",
                   help="convert models with Lambda layers (loading them runs their Python code)")
    p.add_argument("--allow-inexact", action="store_true",
                   help="accept hls4ml's approximation of quantizers that no fixed point type reproduces (alpha "
                        "scales, stochastic rounding, ...); a warning names each, and csim says Keras exactness is "
                        "not promised (hls.yml: Model: AllowInexact: true)")
    p.add_argument("--essop-update", metavar="LAYER",
                   help="add an HLS function that updates LAYER's weights on chip by the ESSOP stochastic outer "
                        "product (the last Dense layer; docs/essop.md; hls.yml: Model: EssopUpdate: {Layer: LAYER, "
                        "BL: 64, LrShift: 0})")
    p.add_argument("--fit", metavar="BOARD",
                   help="choose per-layer ReuseFactors (Strategy Resource where above 1) so that the resource "
                        f"estimate fits {estimate.FIT_TARGET * 100:.0f} percent of BOARD's part (docs/estimate.md); "
                        "a layer's own ReuseFactor or Strategy in --config is kept")
    p.set_defaults(func=run)


def _use_training(training: dict, user_config, backend: str) -> None:
    """Take over what 'arith4ml train' recorded next to the model: for RNS its residue moduli as BaseModuli
    (unless the config sets moduli itself), and its test split as the project's default csim data."""
    print(f"using {training['path']} from 'arith4ml train'")
    moduli = training["residue_moduli"]
    model_cfg = user_config.data.get("Model") or {}
    if project.BACKENDS.get(backend.lower()) == "RNS" and moduli and not {"Moduli", "BaseModuli"} & set(model_cfg):
        user_config.data["Model"] = {**model_cfg, "BaseModuli": list(moduli)}
        print(f"  RNS: BaseModuli {list(moduli)}, the moduli the residue regularizer trained for (extended per "
              "layer where they do not cover its accumulator; set Moduli or BaseModuli in --config to choose)")
    if training["test_data"] is not None:
        print(f"  test split {training['test_data']} kept in the project: 'arith4ml csim' uses it by default")


def _fit_board(name: str | None) -> Board | None:
    """The --fit board (ConfigError for an unknown one, or one whose file lists no resources)."""
    if name is None:
        return None
    board = load_board(name)
    if board.resources is None:
        raise ConfigError(f"--fit {name}: the board file lists no resources (lut, ff, bram36, dsp), so there is no "
                          "budget to fit")
    return board


def user_set_layers(user_config) -> list[str]:
    """Layers whose ReuseFactor or Strategy the user's config sets (``--fit`` keeps them)."""
    layers = user_config.data.get("LayerName") or {}
    return [name for name, entry in layers.items() if {"ReuseFactor", "Strategy"} & set(entry or {})]


def fit(model, args: argparse.Namespace, board: Board, part: str, clock: float, user_config) -> dict:
    """``--fit``: convert once without writing, choose ReuseFactors on the estimate, put them in the user's config
    (LayerName entries), print them; returns what the project records (``Fit.as_dict``)."""
    hm = project.build_model(model, args.backend, part, clock, args.io_type, user_config)
    fixed = user_set_layers(user_config)
    result = estimate.fit_reuse_factors(hm, board, fixed=fixed)
    layers = user_config.data.get("LayerName") or {}
    for name, entry in result.config_entries().items():
        layers[name] = {**(layers.get(name) or {}), **entry}
    user_config.data["LayerName"] = layers
    print(format_fit(result, board))
    if not result.fits:
        over = "; ".join(f"{estimate.RESOURCE_NAMES[o.resource]} {o.total:,} > {o.budget:,} (largest: "
                         f"{', '.join(f'{n} {a:,} {estimate.RESOURCE_NAMES[o.resource]}' for n, a in o.culprits)})"
                         for o in result.problems)
        warnings.warn(f"--fit {board.name}: no ReuseFactor brings the estimate within {result.target:.0%} of "
                      f"{board.part}: {over}; the project uses the largest ReuseFactors that help", stacklevel=2)
    return result.as_dict()


def format_fit(result: estimate.Fit, board: Board) -> str:
    """The ReuseFactors ``--fit`` chose and the estimate they give, one line per layer."""
    lines = [f"--fit {board.name} ({board.part}): ReuseFactors for at most {result.target:.0%} of each of the "
             f"part's LUT/FF/BRAM36/DSP ({estimate.DISCLAIMER})"]
    for name, (_, reuse) in result.choices.items():
        lines.append(f"  {name:12s} ReuseFactor {reuse:<6d} Strategy {'Resource' if reuse > 1 else 'Latency'}")
    lines += [f"  {name:12s} as configured (its ReuseFactor/Strategy in --config wins over --fit)"
              for name in result.fixed]
    budget = board.resources.as_dict()
    totals = result.estimate.totals
    lines.append("  estimate: " + ", ".join(f"{estimate.RESOURCE_NAMES[r]} {totals[r]:,} of {budget[r]:,}"
                                             for r in estimate.RESOURCES))
    slowest = max((e for e in result.estimate.layers if e.cycles), key=lambda e: e.cycles, default=None)
    if slowest is not None:
        lines.append(f"  slowest layer: {slowest.layer}, {slowest.cycles:,} cycles per frame (output pixels x "
                     f"pixel II; {board.clock_period_ns:g} ns clock: "
                     f"{1e9 / (slowest.cycles * board.clock_period_ns):,.0f} frames/s at best)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    # cheap checks first, so that bad input is reported before TensorFlow loads the model
    part, clock = args.part, 10.0
    if args.part is not None:
        part = check_part(args.part, "--part")
    else:
        board = load_board(args.board)
        part, clock = board.part, board.clock_period_ns
    fit_board = _fit_board(args.fit)
    if fit_board is not None and fit_board.part.lower() != part.lower():
        warnings.warn(f"--fit {fit_board.name} fits the budget of {fit_board.part}, but the project targets {part}",
                      stacklevel=2)
    project.check_output_dir(args.output, args.force)
    if not Path(args.model).exists():
        raise DataError(f"model file '{args.model}' does not exist")
    user_config = project.read_user_config(args.config, args.backend)
    if args.allow_inexact:
        user_config.data["Model"] = {**(user_config.data.get("Model") or {}), "AllowInexact": True}
    if args.essop_update is not None:
        user_config.data["Model"] = essop_hls.with_layer(user_config.data.get("Model"), args.essop_update)
    training = project.training_metadata(args.model)
    if training is not None:
        _use_training(training, user_config, args.backend)
    model = project.load_keras_model(args.model, allow_lambda=args.allow_lambda)
    fitted = fit(model, args, fit_board, part, clock, user_config) if fit_board is not None else None
    hm, _ = project.convert(model, args.backend, args.output, part, clock, args.io_type, user_config,
                            force=args.force, compile=False,
                            test_data=training["test_data"] if training is not None else None,
                            board=args.board, fit=fitted)
    planned = [layer.name for layer in hm.get_layers() if layer.get_attr("arith_plan") is not None]
    print(f"wrote {args.output}: backend {hm.config.backend.name}, part {part}, {args.io_type}, "
          f"{len(planned)} arith4ml layers ({', '.join(planned)})")
    if getattr(hm, "essop", None) is not None:
        print(essop_hls.describe(hm.essop.spec))
    return 0
