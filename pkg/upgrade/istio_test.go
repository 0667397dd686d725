package upgrade

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
)

// recorder writes a stand-in for an istioctl binary that only records its
// arguments (one per line, "--" after each run) and prints what it is told. It
// runs no Istio: the test checks the exact command lines the gate would run.
func recorder(t *testing.T, version, output string, exit int) (mesh.Istioctl, string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	script := "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\" >> '" + log + "'; done\necho -- >> '" + log + "'\n" +
		"printf '%s\\n' '" + output + "'\nexit " + string(rune('0'+exit)) + "\n"
	path := filepath.Join(dir, "istioctl-"+version)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return mesh.Istioctl{Path: path, Version: version}, log
}

func calls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, run := range strings.Split(strings.TrimSuffix(string(b), "--\n"), "--\n") {
		out = append(out, strings.Join(strings.Fields(run), " "))
	}
	return out
}

func TestMeshIstioRunsTheRightIstioctl(t *testing.T) {
	from, fromLog := recorder(t, "1.30.8", "ok", 0)
	to, toLog := recorder(t, "1.31.4", "✔ No issues found when checking the cluster. Istio is safe to install or upgrade!", 0)
	m := MeshIstio{
		Istioctl: map[string]mesh.Istioctl{"1.30.8": from, "1.31.4": to},
		Options:  mesh.InstallOptions{Overlay: "/repo/fixtures/istio/egress.yaml", Kubeconfig: "/tmp/kc"},
		Timeouts: mesh.Timeouts{Install: 10 * time.Second, Ready: 5 * time.Second},
	}
	ctx := context.Background()
	if err := m.Install(ctx, "1.30.8", ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Install(ctx, "1.31.4", "1-31-4"); err != nil {
		t.Fatal(err)
	}
	if err := m.Install(ctx, "1.31.4", DefaultRevision); err != nil {
		t.Fatal(err)
	}
	out, err := m.Precheck(ctx, "1.31.4", "1.30")
	if err != nil || !strings.Contains(out, "safe to install or upgrade") {
		t.Fatalf("precheck: %q %v", out, err)
	}
	if err := m.Uninstall(ctx, "1.31.4", DefaultRevision); err != nil {
		t.Fatal(err)
	}
	if got := calls(t, fromLog); len(got) != 1 ||
		got[0] != "install --skip-confirmation --filename /repo/fixtures/istio/egress.yaml --readiness-timeout 5s --kubeconfig /tmp/kc" {
		t.Errorf("FROM's istioctl ran %q", got)
	}
	want := []string{
		"install --skip-confirmation --filename /repo/fixtures/istio/egress.yaml --revision 1-31-4 --readiness-timeout 5s --kubeconfig /tmp/kc",
		// The default revision is istioctl's "no --revision" for install…
		"install --skip-confirmation --filename /repo/fixtures/istio/egress.yaml --readiness-timeout 5s --kubeconfig /tmp/kc",
		"x precheck --from-version 1.30 --kubeconfig /tmp/kc",
		// …and named for uninstall, never --purge.
		"uninstall --skip-confirmation --revision default --kubeconfig /tmp/kc",
	}
	if got := calls(t, toLog); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("TO's istioctl ran\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMeshIstioRefusals(t *testing.T) {
	bad, _ := recorder(t, "1.31.4", "Error: Issues found when checking the cluster. Istio may not be safe to install or upgrade.", 1)
	m := MeshIstio{Istioctl: map[string]mesh.Istioctl{"1.31.4": bad}, Options: mesh.InstallOptions{Overlay: "x.yaml"}}
	ctx := context.Background()
	out, err := m.Precheck(ctx, "1.31.4", "1.30")
	if err == nil || !strings.Contains(err.Error(), "may not be safe") || !strings.Contains(out, "may not be safe") {
		t.Errorf("precheck failure: %q %v", out, err)
	}
	if err := m.Uninstall(ctx, "1.31.4", ""); err == nil || !strings.Contains(err.Error(), "never purges") {
		t.Errorf("uninstall without a revision: %v", err)
	}
	if err := m.Install(ctx, "1.29.0", ""); err == nil || !strings.Contains(err.Error(), "no istioctl 1.29.0") {
		t.Errorf("unknown version: %v", err)
	}
	if _, err := m.Precheck(ctx, "1.29.0", "1.28"); err == nil {
		t.Error("precheck of an unknown version: want an error")
	}
}
