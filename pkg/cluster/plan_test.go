package cluster

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

func TestDecide(t *testing.T) {
	const custom = "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d"
	tests := []struct {
		name    string
		opts    Options
		want    Plan
		wantErr string // substring; "" means no error
		is      error
	}{
		{
			name: "default creates the default cluster with the pinned image",
			opts: Options{},
			want: Plan{Mode: ModeCreate, Name: DefaultName, NodeImage: versions.KindNodeImage},
		},
		{
			name: "name, image, config and keep flags are carried",
			opts: Options{Name: "egress-dev", NodeImage: custom, KindConfig: "/tmp/k.yaml", Keep: true, KeepOnFailure: true},
			want: Plan{Mode: ModeCreate, Name: "egress-dev", NodeImage: custom, KindConfig: "/tmp/k.yaml", Keep: true, KeepOnFailure: true},
		},
		{
			name: "REUSE_CLUSTER selects reuse",
			opts: Options{Reuse: true},
			want: Plan{Mode: ModeReuse, Name: DefaultName, NodeImage: versions.KindNodeImage},
		},
		{
			name: "KUBE_CONTEXT selects the existing cluster, with KUBECONFIG",
			opts: Options{Kubeconfig: "/home/u/.kube/ci", KubeContext: "ci"},
			want: Plan{Mode: ModeExisting, Name: DefaultName, Kubeconfig: "/home/u/.kube/ci", Context: "ci"},
		},
		{
			name: "KUBE_CONTEXT alone means ~/.kube/config",
			opts: Options{KubeContext: "ci"},
			want: Plan{Mode: ModeExisting, Name: DefaultName, Context: "ci"},
		},
		{
			name: "existing cluster ignores reuse, keep and node image: it is never created or deleted",
			opts: Options{KubeContext: "ci", Reuse: true, Keep: true, NodeImage: custom},
			want: Plan{Mode: ModeExisting, Name: DefaultName, Context: "ci"},
		},
		{
			name:    "KUBECONFIG without KUBE_CONTEXT is refused",
			opts:    Options{Kubeconfig: "/home/u/.kube/config"},
			wantErr: "set KUBE_CONTEXT",
			is:      ErrContextNotNamed,
		},
		{
			name:    "KUBECONFIG without KUBE_CONTEXT is refused even with REUSE_CLUSTER",
			opts:    Options{Kubeconfig: "/k", Reuse: true},
			wantErr: "unset KUBECONFIG",
			is:      ErrContextNotNamed,
		},
		{
			name:    "upper case name",
			opts:    Options{Name: "Egress"},
			wantErr: `CLUSTER_NAME="Egress" is not a valid kind cluster name`,
		},
		{
			name:    "name too long for kind's node host names",
			opts:    Options{Name: strings.Repeat("a", 51)},
			wantErr: "at most 50 characters",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decide() error = %v, want it to contain %q", err, tt.wantErr)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Fatalf("Decide() error = %v, want errors.Is %v", err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decide() error = %v", err)
			}
			if got != tt.want {
				t.Fatalf("Decide() =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestPinnedNodeImageHasDigest(t *testing.T) {
	if !strings.HasPrefix(versions.KindNodeImage, "kindest/node:v") || !strings.Contains(versions.KindNodeImage, "@sha256:") {
		t.Fatalf("versions.KindNodeImage = %q, want kindest/node:<version>@sha256:<digest>", versions.KindNodeImage)
	}
}

func TestDeleteAfterRun(t *testing.T) {
	create := Plan{Mode: ModeCreate, Name: "c"}
	keep := Plan{Mode: ModeCreate, Name: "c", Keep: true}
	keepOnFailure := Plan{Mode: ModeCreate, Name: "c", KeepOnFailure: true}
	reuse := Plan{Mode: ModeReuse, Name: "c"}
	existing := Plan{Mode: ModeExisting, Context: "ci"}
	tests := []struct {
		name            string
		plan            Plan
		created, failed bool
		want            bool
	}{
		{"create, passed", create, true, false, true},
		{"create, failed", create, true, true, true},
		{"keep, passed", keep, true, false, false},
		{"keep, failed", keep, true, true, false},
		{"keep on failure, passed", keepOnFailure, true, false, true},
		{"keep on failure, failed", keepOnFailure, true, true, false},
		{"reuse, created by this run", reuse, true, false, false},
		{"reuse, reused", reuse, false, false, false},
		{"reuse, reused, failed", reuse, false, true, false},
		{"not created by this run is never deleted", create, false, false, false},
		{"existing, passed", existing, false, false, false},
		{"existing, even if flagged created", existing, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.plan.DeleteAfterRun(tt.created, tt.failed); got != tt.want {
				t.Fatalf("DeleteAfterRun(created=%v, failed=%v) = %v, want %v (keep reason %q)",
					tt.created, tt.failed, got, tt.want, tt.plan.keepReason(tt.created, tt.failed))
			}
		})
	}
}

func TestDeleteAfterFailedCreate(t *testing.T) {
	tests := []struct {
		plan Plan
		want bool
	}{
		{Plan{Mode: ModeCreate}, true},
		{Plan{Mode: ModeReuse}, true}, // an unmarked cluster would be refused later anyway
		{Plan{Mode: ModeCreate, Keep: true}, false},
		{Plan{Mode: ModeReuse, KeepOnFailure: true}, false},
		{Plan{Mode: ModeExisting}, false},
	}
	for _, tt := range tests {
		if got := tt.plan.DeleteAfterFailedCreate(); got != tt.want {
			t.Errorf("%+v.DeleteAfterFailedCreate() = %v, want %v", tt.plan, got, tt.want)
		}
	}
}

func TestPlanString(t *testing.T) {
	tests := []struct {
		plan Plan
		want []string
	}{
		{Plan{Mode: ModeCreate, Name: "c", NodeImage: "img"}, []string{`kind cluster "c"`, "delete it afterwards", "node image img"}},
		{Plan{Mode: ModeCreate, Name: "c", Keep: true}, []string{"keep it afterwards"}},
		{Plan{Mode: ModeCreate, Name: "c", KeepOnFailure: true}, []string{"unless the run fails"}},
		{Plan{Mode: ModeReuse, Name: "c"}, []string{"reuse it if the harness created it"}},
		{Plan{Mode: ModeExisting, Context: "ci"}, []string{`context "ci" of ~/.kube/config`, "never created or deleted"}},
	}
	for _, tt := range tests {
		s := tt.plan.String()
		for _, w := range tt.want {
			if !strings.Contains(s, w) {
				t.Errorf("%+v.String() = %q, want it to contain %q", tt.plan, s, w)
			}
		}
	}
}

func TestOptionsFromEnv(t *testing.T) {
	env := map[string]string{
		EnvClusterName:   " egress-dev ",
		EnvReuse:         "1",
		EnvKeep:          "true",
		EnvKeepOnFailure: "0",
		EnvKubeconfig:    "/k1:/k2",
		EnvKubeContext:   "ci",
		EnvNodeImage:     "img",
		EnvKindConfig:    "/kind.yaml",
	}
	got, err := OptionsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Options{Name: "egress-dev", Reuse: true, Keep: true, Kubeconfig: "/k1:/k2", KubeContext: "ci",
		NodeImage: "img", KindConfig: "/kind.yaml"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("OptionsFromEnv() = %+v, want %+v", got, want)
	}

	empty, err := OptionsFromEnv(func(string) string { return "" })
	if err != nil || !reflect.DeepEqual(empty, Options{}) {
		t.Fatalf("OptionsFromEnv(empty) = %+v, %v; want zero options", empty, err)
	}

	_, err = OptionsFromEnv(func(k string) string {
		if k == EnvKeep {
			return "maybe"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), `KEEP_CLUSTER="maybe"`) {
		t.Fatalf("OptionsFromEnv(KEEP_CLUSTER=maybe) error = %v, want it to name the variable", err)
	}
}
