package store

// AnonBlobs switches unnamed temporary blob files (O_TMPFILE) on or off
// for layouts opened afterwards.
var AnonBlobs = &anonBlobs

// UsesAnonBlobs reports whether a writable layout writes its blobs as
// unnamed files linked into place.
func UsesAnonBlobs(s *Store) bool {
	l, ok := s.b.(*layout)
	return ok && l.anon
}

// SetWriteIndex replaces how index.json is rewritten (by Rollback), until
// the returned function restores it.
func SetWriteIndex(f func(root string, b []byte, write func() error) error) (restore func()) {
	orig := writeIndex
	writeIndex = func(root string, b []byte) error {
		return f(root, b, func() error { return orig(root, b) })
	}
	return func() { writeIndex = orig }
}
