package main

import (
	"io"
	"os"

	"golang.org/x/term"
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
		return os.Getenv("NO_COLOR") == ""
	case "never":
		return false
	}
	return os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && isTerminal(w)
}
