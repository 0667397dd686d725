#!/usr/bin/env bash
# `make go-install-check`: `go install <module>/cmd/egress-conformance@<version>` as a user runs
# it, from an EMPTY module cache, before any tag exists.
#
#   hack/go-install.sh [REV]      REV: the git revision to publish (default HEAD; committed
#                                 files only, as a module proxy serves a tag)
#
# hack/modproxy zips REV the way a module proxy serves a release (golang.org/x/mod/zip) into a
# throwaway file:// proxy that comes first in GOPROXY; every dependency comes from the proxy go
# is already configured with, into a throwaway GOMODCACHE. The installed binary then has to
# print its version and check one catalog scenario. What this cannot show: that the real
# proxy and checksum database accept the tag once it is pushed (GONOSUMDB covers this module
# only, because the checksum database has never seen the pseudo-version).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
rev="${1:-HEAD}"
die() {
  echo "hack/go-install.sh: $*" >&2
  exit 1
}
say() { echo "hack/go-install.sh: $*" >&2; }

module="$(cd "$root" && GOWORK=off "$GO" list -m)"
work="$(mktemp -d)"
cleanup() {
  # The module cache is read-only by design; make it removable first.
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

commit="$(git -C "$root" rev-parse "$rev^{commit}")" || die "$rev is not a commit of $root"
# x/mod/zip wants a plain repository (.git a directory, which a worktree does not have): a
# local clone is one, and holds only committed files.
git clone -q --no-checkout "$root" "$work/src"
say "zipping $module at $rev ($commit) into a file:// module proxy"
version="$(cd "$root" && GOWORK=off "$GO" run ./hack/modproxy -root "$work/src" -out "$work/proxy" -rev "$commit")"
upstream="$(GOWORK=off "$GO" env GOPROXY)"
mkdir -p "$work/modcache" "$work/bin" "$work/empty"
start=$SECONDS
say "go install $module/cmd/egress-conformance@$version (empty module cache; dependencies from the configured proxy)"
# Outside any module (an empty directory), as `go install pkg@version` is documented to run.
(cd "$work/empty" && env GOWORK=off GOFLAGS="${GOFLAGS:-}" GOMODCACHE="$work/modcache" GOBIN="$work/bin" \
  GOPROXY="file://$work/proxy,$upstream" GONOSUMDB="$module" \
  "$GO" install "$module/cmd/egress-conformance@$version") ||
  die "go install $module/cmd/egress-conformance@$version failed"
seconds=$((SECONDS - start))
downloaded="$(du -sh "$work/modcache" | cut -f1)"
bin="$work/bin/egress-conformance"
[[ -x "$bin" ]] || die "go install produced no $bin"
"$bin" version
"$bin" check "$root/scenarios/egress-gateway-http" >/dev/null ||
  die "the installed binary failed to check scenarios/egress-gateway-http"
say "ok: go install @$version from an empty module cache in ${seconds} s ($downloaded of modules downloaded); the installed binary checked scenarios/egress-gateway-http"
