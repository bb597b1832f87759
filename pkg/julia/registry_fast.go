package julia

import (
	"bytes"
	"io/fs"
)

// fastPackages reads the [packages] table of a Registry.toml written the
// way RegistryTools writes General's — one line per package:
//
//	<uuid> = { name = "<Name>", path = "<P/Path>" }
//
// (the uuid bare or quoted; blank lines and comment lines between) —
// without a general TOML decoder, whose duplicate-key tracking costs
// quadratic time over General's 10,000+ packages. It returns the document
// with the table's lines blanked (for the decoder to read the other keys;
// line numbers stay) and the packages; ok is false when the table is not
// in that shape (anything else, an escape in a string, a sub-table of
// packages), and the caller decodes the whole file instead. A duplicate
// uuid is reported as dup, for the caller's error.
func fastPackages(data []byte) (rest []byte, pkgs map[UUID]RegistryPackage, dup string, ok bool) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	start := -1
	for i, l := range lines {
		t := bytes.TrimSpace(l)
		if bytes.Equal(t, []byte("[packages]")) {
			if start >= 0 {
				return nil, nil, "", false // twice: the decoder's error
			}
			start = i
			continue
		}
		if start >= 0 && len(t) > 0 && t[0] == '[' && bytes.HasPrefix(t, []byte("[packages")) {
			return nil, nil, "", false // [packages.x] or [[packages]]
		}
	}
	if start < 0 {
		return nil, nil, "", false
	}
	pkgs = map[UUID]RegistryPackage{}
	out := make([]byte, 0, len(data))
	for _, l := range lines[:start+1] {
		out = append(out, l...)
	}
	i := start + 1
	for ; i < len(lines); i++ {
		t := bytes.TrimSpace(lines[i])
		if len(t) > 0 && t[0] == '[' {
			break // the next table: the decoder reads it
		}
		if len(t) == 0 || t[0] == '#' {
			out = append(out, '\n')
			continue
		}
		u, p, good := packageLine(t)
		if !good {
			return nil, nil, "", false
		}
		if _, seen := pkgs[u]; seen {
			return nil, nil, u.String(), true
		}
		pkgs[u] = p
		out = append(out, '\n')
	}
	for ; i < len(lines); i++ {
		out = append(out, lines[i]...)
	}
	return out, pkgs, "", true
}

// packageLine parses `<uuid> = { name = "<s>", path = "<s>" }` exactly
// (the uuid bare or in quotes, single spaces as RegistryTools writes
// them; strings without escapes, control characters or quotes).
func packageLine(t []byte) (UUID, RegistryPackage, bool) {
	var p RegistryPackage
	key := t
	eq := bytes.Index(t, []byte(" = { name = \""))
	if eq < 0 {
		return UUID{}, p, false
	}
	key, t = t[:eq], t[eq+len(" = { name = \""):]
	if len(key) == 38 && key[0] == '"' && key[37] == '"' {
		key = key[1:37]
	}
	if len(key) != 36 {
		return UUID{}, p, false
	}
	u, err := uuidLoose(string(key))
	if err != nil {
		return UUID{}, p, false
	}
	name, t, ok := plainString(t)
	if !ok || !bytes.HasPrefix(t, []byte(", path = \"")) {
		return UUID{}, p, false
	}
	path, t, ok := plainString(t[len(", path = \""):])
	if !ok || !bytes.Equal(t, []byte(" }")) {
		return UUID{}, p, false
	}
	p.Name, p.Path = name, path
	if p.Name == "" || !fs.ValidPath(p.Path) || p.Path == "." {
		return UUID{}, p, false // the decoder names the problem
	}
	return u, p, true
}

// plainString reads a TOML basic string's body up to its closing quote,
// refusing escapes and control characters (the decoder handles those).
func plainString(b []byte) (string, []byte, bool) {
	for i, c := range b {
		switch {
		case c == '"':
			return string(b[:i]), b[i+1:], true
		case c == '\\' || c < 0x20 || c == 0x7f:
			return "", nil, false
		}
	}
	return "", nil, false
}
