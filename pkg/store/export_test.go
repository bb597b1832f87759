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
