package julia

import (
	"errors"
	"strings"
)

// ErrMalformed marks a content problem in a Julia TOML file or string:
// invalid TOML, a missing required key, a value of the wrong type or form.
// Every *ParseError matches it with errors.Is.
var ErrMalformed = errors.New("malformed")

// ParseError says which file and which key of it is malformed. Key is a
// TOML dotted key path such as `"0.5.3".git-tree-sha1`, empty when the
// problem is the file as a whole (for example invalid TOML syntax).
// errors.Is(err, ErrMalformed) holds for every ParseError.
type ParseError struct {
	File string
	Key  string
	Err  error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Key != "" {
		b.WriteString(": key ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString(ErrMalformed.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *ParseError) Unwrap() error { return e.Err }

// Is reports true for ErrMalformed.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// keyPath renders a TOML dotted key, quoting the parts that are not bare keys.
func keyPath(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		if isBareKey(p) {
			b.WriteString(p)
			continue
		}
		b.WriteByte('"')
		for _, r := range p {
			switch {
			case r == '"' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r < 0x20 || r == 0x7f:
				b.WriteString("\\u00")
				const hexd = "0123456789abcdef"
				b.WriteByte(hexd[r>>4])
				b.WriteByte(hexd[r&15])
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	}
	return b.String()
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
