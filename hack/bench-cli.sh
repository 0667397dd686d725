#!/usr/bin/env bash
# `make bench-cli`: the command's offline check timed as a user runs it, next to
# `istioctl analyze` (analysis only, no simulation) on the same bundle files.
#
#   hack/bench-cli.sh BIN
#
# Figures (wall clock and peak memory from /usr/bin/time, median of RUNS (default 5)
# warm runs; RUNS_LARGE (default 1) for the 200 scenarios):
#   one scenario   BIN check scenarios/egress-gateway-http (2 steps)
#   200 scenarios  BIN check on 200 copies of the catalog's two-step scenarios (400 steps)
# istioctl is built from the istio.io/istio library pinned in versions.env
# (ISTIO_LIBRARY_VERSION, the one the command links) in a throwaway module, once per
# version, into $CACHE_DIR/istioctl-lib/<version>/ (hack/lib.sh cache_root).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
versions_env="$root/pkg/versions/versions.env"
die() {
  echo "hack/bench-cli.sh: $*" >&2
  exit 1
}
# shellcheck source=hack/lib.sh
source "$root/hack/lib.sh"

bin="${1:-}"
[[ -x "$bin" ]] || die "usage: hack/bench-cli.sh BIN (the built egress-conformance)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is needed (Debian package 'time')"
runs="${RUNS:-5}"

# istioctl from the pinned library.
version="$(pin ISTIO_LIBRARY_VERSION)"
dir="$(cache_root)/istioctl-lib/$version"
# BENCH_ISTIOCTL: an istioctl of your own instead (it should be built from the same library).
istioctl="${BENCH_ISTIOCTL:-$dir/istioctl}"
if [[ ! -x "$istioctl" ]]; then
  echo "bench-cli: building istioctl from istio.io/istio@$version into $dir (once per version)" >&2
  mkdir -p "$dir"
  tmp="$(mktemp -d "$dir/.build.XXXXXX")"
  # A module of its own: istioctl needs packages this repository's go.mod does not list,
  # and resolving them from istio.io/istio's own go.mod keeps the versions Istio tested.
  if ! (cd "$tmp" && export GOWORK=off CGO_ENABLED=0 &&
    "${GO:-go}" mod init istioctl-build >/dev/null 2>&1 &&
    "${GO:-go}" get "istio.io/istio/istioctl/cmd/istioctl@$version" >&2 &&
    "${GO:-go}" build -o "$tmp/istioctl" istio.io/istio/istioctl/cmd/istioctl >&2); then
    rm -rf "$tmp"
    die "building istioctl from istio.io/istio@$version failed"
  fi
  mv -f "$tmp/istioctl" "$istioctl"
  rm -rf "$tmp"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 200 scenarios, 400 steps: copies of the catalog's two-step scenarios, renamed.
two_steps=(egress-gateway-http egress-gateway-http-v1 egress-gateway-tls-passthrough gateway-api-egress-http
  registry-only-allows-registered registry-only-blocks egress-gateway-authz)
for i in $(seq 0 199); do
  src="${two_steps[$((i % ${#two_steps[@]}))]}"
  cp -r "$root/scenarios/$src" "$work/s$i"
  # A scenario's name makes its namespaces (egress-<name>, egress-<name>-<client>), which
  # some bundle files name: rename both.
  sed -i "s/egress-$src/egress-$src-$i/g" "$work/s$i"/*.yaml
  sed -i "s/^name: .*/name: $src-$i/" "$work/s$i/scenario.yaml"
done
one="$root/scenarios/egress-gateway-http"
mapfile -t one_files < <(find "$one" -name '*.yaml' ! -name scenario.yaml | sort)
mapfile -t all_files < <(find "$work" -name '*.yaml' ! -name scenario.yaml | sort)

