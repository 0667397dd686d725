package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Options tunes the loader.
type Options struct {
	// WorkloadsDir is the directory of client workloads (fixtures/workloads in
	// this repository). When set, a scenario's client must name a file
	// WorkloadsDir/<client>.yaml. When empty, the client is only checked for
	// shape: the loader does not guess where the repository is, so that it
	// reads scenarios from any directory (--scenarios) the same way.
	WorkloadsDir string
}

// Load reads the scenario in dir strictly (see LoadWith) without checking that
// its client workload exists: use LoadWith with Options.WorkloadsDir for that.
func Load(dir string) (*Scenario, error) {
	return LoadWith(dir, Options{})
}

// LoadWith reads dir/scenario.yaml and the bundle files its steps apply. Every
// problem found is returned, joined (errors.Join), each a *FieldError naming the
// file, the line and the field. On error the scenario is nil.
//
// The returned scenario has Mesh.OutboundTrafficPolicy defaulted, each Step.Line
// set and each Step.Bundle holding the cumulative bundle after that step. Bundles
// of different steps are distinct slices sharing the same Typed objects: treat
// those as read-only (DeepCopyObject before changing one).
func LoadWith(dir string, opts Options) (*Scenario, error) {
	s, _, err := loadDir(dir, opts)
	return s, err
}

// loadDir is LoadWith that also returns the line of the scenario's name, for
// LoadAll's duplicate check.
func loadDir(dir string, opts Options) (*Scenario, int, error) {
	file := filepath.Join(dir, FileName)
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, 0, &FieldError{File: file, Msg: "cannot read the scenario file", Err: err}
	}
	return load(dir, file, data, opts)
}

func load(dir, file string, data []byte, opts Options) (*Scenario, int, error) {
	var p problems
	s := &Scenario{Dir: dir, File: file}
	d := newFieldDecoder(file, &p)
	root := parseScenario(file, data, &p)
	if root == nil {
		return nil, 0, p.err()
	}
	d.decode(root, reflect.ValueOf(s).Elem(), "")
	for i := range s.Steps {
		step := indexPath("steps", i)
		s.Steps[i].Line = d.lineOf(step)
		s.Steps[i].lineOf = func(field string) int { return d.lineOf(joinPath(step, field)) }
	}
	standins := workloadsAndVariables(s, d, opts, &p)
	used := map[string]bool{}
	substituteRequests(s, standins, used)
	validate(s, d, opts, &p)
	loadBundles(s, d, standins, used, &p)
	checkUsed(s, d, used, &p)
	if !p.empty() {
		return nil, 0, p.err()
	}
	return s, d.lineOf("name"), nil
}

// parseScenario parses scenario.yaml into a Node tree; nil when there is nothing
// to decode (the problem is in p).
func parseScenario(file string, data []byte, p *problems) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(file, 0, "", "empty file; a scenario starts with apiVersion: %s", APIVersion)
		} else {
			p.list = append(p.list, syntaxError(file, 0, err))
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			p.list = append(p.list, syntaxError(file, 0, err))
		} else {
			p.add(file, extra.Line, "", "a second YAML document; a scenario file holds one scenario")
		}
		return nil
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		p.add(file, 0, "", "empty file; a scenario starts with apiVersion: %s", APIVersion)
		return nil
	}
	return doc.Content[0]
}

// applied remembers where a file or an object was first applied.
type applied struct {
	step int
	what string // "serviceentry.yaml:1" or the path of an apply entry
}

