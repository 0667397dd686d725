package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// manifest is one YAML document of a file, decoded as an unstructured object.
type manifest struct {
	// File is how the file is named in messages; Line is the first line of the
	// document in it that is neither blank nor a comment.
	File string
	Line int
	Obj  *unstructured.Unstructured
}

// where is "file:line: Kind name", the prefix of every message about m.
func (m manifest) where() string {
	return fmt.Sprintf("%s:%d: %s %s", m.File, m.Line, m.Obj.GetKind(), m.Obj.GetName())
}

// readManifests reads every document of the YAML file at path; shown names the file
// in messages.
func readManifests(path, shown string) ([]manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseManifests(data, shown)
}

// parseManifests splits data at "---" lines and decodes each non-empty document.
// Each must have apiVersion, kind and metadata.name.
func parseManifests(data []byte, file string) ([]manifest, error) {
	var out []manifest
	var doc bytes.Buffer
	first, lineNo := 0, 0
	flush := func() error {
		defer func() { doc.Reset(); first = 0 }()
		if first == 0 {
			return nil // only blank lines and comments
		}
		u, err := decodeObject(doc.Bytes())
		if err != nil {
			return fmt.Errorf("%s:%d: %w", file, first, err)
		}
		out = append(out, manifest{File: file, Line: first, Obj: u})
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if isSeparator(line) {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		if t := strings.TrimSpace(line); first == 0 && t != "" && !strings.HasPrefix(t, "#") {
			first = lineNo
		}
		doc.WriteString(line)
		doc.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func isSeparator(line string) bool {
	if !strings.HasPrefix(line, "---") {
		return false
	}
	rest := strings.TrimSpace(line[3:])
	return rest == "" || strings.HasPrefix(rest, "#")
}

// decodeObject decodes one YAML document into an unstructured object.
func decodeObject(doc []byte) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, err
	}
	if u.GetName() == "" {
		return nil, fmt.Errorf("%s has no metadata.name", u.GetKind())
	}
	return u, nil
}

// addLabels sets labels on u, keeping the ones it has.
func addLabels(u *unstructured.Unstructured, labels map[string]string) {
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	for k, v := range labels {
		l[k] = v
	}
	u.SetLabels(l)
}

// ownedLabels are the labels of everything a run creates.
func ownedLabels(runID string) map[string]string {
	return map[string]string{RunLabel: runID, ManagedByLabel: ManagedBy}
}
