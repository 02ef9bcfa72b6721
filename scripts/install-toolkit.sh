#!/usr/bin/env bash
# Install the smgha toolkit from a checkout of this action repository, once per job.
#
#   install-toolkit.sh <toolkit root dir> [extras]      e.g. install-toolkit.sh "$GITHUB_ACTION_PATH" local,sdk
#   install-toolkit.sh --cache-key <toolkit root dir> [extras]
#
# --cache-key installs nothing: it prints `key=...` and `path=...` lines (for GITHUB_OUTPUT)
# naming the virtualenv a cache (actions/cache) may keep between jobs: the key holds the
# runner's OS and architecture, the python the venv is made from, the checksum of the
# toolkit's sources (what a ref of this repository holds) and the extras.
#
# The virtualenv lives at ${SMGHA_VENV:-${RUNNER_TEMP:-/tmp}/smgha-venv}. A marker file in it
# records the root and the extras installed; when they already cover this request, the
# venv is reused and nothing is installed. Otherwise the venv is (re)created when needed and
# the toolkit is installed with the union of the extras asked for so far, so a later stage
# that needs more extras adds them without losing the earlier ones.
#
# Every log line goes to stderr; stdout gets exactly one line, the venv's python, so a
# caller can write `python="$(install-toolkit.sh ...)"`. With GITHUB_ENV set, the path is
# also exported to later steps as SMGHA_PYTHON.
set -euo pipefail

log() { printf 'smgha: %s\n' "$*" >&2; }
fail() {
  printf '::error title=smgha toolkit install::%s\n' "$*" >&2
  exit 1
}

# Comma/space separated extras -> sorted, de-duplicated, comma separated ('' for none).
normalize_extras() {
  local item out=""
  local -a items
  IFS=', ' read -r -a items <<<"${*//$'\n'/,}"
  for item in ${items[@]+"${items[@]}"}; do
    [[ -n "$item" ]] || continue
    [[ "$item" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || fail "invalid extra name '$item' (expected e.g. local,sdk)"
    out+="$item"$'\n'
  done
  printf '%s' "$out" | sort -u | paste -sd, -
}

# Whether every extra in $1 is also in $2 (both normalized).
extras_covered() {
  local wanted="$1" have=",$2," item
  local -a items
  IFS=',' read -r -a items <<<"$wanted"
  for item in ${items[@]+"${items[@]}"}; do
    [[ -z "$item" || "$have" == *",$item,"* ]] || return 1
  done
}

cache_key=""
if [[ "${1:-}" == "--cache-key" ]]; then
  cache_key=1
  shift
fi
[[ $# -ge 1 && $# -le 2 ]] || fail "usage: install-toolkit.sh [--cache-key] <toolkit root dir> [extras]"
[[ -d "$1" ]] || fail "toolkit root '$1' is not a directory"
root="$(cd -- "$1" && pwd -P)"
[[ -f "$root/pyproject.toml" ]] || fail "toolkit root '$root' has no pyproject.toml"
wanted="$(normalize_extras "${2:-}")"
# A checksum of the toolkit's sources: a venv kept across jobs (a self-hosted runner with a
# fixed SMGHA_VENV) must not keep running older code from the same path.
source_sum="$(
  cd -- "$root"
  { find pyproject.toml smgha -type f ! -name '*.pyc' 2>/dev/null || true; } | LC_ALL=C sort | while IFS= read -r file; do
    cksum <"$file"
  done | cksum | cut -d' ' -f1
)"

venv="${SMGHA_VENV:-${RUNNER_TEMP:-/tmp}/smgha-venv}"
python="$venv/bin/python"
marker="$venv/.smgha-toolkit"

if [[ -n "$cache_key" ]]; then
  base_python="$(command -v python3 || true)"
  [[ -n "$base_python" ]] || fail "python3 is not on PATH"
  # The venv links to the python it was made from: another python means another venv.
  python_id="$("$base_python" -c 'import platform, sys; print(platform.python_version())')-$(printf '%s' "$(readlink -f "$base_python")" | cksum | cut -d' ' -f1)"
  printf 'key=smgha-toolkit-%s-%s-py%s-%s-%s\n' "${RUNNER_OS:-$(uname -s)}" "${RUNNER_ARCH:-$(uname -m)}" \
    "$python_id" "$source_sum" "${wanted:-none}"
  printf 'path=%s\n' "$venv"
  exit 0
fi

installed_sum=""
installed_extras=""
if [[ -f "$marker" && -x "$python" ]]; then
  while IFS='=' read -r key value; do
    case "$key" in
      root) ;; # where it was installed from: informational
      source) installed_sum="$value" ;;
      extras) installed_extras="$value" ;;
    esac
  done <"$marker"
fi

# The same sources (by checksum) are the same toolkit, wherever they were copied: GitHub
# keeps one copy of the action repository per ref, act copies it once per stage action.
same_source=""
if [[ -n "$installed_sum" && "$installed_sum" == "$source_sum" ]]; then
  same_source=1
fi
if [[ -n "$same_source" ]] && extras_covered "$wanted" "$installed_extras"; then
  log "reusing the toolkit in $venv (from $root, extras: ${installed_extras:-none})"
else
  extras="$(normalize_extras "$wanted,$installed_extras")"
  spec="$root${extras:+[$extras]}"
  log "installing $spec into $venv"
  started=$SECONDS
  fresh=""
  if [[ -z "$same_source" ]]; then
    fresh=1
    # Never wipe a directory that is not a venv (SMGHA_VENV pointing somewhere wrong).
    if [[ -d "$venv" && ! -f "$venv/pyvenv.cfg" ]] && [[ -n "$(ls -A -- "$venv")" ]]; then
      fail "SMGHA_VENV '$venv' exists and is not a virtualenv; point SMGHA_VENV at a new directory"
    fi
    rm -rf -- "$venv"
  fi
  rm -f -- "$marker"
  if command -v uv >/dev/null 2>&1; then
    [[ -z "$fresh" ]] || uv venv --quiet "$venv" >&2
    uv pip install --python "$python" "$spec" >&2
  else
    [[ -z "$fresh" ]] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "$spec" >&2
  fi
  printf 'root=%s\nsource=%s\nextras=%s\n' "$root" "$source_sum" "$extras" >"$marker"
  log "installed in $((SECONDS - started))s"
fi

if [[ -n "${GITHUB_ENV:-}" ]]; then
  printf 'SMGHA_PYTHON=%s\n' "$python" >>"$GITHUB_ENV"
fi
printf '%s\n' "$python"
