"""``arith4ml convert``: Keras model -> HLS project with the Bitshift or RNS backend."""
from __future__ import annotations

import argparse
from pathlib import Path

from toolchain import project
from toolchain.boards import check_part, known_boards, load_board
from toolchain.errors import DataError


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="convert a Keras/QKeras model into an HLS project for a board or an FPGA part",
                       description="Convert a Keras/QKeras model into an hls4ml project with the Bitshift or RNS "
                                   "backend (C++ sources, Vivado build_prj.tcl, arith4ml.json).")
    p.add_argument("model", help="Keras model file (.keras or .h5), e.g. model.h5 written by 'arith4ml train'")
    p.add_argument("--backend", required=True, choices=sorted(project.BACKENDS),
                   help="arithmetic backend: bitshift (power-of-two, ternary and (N,k) weights as shifts and adds) "
                        "or rns (residue number system)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--board", help=f"board name, one of {', '.join(known_boards())} (sets part and clock)")
    target.add_argument("--part", help="FPGA part, e.g. xc7z020clg400-1 (clock 10 ns)")
    p.add_argument("-o", "--output", required=True,
                   help="project directory to create (refused if it exists, unless --force)")
    p.add_argument("--config", help="hls4ml-style YAML (Model / LayerName keys; Arithmetic, Moduli, Reverse, NK)")
    p.add_argument("--io-type", default="io_parallel", choices=project.IO_TYPES,
                   help="hls4ml I/O type of the project (default: io_parallel)")
    p.add_argument("--force", action="store_true", help="replace an existing arith4ml project directory")
    p.add_argument("--allow-lambda", action="store_true",
                   help="convert models with Lambda layers (loading them runs their Python code)")
    p.add_argument("--allow-inexact", action="store_true",
                   help="accept hls4ml's approximation of quantizers that no fixed point type reproduces (alpha "
                        "scales, stochastic rounding, ...); a warning names each, and csim says Keras exactness is "
                        "not promised (hls.yml: Model: AllowInexact: true)")
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


def run(args: argparse.Namespace) -> int:
    # cheap checks first, so that bad input is reported before TensorFlow loads the model
    part, clock = args.part, 10.0
    if args.part is not None:
        part = check_part(args.part, "--part")
    else:
        board = load_board(args.board)
        part, clock = board.part, board.clock_period_ns
    project.check_output_dir(args.output, args.force)
    if not Path(args.model).exists():
        raise DataError(f"model file '{args.model}' does not exist")
    user_config = project.read_user_config(args.config, args.backend)
    if args.allow_inexact:
        user_config.data["Model"] = {**(user_config.data.get("Model") or {}), "AllowInexact": True}
    training = project.training_metadata(args.model)
    if training is not None:
        _use_training(training, user_config, args.backend)
    model = project.load_keras_model(args.model, allow_lambda=args.allow_lambda)
    hm, _ = project.convert(model, args.backend, args.output, part, clock, args.io_type, user_config,
                            force=args.force, compile=False,
                            test_data=training["test_data"] if training is not None else None)
    planned = [layer.name for layer in hm.get_layers() if layer.get_attr("arith_plan") is not None]
    print(f"wrote {args.output}: backend {hm.config.backend.name}, part {part}, {args.io_type}, "
          f"{len(planned)} arith4ml layers ({', '.join(planned)})")
    return 0
