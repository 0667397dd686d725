package versions

import (
	"os"
	"regexp"
	"testing"
)

// TestWorkloadImages: every image a workload fixture runs is the one pinned in
// versions.env, so that preloading (engine.RunImages) and the fixtures cannot
// drift apart.
func TestWorkloadImages(t *testing.T) {
	image := regexp.MustCompile(`(?m)^\s+image:\s*(\S+)\s*$`)
	for file, want := range map[string]string{
		"../../fixtures/workloads/sleep.yaml": CurlImage,
		"../../fixtures/workloads/curl.yaml":  CurlImage,
		"../../fixtures/workloads/squid.yaml": SquidImage,
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ms := image.FindAllStringSubmatch(string(data), -1)
		if len(ms) == 0 {
			t.Errorf("%s: no image", file)
		}
		for _, m := range ms {
			if m[1] != want {
				t.Errorf("%s: image %s, want the pin %s", file, m[1], want)
			}
		}
	}
	if SquidImage == "" {
		t.Error("SQUID_IMAGE is not pinned")
	}
}
