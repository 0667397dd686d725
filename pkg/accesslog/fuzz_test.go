package accesslog

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds Parse mutations of every real, non-access and malformed
// line above. Parse must never panic, must classify every failure as exactly
// one of the two sentinels with a zero Entry, and a success must be sane.
func FuzzParse(f *testing.F) {
	for _, tc := range realLines {
		f.Add(tc.line)
	}
	for _, tc := range notAccessLogLines {
		f.Add(tc.line)
	}
	for _, tc := range malformedLines {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := Parse(line)
		if err != nil {
			notAccess, malformed := errors.Is(err, ErrNotAccessLog), errors.Is(err, ErrMalformed)
			if notAccess == malformed {
				t.Fatalf("error %v: ErrNotAccessLog=%v ErrMalformed=%v, want exactly one", err, notAccess, malformed)
			}
			if e != (Entry{}) {
				t.Fatalf("error %v came with a non-zero Entry %+v", err, e)
			}
			return
		}
		if e.ResponseCode < 0 || e.ResponseCode > 999 {
			t.Errorf("ResponseCode = %d", e.ResponseCode)
		}
		if e.BytesReceived < 0 || e.BytesSent < 0 {
			t.Errorf("negative byte count: %d, %d", e.BytesReceived, e.BytesSent)
		}
		isText := stripKubectlTimestamp(trimSpace(line))[0] == '['
		v := reflect.ValueOf(e)
		for i := 0; i < v.NumField(); i++ {
			s, ok := v.Field(i).Interface().(string)
			if !ok {
				continue
			}
			if s == "-" {
				t.Errorf("%s is the placeholder \"-\"", v.Type().Field(i).Name)
			}
			// A TEXT line is split, never rewritten: every field is a piece
			// of it (JSON values may be unescaped, so only for TEXT).
			if isText && !strings.Contains(line, s) {
				t.Errorf("%s = %q is not a substring of the line", v.Type().Field(i).Name, s)
			}
		}
		// Surrounding whitespace never changes the result.
		again, err := Parse(" " + line + "\r\n")
		if err != nil || again != e {
			t.Errorf("Parse with padding = %+v, %v; want %+v", again, err, e)
		}
	})
}
