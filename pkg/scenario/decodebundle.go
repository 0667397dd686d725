package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
)

// document is one YAML document cut out of a bundle file.
type document struct {
	// offset is the number of lines before the document in its file: a line n of
	// the document is line offset+n of the file.
	offset int
	text   []byte
}

// splitDocuments cuts a multi-document file at its "---" lines. The documents are
// cut from the raw bytes, rather than re-encoded from a parsed tree, so that each
// Object.YAML is exactly what the user wrote. Cutting at column-0 "---" is safe:
// YAML forbids a document marker inside a document's content.
func splitDocuments(data []byte) []document {
	var docs []document
	start, startLine, line := 0, 0, 0
	for pos := 0; pos < len(data); line++ {
		next := len(data)
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			next = pos + i + 1
		}
		if l := data[pos:next]; isSeparator(l) {
			docs = append(docs, document{offset: startLine, text: data[start:pos]})
			if rest := strings.TrimSpace(string(l[3:])); rest == "" || rest[0] == '#' {
				start, startLine = next, line+1
			} else {
				// "--- {a: b}": the content shares the marker's line.
				start, startLine = pos, line
			}
		}
		pos = next
	}
	return append(docs, document{offset: startLine, text: data[start:]})
}

func isSeparator(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	return len(l) == 3 || strings.ContainsRune(" \t\r\n", rune(l[3]))
}

// decodeBundleFile decodes every document of a bundle file. display is the file's
// path for messages; rel its path relative to the scenario directory.
func decodeBundleFile(display, rel string, data []byte, p *problems) []Object {
	objs, _ := decodeBundleLines(display, rel, data, p)
	return objs
}

// decodeBundleLines is decodeBundleFile that also returns the line of each
// object's metadata.name, where a duplicate object is reported.
func decodeBundleLines(display, rel string, data []byte, p *problems) (objs []Object, nameLines []int) {
	return decodeBundleVars(display, rel, data, nil, nil, p)
}

// decodeBundleVars is decodeBundleLines that first substitutes values into
// every document that references one (vars.go), keeping the document as
// written in Object.Template; used collects the names substituted. A value
// never holds a line break, so every line keeps its number.
func decodeBundleVars(display, rel string, data []byte, values map[string]string, used map[string]bool, p *problems) (objs []Object, nameLines []int) {
	for _, doc := range splitDocuments(data) {
		var template []byte
		mine := map[string]bool{}
		if text := substitute(doc.text, values, mine); len(mine) > 0 {
			template, doc.text = doc.text, text
			for k := range mine {
				used[k] = true
			}
		}
		if obj, nameLine, ok := decodeDocument(display, rel, doc, p); ok {
			obj.Template = template
			obj.Variables = slices.Sorted(maps.Keys(mine))
			objs = append(objs, obj)
			nameLines = append(nameLines, nameLine)
		}
	}
	return objs, nameLines
}

