package upgrade

import (
	"errors"
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Node images from kind v0.33.0's release notes (kubernetes-sigs/kind, tag v0.33.0), pinned by digest.
const (
	node137 = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
	node135 = "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"
	node134 = "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d"
)

func TestPreflight(t *testing.T) {
	both := []Strategy{InPlace, Canary}
	for _, tt := range []struct {
		name string
		in   PreflightInput
		// refuse lists substrings every refusal must contain between them; none:
		// the run goes on. warn likewise for warnings.
		refuse []string
		warn   []string
	}{
		{name: "the default gate on the pinned node image: 1.31.4 → 1.32.0, 1.32's upper bound unpublished, offline tier on 1.31",
			in: PreflightInput{From: "1.31.4", To: versions.Istio, Strategies: both, NodeImage: versions.KindNodeImage, ClusterMode: "create",
				OfflineIstio: versions.IstioLibraryRelease},
			warn: []string{"TO 1.32.0: Istio has published only the minimum Kubernetes version", "offline tier simulates Istio 1.31"}},
		{name: "offline release equal to TO: no offline warning",
			in: PreflightInput{From: "1.30.8", To: "1.31.4", Strategies: both, NodeImage: node135, ClusterMode: "create", OfflineIstio: "1.31"}},
		{name: "patch upgrade",
			in: PreflightInput{From: "1.31.3", To: "1.31.4", Strategies: both, NodeImage: node135, ClusterMode: "create"}},
		{name: "same version",
			in:     PreflightInput{From: "1.31.4", To: "1.31.4", Strategies: both, NodeImage: node135, ClusterMode: "create"},
			refuse: []string{"both 1.31.4: there is nothing to upgrade"}},
		{name: "downgrade",
			in:     PreflightInput{From: "1.31.4", To: "1.30.8", Strategies: both, NodeImage: node135, ClusterMode: "create"},
			refuse: []string{"TO 1.30.8 is older than FROM 1.31.4"}},
		{name: "release candidate to its release is an upgrade",
			in: PreflightInput{From: "1.31.0-rc.1", To: "1.31.0", Strategies: both, NodeImage: node135, ClusterMode: "create"}},
		{name: "two minors in place",
			in:     PreflightInput{From: "1.29.5", To: "1.31.4", Strategies: []Strategy{InPlace}, NodeImage: node135, ClusterMode: "create"},
			refuse: []string{"in-place: 1.29.5 → 1.31.4 skips 1 minor version(s)", "UPGRADE_STRATEGY=canary"}},
		{name: "two minors by canary: supported, with a warning",
			in:   PreflightInput{From: "1.29.5", To: "1.31.4", Strategies: []Strategy{Canary}, NodeImage: node135, ClusterMode: "create"},
			warn: []string{"canary: 1.29.5 → 1.31.4 jumps two minor versions"}},
		{name: "two minors with both strategies: in-place refuses the run",
			in:     PreflightInput{From: "1.29.5", To: "1.31.4", Strategies: both, NodeImage: node135, ClusterMode: "create"},
			refuse: []string{"in-place"}, warn: []string{"canary"}},
		{name: "three minors by canary",
			in:     PreflightInput{From: "1.28.2", To: "1.31.4", Strategies: []Strategy{Canary}, NodeImage: node135, ClusterMode: "create"},
			refuse: []string{"3 minor versions apart", "at most two"}},
		{name: "FROM not supported on the node's Kubernetes",
			// 1.30 is supported on 1.32–1.36 (pkg/mesh/support.go).
			in:     PreflightInput{From: "1.30.8", To: "1.31.4", Strategies: both, NodeImage: node137, ClusterMode: "create"},
			refuse: []string{"FROM 1.30.8 on node image " + node137 + " (Kubernetes 1.37.0)", "1.32–1.36", "pick a KIND_NODE_IMAGE"}},
		{name: "TO without published support data",
			in:     PreflightInput{From: "1.32.0", To: "1.33.0", Strategies: both, NodeImage: node135, ClusterMode: "create"},
			refuse: []string{"TO 1.33.0", "no Kubernetes support data for Istio 1.33.0", "pkg/mesh/support.go"},
			warn:   []string{"FROM 1.32.0: Istio has published only the minimum"}},
		{name: "1.32 below its floor",
			in:     PreflightInput{From: "1.31.4", To: "1.32.0", Strategies: both, NodeImage: "kindest/node:v1.31.2", ClusterMode: "create"},
			refuse: []string{"TO 1.32.0", "1.32 or newer"}},
		{name: "Kubernetes below both",
			in:     PreflightInput{From: "1.30.8", To: "1.31.4", Strategies: both, NodeImage: "kindest/node:v1.31.2", ClusterMode: "create"},
			refuse: []string{"FROM 1.30.8", "TO 1.31.4"}},
		{name: "node image without a version tag",
			in:     PreflightInput{From: "1.30.8", To: "1.31.4", Strategies: both, NodeImage: "kindest/node@sha256:07b2536e", ClusterMode: "create"},
			refuse: []string{"has no Kubernetes version tag"}},
		{name: "existing cluster",
			in:     PreflightInput{From: "1.30.8", To: "1.31.4", Strategies: both, NodeImage: node135, ClusterMode: "existing"},
			refuse: []string{`cluster mode "existing"`, "unset KUBE_CONTEXT and REUSE_CLUSTER"}},
		{name: "bad version",
			in:     PreflightInput{From: "1.30", To: "1.31.4", Strategies: both, NodeImage: node134, ClusterMode: "create"},
			refuse: []string{"ISTIO_FROM"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			findings, err := Preflight(tt.in)
			var refusals, warnings []string
			for _, f := range findings {
				switch f.Level {
				case Refuse:
					refusals = append(refusals, f.String())
				case Warn:
					warnings = append(warnings, f.String())
				}
			}
			if (err != nil) != (len(tt.refuse) > 0) {
				t.Fatalf("err = %v; findings:\n%s", err, strings.Join(strs(findings), "\n"))
			}
			if err != nil {
				if !errors.Is(err, ErrRefused) {
					t.Errorf("error %v does not wrap ErrRefused", err)
				}
				for _, want := range tt.refuse {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("refusal lacks %q:\n%v", want, err)
					}
				}
			}
			all := strings.Join(warnings, "\n")
			if len(tt.warn) == 0 && len(warnings) > 0 {
				t.Errorf("unexpected warnings:\n%s", all)
			}
			for _, want := range tt.warn {
				if !strings.Contains(all, want) {
					t.Errorf("warnings lack %q:\n%s", want, all)
				}
			}
		})
	}
}

func strs(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.String())
	}
	return out
}

func TestNodeKubernetesVersion(t *testing.T) {
	for image, want := range map[string]string{
		node135:                               "1.35.8",
		node134:                               "1.34.11",
		"kindest/node:v1.36.4":                "1.36.4",
		"localhost:5000/kindest/node:v1.35.8": "1.35.8",
		versions.KindNodeImage:                "1.35.8",
	} {
		got, err := NodeKubernetesVersion(image)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %s", image, got, err, want)
		}
	}
	for _, bad := range []string{"", "kindest/node", "localhost:5000/kindest/node", "kindest/node:latest", "kindest/node@sha256:07b2"} {
		if _, err := NodeKubernetesVersion(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
