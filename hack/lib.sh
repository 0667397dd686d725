#!/usr/bin/env bash
# Shared by the hack/ scripts that cache pinned builds: sourced, never run.
# The sourcing script defines die() and versions_env first.

# pin prints the value of KEY: the environment if set, else versions.env.
pin() {
  local key="$1" value
  value="${!key:-}"
  if [[ -z "$value" ]]; then
    # shellcheck disable=SC2154 # versions_env is set by the sourcing script
    value="$(sed -n "s/^${key}=//p" "$versions_env" | tr -d '[:space:]')"
  fi
  [[ -n "$value" ]] || die "$key is not set in $versions_env"
  # A version becomes a path component: accept only a Go module version.
  [[ "$value" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
    die "$key=$value is not a module version like v1.2.3"
  echo "$value"
}

# cache_root prints the harness's cache directory (absolute): CACHE_DIR, else the
# user's cache directory, as pkg/mesh uses for istioctl.
cache_root() {
  local dir="${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/egress-conformance}"
  [[ "$dir" == /* ]] || dir="$PWD/$dir"
  echo "$dir"
}
