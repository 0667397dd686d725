package cluster

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Mode is where the cluster comes from.
type Mode int

const (
	// ModeCreate creates a kind cluster and deletes it after the run.
	ModeCreate Mode = iota + 1
	// ModeReuse reuses the harness's own kind cluster of that name, or creates it,
	// and keeps it after the run.
	ModeReuse
	// ModeExisting uses one explicitly named kubeconfig context; the harness never
	// creates or deletes that cluster.
	ModeExisting
)

func (m Mode) String() string {
	switch m {
	case ModeCreate:
		return "create"
	case ModeReuse:
		return "reuse"
	case ModeExisting:
		return "existing"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Plan is the decision [Decide] takes from [Options]: pure data, no I/O.
type Plan struct {
	Mode Mode
	// Name of the kind cluster (ModeCreate, ModeReuse). In ModeExisting it is only
	// the key under which e2e-framework stores the provider in the context.
	Name string
	// NodeImage is the kind node image (ModeCreate, ModeReuse).
	NodeImage string
	// KindConfig is the kind config file as given ("" means DefaultKindConfig).
	KindConfig string
	// Keep is KEEP_CLUSTER=1 as given (ModeReuse keeps regardless).
	Keep bool
	// KeepOnFailure is KEEP_CLUSTER_ON_FAILURE=1.
	KeepOnFailure bool
	// Kubeconfig (a path list, "" means ~/.kube/config) and Context: ModeExisting.
	Kubeconfig string
	Context    string
}

// ErrContextNotNamed is returned when an existing cluster is asked for (KUBECONFIG
// set) without naming its context: the harness never uses current-context.
var ErrContextNotNamed = errors.New("the kubeconfig context is not named")

// kindNameRE is what kind accepts as a cluster name; kind appends
// "-control-plane" to it for the node's host name, hence the length limit.
var kindNameRE = regexp.MustCompile(`^[a-z0-9.-]+$`)

const kindNameMax = 50

// Decide turns options into a plan, or explains exactly what to set.
//
//   - KUBE_CONTEXT set: ModeExisting (REUSE/KEEP do not apply: that cluster is
//     never created or deleted).
//   - KUBECONFIG set without KUBE_CONTEXT: refused (ErrContextNotNamed), since a
//     KUBECONFIG alone would mean "whatever its current-context points at".
//   - REUSE_CLUSTER=1: ModeReuse. Otherwise ModeCreate.
func Decide(o Options) (Plan, error) {
	if o.KubeContext != "" {
		return Plan{
			Mode:       ModeExisting,
			Name:       nameOrDefault(o.Name),
			Kubeconfig: o.Kubeconfig,
			Context:    o.KubeContext,
		}, nil
	}
	if o.Kubeconfig != "" {
		return Plan{}, fmt.Errorf("%w: KUBECONFIG=%s is set but KUBE_CONTEXT is not, and the harness never "+
			"uses a kubeconfig's current-context. To test an existing cluster, set KUBE_CONTEXT to the context "+
			"to use (kubectl config get-contexts lists them); to create a kind cluster instead, unset KUBECONFIG "+
			"(e.g. `env -u KUBECONFIG make e2e`)", ErrContextNotNamed, o.Kubeconfig)
	}

	name := nameOrDefault(o.Name)
	if !kindNameRE.MatchString(name) || len(name) > kindNameMax {
		return Plan{}, fmt.Errorf("CLUSTER_NAME=%q is not a valid kind cluster name: use at most %d characters "+
			"among a-z, 0-9, '.' and '-'", name, kindNameMax)
	}
	image := o.NodeImage
	if image == "" {
		image = versions.KindNodeImage
	}
	if image == "" {
		return Plan{}, errors.New("no kind node image: KIND_NODE_IMAGE is missing from pkg/versions/versions.env " +
			"and not set in the environment")
	}
	p := Plan{
		Mode:          ModeCreate,
		Name:          name,
		NodeImage:     image,
		KindConfig:    o.KindConfig,
		Keep:          o.Keep,
		KeepOnFailure: o.KeepOnFailure,
	}
	if o.Reuse {
		p.Mode = ModeReuse
	}
	return p, nil
}

func nameOrDefault(name string) string {
	if name == "" {
		return DefaultName
	}
	return name
}

// DeleteAfterRun says whether the kind cluster is deleted when the run ends.
// created: this run created the cluster (false when it was reused); failed: the
// run failed. Only a cluster this run created is ever deleted.
func (p Plan) DeleteAfterRun(created, failed bool) bool {
	return p.keepReason(created, failed) == ""
}

// DeleteAfterFailedCreate says whether a cluster whose creation failed half-way
// (kind succeeded, the harness's own set-up did not) is deleted. Such a cluster
// lacks the ownership marker, so a later REUSE_CLUSTER=1 run would refuse it: it is
// deleted even in ModeReuse, unless the user asked to keep clusters.
func (p Plan) DeleteAfterFailedCreate() bool {
	return p.Mode != ModeExisting && !p.Keep && !p.KeepOnFailure
}

// keepReason is why the cluster is kept after the run, or "" if it is deleted.
func (p Plan) keepReason(created, failed bool) string {
	switch {
	case p.Mode == ModeExisting:
		return "it is an existing cluster (KUBE_CONTEXT=" + p.Context + ")"
	case !created:
		return "it was reused, not created, by this run (" + EnvReuse + "=1)"
	case p.Mode == ModeReuse:
		return EnvReuse + "=1"
	case p.Keep:
		return EnvKeep + "=1"
	case failed && p.KeepOnFailure:
		return "the run failed and " + EnvKeepOnFailure + "=1"
	}
	return ""
}

// String describes the plan in one line, for the run's log and report.
func (p Plan) String() string {
	switch p.Mode {
	case ModeExisting:
		kc := p.Kubeconfig
		if kc == "" {
			kc = "~/.kube/config"
		}
		return fmt.Sprintf("existing cluster: context %q of %s (never created or deleted by the harness)", p.Context, kc)
	case ModeCreate, ModeReuse:
		var b strings.Builder
		if p.Mode == ModeReuse {
			fmt.Fprintf(&b, "kind cluster %q: reuse it if the harness created it, else create it; keep it afterwards", p.Name)
		} else {
			fmt.Fprintf(&b, "kind cluster %q: create it", p.Name)
			switch {
			case p.Keep:
				b.WriteString(" and keep it afterwards")
			case p.KeepOnFailure:
				b.WriteString(" and delete it afterwards unless the run fails")
			default:
				b.WriteString(" and delete it afterwards")
			}
		}
		fmt.Fprintf(&b, "; node image %s", p.NodeImage)
		return b.String()
	}
	return "no cluster plan"
}