// decodeDocument decodes one document; ok is false for an empty document or one
// with problems (reported to p). nameLine is the line of metadata.name.
func decodeDocument(display, rel string, doc document, p *problems) (obj Object, nameLine int, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(doc.text))
	var node yaml.Node
	if err := dec.Decode(&node); err != nil {
		if !errors.Is(err, io.EOF) {
			p.list = append(p.list, syntaxError(display, doc.offset, err))
		}
		return Object{}, 0, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			p.list = append(p.list, syntaxError(display, doc.offset, err))
		} else {
			p.add(display, doc.offset+extra.Line, "", "a second document without a --- line before it")
		}
		return Object{}, 0, false
	}
	if len(node.Content) == 0 {
		return Object{}, 0, false
	}
	root := resolve(node.Content[0])
	if root == nil || isNull(root) {
		// kubectl skips empty documents too ("---" at the end of a file).
		return Object{}, 0, false
	}
	at := func(n *yaml.Node) int { return doc.offset + n.Line }
	if root.Kind != yaml.MappingNode {
		p.add(display, at(root), "", "a document must be a Kubernetes object (a mapping with apiVersion, kind and metadata), got %s", describe(root))
		return Object{}, 0, false
	}

	var dp problems
	dupKeys := checkKeys(root, "", display, doc.offset, &dp, 0)

	apiVersion, kind := scalarAt(root, "apiVersion"), scalarAt(root, "kind")
	if apiVersion == "" {
		dp.add(display, at(root), "apiVersion", "required")
	}
	if kind == "" {
		dp.add(display, at(root), "kind", "required")
	}
	if apiVersion == "" || kind == "" {
		p.merge(&dp)
		return Object{}, 0, false
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		dp.wrap(display, at(lookup(root, "apiVersion")), "apiVersion", err, "%q is not an apiVersion", apiVersion)
		p.merge(&dp)
		return Object{}, 0, false
	}
	gvk := gv.WithKind(kind)
	if !supported[gvk] {
		field := "kind"
		if strings.Contains(unsupportedMessage(gvk), " is read as ") {
			field = "apiVersion"
		}
		dp.add(display, at(lookup(root, field)), field, "%s", unsupportedMessage(gvk))
		p.merge(&dp)
		return Object{}, 0, false
	}

	obj = Object{File: rel, Line: at(root), Offset: doc.offset, APIVersion: apiVersion, Kind: kind, YAML: doc.text}
	checkMetadata(root, &obj, display, doc.offset, &dp)

	// The proto walk needs only an empty object for its descriptors, so it runs
	// even when the typed decoding below fails.
	empty, err := bundleScheme.New(gvk)
	var walked problems
	if err == nil {
		w := &protoWalker{file: display, offset: doc.offset, p: &walked}
		w.walkObject(root, empty)
	}

	typed, _, err := strictSerializer.Decode(doc.text, nil, nil)
	switch {
	case err == nil:
	case runtime.IsStrictDecodingError(err):
		se, _ := runtime.AsStrictDecodingError(err)
		for _, e := range se.Errors() {
			var fe kjson.FieldError
			if errors.As(e, &fe) {
				msg, _, _ := strings.Cut(e.Error(), ` "`)
				dp.add(display, lineOfPath(root, fe.FieldPath(), doc.offset), fe.FieldPath(), "%s", msg)
			} else if !dupKeys {
				// sigs.k8s.io/yaml's duplicate-key check; checkKeys
				// normally reports the same key with its path first.
				dp.wrap(display, at(root), "", e, "invalid document")
			}
		}
	case !walked.empty():
		// The walk has already said what is wrong, with a line and a
		// field; the decoder's message about the same value has neither.
	default:
		path := typeErrorPath(err)
		dp.wrap(display, lineOfPath(root, path, doc.offset), path, err, "cannot decode %s %s", apiVersion, kind)
	}
	dp.merge(&walked)
	if !dp.empty() {
		p.merge(&dp)
		return Object{}, 0, false
	}
	obj.Typed = typed
	return obj, lineOfPath(root, "metadata.name", doc.offset), true
}

// checkMetadata fills Name and Namespace, which every object needs: the harness
// applies and deletes by them, and duplicates are found by them.
func checkMetadata(root *yaml.Node, obj *Object, display string, offset int, p *problems) {
	at := func(n *yaml.Node) int { return offset + n.Line }
	meta := lookup(root, "metadata")
	if meta == nil || meta.Kind != yaml.MappingNode {
		p.add(display, at(root), "metadata.name", "required")
		return
	}
	obj.Name = scalarAt(meta, "name")
	switch {
	case obj.Name == "":
		p.add(display, at(meta), "metadata.name", "required")
	default:
		if errs := validation.IsDNS1123Subdomain(obj.Name); len(errs) > 0 {
			p.add(display, at(lookup(meta, "name")), "metadata.name", "%q: %s", obj.Name, strings.Join(errs, "; "))
		}
	}
	obj.Namespace = scalarAt(meta, "namespace")
	if obj.Namespace != "" {
		if errs := validation.IsDNS1123Label(obj.Namespace); len(errs) > 0 {
			p.add(display, at(lookup(meta, "namespace")), "metadata.namespace", "%q: %s", obj.Namespace, strings.Join(errs, "; "))
		}
	}
}

