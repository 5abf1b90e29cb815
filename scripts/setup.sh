# Sourced by demo.sh and test.sh: make sure the system packages HydraSim needs are present.
# Installs them with apt-get when missing (as root); otherwise says exactly what to run.
set -euo pipefail

hydrasim_need_packages() {
  local missing=()
  pkg-config --exists openblas 2>/dev/null || missing+=(libopenblas-dev)
  pkg-config --exists libgvc 2>/dev/null || missing+=(libgraphviz-dev)
  pkg-config --exists libedit 2>/dev/null || missing+=(libedit-dev)
  pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  if [ "${1:-}" = "tests" ]; then
    python3 -c "import numpy" >/dev/null 2>&1 || missing+=(python3-numpy)
  fi
  printf '%s\n' "${missing[@]}" | sort -u | grep -v '^$' || true
}

hydrasim_setup() {
  local missing
  missing=$(hydrasim_need_packages "${1:-}")
  if [ -n "$missing" ]; then
    echo "==> installing system packages: $(echo $missing)" >&2
    if [ "$(id -u)" = "0" ]; then
      apt-get update -qq
      # python3-numpy is only a fallback: a python3 with pip gets numpy from PyPI instead.
      local apt_list=$(echo "$missing" | grep -v python3-numpy || true)
      [ -n "$apt_list" ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $apt_list >/dev/null
      if echo "$missing" | grep -q python3-numpy; then
        python3 -m pip install -q numpy 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-numpy >/dev/null
      fi
    else
      echo "error: missing packages: $(echo $missing). Run as root, or ask an administrator to run:" >&2
      echo "  sudo apt-get install -y $(echo $missing)" >&2
      echo "(numpy can also come from 'python3 -m pip install --user numpy')" >&2
      exit 1
    fi
  fi
  command -v swift >/dev/null 2>&1 || { echo "error: 'swift' not found: install Swift 6 (https://swift.org/install) and put it on PATH" >&2; exit 1; }
}
