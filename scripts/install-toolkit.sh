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
# The installer is uv when it is on PATH. Otherwise (GitHub's runner images have no uv) uv
# is first installed from the package index by the base python's pip into a small venv of
# its own, ${RUNNER_TEMP:-/tmp}/smgha-uv, which later installs of the job reuse: a few
# seconds that make the SDK's install several times faster than pip's (bench/cold_install.py).
# When that bootstrap, or the install with the uv it brought, fails (e.g. a package mirror
# without uv, or one that only pip is configured for: uv does not read pip's configuration),
# the script logs one line and installs with pip. SMGHA_INSTALLER=pip skips uv altogether
# (default: auto). The venv's path and python, and so the --cache-key output, do not depend
# on the installer; a venv made by uv has no pip of its own and no bytecode until imported.
# A bootstrapped uv that installed is exported to later steps as SMGHA_UV (GITHUB_ENV).
#
# Linux runners are supported; macOS is untested (one warning a job) and Windows is refused.
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

# The toolkit is tested on Linux only. Windows cannot work (a venv's python is
# Scripts\python.exe there, and the local backend locks with fcntl): refuse it. Any other
# system gets one warning a job (remembered through GITHUB_ENV), then the install goes on.
check_os() {
  local os="${RUNNER_OS:-}" kernel
  kernel="$(uname -s 2>/dev/null || true)"
  case "$os:$kernel" in
    Windows:* | *:MINGW* | *:MSYS* | *:CYGWIN* | *:Windows_NT)
      fail "this job runs on Windows (${os:-$kernel}), which smgha does not support. Supported: Linux runners (ubuntu-latest, ubuntu-24.04, ubuntu-22.04, self-hosted Linux); macOS is untested. Fix: set runs-on to a Linux runner, e.g. runs-on: ubuntu-latest"
      ;;
    Linux:* | :Linux) ;;
    *)
      [[ -z "$cache_key" && -z "${SMGHA_OS_WARNED:-}" ]] || return 0
      printf '::warning title=smgha toolkit install::%s\n' "this job runs on ${os:-$kernel}, where smgha is untested (it is tested on Linux runners: ubuntu-latest, ubuntu-24.04, ubuntu-22.04, self-hosted Linux). If a stage misbehaves, set runs-on to a Linux runner, e.g. runs-on: ubuntu-latest" >&2
      if [[ -n "${GITHUB_ENV:-}" ]]; then
        printf 'SMGHA_OS_WARNED=1\n' >>"$GITHUB_ENV"
      fi
      ;;
  esac
}

# bootstrap_uv: uv from the package index into a venv of its own under RUNNER_TEMP.
# shellcheck source=scripts/bootstrap-uv.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/bootstrap-uv.sh"

cache_key=""
if [[ "${1:-}" == "--cache-key" ]]; then
  cache_key=1
  shift
fi
check_os
case "${SMGHA_INSTALLER:-auto}" in
  auto | pip) ;;
  *) fail "SMGHA_INSTALLER is '${SMGHA_INSTALLER}'; use auto (uv, bootstrapped when missing) or pip" ;;
esac
[[ $# -ge 1 && $# -le 2 ]] || fail "usage: install-toolkit.sh [--cache-key] <toolkit root dir> [extras]"
[[ -d "$1" ]] || fail "toolkit root '$1' is not a directory"
root="$(cd -- "$1" && pwd -P)"
[[ -f "$root/pyproject.toml" ]] || fail "toolkit root '$root' has no pyproject.toml"
wanted="$(normalize_extras "${2:-}")"
# A checksum of the toolkit's sources: a venv kept across jobs (a self-hosted runner with a
# fixed SMGHA_VENV) must not keep running older code from the same path.
source_sum="$(
  cd -- "$root"
  { find pyproject.toml sdk-excludes.txt smgha -type f ! -name '*.pyc' 2>/dev/null || true; } | LC_ALL=C sort | while IFS= read -r file; do
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
  uv="" bootstrapped="" installer=pip
  if [[ "${SMGHA_INSTALLER:-auto}" == pip ]]; then
    :
  elif command -v uv >/dev/null 2>&1; then
    uv=uv
  elif uv="$(bootstrap_uv)"; then
    bootstrapped=1
  fi
  if [[ -n "$uv" ]]; then
    # What the SageMaker SDK declares but a definition build never imports (the file says
    # why); pip has no such option, so its fallback installs everything (a superset).
    excludes=""
    [[ ! -f "$root/sdk-excludes.txt" ]] || excludes="$root/sdk-excludes.txt"
    # The venv is python3's, as the cache key says (uv alone may pick another python, e.g.
    # the one a .python-version file in the workspace names).
    base_python="$(command -v python3 || true)"
    if { [[ -z "$fresh" ]] || "$uv" venv --quiet ${base_python:+--python "$base_python"} "$venv" >&2; } &&
      "$uv" pip install --python "$python" ${excludes:+--excludes "$excludes"} "$spec" >&2; then
      installer=uv
    elif [[ -n "$bootstrapped" ]]; then
      log "uv could not install $spec (its error is above); installing with pip"
      [[ -z "$fresh" ]] || rm -rf -- "$venv"
    else
      fail "uv could not install $spec (its error is above)"
    fi
  fi
  if [[ "$installer" == pip ]]; then
    [[ -z "$fresh" ]] || python3 -m venv "$venv" >&2
    # A venv that uv made has no pip of its own.
    [[ -x "$venv/bin/pip" ]] || "$python" -m ensurepip --default-pip >/dev/null
    "$venv/bin/pip" install -q --disable-pip-version-check "$spec" >&2
  fi
  printf 'root=%s\nsource=%s\nextras=%s\n' "$root" "$source_sum" "$extras" >"$marker"
  log "installed in $((SECONDS - started))s with $installer"
fi

if [[ -n "${GITHUB_ENV:-}" ]]; then
  printf 'SMGHA_PYTHON=%s\n' "$python" >>"$GITHUB_ENV"
  if [[ -n "${bootstrapped:-}" && "$installer" == uv ]]; then
    printf 'SMGHA_UV=%s\n' "$uv" >>"$GITHUB_ENV"
  fi
fi
printf '%s\n' "$python"
