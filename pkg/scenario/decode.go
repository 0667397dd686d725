package scenario

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldDecoder decodes a yaml.Node tree into the scenario types strictly, by their
// yaml tags. It is written over the Node API rather than with
// Decoder.KnownFields(true) because yaml/v3 reports an unknown field as "line 14:
// field x not found in type scenario.Expect" and stops there; this decoder names
// the field path (steps[1].expect.x), keeps going, and records the line of every
// path so that validation can point at the line of the field it rejects.
type fieldDecoder struct {
	file string
	p    *problems
	// lines maps a field path ("" for the root, "steps[1].expect.route") to the
	// line of its value.
	lines map[string]int
	// failed holds the paths the decoder refused.
	failed map[string]bool
}

func newFieldDecoder(file string, p *problems) *fieldDecoder {
	return &fieldDecoder{file: file, p: p, lines: map[string]int{}, failed: map[string]bool{}}
}

// nodeDecoder is implemented by types whose YAML form is not a plain mapping
// (LogExpect: the scalar `absent` or a mapping).
type nodeDecoder interface {
	decodeNode(d *fieldDecoder, n *yaml.Node, path string)
}

// maxAliasChain bounds alias-to-alias resolution; yaml/v3 builds an anchor
// before its content, so a hostile file can make an alias refer to itself.
const maxAliasChain = 32

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == maxAliasChain {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's shape for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	default:
		return "an empty document"
	}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func indexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// parentPath strips the last element of a field path: steps[1].expect → steps[1]
// → steps → "".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// lineOf is the line of path, or of its nearest ancestor that was written: a
// missing required field is reported where its parent is.
func (d *fieldDecoder) lineOf(path string) int {
	for {
		if l, ok := d.lines[path]; ok {
			return l
		}
		if path == "" {
			return 1
		}
		path = parentPath(path)
	}
}

func (d *fieldDecoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.failed[path] = true
	d.p.add(d.file, n.Line, path, format, args...)
}

func (d *fieldDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	r := resolve(n)
	if r == nil {
		d.fail(n, path, "alias chain too long or circular")
		return
	}
	n = r
	d.lines[path] = n.Line
	if isNull(n) {
		// A null leaves the zero value: "not stated". Required fields are
		// checked afterwards, with the rules that need them.
		return
	}
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, path)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		d.decode(n, nv.Elem(), path)
		v.Set(nv)
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), indexPath(path, i))
		}
		v.Set(s)
	case reflect.Map:
		// Only map[string]string (clients[].annotations): plain keys, none twice.
		if v.Type().Key().Kind() != reflect.String || n.Kind != yaml.MappingNode {
			if n.Kind != yaml.MappingNode {
				d.fail(n, path, "expected a mapping, got %s", describe(n))
			} else {
				d.fail(n, path, "internal error: no YAML decoding for Go type %s", v.Type())
			}
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		d.entries(n, path, "key", func(k, value *yaml.Node, kpath string) {
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(value, ev, kpath)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
		})
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.fail(n, path, "expected an integer, got %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		// Only reachable if a field of an unsupported Go type is added to the
		// scenario types without teaching this decoder about it.
		d.fail(n, path, "internal error: no YAML decoding for Go type %s", v.Type())
	}
}

// mapping decodes a YAML mapping into a struct, refusing unknown and repeated keys.
func (d *fieldDecoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	index, names := yamlFields(v.Type())
	d.entries(n, path, "field", func(k, value *yaml.Node, fpath string) {
		f, ok := index[k.Value]
		if !ok {
			d.fail(k, fpath, "unknown field%s; known fields: %s", suggest(k.Value, names), strings.Join(names, ", "))
			return
		}
		d.decode(value, v.Field(f), fpath)
	})
}

// entries calls each for every key of mapping n with its value, refusing keys
// that are not plain scalars and keys written twice (what is the "field" or
// "key" of the message).
func (d *fieldDecoder) entries(n *yaml.Node, path, what string, each func(k, value *yaml.Node, kpath string)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			// Merge keys would let one step silently inherit another's
			// expectation; a scenario is short enough to write out.
			d.fail(n.Content[i], path, "keys must be plain %s names (no merge keys or complex keys)", what)
			continue
		}
		kpath := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(k, kpath, "repeated %s (first at line %d)", what, first)
			continue
		}
		seen[k.Value] = k.Line
		each(k, n.Content[i+1], kpath)
	}
}

// yamlFields maps the yaml names of a struct's fields to their index; names lists
// them in declaration order for error messages.
func yamlFields(t reflect.Type) (index map[string]int, names []string) {
	index = map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		index[name] = i
		names = append(names, name)
	}
	return index, names
}

func (l *LogExpect) decodeNode(d *fieldDecoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		if n.Value != AbsentValue || n.ShortTag() != "!!str" {
			_, names := yamlFields(reflect.TypeFor[LogExpect]())
			d.fail(n, path, "%s is neither %q nor a mapping of log fields (%s)", describe(n), AbsentValue, strings.Join(names, ", "))
			return
		}
		*l = LogExpect{Absent: true}
		return
	}
	d.mapping(n, reflect.ValueOf(l).Elem(), path)
}

// UnmarshalYAML reads a log expectation written either as the bare scalar
// `absent` or as a mapping of LogExpect fields; unknown fields are errors. The
// loader does not go through this method (it needs field paths and every error,
// not the first); it is here so that any yaml/v3 decoding of an Expect agrees
// with the loader.
func (l *LogExpect) UnmarshalYAML(n *yaml.Node) error {
	var p problems
	d := newFieldDecoder("", &p)
	var out LogExpect
	d.decode(n, reflect.ValueOf(&out).Elem(), "")
	if !p.empty() {
		return p.err()
	}
	*l = out
	return nil
}

// sortedKeys returns a map's keys in order, for deterministic messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// decodeNode reads an apply entry: a bare file name (the v1alpha1 form) or a
// mapping {file, namespace}.
func (a *ApplyFile) decodeNode(d *fieldDecoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		*a = ApplyFile{File: n.Value}
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a file name or a mapping {file, namespace}, got %s", describe(n))
		return
	}
	d.mapping(n, reflect.ValueOf(a).Elem(), path)
	a.mapping = true
}
