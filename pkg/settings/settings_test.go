package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvNamesTheVariable(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"DRY_RUN": "maybe"}, "DRY_RUN"},
		{map[string]string{"EXTERNAL": "moon"}, "EXTERNAL"},
		{map[string]string{"TIMEOUTS": "Converge=soon"}, "TIMEOUTS"},
		{map[string]string{"SKIP_FILE": "/nonexistent/skip.yaml"}, "SKIP_FILE"},
		{map[string]string{"EXTERNAL_ALLOW_EXISTING_CLUSTER": "sure"}, "EXTERNAL_ALLOW_EXISTING_CLUSTER"},
		{map[string]string{"PRELOAD_IMAGES": "2"}, "PRELOAD_IMAGES"},
		{map[string]string{"PRELOAD_IMAGES": "1", "KUBE_CONTEXT": "prod"}, "PRELOAD_IMAGES"},
	} {
		if _, err := FromEnv(env(tc.vars), "cluster", Flags{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to name %s", tc.vars, err, tc.want)
		}
	}
	r, err := FromEnv(env(map[string]string{"DRY_RUN": "1", "TIMEOUTS": "Consecutive=5", "PRELOAD_IMAGES": "1",
		"EXTERNAL_ALLOW_EXISTING_CLUSTER": "1"}), "cluster", Flags{Scenarios: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.PreloadImages || !r.ExternalAllowExistingCluster {
		t.Errorf("PRELOAD_IMAGES / EXTERNAL_ALLOW_EXISTING_CLUSTER not read: %+v", r)
	}
	if !r.DryRun || r.Scenarios != "/x" || r.External != "internet" || r.Timeouts.Consecutive != 5 || !strings.HasSuffix(r.RunID, "-cluster") {
		t.Errorf("settings: %+v", r)
	}
}

func TestSkipFileAndReason(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "skip.yaml")
	if err := os.WriteFile(p, []byte("egress-gateway-http: upstream flaky this week\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	skip, err := ReadSkipFile(p)
	if err != nil {
		t.Fatal(err)
	}
	r := Run{Skip: skip, External: "cluster"}
	if why, ok := r.SkipReason(&scenario.Scenario{Name: "egress-gateway-http"}); !ok || why != "skip list: upstream flaky this week" {
		t.Errorf("skip list: %q %v", why, ok)
	}
	if err := os.WriteFile(p, []byte("egress-gateway-http: ''\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSkipFile(p); err == nil || !strings.Contains(err.Error(), "must say why") {
		t.Errorf("a skip without a reason: %v", err)
	}
}
