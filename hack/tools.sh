#!/usr/bin/env bash
# Builds the pinned Go tools the lint target uses and prints the path of each binary.
#
#   hack/tools.sh                   build every lint tool, print one path per line
#   hack/tools.sh actionlint shfmt  build the named tools, print their paths in that order
#
# Versions come from pkg/versions/versions.env (ACTIONLINT_VERSION, SHFMT_VERSION); an
# environment variable of the same name overrides the pin. A binary is built once per
# version, with `go install <module>@<version>` outside this module (go.mod is untouched),
# into $CACHE_DIR/tools/<tool>/<version>/, CACHE_DIR defaulting to
# ${XDG_CACHE_HOME:-$HOME/.cache}/egress-conformance (the cache root pkg/mesh uses too).
# A cached binary is printed without running go at all.
#
# Progress goes to stderr; stdout carries only the paths.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
versions_env="$root/pkg/versions/versions.env"

# module_of prints the Go package to install for a tool.
module_of() {
  case "$1" in
  actionlint) echo github.com/rhysd/actionlint/cmd/actionlint ;;
  shfmt) echo mvdan.cc/sh/v3/cmd/shfmt ;;
  *) return 1 ;;
  esac
}
all_tools=(actionlint shfmt)

die() {
  echo "hack/tools.sh: $*" >&2
  exit 1
}

# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ensure builds tool at its pinned version unless cached, then prints the binary's path.
ensure() {
  local tool="$1" module version key dir bin tmp
  module="$(module_of "$tool")" || die "unknown tool '$tool' (known: ${all_tools[*]})"
  key="$(tr '[:lower:]' '[:upper:]' <<<"$tool")_VERSION"
  version="$(pin "$key")"
  dir="$(cache_root)/tools/$tool/$version"
  bin="$dir/$tool"
  if [[ ! -x "$bin" ]]; then
    command -v "${GO:-go}" >/dev/null || die "go is not on PATH (needed once to build $tool $version)"
    echo "hack/tools.sh: building $tool $version into $dir (once per version)" >&2
    mkdir -p "$dir"
    # Build into a private directory and rename: an interrupted or concurrent build never
    # leaves a half-written binary at $bin. GOWORK=off and the cache directory as working
    # directory keep any enclosing module or workspace out of the build.
    tmp="$(mktemp -d "$dir/.build.XXXXXX")"
    if ! (cd "$tmp" && GOBIN="$tmp" GOWORK=off CGO_ENABLED=0 "${GO:-go}" install "$module@$version"); then
      rm -rf "$tmp"
      rmdir "$dir" 2>/dev/null || true
      die "go install $module@$version failed"
    fi
    mv -f "$tmp/$tool" "$bin"
    rm -rf "$tmp"
  fi
  echo "$bin"
}

if [[ $# -eq 0 ]]; then
  set -- "${all_tools[@]}"
fi
for tool in "$@"; do
  ensure "$tool"
done
