package main

import (
	"io"
	"os"

	"golang.org/x/term"

	"github.com/egress-conformance/egress-conformance/pkg/settings"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// useColor decides colour for w: never with NO_COLOR set to anything non-empty
// (no-color.org), else as --color says, auto meaning only on a terminal.
func useColor(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return settings.Getenv("NO_COLOR") == ""
	case "never":
		return false
	}
	return settings.Getenv("NO_COLOR") == "" && settings.Getenv("TERM") != "dumb" && isTerminal(w)
}
