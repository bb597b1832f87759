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

// fastPackageFile reads a Package.toml written the way RegistryTools
// writes them — lines `name = "…"`, `uuid = "…"`, `repo = "…"` and
// `subdir = "…"`, each at most once, blank and comment lines between —
// without the TOML decoder; ok is false for any other shape (a
// [metadata] table, an escape in a string, another key), and the caller
// decodes the file instead.
func fastPackageFile(data []byte) (vals map[string]string, ok bool) {
	vals = make(map[string]string, 4)
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		k, v, ok := keyString(t)
		if !ok {
			return nil, false
		}
		switch k {
		case "name", "uuid", "repo", "subdir":
		default:
			return nil, false
		}
		if _, dup := vals[k]; dup {
			return nil, false
		}
		vals[k] = v
	}
	return vals, true
}

// fastVersion is one table of a Versions.toml read by fastVersionsFile.
type fastVersion struct {
	treeHash  string
	yanked    bool
	hasYanked bool
}

// fastVersionsFile reads a Versions.toml written the way RegistryTools
// writes them — a `["<version>"]` header per version, then
// `git-tree-sha1 = "<hash>"` and optionally `yanked = true` or `false` —
// without the TOML decoder; ok is false for any other shape (another key,
// a repeated header or key, an escape), and the caller decodes the file.
func fastVersionsFile(data []byte) (map[string]fastVersion, bool) {
	out := map[string]fastVersion{}
	cur := ""
	var v fastVersion
	var hasHash bool
	flush := func() bool {
		if cur == "" {
			return true
		}
		if _, dup := out[cur]; dup {
			return false
		}
		if !hasHash {
			return false // the decoder names what is missing
		}
		out[cur] = v
		return true
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			if !flush() {
				return nil, false
			}
			if len(t) < 4 || t[1] != '"' || t[len(t)-1] != ']' || t[len(t)-2] != '"' {
				return nil, false
			}
			name, rest, ok := plainString(t[2:])
			if !ok || len(rest) != 1 || name == "" {
				return nil, false
			}
			cur, v, hasHash = name, fastVersion{}, false
			continue
		}
		if cur == "" {
			return nil, false // a key before any table
		}
		if bytes.HasPrefix(t, []byte("yanked = ")) {
			if v.hasYanked {
				return nil, false
			}
			switch string(t[len("yanked = "):]) {
			case "true":
				v.yanked = true
			case "false":
			default:
				return nil, false
			}
			v.hasYanked = true
			continue
		}
		k, s, ok := keyString(t)
		if !ok || k != "git-tree-sha1" || hasHash {
			return nil, false
		}
		v.treeHash, hasHash = s, true
	}
	if !flush() {
		return nil, false
	}
	return out, true
}

// keyString parses `key = "value"` exactly (a bare key of letters,
// digits, '-' and '_'; a basic string without escapes).
func keyString(t []byte) (string, string, bool) {
	eq := bytes.Index(t, []byte(` = "`))
	if eq <= 0 {
		return "", "", false
	}
	for _, c := range t[:eq] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", "", false
		}
	}
	v, rest, ok := plainString(t[eq+len(` = "`):])
	if !ok || len(rest) != 0 {
		return "", "", false
	}
	return string(t[:eq]), v, true
}
