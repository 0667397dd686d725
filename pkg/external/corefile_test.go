package external

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -update rewrites the golden files of this package (testdata/ and fixtures/external/).
var update = flag.Bool("update", false, "rewrite golden files")

const corefileDir = "testdata/corefile"

// The Corefiles under testdata/corefile:
//   - kubeadm.Corefile: kubeadm's CoreDNSConfigMap template (kubernetes/kubernetes
//     cmd/kubeadm/app/phases/addons/dns/manifests.go, current) rendered for
//     DNSDomain cluster.local: what a kind cluster's kube-system/coredns holds (kind
//     does not write its own Corefile; kubeadm in the node image does);
//   - kubeadm-classic.Corefile: the same before kubeadm added the cache `disable`
//     block;
//   - custom.Corefile: hand-edited, tabs, a second server block before the root one,
//     a `hosts` block and comments.
var corefiles = []string{"kubeadm", "kubeadm-classic", "custom"}

const testTarget = "egress-standin.egress-conformance-external.svc.cluster.local"

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want := readFile(t, path); got != want {
		t.Errorf("%s differs from the output (go test -run %s -update rewrites it):\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}

func TestPatchCorefileGolden(t *testing.T) {
	hosts := []string{"httpbin.org", "edition.cnn.com"}
	for _, name := range corefiles {
		t.Run(name, func(t *testing.T) {
			orig := readFile(t, filepath.Join(corefileDir, name+".Corefile"))
			patched, err := PatchCorefile(orig, hosts, testTarget)
			if err != nil {
				t.Fatalf("PatchCorefile: %v", err)
			}
			golden(t, filepath.Join(corefileDir, name+".patched.Corefile"), patched)

			// Only lines were added, all inside the root block, right after its header.
			if !CorefilePatched(patched) || CorefilePatched(orig) {
				t.Error("CorefilePatched is wrong")
			}
			for _, h := range hosts {
				if !strings.Contains(patched, "rewrite name exact "+h+" "+testTarget+"\n") {
					t.Errorf("no rewrite rule for %s", h)
				}
			}
			if got := len(strings.Split(patched, "\n")) - len(strings.Split(orig, "\n")); got != len(hosts)+2 {
				t.Errorf("%d lines added, want %d", got, len(hosts)+2)
			}

			// Byte-identical restore, idempotent patch.
			restored, err := UnpatchCorefile(patched)
			if err != nil {
				t.Fatalf("UnpatchCorefile: %v", err)
			}
			if restored != orig {
				t.Errorf("restore is not byte-identical:\n%q\nwant\n%q", restored, orig)
			}
			again, err := PatchCorefile(patched, hosts, testTarget)
			if err != nil || again != patched {
				t.Errorf("patching twice changed the Corefile (err %v):\n%s", err, again)
			}
			// A new host list replaces the old block rather than adding a second one.
			other, err := PatchCorefile(patched, []string{"example.org"}, testTarget)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(other, "httpbin.org") || strings.Count(other, corefileBegin) != 1 {
				t.Errorf("repatch kept the old block:\n%s", other)
			}
			if back, _ := UnpatchCorefile(other); back != orig {
				t.Errorf("restore after repatch is not byte-identical")
			}
		})
	}
}

func TestPatchCorefileKeepsIndentation(t *testing.T) {
	patched, err := PatchCorefile(readFile(t, filepath.Join(corefileDir, "custom.Corefile")), []string{"httpbin.org"}, testTarget)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(patched, ".:53 {\n\t"+corefileBegin+"\n\trewrite name exact httpbin.org ") {
		t.Errorf("block not inserted with the root block's tab indentation:\n%s", patched)
	}
	if strings.Contains(patched, "example.com:53 {\n\t#") {
		t.Error("block inserted into the example.com server block")
	}
}

func TestUnpatchCorefileWithoutBlock(t *testing.T) {
	for _, name := range corefiles {
		orig := readFile(t, filepath.Join(corefileDir, name+".Corefile"))
		got, err := UnpatchCorefile(orig)
		if err != nil || got != orig {
			t.Errorf("%s: UnpatchCorefile changed an unpatched Corefile (err %v)", name, err)
		}
	}
}

// Somebody edits the Corefile elsewhere while it is patched: removing the block keeps
// their edit (a saved copy restored wholesale would not).
func TestUnpatchCorefileKeepsOtherEdits(t *testing.T) {
	orig := readFile(t, filepath.Join(corefileDir, "kubeadm.Corefile"))
	patched, err := PatchCorefile(orig, []string{"httpbin.org"}, testTarget)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(patched, "    loadbalance\n", "    loadbalance\n    log\n", 1)
	got, err := UnpatchCorefile(edited)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(orig, "    loadbalance\n", "    loadbalance\n    log\n", 1); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestPatchCorefileErrors(t *testing.T) {
	kubeadm := readFile(t, filepath.Join(corefileDir, "kubeadm.Corefile"))
	for name, tc := range map[string]struct {
		corefile string
		hosts    []string
		target   string
		want     string
	}{
		"no hosts":      {kubeadm, nil, testTarget, "no host names"},
		"wildcard host": {kubeadm, []string{"*.wikipedia.org"}, testTarget, "wildcard"},
		"bad target":    {kubeadm, []string{"httpbin.org"}, "not a name!", "rewrite target"},
		"no reload":     {strings.Replace(kubeadm, "    reload\n", "", 1), []string{"httpbin.org"}, testTarget, "no `reload`"},
		"no kubernetes": {".:53 {\n    forward . 8.8.8.8\n    reload\n}\n", []string{"httpbin.org"}, testTarget, "no `kubernetes`"},
		"no root block": {"example.com:53 {\n    reload\n}\n", []string{"httpbin.org"}, testTarget, "no server block for the root zone"},
		"never closed":  {".:53 {\n    reload\n    kubernetes cluster.local\n", []string{"httpbin.org"}, testTarget, "never closed"},
		"unbalanced":    {"}\n.:53 {\n}\n", []string{"httpbin.org"}, testTarget, "unbalanced"},
		"dangling begin": {strings.Replace(kubeadm, ".:53 {\n", ".:53 {\n    "+corefileBegin+"\n", 1),
			[]string{"httpbin.org"}, testTarget, "without"},
	} {
		_, err := PatchCorefile(tc.corefile, tc.hosts, tc.target)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
	}
	// Corefile errors are recognisable.
	_, err := PatchCorefile("example.com:53 {\n}\n", []string{"httpbin.org"}, testTarget)
	if !errors.Is(err, ErrCorefile) {
		t.Errorf("err = %v, want ErrCorefile", err)
	}
}

func TestUnpatchCorefileErrors(t *testing.T) {
	for name, cf := range map[string]string{
		"end without begin": ".:53 {\n    " + corefileEnd + "\n}\n",
		"begin twice":       ".:53 {\n    " + corefileBegin + "\n    " + corefileBegin + "\n    " + corefileEnd + "\n}\n",
		"begin without end": ".:53 {\n    " + corefileBegin + "\n}\n",
	} {
		if _, err := UnpatchCorefile(cf); !errors.Is(err, ErrCorefile) {
			t.Errorf("%s: err = %v, want ErrCorefile", name, err)
		}
	}
}

func TestServesRoot(t *testing.T) {
	for keys, want := range map[string]bool{
		".:53 ": true, ". ": true, "dns://.:53": true, "example.com:53 .:53": true, "cluster.local:53, .": true,
		"example.com:53": false, ".example.com": false, "": false,
	} {
		if got := servesRoot(keys); got != want {
			t.Errorf("servesRoot(%q) = %v", keys, got)
		}
	}
}

func FuzzCorefileRoundTrip(f *testing.F) {
	for _, name := range corefiles {
		b, err := os.ReadFile(filepath.Join(corefileDir, name+".Corefile"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(".:53 {\nkubernetes\nreload\n}")
	f.Fuzz(func(t *testing.T, cf string) {
		patched, err := PatchCorefile(cf, []string{"httpbin.org"}, testTarget)
		if err != nil {
			return
		}
		base, err := UnpatchCorefile(cf)
		if err != nil {
			t.Fatalf("PatchCorefile accepted what UnpatchCorefile refuses: %v", err)
		}
		back, err := UnpatchCorefile(patched)
		if err != nil || back != base {
			t.Fatalf("round trip: err %v\n%q\nwant\n%q", err, back, base)
		}
	})
}
