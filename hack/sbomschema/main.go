// Command sbomschema validates SBOM documents against the official JSON
// schemas: CycloneDX 1.6 (bom-1.6 with its spdx and jsf schemas beside it,
// as the npm package @cyclonedx/cyclonedx-library ships them in
// res/schema/) and SPDX 2.3 (spdx-schema.json of spdx/spdx-spec v2.3). It is
// an e2e helper, not part of shoebox.
//
//	go run ./hack/sbomschema --cyclonedx DIR FILE.cdx.json...
//	go run ./hack/sbomschema --spdx SCHEMA.json FILE.spdx.json...
//
// Exit status: 0 all valid, 1 a document is invalid (each printed as
// "FAIL file: why"), 2 usage or a schema that cannot be loaded.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

func main() {
	cdxDir := flag.String("cyclonedx", "", "directory holding bom-1.6.SNAPSHOT.schema.json (and its spdx and jsf schemas)")
	spdx := flag.String("spdx", "", "the SPDX 2.3 JSON schema file")
	flag.Parse()
	var schemaFile string
	switch {
	case *cdxDir != "" && *spdx == "":
		schemaFile = filepath.Join(*cdxDir, "bom-1.6.SNAPSHOT.schema.json")
	case *spdx != "" && *cdxDir == "":
		schemaFile = *spdx
	default:
		fmt.Fprintln(os.Stderr, "usage: sbomschema --cyclonedx DIR | --spdx SCHEMA  FILE...")
		os.Exit(2)
	}
	abs, err := filepath.Abs(schemaFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft7
	c.AssertFormat = true
	if *cdxDir != "" {
		// bom-1.6 names its neighbours relative to its $id,
		// http://cyclonedx.org/schema/: serve them from the directory.
		files, _ := filepath.Glob(filepath.Join(*cdxDir, "*.schema.json"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			if err := c.AddResource("http://cyclonedx.org/schema/"+filepath.Base(f), bytes.NewReader(b)); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", f, err)
				os.Exit(2)
			}
		}
	}
	schema, err := c.Compile(abs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loading %s: %v\n", schemaFile, err)
		os.Exit(2)
	}
	failed := false
	for _, f := range flag.Args() {
		if err := validate(schema, f); err != nil {
			fmt.Printf("FAIL %s: %v\n", f, err)
			failed = true
			continue
		}
		fmt.Printf("ok %s\n", f)
	}
	if failed {
		os.Exit(1)
	}
}

func validate(schema *jsonschema.Schema, file string) error {
	r, err := os.Open(file)
	if err != nil {
		return err
	}
	defer r.Close()
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	return schema.Validate(v)
}
