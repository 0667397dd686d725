package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/egress-conformance/egress-conformance/pkg/world"
)

func TestInstallArgsGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		opts InstallOptions
		want string
	}{
		{
			name: "defaults",
			opts: InstallOptions{Overlay: "/repo/fixtures/istio/egress.yaml"},
			want: "install --skip-confirmation --filename /repo/fixtures/istio/egress.yaml",
		},
		{
			name: "ambient overlay after the egress one",
			opts: InstallOptions{Overlay: "/repo/fixtures/istio/egress.yaml", ExtraOverlays: []string{"/repo/fixtures/istio/ambient.yaml"}},
			want: "install --skip-confirmation --filename /repo/fixtures/istio/egress.yaml --filename /repo/fixtures/istio/ambient.yaml",
		},
		{
			name: "everything",
			opts: InstallOptions{
				Overlay:          "/repo/fixtures/istio/egress.yaml",
				Revision:         "1-31-4",
				Hub:              "registry.example/istio",
				Tag:              "1.31.4",
				Set:              []string{"values.global.logging.level=default:debug", "meshConfig.accessLogEncoding=TEXT"},
				Kubeconfig:       "/tmp/kubeconfig",
				Context:          "kind-egress-conformance",
				ReadinessTimeout: 7 * time.Minute,
			},
			want: "install --skip-confirmation --filename /repo/fixtures/istio/egress.yaml --revision 1-31-4" +
				" --set hub=registry.example/istio --set tag=1.31.4" +
				" --set values.global.logging.level=default:debug --set meshConfig.accessLogEncoding=TEXT" +
				" --readiness-timeout 7m0s --kubeconfig /tmp/kubeconfig --context kind-egress-conformance",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := strings.Join(InstallArgs(c.opts), " "); got != c.want {
				t.Errorf("InstallArgs =\n  %s\nwant\n  %s", got, c.want)
			}
		})
	}
}

func TestUninstallArgsGolden(t *testing.T) {
	for _, c := range []struct {
		opts InstallOptions
		want string
	}{
		{InstallOptions{Overlay: "x"}, "uninstall --skip-confirmation --purge"},
		{InstallOptions{Overlay: "x", Context: "kind-a"}, "uninstall --skip-confirmation --purge --context kind-a"},
		{InstallOptions{Overlay: "x", Revision: "canary", Kubeconfig: "/k"}, "uninstall --skip-confirmation --revision canary --kubeconfig /k"},
	} {
		if got := strings.Join(UninstallArgs(c.opts), " "); got != c.want {
			t.Errorf("UninstallArgs(%+v) = %q, want %q", c.opts, got, c.want)
		}
	}
}

