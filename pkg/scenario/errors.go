package scenario

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// FieldError is one problem in a scenario file or a bundle file. It prints as
// "file:line: field: message", the shape editors and CI annotators jump to, so a
// user can fix a scenario without reading Go.
//
// The loader reports every FieldError it finds, joined with errors.Join, rather
// than stopping at the first: a user fixes a directory in one pass. errors.As
// finds the first one; unwrap the join (interface{ Unwrap() []error }) for all.
type FieldError struct {
	// File is the path of the file as the loader was given it (the scenario
	// directory joined with the file name).
	File string
	// Line is 1-based; 0 when the problem has no single line (a missing file).
	Line int
	// Field is the path of the field, e.g. "steps[1].expect.route" or
	// "spec.ports[0].number"; empty when the problem is the whole file or document.
	Field string
	// Msg says what is wrong and, where it helps, what is allowed.
	Msg string
	// Err is the underlying cause, if any (an *fs.PathError, a decoder error).
	Err error
}

func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		// Only LogExpect.UnmarshalYAML, outside the loader, knows no file.
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Err }

// problems collects FieldErrors in the order they are found.
type problems struct {
	list []error
}

func (p *problems) add(file string, line int, field, format string, args ...any) {
	p.list = append(p.list, &FieldError{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) wrap(file string, line int, field string, err error, format string, args ...any) {
	p.list = append(p.list, &FieldError{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...), Err: err})
}

func (p *problems) merge(o *problems) { p.list = append(p.list, o.list...) }

func (p *problems) empty() bool { return len(p.list) == 0 }

func (p *problems) err() error { return errors.Join(p.list...) }

// yamlLineError matches the position go.yaml.in/yaml/v3 puts in its syntax
// errors, so that they too read "file:line: ...".
var yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the problems yaml/v3's parser (parserc.go), as opposed to
// its scanner, reports. For those yaml/v3 prints the 0-based line of the mark
// (parser.fail in decode.go adds 1 for scanner errors only), so their line is
// one too small.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// syntaxError turns a yaml/v3 parse error into a FieldError; offset is added to
// its line, for documents cut out of a larger file.
func syntaxError(file string, offset int, err error) *FieldError {
	msg := err.Error()
	if m := yamlLineError.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		if yamlParserProblems[m[2]] {
			n++
		}
		return &FieldError{File: file, Line: n + offset, Msg: "invalid YAML: " + m[2]}
	}
	if problem := strings.TrimPrefix(msg, "yaml: "); yamlParserProblems[problem] {
		// No line printed: the mark was on the first line.
		return &FieldError{File: file, Line: offset + 1, Msg: "invalid YAML: " + problem}
	}
	return &FieldError{File: file, Line: offset + 1, Msg: "invalid YAML", Err: err}
}

// suggest returns ` (did you mean "x"?)` when exactly one known name is within two
// edits of name: the commonest unknown field is a typo of a known one.
func suggest(name string, known []string) string {
	best, bestD, ties := "", 3, 0
	for _, k := range known {
		d := editDistance(strings.ToLower(name), strings.ToLower(k))
		switch {
		case d < bestD:
			best, bestD, ties = k, d, 0
		case d == bestD:
			ties++
		}
	}
	if best == "" || ties > 0 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	// Names are short; the two-row Levenshtein table is plenty.
	if len(a) > 64 || len(b) > 64 {
		return 1 << 10
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
