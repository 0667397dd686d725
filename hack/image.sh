#!/usr/bin/env bash
# `make image`: the command's OCI image, built with ko (no Docker engine), written as an image
# tarball and smoke-tested by running the binary it holds.
#
#   hack/image.sh OUT_DIR     writes OUT_DIR/egress-conformance.tar
#
# ko (KO_VERSION in versions.env, built by hack/tools.sh) needs a base image, which it pulls
# from a registry, or from its on-disk cache (KOCACHE) when the base is named by digest. No
# registry is reachable here, and the command is one static binary (CGO_ENABLED=0, ko's
# default) that needs nothing from a base, so hack/image writes an empty linux base into
# KOCACHE and ko builds on it by digest: the image holds the binary, its ko data and nothing
# else. The image is named egress-conformance.invalid/egress-conformance: it is written to the
# tarball, never pushed (--push=false). hack/image then reads the tarball with
# go-containerregistry, checks the entrypoint, extracts the binary and runs `version` and `help`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
versions_env="$root/pkg/versions/versions.env"
die() {
  echo "hack/image.sh: $*" >&2
  exit 1
}
# shellcheck source=hack/lib.sh
source "$root/hack/lib.sh"

out="${1:-}"
[[ -n "$out" ]] || die "usage: hack/image.sh OUT_DIR"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

ko="$(bash "$root/hack/tools.sh" ko)"
kocache="$(cache_root)/ko"
mkdir -p "$kocache"

helper() { (cd "$root/hack/image" && GOWORK=off "${GO:-go}" run . "$@"); }

digest="$(helper base "$kocache")"
arch="$("${GO:-go}" env GOARCH)"
echo "image: base: empty linux/$arch image $digest (from $kocache/img)" >&2

(cd "$root" &&
  KOCACHE="$kocache" \
    KO_DEFAULTBASEIMAGE="egress-conformance.invalid/base@$digest" \
    KO_DOCKER_REPO=egress-conformance.invalid/egress-conformance \
    "$ko" build --push=false --bare --sbom=none --platform="linux/$arch" \
    --tarball="$out/egress-conformance.tar" ./cmd/egress-conformance >&2)

helper smoke "$out/egress-conformance.tar"
