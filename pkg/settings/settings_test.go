package settings

import (
	"fmt"
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

// RUN_ID and GO are read through the getenv FromEnv is given, like every other
// variable, not from the process environment behind its back.
func TestFromEnvReadsRunIDAndGo(t *testing.T) {
	t.Setenv("RUN_ID", "from-the-process")
	r, err := FromEnv(env(map[string]string{"RUN_ID": " gh-7 ", "GO": "/opt/go/bin/go"}), "cluster", Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if r.RunID != "gh-7" || r.Go != "/opt/go/bin/go" {
		t.Errorf("RunID %q Go %q", r.RunID, r.Go)
	}
	if r, _ := FromEnv(env(nil), "cluster", Flags{}); !strings.HasSuffix(r.RunID, "-cluster") || r.Go != "go" {
		t.Errorf("defaults: RunID %q Go %q", r.RunID, r.Go)
	}
}

// The process environment is read in this package only: `grep os.Getenv` finds
// nothing else outside tests.
func TestEnvironmentReadHereOnly(t *testing.T) {
	root := filepath.Join("..", "..")
	var stray []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != root || d.Name() == "testdata" || d.Name() == "reports") {
			return filepath.SkipDir
		}
		if d.IsDir() && d.Name() == "settings" && filepath.Base(filepath.Dir(p)) == "pkg" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || filepath.Dir(p) == "." {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, l := range strings.Split(string(b), "\n") {
			code, _, _ := strings.Cut(l, "//")
			if strings.Contains(code, "os.Getenv") || strings.Contains(code, "os.LookupEnv") {
				stray = append(stray, fmt.Sprintf("%s:%d", p, i+1))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stray) > 0 {
		t.Errorf("the process environment is read outside pkg/settings: %s", strings.Join(stray, ", "))
	}
}
