#!/usr/bin/env bash
# Prints the GitHub Actions job matrix of the cluster-tier workflows, generated from
# ISTIO_VERSIONS in pkg/versions/versions.env so the workflows never list versions of their own.
#
#   hack/ci-matrix.sh e2e [ISTIO_VERSION] [EXTERNAL]
#     {"istio":["1.30.8",...],"external":["internet","cluster"]}
#     ISTIO_VERSION: one version instead of all of ISTIO_VERSIONS; EXTERNAL: internet,
#     cluster or both (default both). Empty arguments take the defaults.
#   hack/ci-matrix.sh upgrade [FROM] [TO] [STRATEGY]
#     {"pair":[{"from":"1.30.8","to":"1.31.4"},...],"strategy":["in-place","canary"]}
#     Default pairs: each version of ISTIO_VERSIONS to the next one. FROM and TO (both or
#     neither): that one pair. STRATEGY: in-place, canary or both (default both).
#
# The JSON goes to stdout and, when $GITHUB_OUTPUT is set, as matrix=<json> to that file.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
versions_env="$root/pkg/versions/versions.env"

die() {
  echo "hack/ci-matrix.sh: $*" >&2
  exit 1
}

# check_version refuses anything but an Istio release version (1.31.4, 1.32.0-rc.1): the
# value lands in JSON, in make arguments and in artifact names.
check_version() {
  [[ "$1" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$ ]] ||
    die "'$1' is not an Istio version like 1.31.4"
}

# json_list prints its arguments as a JSON array of strings (they are checked tokens).
json_list() {
  local out="" v
  for v in "$@"; do
    out+="${out:+,}\"$v\""
  done
  echo "[$out]"
}

# choice prints the values a "both"-style argument selects.
choice() {
  local given="$1" default="$2"
  shift 2
  local v
  [[ -n "$given" ]] || given="$default"
  if [[ "$given" == both ]]; then
    echo "$@"
    return
  fi
  for v in "$@"; do
    if [[ "$v" == "$given" ]]; then
      echo "$v"
      return
    fi
  done
  die "'$given' is not one of: both $*"
}

read -r -a istio_versions <<<"$(sed -n 's/^ISTIO_VERSIONS=//p' "$versions_env")"
[[ ${#istio_versions[@]} -ge 2 ]] ||
  die "ISTIO_VERSIONS in $versions_env must list at least two versions, oldest first"
for v in "${istio_versions[@]}"; do
  check_version "$v"
done

mode="${1:-}"
case "$mode" in
e2e)
  versions=("${istio_versions[@]}")
  if [[ -n "${2:-}" ]]; then
    check_version "$2"
    versions=("$2")
  fi
  # An assignment, not a here-string: a refused choice must stop the script.
  selected="$(choice "${3:-}" both internet cluster)"
  read -r -a externals <<<"$selected"
  matrix="{\"istio\":$(json_list "${versions[@]}"),\"external\":$(json_list "${externals[@]}")}"
  ;;
upgrade)
  pairs=""
  if [[ -n "${2:-}" || -n "${3:-}" ]]; then
    [[ -n "${2:-}" && -n "${3:-}" ]] || die "give both FROM and TO, or neither"
    check_version "$2"
    check_version "$3"
    pairs="{\"from\":\"$2\",\"to\":\"$3\"}"
  else
    for ((i = 0; i + 1 < ${#istio_versions[@]}; i++)); do
      pairs+="${pairs:+,}{\"from\":\"${istio_versions[i]}\",\"to\":\"${istio_versions[i + 1]}\"}"
    done
  fi
  selected="$(choice "${4:-}" both in-place canary)"
  read -r -a strategies <<<"$selected"
  matrix="{\"pair\":[$pairs],\"strategy\":$(json_list "${strategies[@]}")}"
  ;;
*)
  die "usage: hack/ci-matrix.sh e2e [ISTIO_VERSION] [EXTERNAL] | upgrade [FROM] [TO] [STRATEGY]"
  ;;
esac

echo "$matrix"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  echo "matrix=$matrix" >>"$GITHUB_OUTPUT"
fi
