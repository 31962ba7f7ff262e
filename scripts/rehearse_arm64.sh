#!/usr/bin/env bash
# Rehearse the Raspberry Pi install on this x86 machine: a Debian arm64 root (debootstrap +
# qemu-user-static), the runtime-only set-up inside it (llama.cpp built for a Pi 4's Cortex-A72),
# one answer from the default model, and `profiles detect` on a Pi 4's and a Pi 5's records.
# Not part of CI: needs root, debootstrap, qemu-user-static with binfmt_misc, a Debian mirror and
# PyPI; under emulation the llama.cpp build alone takes an hour or more. Prints one result line.
#   sudo bash scripts/rehearse_arm64.sh            # ROOT=/var/tmp/edgesplit-arm64 SUITE=bookworm
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-/var/tmp/edgesplit-arm64}
SUITE=${SUITE:-bookworm}  # Python 3.11, as Raspberry Pi OS 12 ships it
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ARM_ARCH=${ARM_ARCH:-0xd08}  # the chroot sees this host's /proc/cpuinfo: name the Pi's core (0xd0b: Pi 5)
LOG=${LOG:-$ROOT.log}

for tool in debootstrap qemu-aarch64-static chroot; do
  command -v "$tool" >/dev/null || { echo "rehearse: $tool is missing (apt-get install debootstrap qemu-user-static)" >&2; exit 2; }
done
[ "$(id -u)" = "0" ] || { echo "rehearse: run as root (debootstrap and chroot)" >&2; exit 2; }
start=$(date +%s)
exec > >(tee "$LOG") 2>&1

if [ ! -x "$ROOT/usr/bin/python3" ]; then
  debootstrap --arch=arm64 --foreign --variant=minbase "$SUITE" "$ROOT" "$MIRROR"
  cp "$(command -v qemu-aarch64-static)" "$ROOT/usr/bin/"
  chroot "$ROOT" /debootstrap/debootstrap --second-stage
  chroot "$ROOT" apt-get update -qq
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    python3 python3-venv python3-dev build-essential cmake git patch ca-certificates make
fi
cleanup() { for m in dev/pts dev sys proc; do umount "$ROOT/$m" 2>/dev/null || true; done; }
trap cleanup EXIT
mount -t proc proc "$ROOT/proc"; mount --rbind /sys "$ROOT/sys"; mount --rbind /dev "$ROOT/dev"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"

# the committed tree, as a fresh clone would have it
rm -rf "$ROOT/opt/edgesplit" && mkdir -p "$ROOT/opt/edgesplit"
git archive HEAD | tar -x -C "$ROOT/opt/edgesplit"
in_root() { chroot "$ROOT" /bin/bash -c "cd /opt/edgesplit && $*"; }

in_root "EDGESPLIT_RUNTIME_ONLY=1 EDGESPLIT_ARM_ARCH=$ARM_ARCH PYTHON=python3 bash scripts/setup.sh"
if in_root ".venv/bin/python -c 'import torch'" 2>/dev/null; then echo "rehearse: torch got installed" >&2; exit 1; fi
answer=$(in_root ".venv/bin/edgesplit run --temperature 0 --max-tokens 24 'What is the capital of France?'")
echo "answer: $answer"
for board in pi4:raspberry-pi-4 pi5:raspberry-pi-5; do
  got=$(in_root ".venv/bin/edgesplit profiles detect --cpuinfo tests/edge/records/${board%%:*}-cpuinfo.txt \
        --device-tree tests/edge/records/${board%%:*}-model.bin --json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["profile"])')
  [ "$got" = "${board#*:}" ] || { echo "rehearse: ${board%%:*} records detected as $got" >&2; exit 1; }
done
case "$answer" in *Paris*) ;; *) echo "rehearse: the answer does not name Paris" >&2; exit 1 ;; esac
echo "rehearse: ok on Debian $SUITE arm64 (qemu), runtime-only set-up, llama.cpp for CPU part $ARM_ARCH," \
     "answer names Paris, Pi 4/5 records detected; $(( ($(date +%s) - start) / 60 )) min"
