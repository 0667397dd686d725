package upgrade

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
)

// Level is how serious a preflight finding is.
type Level string

const (
	// OK: the rule was checked and holds.
	OK Level = "ok"
	// Warn: the run goes on, and the finding is printed and reported.
	Warn Level = "warn"
	// Refuse: the run stops before anything slow.
	Refuse Level = "refuse"
)

// Finding is one preflight rule's verdict.
type Finding struct {
	Level   Level
	Rule    string
	Message string
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Level, f.Rule, f.Message) }

// PreflightInput is what the preflight rules look at. Nothing here needs Docker,
// a cluster or the network.
type PreflightInput struct {
	From, To   string
	Strategies []Strategy
	// NodeImage is the kind node image the run will use (KIND_NODE_IMAGE or the
	// pin); its tag names the Kubernetes version.
	NodeImage string
	// ClusterMode is pkg/cluster's mode: "create", "reuse" or "existing".
	ClusterMode string
	// OfflineIstio is the Istio release the offline tier simulates
	// (versions.IstioLibraryRelease); when TO is another release the gate warns
	// that the offline tier's verdicts are about that release. Empty: not checked.
	OfflineIstio string
}

// ErrRefused wraps every preflight refusal.
var ErrRefused = errors.New("upgrade refused by preflight")