func TestInstallOptionsValidate(t *testing.T) {
	ok := InstallOptions{Overlay: "o.yaml", Revision: "1-31-4", Set: []string{"a.b=c"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
	for name, o := range map[string]InstallOptions{
		"no overlay":   {},
		"bad revision": {Overlay: "o", Revision: "1.31.4"},
		"upper":        {Overlay: "o", Revision: "Canary"},
		"set w/o =":    {Overlay: "o", Set: []string{"novalue"}},
		"set w/o key":  {Overlay: "o", Set: []string{"=v"}},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFormatCommand(t *testing.T) {
	got := FormatCommand("/opt/my tools/istioctl", []string{"install", "--set", "values.x=a b", "--set", "it's"})
	want := `'/opt/my tools/istioctl' install --set 'values.x=a b' --set 'it'\''s'`
	if got != want {
		t.Errorf("FormatCommand = %s, want %s", got, want)
	}
	if got := FormatCommand("istioctl", []string{""}); got != "istioctl ''" {
		t.Errorf("empty arg: %s", got)
	}
}

// recordingIstioctl is a fake istioctl that appends its arguments, one per line
// followed by "--", to a log file, prints a line, and exits with code.
func recordingIstioctl(t *testing.T, code int) (bin, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "args.log")
	bin = filepath.Join(dir, "istioctl")
	script := "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\" >> '" + log + "'; done\necho -- >> '" + log + "'\n" +
		"echo '✔ fake istioctl output'\nexit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, log
}

func readLog(t *testing.T, log string) string {
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", " ")
}

func TestInstallAndUninstallRunIstioctl(t *testing.T) {
	bin, log := recordingIstioctl(t, 0)
	var out bytes.Buffer
	m := &Mesh{
		Istioctl: Istioctl{Path: bin, Version: testVersion},
		Options:  InstallOptions{Overlay: "/o.yaml", Context: "kind-x"},
		Timeouts: Timeouts{Ready: 3 * time.Minute},
		Out:      &out,
	}
	if err := m.Install(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !m.Owned {
		t.Error("Install did not mark the mesh Owned")
	}
	if err := m.Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "install --skip-confirmation --filename /o.yaml --readiness-timeout 3m0s --context kind-x -- " +
		"uninstall --skip-confirmation --purge --context kind-x --"
	if got := readLog(t, log); got != want {
		t.Errorf("istioctl ran with\n  %s\nwant\n  %s", got, want)
	}
	if !strings.Contains(out.String(), "fake istioctl output") || !strings.Contains(out.String(), "istio: "+bin+" install") {
		t.Errorf("output does not show the command and istioctl's own output:\n%s", out.String())
	}
}

func TestUninstallLeavesForeignMesh(t *testing.T) {
	bin, log := recordingIstioctl(t, 0)
	var out bytes.Buffer
	m := &Mesh{Istioctl: Istioctl{Path: bin, Version: testVersion}, Options: InstallOptions{Overlay: "/o.yaml"}, Out: &out}
	if err := m.Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, log); got != "" {
		t.Errorf("Uninstall of a mesh the harness did not install ran istioctl %s", got)
	}
	if !strings.Contains(out.String(), "leaving the mesh in place") {
		t.Errorf("output = %q", out.String())
	}
}

func TestInstallFailureCarriesOutput(t *testing.T) {
	bin, _ := recordingIstioctl(t, 1)
	m := &Mesh{Istioctl: Istioctl{Path: bin, Version: testVersion}, Options: InstallOptions{Overlay: "/o.yaml"}}
	err := m.Install(context.Background())
	if err == nil || !strings.Contains(err.Error(), "fake istioctl output") || !strings.Contains(err.Error(), "install Istio "+testVersion) {
		t.Fatalf("err = %v", err)
	}
	if !m.Owned {
		t.Error("a failed install must still be Owned, so teardown removes what it left")
	}
}

func TestInstallRefusesInvalidOptionsAndMissingIstioctl(t *testing.T) {
	if err := (&Mesh{Istioctl: Istioctl{Path: "/x"}}).Install(context.Background()); err == nil {
		t.Error("install without an overlay accepted")
	}
	m := &Mesh{Options: InstallOptions{Overlay: "/o.yaml"}}
	if err := m.Install(context.Background()); err == nil || !strings.Contains(err.Error(), "Acquire") {
		t.Errorf("install without istioctl: %v", err)
	}
}

// The overlay, decoded strictly into the IstioOperator fields it uses (JSON names
// as in istio operator/pkg/apis/types.go and values_types.proto).
type overlay struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Profile    string          `json:"profile"`
		MeshConfig json.RawMessage `json:"meshConfig"`
		Components struct {
			Pilot struct {
				K8s struct {
					Resources corev1.ResourceRequirements `json:"resources"`
				} `json:"k8s"`
			} `json:"pilot"`
			EgressGateways []struct {
				Name    string            `json:"name"`
				Enabled *bool             `json:"enabled"`
				Label   map[string]string `json:"label"`
				K8s     struct {
					Resources corev1.ResourceRequirements `json:"resources"`
				} `json:"k8s"`
			} `json:"egressGateways"`
		} `json:"components"`
		Values struct {
			Global struct {
				Proxy struct {
					Resources corev1.ResourceRequirements `json:"resources"`
				} `json:"proxy"`
			} `json:"global"`
			Pilot struct {
				AutoscaleEnabled *bool `json:"autoscaleEnabled"`
			} `json:"pilot"`
			Gateways struct {
				Egress struct {
					AutoscaleEnabled *bool  `json:"autoscaleEnabled"`
					Type             string `json:"type"`
					Ports            []struct {
						Name       string `json:"name"`
						Port       int32  `json:"port"`
						TargetPort int32  `json:"targetPort"`
						Protocol   string `json:"protocol"`
					} `json:"ports"`
				} `json:"istio-egressgateway"`
			} `json:"gateways"`
		} `json:"values"`
	} `json:"spec"`
}

func TestOverlayIsTheEgressIstioOperator(t *testing.T) {
	p, err := DefaultOverlay()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(filepath.ToSlash(p), OverlayFile) || !filepath.IsAbs(p) {
		t.Errorf("DefaultOverlay = %s", p)
	}
	o := readOverlay(t)
	if o.APIVersion != "install.istio.io/v1alpha1" || o.Kind != "IstioOperator" {
		t.Errorf("apiVersion/kind = %s/%s", o.APIVersion, o.Kind)
	}
	if o.Spec.Profile != "minimal" {
		t.Errorf("profile = %q, want minimal (see docs/mesh.md)", o.Spec.Profile)
	}

	// meshConfig against Istio's own MeshConfig type, unknown fields refused.
	var mc meshv1alpha1.MeshConfig
	if err := (protojson.UnmarshalOptions{}).Unmarshal(o.Spec.MeshConfig, &mc); err != nil {
		t.Fatalf("meshConfig is not a valid MeshConfig: %v", err)
	}
	if mc.GetAccessLogFile() != "/dev/stdout" || mc.GetAccessLogEncoding() != meshv1alpha1.MeshConfig_TEXT || mc.GetAccessLogFormat() != "" {
		t.Errorf("access log: file %q encoding %v format %q; want /dev/stdout, TEXT, Istio's default format",
			mc.GetAccessLogFile(), mc.GetAccessLogEncoding(), mc.GetAccessLogFormat())
	}
	if mc.GetOutboundTrafficPolicy().GetMode() != meshv1alpha1.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY {
		t.Errorf("mesh-wide outboundTrafficPolicy = %v, want ALLOW_ANY", mc.GetOutboundTrafficPolicy())
	}

	gws := o.Spec.Components.EgressGateways
	if len(gws) != 1 || gws[0].Name != EgressGatewayName || gws[0].Enabled == nil || !*gws[0].Enabled {
		t.Fatalf("egressGateways = %+v, want one enabled %s", gws, EgressGatewayName)
	}
	// The overlay installs exactly the gateway pkg/world describes (and the offline
	// tier simulates): its labels and its Service ports.
	described := world.EgressGateway()
	if !reflect.DeepEqual(gws[0].Label, described.Labels) {
		t.Errorf("egress gateway labels = %v, pkg/world says %v", gws[0].Label, described.Labels)
	}
	eg := o.Spec.Values.Gateways.Egress
	if eg.Type != "ClusterIP" {
		t.Errorf("egress gateway Service type = %q", eg.Type)
	}
	ports := map[int32]int32{}
	for _, p := range eg.Ports {
		if p.Protocol != "TCP" {
			t.Errorf("port %d protocol %q", p.Port, p.Protocol)
		}
		ports[p.Port] = p.TargetPort
	}
	want := map[int32]int32{}
	for _, p := range described.Ports {
		want[int32(p.Port)] = int32(p.TargetPort)
	}
	if !reflect.DeepEqual(ports, want) {
		t.Errorf("egress gateway ports = %v, pkg/world says %v", ports, want)
	}
	if eg.AutoscaleEnabled == nil || *eg.AutoscaleEnabled || o.Spec.Values.Pilot.AutoscaleEnabled == nil || *o.Spec.Values.Pilot.AutoscaleEnabled {
		t.Error("autoscaling must be off for istiod and the egress gateway")
	}
}
