package ocigraph

import (
	"strings"
	"testing"
)

func TestSuccessors(t *testing.T) {
	const d1 = "sha256:" + "1111111111111111111111111111111111111111111111111111111111111111"
	const d2 = "sha256:" + "2222222222222222222222222222222222222222222222222222222222222222"
	const d3 = "sha256:" + "3333333333333333333333333333333333333333333333333333333333333333"
	m := `{"schemaVersion":2,"subject":{"mediaType":"x","digest":"` + d1 + `","size":1},` +
		`"config":{"mediaType":"c","digest":"` + d2 + `","size":2},"layers":[{"mediaType":"l","digest":"` + d3 + `","size":3}]}`
	out, subject, err := Successors([]byte(m))
	if err != nil || !subject || len(out) != 3 || out[0].Digest != d1 || out[1].Digest != d2 || out[2].Digest != d3 {
		t.Fatalf("Successors = %v, %v, %v", out, subject, err)
	}
	idx := `{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"` + d3 + `","size":3}]}`
	if out, subject, err := Successors([]byte(idx)); err != nil || subject || len(out) != 1 {
		t.Fatalf("index: %v, %v, %v", out, subject, err)
	}
	if _, _, err := Successors([]byte(`{"layers":[{"digest":"sha256:nothex"}]}`)); err == nil || !strings.Contains(err.Error(), "sha256:nothex") {
		t.Errorf("bad digest: error = %v", err)
	}
	if _, _, err := Successors([]byte(`{`)); err == nil {
		t.Error("truncated JSON accepted")
	}
}
