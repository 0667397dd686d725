package main

import (
	"strings"
	"testing"
)

// TestReadmeCatalogIsCurrent fails when a scenario was added or changed without
// regenerating README.md's table (`make catalog`).
func TestReadmeCatalogIsCurrent(t *testing.T) {
	if err := run("../..", true); err != nil {
		t.Fatal(err)
	}
}

func TestSplice(t *testing.T) {
	doc := "a\n" + begin + "\nold\n" + end + "\nb\n"
	got, err := splice([]byte(doc), "new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\n" + begin + "\nnew\n" + end + "\nb\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := splice([]byte("no markers"), "x"); err == nil || !strings.Contains(err.Error(), "markers") {
		t.Errorf("missing markers: %v", err)
	}
}
