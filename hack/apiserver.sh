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
# How each is built (kwokctl's binary runtime would otherwise download them):
#   etcd       `go build` in the wrapper module hack/apiserver/etcd: etcd's own go.mod has replace
#              directives, so `go install go.etcd.io/etcd/server/v3@…` is refused.
#   kube-*     `go build` in the wrapper module hack/apiserver/kube: k8s.io/kubernetes requires its
#              staging modules at v0.0.0 (replaced by ./staging directories, which dependants
#              ignore), so the wrapper replaces each with its published v0.<minor>.<patch> tag.
#              Version ldflags make the binaries report their real version (kwokctl reads it).
#   kwok(ctl)  plain `go install sigs.k8s.io/kwok/cmd/…@KWOK_VERSION`.
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
bin_root="$(cache_root)/apiserver"
kube_dir="$bin_root/kube-$kube_version"
etcd_dir="$bin_root/etcd-$etcd_version"
kwok_dir="$bin_root/kwok-$kwok_version"
kube_bins=(kube-apiserver kube-controller-manager kube-scheduler)

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
      say "$label: $((SECONDS - start)) s, compiled ${n} of about ${total} packages"
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

# check_wrapper MODULE_DIR REQUIREMENT: the committed wrapper module must require the pinned version.
check_wrapper() {
  local dir="$1" req="$2"
  grep -q "^[[:space:]]*${req}\( //.*\)\?$" "$dir/go.mod" ||
    die "$dir/go.mod does not require $req (pins changed?): run hack/apiserver.sh modules"
}

ensure_etcd() {
  [[ -x "$etcd_dir/etcd" ]] && return
  need_go "etcd $etcd_version"
  local mod="$root/hack/apiserver/etcd" tmp total
  check_wrapper "$mod" "go.etcd.io/etcd/server/v3 $etcd_version"
  mkdir -p "$etcd_dir"
  tmp="$(mktemp -d "$etcd_dir/.build.XXXXXX")"
  say "building etcd $etcd_version into $etcd_dir (once per version)"
  total="$(cd "$mod" && GOWORK=off "$GO" list -deps go.etcd.io/etcd/server/v3 | wc -l)"
  if ! with_progress "etcd $etcd_version" "$total" "$tmp/build.log" \
    in_dir "$mod" env GOWORK=off CGO_ENABLED=0 "$GO" build -v -trimpath -o "$tmp/etcd" go.etcd.io/etcd/server/v3; then
    rm -rf "$tmp"
    die "building etcd $etcd_version failed"
  fi
  install_into "$etcd_dir" "$tmp" etcd
  rm -rf "$tmp"
}