// checkKeys reports repeated keys anywhere in a document, with their path: yaml/v3
// keeps both in a Node tree, and sigs.k8s.io/yaml reports them without a path.
// Aliases are not followed: their content is checked where it is defined. It
// reports whether it found any.
func checkKeys(n *yaml.Node, path, display string, offset int, p *problems, depth int) bool {
	if depth > protoWalkMaxDepth {
		return false
	}
	found := false
	switch n.Kind {
	case yaml.MappingNode:
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			kpath := joinPath(path, k.Value)
			if k.Kind == yaml.ScalarNode && k.ShortTag() != "!!merge" {
				if first, dup := seen[k.Value]; dup {
					p.add(display, offset+k.Line, kpath, "repeated key (first at line %d)", offset+first)
					found = true
				} else {
					seen[k.Value] = k.Line
				}
			}
			if checkKeys(n.Content[i+1], kpath, display, offset, p, depth+1) {
				found = true
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if checkKeys(c, indexPath(path, i), display, offset, p, depth+1) {
				found = true
			}
		}
	}
	return found
}

// lookup returns the value of key in a mapping, aliases resolved; nil if absent.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

// lookupKey returns the key node itself, for the line of an unknown field.
func lookupKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return k
		}
	}
	return nil
}

// scalarAt is the string value of key, "" when absent or not a scalar.
func scalarAt(n *yaml.Node, key string) string {
	v := lookup(n, key)
	if v == nil || v.Kind != yaml.ScalarNode || isNull(v) {
		return ""
	}
	return v.Value
}

// pathElem matches one element of a field path as sigs.k8s.io/json and
// encoding/json print it: a name, optionally followed by [index]es.
var pathElem = regexp.MustCompile(`^([^\[]*)((?:\[\d+\])*)$`)

// lineOfPath is the file line of a field path inside a document: the line of the
// deepest element that exists (the key itself, for an unknown field). A path
// without indices (encoding/json type errors) takes the first list element
// that has the rest of the path.
func lineOfPath(root *yaml.Node, path string, offset int) int {
	if path == "" {
		return offset + root.Line
	}
	return offset + lineIn(root, strings.Split(path, "."), root.Line, 0)
}

func lineIn(n *yaml.Node, elems []string, best, depth int) int {
	if n = resolve(n); n == nil || len(elems) == 0 || depth > protoWalkMaxDepth {
		return best
	}
	if n.Kind == yaml.SequenceNode {
		// No index given: try the elements in order.
		for _, c := range n.Content {
			if l := lineIn(c, elems, -1, depth+1); l >= 0 {
				return l
			}
		}
		return best
	}
	m := pathElem.FindStringSubmatch(elems[0])
	if m == nil {
		return best
	}
	k := lookupKey(n, m[1])
	if k == nil {
		return best
	}
	v := lookup(n, m[1])
	best = k.Line
	for _, idx := range strings.Split(strings.Trim(m[2], "[]"), "][") {
		if idx == "" {
			continue
		}
		i, _ := strconv.Atoi(idx)
		if v == nil || v.Kind != yaml.SequenceNode || i >= len(v.Content) {
			return best
		}
		v = resolve(v.Content[i])
		if v == nil {
			return best
		}
		best = v.Line
	}
	if len(elems) == 1 || v == nil {
		return best
	}
	return lineIn(v, elems[1:], best, depth+1)
}

// typeError finds the field in encoding/json's "cannot unmarshal X into Go struct
// field T.a.b of type Y", the form sigs.k8s.io/json keeps.
var typeError = regexp.MustCompile(`Go struct field [^ .]+\.(\S+) of type`)

func typeErrorPath(err error) string {
	if m := typeError.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

// objectKey identifies an object the way the API server does: by group, kind,
// namespace and name. The version is left out: networking.istio.io/v1 and
// v1alpha3 ServiceEntry "x" are the same object.
type objectKey struct {
	group, kind, namespace, name string
}

func keyOf(o Object) objectKey {
	gv, _ := schema.ParseGroupVersion(o.APIVersion)
	return objectKey{gv.Group, o.Kind, o.Namespace, o.Name}
}

func (k objectKey) String() string {
	ns := "the scenario's namespace"
	if k.namespace != "" {
		ns = "namespace " + k.namespace
	}
	return fmt.Sprintf("%s %q in %s", k.kind, k.name, ns)
}
