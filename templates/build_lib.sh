#!/bin/bash
# arith4ml's C-simulation library build: hls4ml's build_lib.sh, except that the two translation
# units compile at the same time (they are independent; the link waits for both) and g++ may use
# this machine's vector instructions.
set -e

CC=g++
CFLAGS="-O3 -fPIC"

# Include -std=c++23 if the compiler supports it (enables half and bfloat16 types, errors otherwise)
if echo "" | ${CC} -Werror -fsyntax-only -std=c++23 -xc++ - -o /dev/null &> /dev/null; then
  CFLAGS+=" -std=c++23"
else
  CFLAGS+=" -std=c++11"
fi

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

LDFLAGS=
INCFLAGS="-Ifirmware/ap_types/"
PROJECT={{project}}
LIB_STAMP={{stamp}}
BASEDIR="$(cd "$(dirname "$0")" && pwd)"
WEIGHTS_DIR="\"${BASEDIR}/firmware/weights\""

${CC} ${CFLAGS} ${INCFLAGS} -D WEIGHTS_DIR="${WEIGHTS_DIR}" -c firmware/${PROJECT}.cpp -o ${PROJECT}.o &
TOP_PID=$!
${CC} ${CFLAGS} ${INCFLAGS} -D WEIGHTS_DIR="${WEIGHTS_DIR}" -c ${PROJECT}_bridge.cpp -o ${PROJECT}_bridge.o &
BRIDGE_PID=$!
FAILED=0
wait ${TOP_PID} || FAILED=1
wait ${BRIDGE_PID} || FAILED=1
if [ ${FAILED} -ne 0 ]; then
  rm -f ${PROJECT}.o ${PROJECT}_bridge.o
  exit 1
fi
${CC} ${CFLAGS} ${INCFLAGS} -shared ${PROJECT}.o ${PROJECT}_bridge.o -o firmware/${PROJECT}-${LIB_STAMP}.so
rm -f ${PROJECT}.o ${PROJECT}_bridge.o