ensure_kube() {
  local b missing=0
  for b in "${kube_bins[@]}"; do [[ -x "$kube_dir/$b" ]] || missing=1; done
  [[ $missing -eq 0 ]] && return
  need_go "Kubernetes $kube_version"
  local mod="$root/hack/apiserver/kube" tmp total minor pkgs=() ldflags=() p
  check_wrapper "$mod" "k8s.io/kubernetes $kube_version"
  for b in "${kube_bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  minor="${kube_version#v*.}"
  minor="${minor%%.*}"
  # What `kube-apiserver --version` and /version report (hack/lib/version.sh upstream sets the
  # same variables, in both packages).
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=("-X $p.gitVersion=$kube_version" "-X $p.gitMajor=1" "-X $p.gitMinor=$minor"
      "-X $p.gitTreeState=clean")
  done
  mkdir -p "$kube_dir"
  tmp="$(mktemp -d "$kube_dir/.build.XXXXXX")"
  say "building ${kube_bins[*]} $kube_version into $kube_dir (once per version; about 8-10 min on 2 cores)"
  total="$(cd "$mod" && GOWORK=off "$GO" list -deps "${pkgs[@]}" | wc -l)"
  if ! with_progress "kube $kube_version" "$total" "$tmp/build.log" \
    in_dir "$mod" env GOWORK=off CGO_ENABLED=0 "$GO" build -v -trimpath -ldflags "${ldflags[*]}" -o "$tmp/" "${pkgs[@]}"; then
    rm -rf "$tmp"
    die "building Kubernetes $kube_version failed"
  fi
  install_into "$kube_dir" "$tmp" "${kube_bins[@]}"
  rm -rf "$tmp"
}

ensure_kwok() {
  [[ -x "$kwok_dir/kwok" && -x "$kwok_dir/kwokctl" ]] && return
  need_go "kwok $kwok_version"
  local tmp
  mkdir -p "$kwok_dir"
  tmp="$(mktemp -d "$kwok_dir/.build.XXXXXX")"
  say "building kwok and kwokctl $kwok_version into $kwok_dir (once per version)"
  # The cache directory as working directory keeps any enclosing module or workspace out.
  if ! with_progress "kwok $kwok_version" "?" "$tmp/build.log" \
    in_dir "$tmp" env GOBIN="$tmp" GOWORK=off CGO_ENABLED=0 "$GO" install -v -trimpath \
    "sigs.k8s.io/kwok/cmd/kwok@$kwok_version" "sigs.k8s.io/kwok/cmd/kwokctl@$kwok_version"; then
    rm -rf "$tmp"
    die "go install sigs.k8s.io/kwok/cmd/...@$kwok_version failed"
  fi
  install_into "$kwok_dir" "$tmp" kwok kwokctl
  rm -rf "$tmp"
}

cmd_binaries() {
  ensure_etcd
  ensure_kwok
  ensure_kube
  printf '%s\n' "$etcd_dir" "$kube_dir" "$kwok_dir"
}

kwokctl() {
  KWOK_WORKDIR="$state_dir/kwok" "$kwok_dir/kwokctl" "$@"
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
  ensure_etcd
  ensure_kwok
  ensure_kube
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
  etcdBinary: $etcd_dir/etcd
  kubeApiserverBinary: $kube_dir/kube-apiserver
  kubeControllerManagerBinary: $kube_dir/kube-controller-manager
  kubeSchedulerBinary: $kube_dir/kube-scheduler
  kwokControllerBinary: $kwok_dir/kwok
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
  if [[ -x "$kwok_dir/kwokctl" ]]; then
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

# cmd_modules regenerates hack/apiserver/{etcd,kube}/go.mod and go.sum from the pins.
cmd_modules() {
  need_go "the wrapper modules"
  local mod="$root/hack/apiserver/kube" gomod minor patch staging m v
  # etcd: require the server module at the pin; tidy resolves its sibling modules.
  (
    cd "$root/hack/apiserver/etcd"
    sed '/^require/,$d' go.mod >go.mod.new
    mv go.mod.new go.mod
    GOWORK=off "$GO" get "go.etcd.io/etcd/server/v3@$etcd_version"
    GOWORK=off "$GO" mod tidy
  )
  # kube: replace every staging module k8s.io/kubernetes's go.mod replaces.
  gomod="$(cd "$mod" && GOWORK=off "$GO" mod download -json "k8s.io/kubernetes@$kube_version" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$gomod" ]] || die "cannot download k8s.io/kubernetes@$kube_version"
  minor="${kube_version#v1.}"
  patch="${minor#*.}"
  minor="${minor%%.*}"
  staging=()
  while IFS= read -r m; do
    staging+=("$m")
  done < <(sed -n '/^replace (/,/^)/p' "$gomod" | awk '$2 == "=>" { print $1 }')
  {
    sed -n '1,/^module /p' "$mod/go.mod"
    printf '\ngo 1.24\n\ntool (\n'
    for b in "${kube_bins[@]}"; do printf '\tk8s.io/kubernetes/cmd/%s\n' "$b"; done
    printf ')\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$kube_version"
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
        if (cd "$mod" && GOWORK=off "$GO" mod download "$m@v0.$minor.$p" 2>/dev/null); then
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
  say "wrapper modules regenerated for kube $kube_version, etcd $etcd_version"
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
