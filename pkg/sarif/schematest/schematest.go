// Package schematest validates a SARIF log against the OASIS SARIF 2.1.0 JSON
// schema, for tests. The schema cannot be downloaded here, and no Go module ships
// it as a file: github.com/owenrumney/go-sarif/v3 carries it verbatim as a Go
// string constant (pkg/report/v210/sarif/schema.go, whose id is the OASIS
// errata01 schema). The helper reads that file from the module cache — the module
// is pinned in go.mod, so `go mod download` fetches it — and validates with
// github.com/santhosh-tekuri/jsonschema/v6 (draft-04, as the schema declares).
package schematest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	// Keeps the schema's module in go.mod (and so in `go mod download`).
	_ "github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

const (
	schemaModule = "github.com/owenrumney/go-sarif/v3"
	schemaFile   = "pkg/report/v210/sarif/schema.go"
	// SchemaID is the id the schema declares for itself.
	SchemaID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)

// Schema returns the SARIF 2.1.0 schema's JSON text.
func Schema() ([]byte, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", schemaModule).Output()
	if err != nil {
		return nil, fmt.Errorf("locating %s in the module cache: %w", schemaModule, err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), filepath.FromSlash(schemaFile)))
	if err != nil {
		return nil, err
	}
	// The file is `const schema = ` followed by the schema in a raw string.
	start := bytes.IndexByte(src, '`')
	end := bytes.LastIndexByte(src, '`')
	if start < 0 || end <= start {
		return nil, fmt.Errorf("%s@%s: no raw string holding the schema", schemaModule, schemaFile)
	}
	js := src[start+1 : end]
	var head struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(js, &head); err != nil || head.ID != SchemaID {
		return nil, fmt.Errorf("%s: the string is not the SARIF 2.1.0 schema (id %q, %v)", schemaFile, head.ID, err)
	}
	return js, nil
}

// Validate returns nil when log is a valid SARIF 2.1.0 document.
func Validate(log []byte) error {
	js, err := Schema()
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.AssertFormat()
	if err := c.AddResource(SchemaID, doc); err != nil {
		return err
	}
	sch, err := c.Compile(SchemaID)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(log))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return sch.Validate(inst)
}
