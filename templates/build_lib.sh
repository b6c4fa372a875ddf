#!/bin/bash
# arith4ml's C-simulation library build: hls4ml's build_lib.sh, except that the two translation
# units compile at the same time (they are independent; the link waits for both), g++ may use this
# machine's vector instructions, and the language is C++11.
set -e

CC=g++
# -O3 for io_parallel, whose whole-frame native kernels live on vectorisation; -O2 for io_stream, where
# hls4ml's ap_fixed stream layers share the time and g++'s vectoriser would cost more compile time than it
# saves (toolchain/backends/writer.py chooses; docs/architecture.md, "C-simulation").
# -pthread: the batch entry point runs slices on threads.
CFLAGS="{{optimization}} -fPIC -pthread"

# C++11, the language Vivado HLS compiles: C-sim then also checks that the project stays within it.
# (hls4ml's script takes C++23 where g++ has it, for its half/bfloat16 types, which arith4ml projects never
# use; C++23 parses the same headers more slowly.)
CFLAGS+=" -std=c++11"

# The library is built for and run on this machine: let g++ use its vector units (AVX2 has the
# per-lane variable shifts the bitshift kernels need; baseline x86-64 SSE2 has none).  Floating
# point is not contracted into FMAs, so any float code (e.g. hls4ml's activation tables) computes
# what it computes without -march.  Integer results never depend on these flags.
if echo "" | ${CC} -Werror -fsyntax-only -march=native -ffp-contract=off -xc++ - -o /dev/null &> /dev/null; then
  CFLAGS+=" -march=native -ffp-contract=off"
fi

# Include -fno-gnu-unique if it is there
if echo "" | ${CC} -Werror -fsyntax-only -fno-gnu-unique -xc++ - -o /dev/null &> /dev/null; then
  CFLAGS+=" -fno-gnu-unique"
fi

# Which branches of arith4ml's headers the library simulates: ARITH4ML_CSIM_PATH=fast (default) takes the
# C-simulation fast path (native integers); synthesis defines ARITH4ML_SYNTHESIS_PATH and so compiles the
# branches Vitis HLS synthesises (ap types, weight ROMs, ap_fixed casts; see nnet_arith_common.h).
CSIM_PATH=${ARITH4ML_CSIM_PATH:-fast}
case "${CSIM_PATH}" in
  fast) ;;
  synthesis) CFLAGS+=" -DARITH4ML_SYNTHESIS_PATH" ;;
  *) echo "ARITH4ML_CSIM_PATH is '${CSIM_PATH}'; expected fast or synthesis" >&2; exit 2 ;;
esac

LDFLAGS=
INCFLAGS="-Ifirmware/ap_types/"
PROJECT={{project}}
# arith4ml csim names the library after a digest of its sources (ARITH4ML_LIB_STAMP); hls4ml's compile()
# uses the stamp the project was written with
LIB_STAMP=${ARITH4ML_LIB_STAMP:-{{stamp}}}
BASEDIR="$(cd "$(dirname "$0")" && pwd)"
WEIGHTS_DIR="\"${BASEDIR}/firmware/weights\""

# Objects and the library are built in a private directory and the finished library is moved into
# place, so an interrupted or failed build leaves nothing behind (and never a half-written library).
BUILD_DIR="$(mktemp -d "${BASEDIR}/.build.XXXXXX")"
trap 'rm -rf "${BUILD_DIR}"' EXIT
trap 'exit 130' INT TERM

echo "C-sim path ${CSIM_PATH}: ${CC} ${CFLAGS} ${INCFLAGS}"

${CC} ${CFLAGS} ${INCFLAGS} -D WEIGHTS_DIR="${WEIGHTS_DIR}" -c firmware/${PROJECT}.cpp -o "${BUILD_DIR}/${PROJECT}.o" &
TOP_PID=$!
${CC} ${CFLAGS} ${INCFLAGS} -D WEIGHTS_DIR="${WEIGHTS_DIR}" -c ${PROJECT}_bridge.cpp -o "${BUILD_DIR}/${PROJECT}_bridge.o" &
BRIDGE_PID=$!
FAILED=0
wait ${TOP_PID} || FAILED=1
wait ${BRIDGE_PID} || FAILED=1
if [ ${FAILED} -ne 0 ]; then
  exit 1
fi
${CC} ${CFLAGS} ${INCFLAGS} -shared "${BUILD_DIR}/${PROJECT}.o" "${BUILD_DIR}/${PROJECT}_bridge.o" -o "${BUILD_DIR}/lib.so"
mv -f "${BUILD_DIR}/lib.so" "firmware/${PROJECT}-${LIB_STAMP}.so"
