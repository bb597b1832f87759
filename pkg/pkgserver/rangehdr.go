package pkgserver

import (
	"strconv"
	"strings"
)

// rangeResult says what to do with a Range header.
type rangeResult int

const (
	rangeIgnore        rangeResult = iota // serve the whole body (200)
	rangeOK                               // serve [start, start+length) (206)
	rangeUnsatisfiable                    // 416
)

// parseRange interprets a Range header for a body of size bytes the way
// PkgServer.jl does (pkg-protocol §2.6, §13.3): one range "bytes=a-b",
// "bytes=a-" or "bytes=-n" gives 206, clamped to the body ("0-10000" of a
// 2685-byte body is the whole body as 206); a start beyond the end, an end
// before the start or an empty suffix gives 416; anything else (several
// ranges, another unit, junk) is ignored, so the whole body is sent.
func parseRange(h string, size int64) (start, length int64, res rangeResult) {
	const prefix = "bytes="
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return 0, 0, rangeIgnore
	}
	spec := strings.TrimSpace(h[len(prefix):])
	if strings.IndexByte(spec, ',') >= 0 {
		return 0, 0, rangeIgnore
	}
	i := strings.IndexByte(spec, '-')
	if i < 0 {
		return 0, 0, rangeIgnore
	}
	first, last := strings.TrimSpace(spec[:i]), strings.TrimSpace(spec[i+1:])
	if first == "" {
		n, err := parseOffset(last)
		if err != nil {
			return 0, 0, rangeIgnore
		}
		if n == 0 || size == 0 {
			return 0, 0, rangeUnsatisfiable
		}
		n = min(n, size)
		return size - n, n, rangeOK
	}
	a, err := parseOffset(first)
	if err != nil {
		return 0, 0, rangeIgnore
	}
	b := size - 1
	if last != "" {
		if b, err = parseOffset(last); err != nil {
			return 0, 0, rangeIgnore
		}
		if b < a {
			return 0, 0, rangeUnsatisfiable
		}
	}
	if a >= size {
		return 0, 0, rangeUnsatisfiable
	}
	b = min(b, size-1)
	return a, b - a + 1, rangeOK
}

// parseOffset parses a non-negative decimal without sign.
func parseOffset(s string) (int64, error) {
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseInt(s, 10, 64)
}

// etagMatch reports whether an If-None-Match or If-Range header value
// names etag (strong or weak form) or is "*" (wildcard allowed only when
// star is true).
func etagMatch(h, etag string, star bool) bool {
	for _, t := range strings.Split(h, ",") {
		t = strings.TrimSpace(t)
		if t == etag || strings.TrimPrefix(t, "W/") == etag || (star && t == "*") {
			return true
		}
	}
	return false
}