// Preflight checks, in order, everything that can be known before anything slow:
//
//   - both versions are Istio release versions;
//   - TO is newer than FROM (no downgrade, no same-version "upgrade");
//   - the minor gap: Istio's upgrade guides support in-place upgrades one minor at
//     a time ("it is required to upgrade to each intermediate minor release") and
//     revision-based (canary) upgrades across at most two minors ("jumping across
//     two minor versions is supported (e.g. upgrading directly from version 1.8
//     to 1.10)"): istio.io content/en/docs/setup/upgrade/canary/index.md. A larger
//     gap is refused; a two-minor canary is allowed with a warning;
//   - FROM and TO are each officially supported on the node image's Kubernetes
//     version (pkg/mesh's support table, from istio.io's supported releases); an
//     Istio minor without data there is refused too: the gate must not vouch for
//     a pair nobody has checked;
//   - the cluster is one the harness creates: the gate installs, upgrades and
//     removes Istio on it, which it never does to a cluster it did not create,
//     and every strategy starts from a fresh cluster.
//
// It returns every finding, and an error wrapping ErrRefused that lists the
// refusals when there is any.
func Preflight(in PreflightInput) ([]Finding, error) {
	var out []Finding
	add := func(l Level, rule, format string, args ...any) {
		out = append(out, Finding{Level: l, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	from, errFrom := ParseVersion(in.From)
	to, errTo := ParseVersion(in.To)
	if errFrom != nil {
		add(Refuse, "versions", "%s: %v", EnvFrom, errFrom)
	}
	if errTo != nil {
		add(Refuse, "versions", "%s: %v", EnvTo, errTo)
	}
	if errFrom == nil && errTo == nil {
		checkOrder(add, from, to, in.Strategies)
	}

	k8s, err := NodeKubernetesVersion(in.NodeImage)
	if err != nil {
		add(Refuse, "kubernetes", "%v", err)
	} else {
		for _, v := range []struct{ name, version string }{{"FROM", in.From}, {"TO", in.To}} {
			if err := mesh.CheckKubernetes(v.version, k8s); err != nil {
				advice := "; pick a KIND_NODE_IMAGE both versions support"
				if _, rng := mesh.SupportsKubernetes(v.version, k8s); rng == "" {
					advice = "" // no data at all: the message says where to add it
				}
				add(Refuse, "kubernetes", "%s %s on node image %s (Kubernetes %s): %v%s", v.name, v.version, in.NodeImage, k8s, err, advice)
				continue
			}
			_, rng := mesh.SupportsKubernetes(v.version, k8s)
			add(OK, "kubernetes", "%s %s is supported on Kubernetes %s (range %s)", v.name, v.version, k8s, rng)
			if !mesh.UpperBoundPublished(v.version) {
				add(Warn, "kubernetes", "%s %s: Istio has published only the minimum Kubernetes version for this release "+
					"(pkg/mesh/support.go); Kubernetes %s is above it, but no upper bound could be checked", v.name, v.version, k8s)
			}
		}
	}
	if in.OfflineIstio != "" && errTo == nil {
		if w := mesh.OfflineDivergence(in.To, in.OfflineIstio); w != "" {
			add(Warn, "offline", "%s", w)
		}
	}

	switch in.ClusterMode {
	case "create", "":
		add(OK, "cluster", "every strategy runs on a fresh kind cluster the harness creates")
	default:
		add(Refuse, "cluster", "cluster mode %q: the upgrade gate installs, upgrades and removes Istio, and gives each "+
			"strategy a fresh kind cluster, so it runs only on clusters it creates; unset KUBE_CONTEXT and REUSE_CLUSTER",
			in.ClusterMode)
	}

	var refusals []string
	for _, f := range out {
		if f.Level == Refuse {
			refusals = append(refusals, f.Rule+": "+f.Message)
		}
	}
	if len(refusals) > 0 {
		return out, fmt.Errorf("%w:\n  - %s", ErrRefused, strings.Join(refusals, "\n  - "))
	}
	return out, nil
}

func checkOrder(add func(Level, string, string, ...any), from, to Version, strategies []Strategy) {
	switch c := to.Compare(from); {
	case c == 0:
		add(Refuse, "versions", "FROM and TO are both %s: there is nothing to upgrade", from)
		return
	case c < 0:
		add(Refuse, "versions", "TO %s is older than FROM %s: the gate checks upgrades, not downgrades", to, from)
		return
	}
	if from.Major != to.Major {
		add(Refuse, "versions", "FROM %s and TO %s differ in major version: no Istio upgrade path is documented for that", from, to)
		return
	}
	add(OK, "versions", "%s → %s is an upgrade", from, to)
	gap := to.Minor - from.Minor
	for _, s := range strategies {
		switch {
		case gap <= 1:
			add(OK, "minor gap", "%s: %d minor version(s) apart, supported", s, gap)
		case s == InPlace:
			add(Refuse, "minor gap", "in-place: %s → %s skips %d minor version(s); Istio requires in-place upgrades to go "+
				"through each intermediate minor release (istio.io docs/setup/upgrade/canary); upgrade in steps or use "+
				"%s=canary", from, to, gap-1, EnvStrategy)
		case gap == 2:
			add(Warn, "minor gap", "canary: %s → %s jumps two minor versions, which Istio supports for revision-based "+
				"upgrades only (istio.io docs/setup/upgrade/canary)", from, to)
		default:
			add(Refuse, "minor gap", "canary: %s → %s is %d minor versions apart; Istio supports revision-based upgrades "+
				"across at most two (istio.io docs/setup/upgrade/canary)", from, to, gap)
		}
	}
}

// kindNodeTag is the tag of a kind node image: v1.35.8.
var kindNodeTag = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+)`)

// NodeKubernetesVersion reads the Kubernetes version from a kind node image's tag:
// "kindest/node:v1.35.8@sha256:…" is 1.35.8 (kind tags its node images with the
// Kubernetes version they run). A registry port ("localhost:5000/node:v1.35.8") is
// not a tag. An image without a version tag is an error: the rule cannot be
// checked, so it cannot pass.
func NodeKubernetesVersion(image string) (string, error) {
	name, _, _ := strings.Cut(strings.TrimSpace(image), "@")
	tag := ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		tag = name[i+1:]
	}
	m := kindNodeTag.FindStringSubmatch(tag)
	if m == nil {
		return "", fmt.Errorf("node image %q has no Kubernetes version tag (want e.g. kindest/node:v1.35.8@sha256:…), "+
			"so the Istio/Kubernetes support rule cannot be checked", image)
	}
	return m[1], nil
}
