#!/usr/bin/env bash
# `make image`: the command's OCI image, without a Docker engine, written as an image tarball
# and smoke-tested by running the binary it holds.
#
#   hack/image.sh BINARY OUT_DIR     writes OUT_DIR/egress-conformance.tar
#
# BINARY is the command make built (bin/egress-conformance: static, CGO_ENABLED=0, -trimpath),
# the same bytes the tests ran; hack/image (go-containerregistry, pinned in hack/image/go.mod)
# puts it on an empty base as /egress-conformance, user 65532, with fixed timestamps, so the
# same binary always gives the same image digest. On a host that is not linux, the binary is
# built again for linux into OUT_DIR first (an image runs linux). The image is named
# egress-conformance.invalid/egress-conformance:<version>; it is written, never pushed. The
# smoke test reads the tarball back, checks the config, and runs `version`, `help` and
# `check scenarios/egress-gateway-http` with the binary extracted from the layers.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() {
  echo "hack/image.sh: $*" >&2
  exit 1
}

bin="${1:-}"
out="${2:-}"
[[ -n "$bin" && -n "$out" ]] || die "usage: hack/image.sh BINARY OUT_DIR"
[[ -x "$bin" ]] || die "$bin is not an executable (make build makes it)"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
go="${GO:-go}"

# `egress-conformance version` prints "egress-conformance <module version> (...)".
version="$("$bin" version 2>/dev/null | awk 'NR == 1 { print $2 }')" || true
version="${version:-devel}"

if [[ "$("$go" env GOOS)" != linux ]]; then
  echo "image: building the command for linux/$("$go" env GOARCH) (this host is $("$go" env GOOS))" >&2
  (cd "$root" && GOOS=linux "$go" build -o "$out/egress-conformance-linux" ./cmd/egress-conformance)
  bin="$out/egress-conformance-linux"
fi
helper() { (cd "$root/hack/image" && GOWORK=off "$go" run . "$@"); }
image="$(helper build "$bin" "$version" "$out/egress-conformance.tar")"
echo "image: wrote $image into $out/egress-conformance.tar" >&2
helper smoke "$out/egress-conformance.tar" "$root/scenarios/egress-gateway-http"
