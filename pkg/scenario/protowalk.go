package scenario

import (
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"k8s.io/apimachinery/pkg/runtime"
)

// Istio's client-go types embed istio.io/api messages whose UnmarshalJSON uses
// jsonpb with AllowUnknownFields: true (istio.io/api, *_json.gen.go). The
// Kubernetes strict decoder delegates to that method, so an unknown field inside
// spec ("nmber:" for "number:") is dropped silently: TestStrictDecoderMissesIstioSpecFields
// pins that. protoWalker closes the gap by walking the YAML of every proto field
// of an object against the message descriptor, which also gives the line and the
// field path that a second protojson pass over the spec would not.
//
// It follows jsonpb's reading rules: a field is named by its proto name or its
// JSON name; null means unset; integers may be quoted; enums are names or
// numbers; well-known types keep their JSON forms.

// protoWalkMaxDepth bounds recursion through self-referencing messages and
// aliases; no Istio spec nests anywhere near this deep.
const protoWalkMaxDepth = 64

// protoWalkMaxNodes bounds the work a file built of nested aliases can cause.
const protoWalkMaxNodes = 1 << 20

type protoWalker struct {
	file   string
	offset int // line offset of the document inside file
	p      *problems
	nodes  int
}

// protoFields lists the fields of a typed object that are protobuf messages
// (spec and status of the Istio types), with their JSON key and descriptor.
func protoFields(obj runtime.Object) (keys []string, descs []protoreflect.MessageDescriptor) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, nil
	}
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() || v.Field(i).Kind() != reflect.Struct {
			continue
		}
		m, ok := v.Field(i).Addr().Interface().(protoreflect.ProtoMessage)
		if !ok {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if key == "" || key == "-" {
			continue
		}
		keys = append(keys, key)
		descs = append(descs, m.ProtoReflect().Descriptor())
	}
	return keys, descs
}

// walkObject checks every proto field of obj found in the document root.
func (w *protoWalker) walkObject(root *yaml.Node, obj runtime.Object) {
	keys, descs := protoFields(obj)
	for i, key := range keys {
		if n := lookup(root, key); n != nil {
			w.message(n, descs[i], key, 0)
		}
	}
}

func (w *protoWalker) fail(n *yaml.Node, path, format string, args ...any) {
	w.p.add(w.file, w.offset+n.Line, path, format, args...)
}

// enter resolves aliases and enforces the bounds; nil means stop here.
func (w *protoWalker) enter(n *yaml.Node, path string, depth int) *yaml.Node {
	w.nodes++
	if w.nodes == protoWalkMaxNodes {
		w.fail(n, path, "document too large or too deeply aliased to check")
	}
	if w.nodes >= protoWalkMaxNodes {
		return nil
	}
	r := resolve(n)
	if r == nil || depth > protoWalkMaxDepth {
		w.fail(n, path, "nested too deeply or through a circular alias")
		return nil
	}
	if isNull(r) {
		return nil
	}
	return r
}

func (w *protoWalker) message(n *yaml.Node, md protoreflect.MessageDescriptor, path string, depth int) {
	if n = w.enter(n, path, depth); n == nil {
		return
	}
	switch md.FullName() {
	case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue",
		"google.protobuf.Any", "google.protobuf.Empty":
		// Free-form by definition (or resolved by type URL at decode time).
		return
	case "google.protobuf.Duration", "google.protobuf.Timestamp", "google.protobuf.FieldMask":
		// Strings in JSON; their syntax is left to the typed decoder.
		if n.Kind != yaml.ScalarNode {
			w.fail(n, path, "expected a string, got %s", describe(n))
		}
		return
	}
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") && strings.HasSuffix(string(md.Name()), "Value") {
		// Wrappers (BoolValue, UInt32Value, ...) are written as the value itself.
		if fd := md.Fields().ByName("value"); fd != nil {
			w.scalar(n, fd, path)
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "expected a mapping (%s), got %s", md.FullName(), describe(n))
		return
	}
	fields := md.Fields()
	seen := map[protoreflect.FieldNumber]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			w.fail(n.Content[i], path, "keys must be field names")
			continue
		}
		if k.ShortTag() == "!!merge" {
			// A merge key (<<: *anchor) folds a mapping, or a list of them,
			// into this one; sigs.k8s.io/yaml resolves it the same way.
			w.merge(n.Content[i+1], md, path, depth+1)
			continue
		}
		fpath := joinPath(path, k.Value)
		fd := fields.ByJSONName(k.Value)
		if fd == nil {
			fd = fields.ByName(protoreflect.Name(k.Value))
		}
		if fd == nil {
			w.fail(k, fpath, "unknown field in %s%s", md.FullName(), suggest(k.Value, jsonNames(fields)))
			continue
		}
		if first, dup := seen[fd.Number()]; dup {
			// The same key twice is checkKeys' to report; here it is the
			// proto name and the JSON name of one field.
			if first.Value != k.Value {
				w.fail(k, fpath, "the field is also set as %s on line %d", first.Value, w.offset+first.Line)
			}
			continue
		}
		seen[fd.Number()] = k
		w.field(n.Content[i+1], fd, fpath, depth+1)
	}
}