// loadBundles checks every apply and delete entry, decodes the files and builds
// the cumulative bundle of each step. A step's deletes run before its applies,
// as a user would type them: kubectl delete -f, then kubectl apply -f.
func loadBundles(s *Scenario, d *fieldDecoder, standins map[string]string, used map[string]bool, p *problems) {
	at := func(path string) int { return d.lineOf(path) }
	// os.Root refuses any path that leaves dir, symbolic links included: the
	// lexical checks below explain the common case, this enforces every case.
	root, err := os.OpenRoot(s.Dir)
	if err != nil {
		p.wrap(s.File, 0, "", err, "cannot open the scenario directory")
		return
	}
	defer root.Close()

	// files are the files applied and not deleted since; keys the objects each
	// of them held when applied (what kubectl delete -f would delete);
	// deleted where each deleted file was deleted.
	files := map[string]applied{}
	keys := map[string][]objectKey{}
	deleted := map[string]applied{}
	var cum Bundle
	for i := range s.Steps {
		st := &s.Steps[i]
		stepPath := indexPath("steps", i)
		for j, name := range st.Delete {
			path := indexPath(joinPath(stepPath, "delete"), j)
			if d.refusedPath(path) {
				continue
			}
			rel, ok := checkApplyPath(s, name, path, at(path), p)
			if !ok {
				continue
			}
			if _, on := files[rel]; !on {
				if gone, was := deleted[rel]; was {
					p.add(s.File, at(path), path, "%q is already deleted by %s (%s, line %d)", name, describeStep(s, gone.step), gone.what, at(gone.what))
				} else {
					p.add(s.File, at(path), path, "%q is not applied by an earlier step: a step deletes only what an earlier step applied", name)
				}
				continue
			}
			gone := map[objectKey]bool{}
			for _, k := range keys[rel] {
				gone[k] = true
			}
			cum = slices.DeleteFunc(cum, func(o Object) bool { return gone[keyOf(o)] })
			delete(files, rel)
			deleted[rel] = applied{step: i, what: path}
		}
		// objects are the objects this step applied: within one step, one
		// object twice is a mistake (kubectl would apply the last silently).
		objects := map[objectKey]applied{}
		for j, entry := range st.Apply {
			path := indexPath(joinPath(stepPath, "apply"), j)
			if d.refusedPath(path) {
				continue // the decoder said what is wrong
			}
			filePath := path
			if entry.mapping {
				filePath = joinPath(path, "file")
			}
			rel, ok := checkApplyPath(s, entry.File, filePath, at(filePath), p)
			if !ok {
				continue
			}
			if first, dup := files[rel]; dup {
				p.add(s.File, at(filePath), filePath, "%q is already applied by %s (%s, line %d): bundles are cumulative, so a step applies only what it adds or changes (delete it first to apply it again)",
					entry.File, describeStep(s, first.step), first.what, at(first.what))
				continue
			}
			files[rel] = applied{step: i, what: path}
			data, err := readBundle(root, rel)
			if err != nil {
				p.wrap(s.File, at(filePath), filePath, err, "cannot read %q", entry.File)
				continue
			}
			display := filepath.Join(s.Dir, filepath.FromSlash(rel))
			before := len(p.list)
			objs, nameLines := decodeBundleVars(display, rel, data, standins, used, p)
			if len(objs) == 0 && len(p.list) == before {
				// Most likely a file emptied by mistake: applying it
				// would silently test less than the scenario says.
				p.add(display, 0, "", "no Kubernetes object in the file")
			}
			keys[rel] = nil
			for n, o := range objs {
				if o.Namespace == "" && entry.Namespace != "" && !clusterScoped(o) {
					o.Namespace = entry.Namespace
				}
				k := keyOf(o)
				where := fmt.Sprintf("%s:%d", o.File, o.Line)
				if first, dup := objects[k]; dup {
					p.add(display, nameLines[n], "metadata.name", "%s is already applied by %s (%s)", k, first.what, describeStep(s, first.step))
					continue
				}
				objects[k] = applied{step: i, what: where}
				keys[rel] = append(keys[rel], k)
				// An object an earlier step applied is replaced where it
				// stands, as kubectl apply updates it in place (it keeps
				// its creation time, which Istio's conflict rules read).
				if pos := slices.IndexFunc(cum, func(c Object) bool { return keyOf(c) == k }); pos >= 0 {
					cum[pos] = o
				} else {
					cum = append(cum, o)
				}
			}
			if entry.Namespace != "" {
				checkApplyNamespace(s, d, i, j, entry.Namespace, cum, p)
			}
		}
		// A copy, so that appending for a later step never shows through an
		// earlier step's bundle.
		st.Bundle = slices.Clip(slices.Clone(cum))
	}
}

// clusterScoped tells the kinds a bundle may hold that have no namespace.
func clusterScoped(o Object) bool { return o.Kind == "Namespace" && o.APIVersion == "v1" }

