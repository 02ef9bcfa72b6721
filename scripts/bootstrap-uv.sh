# shellcheck shell=bash
# Sourced by install-toolkit.sh and install-consumer-deps.sh (which define `log`): the one
# way both get a uv when the runner has none (GitHub's runner images have none).
#
# uv from the package index into a venv of its own under RUNNER_TEMP (reused when there):
# prints its path, or logs one line and fails. The base python's pip installs it (pip can
# target another environment since 22.3); an older pip, or none, gets the venv's own pip.
bootstrap_uv() {
  local home="${RUNNER_TEMP:-/tmp}/smgha-uv" output started=$SECONDS
  local -a pip_install=(install -q --disable-pip-version-check uv)
  if [[ ! -x "$home/bin/uv" ]]; then
    rm -rf -- "$home"
    if ! output="$(python3 -m venv --without-pip "$home" 2>&1 &&
      python3 -m pip --python "$home/bin/python" "${pip_install[@]}" 2>&1)"; then
      if [[ "$output" == *"no such option: --python"* || "$output" == *"No module named pip"* ]]; then
        output="$("$home/bin/python" -m ensurepip --default-pip 2>&1 &&
          "$home/bin/python" -m pip "${pip_install[@]}" 2>&1)" || true
      fi
    fi
    if [[ ! -x "$home/bin/uv" ]]; then
      log "could not install uv with pip ($(printf '%s\n' "$output" | grep . | tail -n 1)); installing with pip"
      rm -rf -- "$home"
      return 1
    fi
    log "installed $("$home/bin/uv" --version) into $home in $((SECONDS - started))s"
  fi
  printf '%s\n' "$home/bin/uv"
}