func (w *protoWalker) merge(n *yaml.Node, md protoreflect.MessageDescriptor, path string, depth int) {
	if n = w.enter(n, path, depth); n == nil {
		return
	}
	if n.Kind == yaml.SequenceNode {
		for _, c := range n.Content {
			w.message(c, md, path, depth+1)
		}
		return
	}
	w.message(n, md, path, depth)
}

func jsonNames(fields protoreflect.FieldDescriptors) []string {
	names := make([]string, fields.Len())
	for i := range fields.Len() {
		names[i] = fields.Get(i).JSONName()
	}
	return names
}

// field checks a field's value: a list, a map or a single value.
func (w *protoWalker) field(n *yaml.Node, fd protoreflect.FieldDescriptor, path string, depth int) {
	switch {
	case fd.IsList():
		if n = w.enter(n, path, depth); n == nil {
			return
		}
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "expected a list, got %s", describe(n))
			return
		}
		for i, c := range n.Content {
			w.single(c, fd, indexPath(path, i), depth+1)
		}
	case fd.IsMap():
		if n = w.enter(n, path, depth); n == nil {
			return
		}
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "expected a mapping, got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			if k == nil || k.Kind != yaml.ScalarNode {
				w.fail(n.Content[i], path, "map keys must be scalars")
				continue
			}
			w.single(n.Content[i+1], fd.MapValue(), joinPath(path, k.Value), depth+1)
		}
	default:
		w.single(n, fd, path, depth)
	}
}

// single checks one value of a field (an element, for lists and maps).
func (w *protoWalker) single(n *yaml.Node, fd protoreflect.FieldDescriptor, path string, depth int) {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		w.message(n, fd.Message(), path, depth)
		return
	}
	if n = w.enter(n, path, depth); n == nil {
		return
	}
	w.scalar(n, fd, path)
}

// scalar checks a scalar against the JSON forms jsonpb accepts for its kind. A
// mismatch reaching the typed decoder would come back as "invalid character 'e'
// looking for beginning of value", with neither line nor field.
func (w *protoWalker) scalar(n *yaml.Node, fd protoreflect.FieldDescriptor, path string) {
	if r := resolve(n); r != nil {
		n = r
	}
	if isNull(n) {
		return
	}
	if n.Kind != yaml.ScalarNode {
		w.fail(n, path, "expected %s, got %s", kindName(fd), describe(n))
		return
	}
	tag := n.ShortTag()
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if tag != "!!bool" {
			w.fail(n, path, "expected true or false, got %s", describe(n))
		}
	case protoreflect.StringKind, protoreflect.BytesKind:
		if tag != "!!str" {
			w.fail(n, path, "expected a string, got %s %s; quote it", strings.TrimPrefix(tag, "!!"), n.Value)
		}
	case protoreflect.EnumKind:
		if tag == "!!int" {
			return
		}
		if fd.Enum().Values().ByName(protoreflect.Name(n.Value)) == nil {
			w.fail(n, path, "%s is not one of %s", describe(n), strings.Join(enumNames(fd.Enum()), ", "))
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if _, err := strconv.ParseFloat(n.Value, 64); err != nil && tag != "!!float" {
			w.fail(n, path, "expected a number, got %s", describe(n))
		}
	default:
		if msg := checkInteger(n, fd.Kind()); msg != "" {
			w.fail(n, path, "%s", msg)
		}
	}
}

// checkInteger checks an integer kind: a YAML integer, or a quoted one (jsonpb
// strips the quotes), within the kind's range.
func checkInteger(n *yaml.Node, kind protoreflect.Kind) string {
	var lo, hi float64
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		lo, hi = math.MinInt32, math.MaxInt32
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		lo, hi = 0, math.MaxUint32
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		lo, hi = 0, math.MaxUint64
	default:
		lo, hi = math.MinInt64, math.MaxInt64
	}
	var i int64
	var u uint64
	var v float64
	switch {
	case n.Decode(&i) == nil:
		v = float64(i)
	case n.Decode(&u) == nil:
		v = float64(u)
	default:
		if p, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			v = float64(p)
		} else {
			return "expected an integer, got " + describe(n)
		}
	}
	if v < lo || v > hi {
		return "integer " + n.Value + " is out of range for a " + kind.String() + " field"
	}
	return ""
}

func kindName(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return "true or false"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "a string"
	case protoreflect.EnumKind:
		return "one of " + strings.Join(enumNames(fd.Enum()), ", ")
	default:
		return "a number"
	}
}

func enumNames(ed protoreflect.EnumDescriptor) []string {
	vals := ed.Values()
	names := make([]string, vals.Len())
	for i := range vals.Len() {
		names[i] = string(vals.Get(i).Name())
	}
	return names
}
