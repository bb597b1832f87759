package julia

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRegistrySidecar(t *testing.T) {
	sc, err := ParseRegistrySidecar("General.toml", []byte(`git-tree-sha1 = "5ddac1103f9fdad5b784b32ad1739c01bd58d02f"
path = "General.tar.gz"
uuid = "23338594-aafe-5451-b93e-139f81909106"
`))
	if err != nil {
		t.Fatal(err)
	}
	if sc.TreeHash.String() != "5ddac1103f9fdad5b784b32ad1739c01bd58d02f" || sc.Path != "General.tar.gz" ||
		sc.UUID.String() != "23338594-aafe-5451-b93e-139f81909106" {
		t.Errorf("ParseRegistrySidecar = %+v", sc)
	}
	_, err = ParseRegistrySidecar("General.toml", []byte(`path = "General.tar.gz"
uuid = "23338594-aafe-5451-b93e-139f81909106"`))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "General.toml") || !strings.Contains(err.Error(), "git-tree-sha1") {
		t.Errorf("missing key: error = %v", err)
	}
}
