package cluster

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Environment variables read by [OptionsFromEnv]. Flags may override the
// resulting [Options]; this package reads nothing from the environment itself.
const (
	// EnvClusterName names the kind cluster (default [DefaultName]).
	EnvClusterName = "CLUSTER_NAME"
	// EnvReuse=1 reuses the harness's own kind cluster if it exists (and keeps it).
	EnvReuse = "REUSE_CLUSTER"
	// EnvKeep=1 keeps the kind cluster after the run.
	EnvKeep = "KEEP_CLUSTER"
	// EnvKeepOnFailure=1 keeps the kind cluster after a failed run, and the nodes of
	// a failed creation.
	EnvKeepOnFailure = "KEEP_CLUSTER_ON_FAILURE"
	// EnvKubeconfig is the kubeconfig (a path list, as kubectl reads it) holding the
	// context of an existing cluster. Only used together with EnvKubeContext.
	EnvKubeconfig = "KUBECONFIG"
	// EnvKubeContext names the context of an existing cluster to test; setting it
	// selects [ModeExisting].
	EnvKubeContext = "KUBE_CONTEXT"
	// EnvNodeImage overrides the kind node image pinned in versions.env.
	EnvNodeImage = "KIND_NODE_IMAGE"
	// EnvKindConfig overrides the kind config file (default [DefaultKindConfig]).
	EnvKindConfig = "KIND_CONFIG"
)

// DefaultName is the kind cluster name used when CLUSTER_NAME is not set.
const DefaultName = "egress-conformance"

// Options say which cluster to use and how. The caller fills them (usually with
// [OptionsFromEnv], then flags); [Decide] turns them into a [Plan].
type Options struct {
	// Name of the kind cluster; "" means DefaultName.
	Name string
	// NodeImage overrides versions.KindNodeImage; "" means the pin.
	NodeImage string
	// KindConfig is the kind v1alpha4 config file; "" means DefaultKindConfig,
	// looked up from the working directory upwards.
	KindConfig string
	// Reuse a kind cluster of this name that the harness created; implies Keep.
	Reuse bool
	// Keep the kind cluster after the run.
	Keep bool
	// KeepOnFailure keeps the kind cluster after a failed run (see
	// Provider.SetFailed) and the nodes of a failed creation.
	KeepOnFailure bool
	// Kubeconfig and KubeContext select an existing cluster: KubeContext must name a
	// context of Kubeconfig (a path list; "" means ~/.kube/config).
	Kubeconfig  string
	KubeContext string
	// Out receives progress lines of long steps (creating the cluster, loading
	// images); nil means os.Stderr. Nothing else is printed.
	Out io.Writer
	// Timeouts; zero fields take the DefaultTimeouts value.
	Timeouts Timeouts
	// Runner runs host commands (docker); nil means ExecRunner.
	Runner Runner
}

// Timeouts bounds every wait of this package; nothing else hard-codes a duration.
type Timeouts struct {
	// Docker bounds the `docker info` preflight.
	Docker time.Duration
	// NodeReady is how long kind waits for the control-plane node to be Ready.
	NodeReady time.Duration
	// ControlPlane bounds WaitForControlPlane (nodes Ready, control-plane pods and
	// CoreDNS Ready).
	ControlPlane time.Duration
	// API bounds single API calls (ownership marker, server version).
	API time.Duration
	// Poll is the interval between readiness checks.
	Poll time.Duration
}

// DefaultTimeouts returns the timeouts used for zero fields of Options.Timeouts.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Docker:       10 * time.Second,
		NodeReady:    5 * time.Minute,
		ControlPlane: 5 * time.Minute,
		API:          30 * time.Second,
		Poll:         2 * time.Second,
	}
}

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts()
	if t.Docker <= 0 {
		t.Docker = d.Docker
	}
	if t.NodeReady <= 0 {
		t.NodeReady = d.NodeReady
	}
	if t.ControlPlane <= 0 {
		t.ControlPlane = d.ControlPlane
	}
	if t.API <= 0 {
		t.API = d.API
	}
	if t.Poll <= 0 {
		t.Poll = d.Poll
	}
	return t
}

// OptionsFromEnv fills Options from environment variables read with getenv
// (os.Getenv in production). Boolean variables accept 1/true/yes and 0/false/no
// (any case) or empty; anything else is an error naming the variable.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{
		Name:        strings.TrimSpace(getenv(EnvClusterName)),
		NodeImage:   strings.TrimSpace(getenv(EnvNodeImage)),
		KindConfig:  strings.TrimSpace(getenv(EnvKindConfig)),
		Kubeconfig:  strings.TrimSpace(getenv(EnvKubeconfig)),
		KubeContext: strings.TrimSpace(getenv(EnvKubeContext)),
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{
		{EnvReuse, &o.Reuse},
		{EnvKeep, &o.Keep},
		{EnvKeepOnFailure, &o.KeepOnFailure},
	} {
		v, err := parseBool(b.name, getenv(b.name))
		if err != nil {
			return Options{}, err
		}
		*b.dst = v
	}
	return o, nil
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q: want 1 or 0", name, v)
}
