#!/usr/bin/env bash
# Install the repository's declared dependencies into the toolkit's virtualenv and put that
# virtualenv first on PATH, so `python` in later steps (the tests, prepare-command) and the
# pipeline module build-pipeline imports see the same packages.
#
#   install-consumer-deps.sh <venv python> <workspace> <requirements file> [pyproject extras] [extra packages]
#
# What counts as declared (docs/setup.md, "Your repository's dependencies"):
#   requirements file         relative to the workspace, installed with -r; the default name
#                             requirements.txt may be absent, any other name must exist
#   pyproject.toml            installed (non-editable) when it has a [project] table, with the
#                             extras given (comma separated, e.g. "test"); not when that project
#                             is smgha itself (a fork of the library): the toolkit comes from
#                             the release the workflow was called at, never from the workspace
#   extra packages            space separated requirement specifiers, e.g. "pytest"
# None of them: a notice says that only the toolkit and the extra packages are there.
# GitHub-hosted runners' actions/setup-python gives a bare interpreter, so anything the
# tests or the pipeline module import must be declared in one of these.
#
# The installer, chosen as install-toolkit.sh chooses it: uv when it is on PATH or SMGHA_UV
# names it (install-toolkit.sh's bootstrap, earlier in the job); otherwise uv is bootstrapped
# the same way (scripts/bootstrap-uv.sh): a job whose toolkit came from the cache has not
# bootstrapped one, and pip resolving the SageMaker SDK's dependencies takes minutes (it
# backtracks through s3fs's releases) where uv takes seconds. When uv cannot be installed, or
# SMGHA_INSTALLER=pip, the base python's pip drives the venv (`pip --python`, pip >= 22.3):
# the venv may have been made by uv, which installs no pip into it.
set -euo pipefail

log() { printf 'smgha: %s\n' "$*" >&2; }
fail() {
  printf '::error title=smgha dependencies::%s\n' "$*"
  exit 1
}
# shellcheck source=scripts/bootstrap-uv.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/bootstrap-uv.sh"

[[ $# -ge 3 && $# -le 5 ]] || fail "usage: install-consumer-deps.sh <venv python> <workspace> <requirements file> [pyproject extras] [extra packages]"
venv_python="$1"
workspace="$2"
requirements="${3:-requirements.txt}"
extras="${4:-}"
read -r -a packages <<<"${5:-}"
[[ -x "$venv_python" ]] || fail "'$venv_python' is not an executable python: run the smgha toolkit install first"
[[ -d "$workspace" ]] || fail "workspace '$workspace' is not a directory"
[[ -z "$extras" || "$extras" =~ ^[A-Za-z0-9][A-Za-z0-9._,-]*$ ]] ||
  fail "pyproject-extras '$extras' is not a comma separated list of extra names (e.g. test,dev)"

args=()
declared=()
if [[ -f "$workspace/$requirements" ]]; then
  args+=(-r "$workspace/$requirements")
  declared+=("$requirements")
elif [[ "$requirements" != "requirements.txt" ]]; then
  fail "requirements-file '$requirements' does not exist in the repository; give a path relative to its root (e.g. ml/requirements.txt), or leave the default requirements.txt"
fi
project=""
if [[ -f "$workspace/pyproject.toml" ]] && grep -q '^\[project\]' "$workspace/pyproject.toml"; then
  project="$(sed -n '/^\[project\]/,/^\[/s/^name *= *"\([^"]*\)".*/\1/p' "$workspace/pyproject.toml" | head -n 1)"
fi
if [[ "$project" == "smgha" ]]; then
  echo "::notice title=smgha dependencies::pyproject.toml is the smgha library's own (a fork): not installed; the toolkit comes from the release this workflow was called at. Declare your model's dependencies in a requirements file."
  [[ -z "$extras" ]] || fail "pyproject-extras is '$extras' but pyproject.toml is the smgha library's own project, which is never installed from the workspace"
elif [[ -n "$project" ]]; then
  args+=("$workspace${extras:+[$extras]}")
  declared+=("pyproject.toml${extras:+[$extras]}")
elif [[ -n "$extras" ]]; then
  fail "pyproject-extras is '$extras' but $workspace/pyproject.toml has no [project] table to take extras from"
fi
args+=(${packages[@]+"${packages[@]}"})
if [[ ${#declared[@]} -eq 0 ]]; then
  echo "::notice title=smgha dependencies::no $requirements or pyproject.toml [project] in the repository: only the toolkit${packages[*]:+ and ${packages[*]}} are installed. Declare what your tests and pipeline module import."
fi

if [[ ${#args[@]} -gt 0 ]]; then
  echo "installing ${declared[*]:-}${declared[*]:+ }${packages[*]:-} into $(dirname "$(dirname "$venv_python")")"
  uv=""
  if [[ "${SMGHA_INSTALLER:-auto}" != pip ]]; then
    uv="${SMGHA_UV:-$(command -v uv || true)}"
    if [[ -z "$uv" ]] && uv="$(bootstrap_uv)" && [[ -n "${GITHUB_ENV:-}" ]]; then
      printf 'SMGHA_UV=%s\n' "$uv" >>"$GITHUB_ENV"
    fi
  fi
  if [[ -n "$uv" ]]; then
    "$uv" pip install --python "$venv_python" "${args[@]}"
  else
    python3 -m pip --python "$venv_python" install --disable-pip-version-check "${args[@]}"
  fi
fi

bin_dir="$(dirname "$venv_python")"
if [[ -n "${GITHUB_PATH:-}" ]]; then
  printf '%s\n' "$bin_dir" >>"$GITHUB_PATH"
fi
echo "python for later steps: $bin_dir/python"
