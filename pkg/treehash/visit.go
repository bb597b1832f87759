package treehash

import "io"

// TarVisit is Tar that also lets the caller see the stream's entries as
// they pass, so one read of a tarball both verifies it and extracts what the
// caller needs (for example every Artifacts.toml in a package). visit is
// called for each accepted entry in stream order; for a TypeFile entry it
// may return a writer that receives the file's body (nil to skip it). The
// entry is only valid during the call. An error from a returned writer
// aborts the hash.
func TarVisit(r io.Reader, visit func(e *Entry) io.Writer) (TarHashes, error) {
	var h TarHashes
	keep, skip, err := tarSum(r, SHA1, visit)
	if err != nil {
		return h, err
	}
	copy(h.KeepEmpty[:], keep)
	copy(h.SkipEmpty[:], skip)
	return h, nil
}
