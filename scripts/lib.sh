# shellcheck shell=bash
# Shared by scripts/test.sh and scripts/demo.sh: install what is missing.
# Source it; it defines functions only.

# Run apt-get as root (directly, or through sudo when there is one).
apt_install() {
  local sudo=()
  [[ "$(id -u)" == 0 ]] || sudo=(sudo)
  echo "install: apt-get install $*"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

# Everything the broker, the verifier and the builds need, installed only when
# absent: Java >= 17 and Maven (Kafka jars), unzip (jar check), flock/setsid
# (util-linux), python3 with venv, and with --rust-targets (not with
# --no-rust-targets) the bare-metal Rust target.
ensure_tools() {
  local pkgs=()
  if ! command -v java >/dev/null || (($(java_major || echo 0) < 17)); then
    pkgs+=(openjdk-17-jre-headless)
  fi
  command -v mvn >/dev/null || pkgs+=(maven)
  command -v unzip >/dev/null || pkgs+=(unzip)
  command -v flock >/dev/null && command -v setsid >/dev/null || pkgs+=(util-linux)
  command -v python3 >/dev/null || pkgs+=(python3)
  if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    pkgs+=(python3-venv)
  fi
  if ((${#pkgs[@]})); then
    apt_install "${pkgs[@]}"
  else
    echo "install: java $(java_major), $(mvn -B -v 2>/dev/null | head -n1 | sed 's/\x1b\[[0-9;]*m//g' | cut -d' ' -f1-3), $(python3 --version), unzip, flock: all present"
  fi
  command -v cargo >/dev/null || { echo "error: cargo not found; install Rust with rustup" >&2; return 1; }
  if [[ "${1:-}" == --rust-targets ]]; then
    if rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf; then
      echo "install: rust target thumbv7em-none-eabihf present"
    else
      rustup target add thumbv7em-none-eabihf
    fi
  fi
}

# Adds port ranges ("a-b,c-d") to the kernel's reserved ports, so that no outgoing connection
# takes one as its ephemeral port while a test broker is to listen there. Needs root; without
# it, says so and goes on.
reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports
  if [[ -w "$f" ]]; then
    local have
    have="$(cat "$f")"
    [[ ",$have," == *",$1,"* ]] && return 0
    echo "${have:+$have,}$1" >"$f" && return 0
  fi
  echo "note: cannot reserve ports $1 (not root?): a test broker may find one taken" >&2
}