# measure NAME CMD...: median wall seconds and peak RSS (MB) of $n runs after a warm-up
# ($n: MEASURE_RUNS, else $runs).
measure() {
  local name="$1" i n="${MEASURE_RUNS:-$runs}"
  shift
  "$@" >/dev/null 2>&1 || true
  : >"$work/$name.times"
  for ((i = 0; i < n; i++)); do
    /usr/bin/time -f "%e %M %U %S" -a -o "$work/$name.times" "$@" >/dev/null 2>&1 || true
  done
  # time prints "Command exited with non-zero status N" before the figures when the command
  # fails (istioctl analyze does when it finds errors): keep only the figures.
  grep -E '^[0-9.]+ [0-9]+ [0-9.]+ [0-9.]+$' "$work/$name.times" | sort -n |
    awk -v n="$n" '{w[NR]=$1; c[NR]=$3+$4; if ($2>m) m=$2} END {printf "%.2f %.0f %.2f\n", w[int((n+1)/2)], m/1024, c[int((n+1)/2)]}'
}

load_before="$(cut -d' ' -f1 /proc/loadavg)"
echo "bench-cli: $(nproc) CPUs, load average before $(cut -d' ' -f1-3 /proc/loadavg), $runs runs each (median wall, peak RSS)" >&2
read -r one_ec_s one_ec_mb one_ec_cpu < <(measure one-ec "$bin" check --quiet --format none "$one")
read -r one_ia_s one_ia_mb one_ia_cpu < <(measure one-ia "$istioctl" analyze --use-kube=false "${one_files[@]}")
read -r all_ec_s all_ec_mb all_ec_cpu < <(MEASURE_RUNS="${RUNS_LARGE:-1}" measure all-ec "$bin" check --quiet --format none "$work"/s*)
read -r all_ia_s all_ia_mb all_ia_cpu < <(MEASURE_RUNS="${RUNS_LARGE:-1}" measure all-ia "$istioctl" analyze --use-kube=false "${all_files[@]}")
# The corpus must pass: a failing check would time something else.
summary="$("$bin" check --format none "$work"/s* 2>&1 || true)"
echo "bench-cli: 200 scenarios: $summary" >&2
steps="$(sed -n 's/.* \([0-9]*\) steps:.*/\1/p' <<<"$summary")"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "n/a" }'; }
goal() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "met" : "MISSED" }'; }

# Wall clock is what a user waits; CPU (user+sys) is what the check costs, steadier than wall
# on a shared machine.
printf '%-36s %18s %8s %8s %18s %8s %8s %7s %s\n' "what" "egress-conformance" "cpu" "peak" "istioctl analyze" "cpu" "peak" "ratio" "goal"
printf '%-36s %17ss %7ss %6sMB %17ss %7ss %6sMB %7s %s\n' "one scenario (2 steps, 4 files)" "$one_ec_s" "$one_ec_cpu" "$one_ec_mb" \
  "$one_ia_s" "$one_ia_cpu" "$one_ia_mb" "$(ratio "$one_ec_s" "$one_ia_s")" "≤ 0.5 s: $(goal "$one_ec_s" 0.5), ≤ 200 MB: $(goal "$one_ec_mb" 200)"
printf '%-36s %17ss %7ss %6sMB %17ss %7ss %6sMB %7s %s\n' "200 scenarios ($steps steps, ${#all_files[@]} files)" "$all_ec_s" "$all_ec_cpu" "$all_ec_mb" \
  "$all_ia_s" "$all_ia_cpu" "$all_ia_mb" "$(ratio "$all_ec_s" "$all_ia_s")" "≤ 20 s: $(goal "$all_ec_s" 20)"
echo "istioctl analyze only analyses (no validation of the steps' expectations, no xDS simulation); the 200-scenario" \
  "files are analysed in one invocation, where copies of the same object name share a namespace." >&2
# Wall clock is only the user's wait on an otherwise idle machine: say when it was not,
# and what the CPU figures bound it to (the check uses every core; its process start,
# Istio's package initialisation, uses one).
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench-cli: load average after $load_after" >&2
if awk -v b="$load_before" -v a="${load_after%% *}" -v n="$(nproc)" 'BEGIN { exit !(b > n || a > n) }'; then
  echo "bench-cli: the load average exceeded the $(nproc) CPUs: other processes took CPU time, so wall figures are inflated;" \
    "on idle CPUs the 200 scenarios take at least $(awk -v c="$all_ec_cpu" -v n="$(nproc)" 'BEGIN { printf "%.1f", c / n }') s (their CPU time ÷ $(nproc))" >&2
fi