// checkApplyNamespace checks the namespace of apply entry j of step i: one
// that exists when the step runs, so that the harness can apply into it:
// Istio's, a client's, or one a Namespace object of the bundle creates.
func checkApplyNamespace(s *Scenario, d *fieldDecoder, i, j int, ns string, cum Bundle, p *problems) {
	path := joinPath(indexPath(joinPath(indexPath("steps", i), "apply"), j), "namespace")
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		p.add(s.File, d.lineOf(path), path, "%q: %s", ns, strings.Join(errs, "; "))
		return
	}
	known := []string{IstioNamespace}
	for _, c := range s.ClientRefs() {
		if !slices.Contains(known, c.Namespace) {
			known = append(known, c.Namespace)
		}
	}
	for _, w := range s.WorkloadRefs() {
		if !slices.Contains(known, w.Namespace) {
			known = append(known, w.Namespace)
		}
	}
	for _, o := range cum {
		if clusterScoped(o) && !slices.Contains(known, o.Name) {
			known = append(known, o.Name)
		}
	}
	if !slices.Contains(known, ns) {
		p.add(s.File, d.lineOf(path), path, "%q does not exist when the step runs; known: %s (apply a Namespace object to add one)", ns, strings.Join(known, ", "))
	}
}

// IstioNamespace is where the harness installs Istio (istiod, the egress
// gateway): the namespace istio.io's egress tasks put their gateway objects in.
const IstioNamespace = "istio-system"

// checkApplyPath explains why an apply entry cannot be read, and returns its
// clean slash-separated form when it can.
func checkApplyPath(s *Scenario, name, path string, line int, p *problems) (string, bool) {
	switch {
	case name == "":
		p.add(s.File, line, path, "empty file name")
		return "", false
	case filepath.IsAbs(name) || strings.HasPrefix(name, "/"):
		p.add(s.File, line, path, "%q is absolute; bundle files are named relative to the scenario directory", name)
		return "", false
	case !filepath.IsLocal(filepath.FromSlash(name)):
		p.add(s.File, line, path, "%q escapes the scenario directory; a scenario carries its own bundle files", name)
		return "", false
	case filepath.ToSlash(filepath.Clean(filepath.FromSlash(name))) == FileName:
		p.add(s.File, line, path, "%q is the scenario file itself, not a bundle", name)
		return "", false
	}
	return filepath.ToSlash(filepath.Clean(filepath.FromSlash(name))), true
}

func readBundle(root *os.Root, rel string) ([]byte, error) {
	info, err := root.Stat(rel)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", rel)
	}
	return root.ReadFile(rel)
}

// LoadAll loads every scenario under root: root itself when it holds
// scenario.yaml, else each immediate subdirectory that does. Scenarios are sorted
// by name. Every problem in every scenario is returned at once (errors.Join), as
// are scenario names used twice; on error the slice is nil.
func LoadAll(root string) ([]*Scenario, error) {
	return LoadAllWith(root, Options{})
}

// LoadAllWith is LoadAll with options for every scenario.
func LoadAllWith(root string, opts Options) ([]*Scenario, error) {
	if _, err := os.Stat(filepath.Join(root, FileName)); err == nil {
		s, err := LoadWith(root, opts)
		if err != nil {
			return nil, err
		}
		return []*Scenario{s}, nil
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("scenarios %s: %w", root, err)
	}
	var p problems
	var out []*Scenario
	nameLines := map[*Scenario]int{}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			continue // a README or a dangling link: not a scenario
		}
		if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if _, err := os.Stat(filepath.Join(dir, "scenario.yml")); err == nil {
					p.add(filepath.Join(dir, "scenario.yml"), 0, "", "scenario files are named %s", FileName)
				}
				continue // a directory of shared material, not a scenario
			}
			p.wrap(dir, 0, "", err, "cannot read the scenario directory")
			continue
		}
		s, line, err := loadDir(dir, opts)
		if err != nil {
			p.list = append(p.list, err)
			continue
		}
		nameLines[s] = line
		out = append(out, s)
	}
	if len(out) == 0 && p.empty() {
		return nil, fmt.Errorf("scenarios %s: no scenario directory (a directory with %s) found", root, FileName)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	first := map[string]*Scenario{}
	for _, s := range out {
		if a, dup := first[s.Name]; dup {
			p.add(s.File, nameLines[s], "name", "%q is also the name of %s:%d; scenario names are unique (they name namespaces)", s.Name, a.File, nameLines[a])
			continue
		}
		first[s.Name] = s
	}
	if !p.empty() {
		return nil, p.err()
	}
	return out, nil
}
