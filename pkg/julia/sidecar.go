package julia

import (
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// RegistrySidecar is the <depot>/registries/<Name>.toml file Pkg writes next
// to a packed registry (pkg-protocol.md §7.2).
type RegistrySidecar struct {
	TreeHash treehash.Hash
	// Path is the tarball's path relative to the registries directory.
	Path string
	UUID UUID
}

// ParseRegistrySidecar reads a registry sidecar. Like Pkg, it requires all
// three keys; anything else is an error naming the file and key.
func ParseRegistrySidecar(name string, data []byte) (*RegistrySidecar, error) {
	m, err := decodeTOML(name, data)
	if err != nil {
		return nil, err
	}
	var sc RegistrySidecar
	str := func(key string) (string, error) {
		v, ok := m[key]
		if !ok {
			return "", &ParseError{File: name, Key: key, Err: errf("missing")}
		}
		s, ok := v.(string)
		if !ok {
			return "", &ParseError{File: name, Key: key, Err: errType("string", v)}
		}
		return s, nil
	}
	s, err := str("git-tree-sha1")
	if err != nil {
		return nil, err
	}
	if sc.TreeHash, err = treehash.Parse(s); err != nil {
		return nil, &ParseError{File: name, Key: "git-tree-sha1", Err: errf("%v", err)}
	}
	if sc.Path, err = str("path"); err != nil {
		return nil, err
	}
	if s, err = str("uuid"); err != nil {
		return nil, err
	}
	if sc.UUID, err = uuidLoose(s); err != nil {
		return nil, &ParseError{File: name, Key: "uuid", Err: err}
	}
	return &sc, nil
}
