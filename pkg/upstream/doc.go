// Package upstream is where Julia content comes from on the connected side:
// Pkg servers and their static mirrors (the Pkg protocol, pkg-protocol.md
// §2, as Pkg 1.6–1.13 speaks it), local depots, registry checkouts, and
// the download URLs of Artifacts.toml entries. A Source returns a
// resource's compressed tarball as it would be served; a Chain tries
// several in order, and falls back to the next not only when one lacks a
// resource but when what it gave fails verification (Chain.Try), as
// PkgServer.jl does across its storage servers.
//
// Every network stream goes through internal/httpx: bounded retries, Range
// resume, and a no-progress timeout, so no source can hold a push forever.
// The package verifies nothing itself but the sha256 of downloads; the
// caller (pkg/transfer) checks tree hashes and Tar.jl's rules while it
// stores, and marks failures with BadContent.
package upstream
