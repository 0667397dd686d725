package ambient

import (
	"os/exec"
	"path/filepath"
	"strings"
)

// goList returns the module directory of the package pkg (the test's go.mod
// resolves it from the module cache).
func goList(pkg string) (string, error) {
	out, err := exec.Command("go", "list", "-f", "{{.Module.Dir}}", pkg).Output()
	if err != nil {
		return "", err
	}
	return filepath.Clean(strings.TrimSpace(string(out))), nil
}
