package julia

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// MaxFileSize caps every TOML file this package reads from an fs.FS
// (General's Registry.toml is about 1.5 MiB).
const MaxFileSize = 64 << 20

// readFile reads name from fsys through MaxFileSize.
func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, &ParseError{File: name, Err: fmt.Errorf("larger than %d bytes: %w", MaxFileSize, ErrMalformed)}
	}
	return data, nil
}

// decodeTOML parses data into a generic table.
func decodeTOML(file string, data []byte) (map[string]any, error) {
	m := map[string]any{}
	if err := toml.Unmarshal(data, &m); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, &ParseError{File: file, Err: fmt.Errorf("line %d column %d: %s: %w", row, col, de.Error(), ErrMalformed)}
		}
		return nil, &ParseError{File: file, Err: fmt.Errorf("%s: %w", err.Error(), ErrMalformed)}
	}
	return m, nil
}

// tomlType names a decoded TOML value's type for error messages.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "float"
	case map[string]any:
		return "table"
	case []any:
		return "array"
	case nil:
		return "nothing"
	}
	return "datetime"
}

func errType(want string, got any) error {
	return fmt.Errorf("want %s, got %s: %w", want, tomlType(got), ErrMalformed)
}

func errf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrMalformed)...)
}

// uuidLoose parses a UUID as Julia does, accepting uppercase hex.
func uuidLoose(s string) (UUID, error) {
	u, err := ParseUUID(strings.ToLower(s))
	if err != nil {
		return u, fmt.Errorf("%w: %w", err, ErrMalformed)
	}
	return u, nil
}
