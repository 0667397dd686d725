package offline_test

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.yaml.in/yaml/v3"

	"github.com/egress-conformance/egress-conformance/pkg/offline"
	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// negativeFile is the file in each negative case directory that states how the
// offline tier must reject the scenario beside it.
const negativeFile = "negative.yaml"

// negative is a negative case's statement of the failure it must produce.
type negative struct {
	// Why says in prose what is broken; it is printed when the case misbehaves.
	Why string `yaml:"why"`
	// FailsAt is the step that must fail, or "load" when the loader must refuse
	// the scenario. Steps before it must pass, so the break is exactly where stated.
	FailsAt string `yaml:"failsAt"`
	// Reasons must each appear in the failure message.
	Reasons []string `yaml:"reasons"`
}

func readNegative(dir string) (negative, error) {
	var n negative
	b, err := os.ReadFile(filepath.Join(dir, negativeFile))
	if err != nil {
		return n, err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&n); err != nil {
		return n, err
	}
	return n, nil
}

// describeNegative builds one spec per broken scenario: the spec passes only when
// the offline tier fails that scenario at the stated step, for every stated reason.
func describeNegative(root string, opts offline.Options) {
	entries, err := os.ReadDir(root)
	if err != nil {
		It("reads the negative corpus "+root, Label("offline", "negative"), func() { Fail(err.Error()) })
		return
	}
	Describe("negative corpus", Label("offline", "negative"), func() {
		for _, e := range entries {
			dir := filepath.Join(root, e.Name())
			// Stat follows a symlinked case directory, which DirEntry.IsDir reports as a
			// file: such a case was skipped without a word.
			info, err := os.Stat(dir)
			if err != nil {
				It("reads the negative case "+dir, func() { Fail(err.Error()) })
				continue
			}
			if !info.IsDir() {
				continue
			}
			It(e.Name()+" is rejected for the stated reason", func() {
				want, err := readNegative(dir)
				Expect(err).NotTo(HaveOccurred(), "%s/%s", dir, negativeFile)
				Expect(want.Reasons).NotTo(BeEmpty(), "%s/%s states no reasons", dir, negativeFile)

				s, err := scenario.Load(dir)
				if want.FailsAt == "load" {
					Expect(err).To(HaveOccurred(), "the loader accepted %s, which is broken: %s", dir, want.Why)
					for _, r := range want.Reasons {
						Expect(err.Error()).To(ContainSubstring(r), "%s: %s", dir, want.Why)
					}
					return
				}
				Expect(err).NotTo(HaveOccurred(), "%s must load; its break is in Istio config: %s", dir, want.Why)

				found := false
				for i, step := range s.Steps {
					j := offline.Judge(s, i, opts)
					if step.Name != want.FailsAt {
						Expect(j.Passed()).To(BeTrue(), "step %s must pass; only %s is broken (%s)\n%s", step.Name, want.FailsAt, want.Why, j.Message())
						continue
					}
					found = true
					Expect(j.Passed()).To(BeFalse(), "the offline tier passed %s step %s, which is broken: %s\n%s", s.Name, step.Name, want.Why, j.Message())
					for _, r := range want.Reasons {
						Expect(j.Message()).To(ContainSubstring(r), "%s: %s", dir, want.Why)
					}
					break
				}
				Expect(found).To(BeTrue(), "%s/%s: failsAt %q names no step of the scenario", dir, negativeFile, want.FailsAt)
			})
		}
	})
}
