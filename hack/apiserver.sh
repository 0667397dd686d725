#!/usr/bin/env bash
# A real Kubernetes API server on loopback for the integration tier (suites/integration): etcd,
# kube-apiserver, kube-controller-manager and kube-scheduler as local processes, with kwok's
# controller standing in for kubelets (pods become Running/Ready with fake IPs; exec and logs do
# not exist there). No Docker, no internet: the binaries come from the user's cache or are built
# from their Go modules.
#
#   hack/apiserver.sh binaries      provide every binary (cache, else build); print their directory
#   hack/apiserver.sh start         start the cluster; print KUBECONFIG=… and KUBE_CONTEXT=… lines
#   hack/apiserver.sh stop          stop it; fail if any of its processes is still running
#   hack/apiserver.sh run CMD ARG…  start, run CMD with KUBECONFIG and KUBE_CONTEXT exported, then
#                                   stop, always (also on failure or interrupt); CMD's exit status
#   hack/apiserver.sh modules       regenerate the wrapper modules under hack/apiserver/ from the pins
#
# Versions come from pkg/versions/versions.env (APISERVER_KUBE_VERSION, APISERVER_ETCD_VERSION,
# KWOK_VERSION); an environment variable of the same name overrides a pin. Binaries live in
# $CACHE_DIR/apiserver/<component>-<version>/, CACHE_DIR defaulting to
# ${XDG_CACHE_HOME:-$HOME/.cache}/egress-conformance (the cache root of hack/tools.sh and pkg/mesh).
# A cached binary is used without running go at all.
#
# How they are built (kwokctl's binary runtime would otherwise download them): one `go build` of
# all six in the wrapper module hack/apiserver/tools, which
#   - requires k8s.io/kubernetes, sigs.k8s.io/kwok and go.etcd.io/etcd/server/v3 at the pins
#     (`go install …@version` is refused for k8s.io/kubernetes and etcd: their go.mod files
#     have replace directives);
#   - replaces each k8s.io staging module, which k8s.io/kubernetes requires at v0.0.0 and
#     replaces with ./staging directories that dependants ignore, with its published tag;
#   - requires every dependency it shares with this repository's module at this module's
#     version, so the Go build cache that `make vet` filled already holds those packages
#     (client-go, apimachinery, grpc, protobuf, …): kwok, etcd and the kube binaries share
#     them too. The pins are chosen so no shared dependency needs a newer version than ours.
# Version ldflags make the kube binaries report their real version (kwokctl reads it).
#
# The cluster's state (kwokctl work dir, kubeconfig, component logs) is in $APISERVER_DIR
# (default <repo>/.cache/apiserver-cluster); every component binds to 127.0.0.1 only.
#
# Progress goes to stderr; stdout carries only what each command is documented to print.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
versions_env="$root/pkg/versions/versions.env"
cluster_name="egress-conformance-it"
state_dir="${APISERVER_DIR:-$root/.cache/apiserver-cluster}"
[[ "$state_dir" == /* ]] || state_dir="$PWD/$state_dir"
GO="${GO:-go}"

die() {
  echo "hack/apiserver.sh: $*" >&2
  exit 1
}
say() { echo "hack/apiserver.sh: $*" >&2; }

# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kube_version="$(pin APISERVER_KUBE_VERSION)"
etcd_version="$(pin APISERVER_ETCD_VERSION)"
kwok_version="$(pin KWOK_VERSION)"
tools_mod="$root/hack/apiserver/tools"
# One directory per set of pins: the six binaries are built together.
bin_dir="$(cache_root)/apiserver/kube-$kube_version-etcd-$etcd_version-kwok-$kwok_version"
kube_bins=(kube-apiserver kube-controller-manager kube-scheduler)
kube_pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
other_pkgs=(sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl go.etcd.io/etcd/server/v3)
all_bins=("${kube_bins[@]}" kwok kwokctl etcd)

# in_dir DIR CMD...: runs CMD in DIR (macOS's env has no -C).
in_dir() {
  (
    cd "$1" || exit 1
    shift
    "$@"
  )
}

need_go() {
  command -v "$GO" >/dev/null || die "go is not on PATH (needed once to build $1)"
}

# with_progress LABEL TOTAL LOG CMD...: runs CMD (a `go build -v`, which names each package it
# compiles on stderr) with its output in LOG, and prints a progress line every 20 s.
with_progress() {
  local label="$1" total="$2" log="$3" start pid rc=0 n
  shift 3
  start=$SECONDS
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      n="$(grep -c . "$log" || true)"
      say "$label: $((SECONDS - start)) s, ${n} packages compiled (of ${total} dependencies; those already in the build cache are not compiled again)"
    fi
  done
  wait "$pid" || rc=$?
  if [[ $rc -ne 0 ]]; then
    tail -n 40 "$log" >&2
    return "$rc"
  fi
  say "$label: done in $((SECONDS - start)) s"
}

# install_into DIR TMP NAME...: moves the built NAMEs from TMP into DIR (rename: an interrupted or
# concurrent build never leaves a half-written binary in DIR).
install_into() {
  local dir="$1" tmp="$2" name
  shift 2
  for name in "$@"; do
    [[ -x "$tmp/$name" ]] || die "build produced no $name"
    mv -f "$tmp/$name" "$dir/$name"
  done
}

# check_wrapper: the committed wrapper module must require every pinned version.
check_wrapper() {
  local req
  for req in "k8s.io/kubernetes $kube_version" "sigs.k8s.io/kwok $kwok_version" "go.etcd.io/etcd/server/v3 $etcd_version"; do
    grep -q "^[[:space:]]*${req}\( //.*\)\?$" "$tools_mod/go.mod" ||
      die "$tools_mod/go.mod does not require $req (pins changed?): run hack/apiserver.sh modules"
  done
}

ensure_binaries() {
  local b missing=0 tmp total minor ldflags=(-s -w) p
  for b in "${all_bins[@]}"; do [[ -x "$bin_dir/$b" ]] || missing=1; done
  [[ $missing -eq 0 ]] && return
  need_go "the integration tier's binaries"
  check_wrapper
  minor="${kube_version#v*.}"
  minor="${minor%%.*}"
  # What `kube-apiserver --version` and /version report (hack/lib/version.sh upstream sets the
  # same variables, in both packages). Link-time only: the compiled packages stay shared.
  # -s -w: no symbol table or DWARF; nobody debugs these, and the six links get cheaper.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=("-X $p.gitVersion=$kube_version" "-X $p.gitMajor=1" "-X $p.gitMinor=$minor"
      "-X $p.gitTreeState=clean")
  done
  mkdir -p "$bin_dir"
  tmp="$(mktemp -d "$bin_dir/.build.XXXXXX")"
  say "building ${all_bins[*]} (kube $kube_version, etcd $etcd_version, kwok $kwok_version) into $bin_dir (once per set of pins)"
  total="$(cd "$tools_mod" && GOWORK=off "$GO" list -deps "${kube_pkgs[@]}" "${other_pkgs[@]}" | wc -l)"
  if ! with_progress "kube $kube_version" "$total" "$tmp/build-kube.log" \
    in_dir "$tools_mod" env GOWORK=off CGO_ENABLED=0 "$GO" build -v -trimpath -ldflags "${ldflags[*]}" -o "$tmp/" "${kube_pkgs[@]}"; then
    rm -rf "$tmp"
    die "building Kubernetes $kube_version failed"
  fi
  # kwok and etcd: everything they share with the kube binaries is compiled by now.
  if ! with_progress "kwok $kwok_version, etcd $etcd_version" "$total" "$tmp/build-other.log" \
    in_dir "$tools_mod" env GOWORK=off CGO_ENABLED=0 "$GO" build -v -trimpath -ldflags "-s -w" -o "$tmp/" "${other_pkgs[@]}"; then
    rm -rf "$tmp"
    die "building kwok $kwok_version and etcd $etcd_version failed"
  fi
  # `go build -o DIR/` names etcd's binary after the element before its module's /v3: server.
  mv "$tmp/server" "$tmp/etcd" || {
    rm -rf "$tmp"
    die "the etcd build produced no $tmp/server"
  }
  install_into "$bin_dir" "$tmp" "${all_bins[@]}"
  rm -rf "$tmp"
}

cmd_binaries() {
  ensure_binaries
  echo "$bin_dir"
}

kwokctl() {
  KWOK_WORKDIR="$state_dir/kwok" "$bin_dir/kwokctl" "$@"
}

cluster_dir() { echo "$state_dir/kwok/clusters/$cluster_name"; }

# pids prints the pid of every process kwokctl started for the cluster (its pid files).
pids() {
  local f
  shopt -s nullglob
  for f in "$(cluster_dir)"/pids/*.pid; do
    tr -d '[:space:]' <"$f"
    echo
  done
  shopt -u nullglob
}

# alive PID: the process exists and is not a zombie (an exited child its parent has not
# reaped yet: kwokctl's components are reparented when kwokctl exits).
alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [[ -n "$stat" && "$stat" != Z* ]]
}

cmd_start() {
  ensure_binaries
  if [[ -d "$(cluster_dir)" ]]; then
    say "a cluster from an earlier run is in $state_dir: stopping it first"
    cmd_stop
  fi
  mkdir -p "$state_dir"
  local config="$state_dir/kwokctl.yaml" start=$SECONDS
  cat >"$config" <<EOF
# Written by hack/apiserver.sh: kwokctl's binary runtime on local binaries, loopback only.
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeVersion: $kube_version
  bindAddress: 127.0.0.1
  securePort: true
  kubeAuthorization: true
  kubeAdmission: true
  etcdBinary: $bin_dir/etcd
  kubeApiserverBinary: $bin_dir/kube-apiserver
  kubeControllerManagerBinary: $bin_dir/kube-controller-manager
  kubeSchedulerBinary: $bin_dir/kube-scheduler
  kwokControllerBinary: $bin_dir/kwok
  cacheDir: $state_dir/kwok/cache
EOF
  say "starting $cluster_name (kube-apiserver $kube_version, etcd $etcd_version, kwok $kwok_version) in $state_dir"
  if ! kwokctl create cluster --name "$cluster_name" --config "$config" --kubeconfig "$state_dir/kwokctl-kubeconfig" \
    --wait 60s >"$state_dir/create.log" 2>&1; then
    tail -n 40 "$state_dir/create.log" >&2
    say "start failed; stopping what was started"
    cmd_stop || true
    die "kwokctl create cluster failed (log: $state_dir/create.log)"
  fi
  # One fake node (kwok's default node template) for the scheduler to place pods on; kwok
  # then runs them: Running and Ready with a fake IP.
  if ! kwokctl scale node --name "$cluster_name" --replicas 1 >>"$state_dir/create.log" 2>&1; then
    tail -n 20 "$state_dir/create.log" >&2
    cmd_stop || true
    die "kwokctl scale node failed (log: $state_dir/create.log)"
  fi
  cp "$(cluster_dir)/kubeconfig.yaml" "$state_dir/kubeconfig"
  say "started in $((SECONDS - start)) s; kubeconfig $state_dir/kubeconfig, context kwok-$cluster_name"
  echo "KUBECONFIG=$state_dir/kubeconfig"
  echo "KUBE_CONTEXT=kwok-$cluster_name"
}

cmd_stop() {
  local left p
  if [[ ! -d "$(cluster_dir)" ]]; then
    say "no cluster in $state_dir: nothing to stop"
    return 0
  fi
  local recorded
  recorded="$(pids | tr '\n' ' ')"
  if [[ -x "$bin_dir/kwokctl" ]]; then
    kwokctl delete cluster --name "$cluster_name" --kubeconfig "$state_dir/kwokctl-kubeconfig" >"$state_dir/delete.log" 2>&1 ||
      say "kwokctl delete cluster failed (log: $state_dir/delete.log); stopping its processes directly"
  fi
  # Whatever kwokctl left (or could not stop) is ended by the pids it recorded, nothing else.
  for p in $recorded; do
    if alive "$p"; then
      kill "$p" 2>/dev/null || true
    fi
  done
  for _ in $(seq 50); do
    left=""
    for p in $recorded; do
      if alive "$p"; then left+=" $p"; fi
    done
    [[ -z "$left" ]] && break
    sleep 0.2
  done
  for p in $left; do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.2
  left=""
  for p in $recorded; do
    if alive "$p"; then left+=" $p"; fi
  done
  [[ -z "$left" ]] || die "processes still running after stop:$left"
  rm -rf "$state_dir/kwok/clusters/$cluster_name" "$state_dir/kubeconfig" "$state_dir/kwokctl-kubeconfig"
  say "stopped; nothing of $cluster_name is running"
}

cmd_run() {
  [[ $# -gt 0 ]] || die "run: no command given"
  local out rc=0
  # Stop always: on success, failure and interrupt alike.
  trap 'cmd_stop' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  out="$(cmd_start)"
  export KUBECONFIG KUBE_CONTEXT
  KUBECONFIG="$(sed -n 's/^KUBECONFIG=//p' <<<"$out")"
  KUBE_CONTEXT="$(sed -n 's/^KUBE_CONTEXT=//p' <<<"$out")"
  "$@" || rc=$?
  return "$rc"
}

# cmd_modules regenerates hack/apiserver/tools/go.mod and go.sum from the pins and from this
# repository's go.mod.
cmd_modules() {
  need_go "the wrapper module"
  local mod="$tools_mod" gomod minor patch staging m v want have reqs=()
  gomod="$(cd "$root" && GOWORK=off "$GO" mod download -json "k8s.io/kubernetes@$kube_version" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$gomod" ]] || die "cannot download k8s.io/kubernetes@$kube_version"
  minor="${kube_version#v1.}"
  patch="${minor#*.}"
  minor="${minor%%.*}"
  staging=()
  while IFS= read -r m; do
    staging+=("$m")
  done < <(sed -n '/^replace (/,/^)/p' "$gomod" | awk '$2 == "=>" { print $1 }')
  rm -rf "$mod/stub"
  mkdir -p "$mod"
  {
    cat <<'EOF_HEADER'
// Wrapper module that builds the integration tier's binaries at the versions pinned in
// pkg/versions/versions.env: kube-apiserver, kube-controller-manager and kube-scheduler
// (k8s.io/kubernetes), kwok and kwokctl, and etcd, in one build that shares every compiled
// package it can with the repository's module (hack/apiserver.sh says how).
// Generated by `hack/apiserver.sh modules`; do not edit by hand, and do not `go mod tidy` it
// alone: the generator also raises shared dependencies to the repository's versions.
EOF_HEADER
    printf 'module github.com/egress-conformance/egress-conformance/hack/apiserver/tools\n\n'
    sed -n 's/^go \(.*\)$/go \1/p' "$root/go.mod"
    printf '\ntool (\n'
    for m in "${kube_pkgs[@]}" "${other_pkgs[@]}"; do printf '\t%s\n' "$m"; done
    printf ')\n\nrequire (\n\tk8s.io/kubernetes %s\n\tsigs.k8s.io/kwok %s\n\tgo.etcd.io/etcd/server/v3 %s\n)\n\nreplace (\n' \
      "$kube_version" "$kwok_version" "$etcd_version"
    for m in "${staging[@]}"; do
      case "$m" in
      k8s.io/sample-*)
        mkdir -p "$mod/stub/${m#k8s.io/}"
        printf 'module %s\n\ngo 1.23\n' "$m" >"$mod/stub/${m#k8s.io/}/go.mod"
        printf '\t%s => ./stub/%s\n' "$m" "${m#k8s.io/}"
        continue
        ;;
      esac
      # The published tag v0.<minor>.<patch>, else the newest earlier patch that exists.
      v=""
      for ((p = patch; p >= 0; p--)); do
        if (cd "$root" && GOWORK=off "$GO" mod download "$m@v0.$minor.$p" 2>/dev/null); then
          v="v0.$minor.$p"
          break
        fi
      done
      [[ -n "$v" ]] || die "no v0.$minor.x of $m can be downloaded"
      [[ "$v" == "v0.$minor.$patch" ]] || say "$m: v0.$minor.$patch is not available, using $v"
      printf '\t%s => %s %s\n' "$m" "$m" "$v"
    done
    printf ')\n'
  } >"$mod/go.mod.new"
  mv "$mod/go.mod.new" "$mod/go.mod"
  rm -f "$mod/go.sum"
  (cd "$mod" && GOWORK=off "$GO" mod tidy)
  # Raise every dependency the wrapper shares with the repository's module to the module's
  # version where the wrapper would select an older one.
  declare -A ours=()
  while read -r m v; do [[ -n "$v" ]] && ours[$m]="$v"; done < <(cd "$root" && GOWORK=off "$GO" list -m -f '{{.Path}} {{.Version}}' all)
  while read -r m have; do
    want="${ours[$m]:-}"
    [[ -n "$want" && -n "$have" && "$want" != "$have" ]] || continue
    if [[ "$(printf '%s\n%s\n' "$have" "$want" | sort -V | tail -n1)" == "$want" ]]; then
      reqs+=("-require=$m@$want")
    fi
  done < <(cd "$mod" && GOWORK=off "$GO" list -m -f '{{.Path}} {{.Version}}' all)
  if [[ ${#reqs[@]} -gt 0 ]]; then
    (cd "$mod" && GOWORK=off "$GO" mod edit "${reqs[@]}" && GOWORK=off "$GO" mod tidy)
  fi
  # What still differs compiles twice: say so (raise it in the repository's go.mod, or accept it).
  declare -A used=() ours_used=()
  while read -r m; do [[ -n "$m" ]] && used[$m]=1; done < <(cd "$mod" &&
    GOWORK=off "$GO" list -deps -f '{{with .Module}}{{.Path}}{{end}}' "${kube_pkgs[@]}" "${other_pkgs[@]}" | sort -u)
  while read -r m; do [[ -n "$m" ]] && ours_used[$m]=1; done < <(cd "$root" &&
    GOWORK=off "$GO" list -deps -test -f '{{with .Module}}{{.Path}}{{end}}' ./... | sort -u)
  while read -r m have; do
    want="${ours[$m]:-}"
    [[ -n "$want" && "$want" != "$have" && -n "${used[$m]:-}" && -n "${ours_used[$m]:-}" ]] || continue
    say "shared dependency $m: the binaries need $have, this repository has $want (its packages compile twice)"
  done < <(cd "$mod" && GOWORK=off "$GO" list -m -f '{{.Path}} {{.Version}}' all)
  say "wrapper module regenerated for kube $kube_version, etcd $etcd_version, kwok $kwok_version"
}

case "${1:-}" in
binaries) cmd_binaries ;;
start) cmd_start ;;
stop) cmd_stop ;;
run)
  shift
  cmd_run "$@"
  ;;
modules) cmd_modules ;;
*) die "usage: hack/apiserver.sh binaries|start|stop|run CMD ARG…|modules" ;;
esac
