package upstream

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
)

// Origin says where a source got a resource's tarball: what a push
// records in a bundle's provenance record (pkg/bundle, FORMAT.md §10).
type Origin struct {
	// URL locates it: the URL the tarball's bytes were read from (a Pkg
	// server's resource URL, a static mirror's file:// URL, an
	// Artifacts.toml download URL, a depot's packed registry file), or,
	// when Packed, the file:// URL of the directory it was packed from.
	// It never holds credentials (see RedactURL).
	URL string
	// Packed says the tarball was made by shoebox from the directory URL
	// names (a depot's installed package or artifact, an unpacked
	// registry, a registry checkout), deterministically; its tree hash is
	// checked like any other source's.
	Packed bool
}

// Locator is implemented by sources that can say where they get a
// resource from. Every source of this package is one.
type Locator interface {
	// Origin returns where the source gets r (as Fetch would), or the
	// zero Origin when it cannot say.
	Origin(r Resource) Origin
}

// OriginOf returns where src gets r: its Origin when src is a Locator
// that can say, else its Name (for sources outside this package).
func OriginOf(src Source, r Resource) Origin {
	if l, ok := src.(Locator); ok {
		if o := l.Origin(r); o.URL != "" {
			o.URL = RedactURL(o.URL)
			return o
		}
	}
	return Origin{URL: RedactURL(src.Name())}
}

// RedactURL removes the user information (user name and password) of a
// URL, so that credentials given in a --from URL never reach a record
// that travels with a bundle. A string that is not an absolute URL is
// returned as it is.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

// userInfo matches the user information of a URL inside a text:
// "scheme://" then anything up to an "@" before the host.
var userInfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s"'<>]+@`)

// RedactURLs removes the user information of every URL in s (an error
// message that quotes the URL it requested, "Get \"https://user:***@host/…\""),
// as RedactURL does for one URL.
func RedactURLs(s string) string {
	return userInfo.ReplaceAllString(s, "$1")
}

// RedactedError is err with the user information of every URL its
// message quotes removed (RedactURLs); errors.Is and errors.As still see
// err. Errors that reach a terminal, a log or a record go through it.
func RedactedError(err error) error {
	if err == nil {
		return nil
	}
	return redacted{err}
}

type redacted struct{ err error }

func (r redacted) Error() string { return RedactURLs(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }

// FileURL returns the file:// URL of a local path, made absolute.
func FileURL(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

// Origin implements Locator: base + the resource's path, for an http(s)
// server and a static mirror (file://) alike.
func (s *PkgServer) Origin(r Resource) Origin { return Origin{URL: s.base + r.Path()} }

// Origin implements Locator: the download URL.
func (s downloadSource) Origin(Resource) Origin { return Origin{URL: s.dl.URL} }

// Origin implements Locator: the checkout's directory, packed.
func (d *RegistryDir) Origin(Resource) Origin { return Origin{URL: FileURL(d.dir), Packed: true} }

// Origin implements Locator: the depot's file or directory Fetch reads
// (a packed registry's tarball is read as is; trees are packed).
func (d *Depot) Origin(r Resource) Origin {
	path, packed, err := d.locate(r)
	if err != nil || path == "" {
		return Origin{}
	}
	return Origin{URL: FileURL(path), Packed: packed}
}

// isDir reports whether path is a directory (following symbolic links).
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
