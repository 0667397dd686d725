#!/usr/bin/env bash
# `make lint`: what `go vet` does not check. Every check runs, failures are reported
# together, and the exit status is 1 if any failed.
#
#   workflows  actionlint on .github/workflows/*.y{a,}ml and the example repositories'
#              examples/*/.github/workflows/*.y{a,}ml (it also runs shellcheck on `run:`
#              scripts when shellcheck is installed)
#   matrix     hack/ci-matrix.sh still turns versions.env into the workflows' matrices
#   scripts    bash -n, shfmt -d -i 2 and, when installed, shellcheck on every shell script
#              under hack/ and .ci/
#   gofmt      gofmt -l on every Go file (testdata excluded) must print nothing
#
# actionlint and shfmt are pinned and built by hack/tools.sh. shellcheck is not pinned: it is
# used when on PATH (Debian/Ubuntu package `shellcheck`; preinstalled on GitHub's Ubuntu
# runners) and otherwise skipped with a notice.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1

failed=()
# fail CHECK [HINT...] records a failed check and says how to fix it.
fail() {
  failed+=("$1")
  echo "lint: FAIL $*" >&2
}

tools="$(bash hack/tools.sh actionlint shfmt)" || {
  echo "lint: cannot build the lint tools (hack/tools.sh)" >&2
  exit 1
}
{
  read -r actionlint
  read -r shfmt
} <<<"$tools"

shellcheck=""
if command -v shellcheck >/dev/null; then
  shellcheck="$(command -v shellcheck)"
else
  echo "lint: NOTICE shellcheck is not installed: skipping it (scripts and workflow run: blocks);" \
    "install the 'shellcheck' package to run it" >&2
fi

# workflows
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml examples/*/.github/workflows/*.yml examples/*/.github/workflows/*.yaml)
shopt -u nullglob
if [[ ${#workflows[@]} -gt 0 ]]; then
  "$actionlint" -shellcheck="$shellcheck" "${workflows[@]}" || fail "actionlint"
fi

# matrix
for args in e2e upgrade; do
  if ! out="$(GITHUB_OUTPUT='' bash hack/ci-matrix.sh "$args")"; then
    fail "ci-matrix-$args"
  elif command -v jq >/dev/null && ! jq -e . >/dev/null <<<"$out"; then
    fail "ci-matrix-$args" "printed invalid JSON: $out"
  fi
done

# scripts: shfmt -f lists files ending in .sh and files with a shell shebang. Read loops and
# guarded expansions: bash 3.2 (macOS's /bin/bash) has no mapfile and, under set -u, rejects
# expanding an empty array.
scripts=()
while IFS= read -r f; do
  scripts+=("$f")
done < <("$shfmt" -f hack .ci | LC_ALL=C sort)
if [[ ${#scripts[@]} -gt 0 ]]; then
  for s in "${scripts[@]}"; do
    bash -n "$s" || fail "bash-n" "$s"
  done
  "$shfmt" -d -i 2 "${scripts[@]}" || fail shfmt "(fix: $shfmt -w -i 2 <file>)"
  if [[ -n "$shellcheck" ]]; then
    "$shellcheck" -x "${scripts[@]}" || fail "shellcheck"
  fi
fi

# gofmt
gofmt="$(command -v gofmt || echo "$(${GO:-go} env GOROOT)/bin/gofmt")"
gofiles=()
while IFS= read -r -d '' f; do
  gofiles+=("$f")
done < <(find . \( -name .git -o -name testdata -o -name vendor -o -name node_modules \
  -o -path ./reports -o -path ./.cache -o -path ./bin \) -prune -o -name '*.go' -type f -print0)
if [[ ${#gofiles[@]} -gt 0 ]]; then
  if ! unformatted="$("$gofmt" -l "${gofiles[@]}")"; then
    [[ -z "$unformatted" ]] || echo "$unformatted" >&2
    fail gofmt "(syntax errors above)"
  elif [[ -n "$unformatted" ]]; then
    echo "$unformatted" >&2
    fail gofmt "the files above are not gofmt-ed (fix: gofmt -w <file>)"
  fi
fi

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "lint: ${#failed[@]} check(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "lint: ok (${#workflows[@]} workflows, ${#scripts[@]} scripts, ${#gofiles[@]} Go files;" \
  "shellcheck: ${shellcheck:-skipped})"
