package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzBundles are the bundle files every fuzzed scenario directory holds: the
// seed's, plus the bundle.yaml that testdata cases apply, so that fuzzed inputs
// reach bundle decoding too.
func fuzzBundles(f *testing.F) map[string][]byte {
	files := map[string][]byte{}
	names, err := filepath.Glob(filepath.Join(seedDir, "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range names {
		if filepath.Base(n) == FileName {
			continue
		}
		data, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		files[filepath.Base(n)] = data
	}
	files["bundle.yaml"] = files["serviceentry.yaml"]
	return files
}

// seedFiles adds every file matching the globs to the corpus.
func seedFiles(f *testing.F, globs ...string) {
	for _, g := range globs {
		names, err := filepath.Glob(g)
		if err != nil {
			f.Fatal(err)
		}
		for _, n := range names {
			data, err := os.ReadFile(n)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

// checkErrors: every problem is a *FieldError that names its file.
func checkErrors(t *testing.T, err error) {
	for _, e := range leaves(err) {
		var fe *FieldError
		if !errors.As(e, &fe) || fe.File == "" {
			t.Fatalf("not a *FieldError naming its file: %v", e)
		}
	}
}

func FuzzLoad(f *testing.F) {
	bundles := fuzzBundles(f)
	seedFiles(f, filepath.Join(seedDir, FileName), "testdata/invalid/*/scenario.yaml", "testdata/valid/*/scenario.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		for name, content := range bundles {
			if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := LoadWith(dir, withWorkloads)
		if err != nil {
			if s != nil {
				t.Fatal("a scenario came back with the error")
			}
			checkErrors(t, err)
			return
		}
		if len(s.Steps) == 0 || !isRoute(s.Steps[0].Expect.Route) || s.Mesh.OutboundTrafficPolicy == "" {
			t.Fatalf("accepted an invalid scenario: %+v", s)
		}
		for i := 1; i < len(s.Steps); i++ {
			if len(s.Steps[i].Bundle) < len(s.Steps[i-1].Bundle) {
				t.Fatal("a bundle shrank: bundles are cumulative")
			}
		}
	})
}

func FuzzDecodeBundle(f *testing.F) {
	seedFiles(f, filepath.Join(seedDir, "*.yaml"), "testdata/valid/*/*.yaml", "testdata/invalid/bundle-*/*.yaml",
		filepath.Join(workloadsDir, "*.yaml"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p problems
		objs := decodeBundleFile("dir/bundle.yaml", "bundle.yaml", data, &p)
		checkErrors(t, p.err())
		for _, o := range objs {
			if o.Name == "" || o.Typed == nil || o.Line < 1 || o.Kind == "" {
				t.Fatalf("incomplete object: %+v", o)
			}
		}
	})
}
