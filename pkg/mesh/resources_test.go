package mesh

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// kindSystemCPU is what a kind control-plane node's own pods request: kubeadm's
// static pods kube-apiserver 250m, kube-controller-manager 200m, kube-scheduler
// 100m and etcd 100m, kubeadm's CoreDNS Deployment 2 × 100m, and kind's kindnet
// 100m (kube-proxy and local-path-provisioner request nothing).
const kindSystemCPU = 950

// dockerHostCPU is the smallest Docker host the gate must fit: a 2-vCPU CI runner
// (kind's node sees the host's CPUs as allocatable).
const dockerHostCPU = 2000

// readOverlay decodes the overlay strictly into the type install_test.go checks.
func readOverlay(t *testing.T) overlay {
	t.Helper()
	p, err := DefaultOverlay()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var o overlay
	if err := yaml.UnmarshalStrict(b, &o); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return o
}

// chartSidecarCPU is the istio-discovery chart's default sidecar CPU request
// (global.proxy.resources.requests.cpu in the linked istio.io/istio's values.yaml).
func chartSidecarCPU(t *testing.T) int64 {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "istio.io", "istio@"+versions.IstioLibrary,
		"manifests", "charts", "istio-control", "istio-discovery", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		Defaults struct {
			Global struct {
				Proxy struct {
					Resources corev1.ResourceRequirements `json:"resources"`
				} `json:"proxy"`
			} `json:"global"`
		} `json:"_internal_defaults_do_not_set"`
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatal(err)
	}
	cpu := chart.Defaults.Global.Proxy.Resources.Requests.Cpu()
	if cpu.IsZero() {
		t.Fatal("istio-discovery values.yaml: no _internal_defaults_do_not_set.global.proxy.resources.requests.cpu")
	}
	return cpu.MilliValue()
}

// TestUpgradeGateFitsTwoCPUs: the upgrade gate deploys every client of the catalog
// at once on one kind node and, in the canary strategy, runs two istiods and
// restarts every proxy (a rollout surges a new pod before the old one goes). Its
// CPU requests must fit a 2-vCPU Docker host beside kube-system. A sidecar asks
// what the overlay sets in values.global.proxy.resources, else the chart default,
// read from the linked istio.io/istio's istio-discovery values.yaml.
func TestUpgradeGateFitsTwoCPUs(t *testing.T) {
	o := readOverlay(t)
	sidecar := o.Spec.Values.Global.Proxy.Resources.Requests.Cpu().MilliValue()
	if sidecar == 0 {
		sidecar = chartSidecarCPU(t)
	}
	istiod := o.Spec.Components.Pilot.K8s.Resources.Requests.Cpu().MilliValue()
	if len(o.Spec.Components.EgressGateways) == 0 {
		t.Fatal("overlay has no egress gateway")
	}
	gateway := o.Spec.Components.EgressGateways[0].K8s.Resources.Requests.Cpu().MilliValue()

	all, err := scenario.LoadAllWith(filepath.Join("..", "..", "scenarios"),
		scenario.Options{WorkloadsDir: filepath.Join("..", "..", "fixtures", "workloads")})
	if err != nil {
		t.Fatal(err)
	}
	clients, gatewayAPI := 0, 0
	for _, s := range all {
		clients += len(s.ClientRefs())
		if n := len(s.Steps); n > 0 {
			gatewayAPI += len(s.Steps[n-1].Bundle.GatewayAPIGateways(s.Namespace()))
		}
	}
	// Canary, mid-restart: two istiods, every proxy (clients, the egress gateway,
	// Gateway API gateways) twice. The sleep client's own container asks nothing.
	peak := kindSystemCPU + 2*istiod + 2*gateway + 2*int64(clients+gatewayAPI)*sidecar
	t.Logf("upgrade gate: %d clients, %d Gateway API gateways, sidecar %dm, istiod %dm: peak CPU requests %dm of %dm",
		clients, gatewayAPI, sidecar, istiod, peak, dockerHostCPU)
	if peak > dockerHostCPU {
		t.Errorf("the upgrade gate asks %dm CPU at its peak (kube-system %dm, 2 × istiod %dm, 2 × egress gateway %dm, "+
			"2 × %d proxies × %dm): more than a %dm Docker host; lower values.global.proxy.resources in %s",
			peak, kindSystemCPU, istiod, gateway, clients+gatewayAPI, sidecar, dockerHostCPU, OverlayFile)
	}
}
