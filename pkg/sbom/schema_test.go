package sbom

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// schemaDir is where hack/install-tools.sh puts the official schemas
// (CycloneDX 1.6 from the npm package @cyclonedx/cyclonedx-library; SPDX
// 2.3's spdx-schema.json from the Go module that ships it; see
// hack/install-tools.sh; `make test` installs them first). The schemas are third-party files, not committed.
const schemaDir = "../../.tools/schemas"

func compileSchema(t *testing.T, file string, neighbours map[string]string) *jsonschema.Schema {
	t.Helper()
	if _, err := os.Stat(file); err != nil {
		t.Skipf("%s not installed (hack/install-tools.sh schemas): %v", file, err)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft7
	c.AssertFormat = true
	for url, f := range neighbours {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(url, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	abs, _ := filepath.Abs(file)
	s, err := c.Compile(abs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateJSON(t *testing.T, s *jsonschema.Schema, b []byte) error {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return s.Validate(v)
}

// TestSchemas validates both outputs, with and without vulnerabilities,
// against the official schemas, and checks that the validator does reject
// a document the schema forbids.
func TestSchemas(t *testing.T) {
	t.Parallel()
	t.Run("cyclonedx", func(t *testing.T) {
		dir := filepath.Join(schemaDir, "cyclonedx")
		s := compileSchema(t, filepath.Join(dir, "bom-1.6.SNAPSHOT.schema.json"), map[string]string{
			"http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json":     filepath.Join(dir, "spdx.SNAPSHOT.schema.json"),
			"http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json": filepath.Join(dir, "jsf-0.82.SNAPSHOT.schema.json"),
		})
		for _, adv := range []bool{false, true} {
			out, err := collect(t, adv).CycloneDX()
			if err != nil {
				t.Fatal(err)
			}
			if err := validateJSON(t, s, out); err != nil {
				t.Errorf("advisories %v: %v", adv, err)
			}
			if adv {
				// With provenance records: distribution references (file:// too).
				prov, err := collectWithProvenance(t).CycloneDX()
				if err != nil {
					t.Fatal(err)
				}
				if err := validateJSON(t, s, prov); err != nil {
					t.Errorf("with provenance: %v", err)
				}
				bad := bytes.Replace(prov, []byte(`"type": "distribution"`), []byte(`"type": "mirror"`), 1)
				if validateJSON(t, s, bad) == nil {
					t.Error("the schema accepted an unknown external reference type")
				}
				bad = bytes.Replace(out, []byte(`"method": "CVSSv31"`), []byte(`"method": "CVSS 3.1"`), 1)
				if validateJSON(t, s, bad) == nil {
					t.Error("the schema accepted an unknown rating method")
				}
			}
		}
	})
	t.Run("spdx", func(t *testing.T) {
		s := compileSchema(t, filepath.Join(schemaDir, "spdx", "spdx-schema.json"), nil)
		out, err := collect(t, true).SPDX()
		if err != nil {
			t.Fatal(err)
		}
		if err := validateJSON(t, s, out); err != nil {
			t.Error(err)
		}
		bad := bytes.Replace(out, []byte(`"PACKAGE-MANAGER"`), []byte(`"PACKAGE-MGR"`), 1)
		if validateJSON(t, s, bad) == nil {
			t.Error("the schema accepted an unknown reference category")
		}
		// With provenance records: downloadLocation and sourceInfo.
		prov, err := collectWithProvenance(t).SPDX()
		if err != nil {
			t.Fatal(err)
		}
		if err := validateJSON(t, s, prov); err != nil {
			t.Errorf("with provenance: %v", err)
		}
		bad = bytes.Replace(prov, []byte(`"sourceInfo": "fetched`), []byte(`"sourceInfo": ["fetched`), 1)
		bad = bytes.Replace(bad, []byte(`(unsigned)",`), []byte(`(unsigned)"],`), 1)
		if validateJSON(t, s, bad) == nil {
			t.Error("the schema accepted a sourceInfo that is not a string")
		}
	})
}
