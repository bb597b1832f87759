package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// The image-spec module ships its JSON schemas, but its schema package
// needs github.com/santhosh-tekuri/jsonschema/v5, which is not in go.mod.
// This is a small draft-04 validator for the keywords those schemas use
// (type, $ref, properties, required, items, minItems, minimum, maximum,
// pattern, patternProperties, oneOf, format), run against the schema files
// of the image-spec version in go.mod.

type schemaSet struct {
	dir   string
	files map[string]map[string]any
}

func loadSchemas(t *testing.T) *schemaSet {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/opencontainers/image-spec").Output()
	if err != nil {
		t.Skipf("locating image-spec: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "schema")
	return &schemaSet{dir: dir, files: map[string]map[string]any{}}
}

func (s *schemaSet) file(t *testing.T, name string) map[string]any {
	t.Helper()
	if f, ok := s.files[name]; ok {
		return f
	}
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	s.files[name] = f
	return f
}

// resolve follows a $ref relative to the file it appears in.
func (s *schemaSet) resolve(t *testing.T, file, ref string) (string, map[string]any) {
	name, frag, _ := strings.Cut(ref, "#")
	if name == "" {
		name = file
	}
	node := s.file(t, name)
	for _, p := range strings.Split(strings.Trim(frag, "/"), "/") {
		if p == "" {
			continue
		}
		next, ok := node[p].(map[string]any)
		if !ok {
			t.Fatalf("schema %s: bad $ref %q", file, ref)
		}
		node = next
	}
	return name, node
}

func (s *schemaSet) validate(t *testing.T, file string, sch map[string]any, v any, path string) []string {
	if ref, ok := sch["$ref"].(string); ok {
		f, n := s.resolve(t, file, ref)
		return s.validate(t, f, n, v, path)
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, a...)) }
	if typ, ok := sch["type"].(string); ok {
		okType := false
		switch x := v.(type) {
		case map[string]any:
			okType = typ == "object"
		case []any:
			okType = typ == "array"
		case string:
			okType = typ == "string"
		case float64:
			okType = typ == "number" || (typ == "integer" && x == math.Trunc(x))
		case bool:
			okType = typ == "boolean"
		}
		if !okType {
			bad("want %s, got %T", typ, v)
			return errs
		}
	}
	if one, ok := sch["oneOf"].([]any); ok {
		n := 0
		for _, o := range one {
			if len(s.validate(t, file, o.(map[string]any), v, path)) == 0 {
				n++
			}
		}
		if n != 1 {
			bad("matches %d of oneOf", n)
		}
	}
	if x, ok := v.(float64); ok {
		if m, ok := sch["minimum"].(float64); ok && x < m {
			bad("%v < minimum %v", x, m)
		}
		if m, ok := sch["maximum"].(float64); ok && x > m {
			bad("%v > maximum %v", x, m)
		}
	}
	if x, ok := v.(string); ok {
		if p, ok := sch["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			bad("%q does not match %s", x, p)
		}
	}
	if arr, ok := v.([]any); ok {
		if m, ok := sch["minItems"].(float64); ok && float64(len(arr)) < m {
			bad("%d items < minItems %v", len(arr), m)
		}
		if items, ok := sch["items"].(map[string]any); ok {
			for i, x := range arr {
				errs = append(errs, s.validate(t, file, items, x, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	if obj, ok := v.(map[string]any); ok {
		if req, ok := sch["required"].([]any); ok {
			for _, r := range req {
				if _, ok := obj[r.(string)]; !ok {
					bad("missing required %s", r)
				}
			}
		}
		props, _ := sch["properties"].(map[string]any)
		pats, _ := sch["patternProperties"].(map[string]any)
		for k, x := range obj {
			if p, ok := props[k].(map[string]any); ok {
				errs = append(errs, s.validate(t, file, p, x, path+"."+k)...)
			}
			for pat, p := range pats {
				if regexp.MustCompile(pat).MatchString(k) {
					errs = append(errs, s.validate(t, file, p.(map[string]any), x, path+"."+k)...)
				}
			}
		}
	}
	return errs
}

func (s *schemaSet) check(t *testing.T, schemaFile string, doc []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	for _, e := range s.validate(t, schemaFile, s.file(t, schemaFile), v, "$") {
		t.Errorf("%s: %s", schemaFile, e)
	}
}

func TestSchema(t *testing.T) {
	s := loadSchemas(t)
	// The validator must be able to fail.
	var bad any
	json.Unmarshal([]byte(`{"schemaVersion":3,"config":{"mediaType":"x","size":-1,"digest":"sha256:AB"},"layers":[]}`), &bad)
	if errs := s.validate(t, "image-manifest-schema.json", s.file(t, "image-manifest-schema.json"), bad, "$"); len(errs) != 3 {
		t.Errorf("invalid manifest gave only %v", errs)
	}

	ctx := context.Background()
	f := newFixture(t, IndexOptions{MaxEntries: 2, Annotations: map[string]string{"org.example": "x"}})
	var walk func(d ocispec.Descriptor)
	docs := 0
	walk = func(d ocispec.Descriptor) {
		b, err := content.FetchAll(ctx, f.store, d)
		if err != nil {
			t.Fatal(err)
		}
		docs++
		if d.MediaType == ocispec.MediaTypeImageManifest {
			s.check(t, "image-manifest-schema.json", b)
			return
		}
		s.check(t, "image-index-schema.json", b)
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		for _, m := range idx.Manifests {
			walk(m)
		}
	}
	walk(f.index)
	// The top index, 2 subindexes, 3 item manifests and the report's.
	if docs != 7 {
		t.Errorf("validated %d documents, want 7", docs)
	}
}
