// Package pkgserver is the HTTP side of `shoebox serve`: a Server that
// answers Julia's Pkg server protocol from verified bundles, with two front
// ends over one engine-free implementation: ServeFastHTTP (fasthttp, what
// the command runs, for its lower cost per request) and ServeHTTP (an
// http.Handler, for embedding and tests).
//
// It implements the protocol as docs/pkg-protocol.md (design repository)
// describes Pkg.jl, PkgServer.jl and StorageMirrorServer.jl:
//
//   - GET /registries (and /registries.eager, /registries.conservative with
//     the same body): one line "/registry/<uuid>/<hash>" per registry, sorted
//     by uuid, text/plain, Cache-Control: no-cache (§2.2);
//   - GET and HEAD /registry/<uuid>/<hash>, /package/<uuid>/<hash>,
//     /artifact/<hash>: the compressed tarball, application/x-gzip (or
//     application/zstd, only when the request's Accept-Encoding asks for it,
//     §3.2), never a Content-Encoding; Content-Length and Accept-Ranges
//     always; one byte range (206, or 416 when unsatisfiable, as PkgServer.jl
//     answers, §13.3); several ranges or an unparseable Range are ignored
//     (200); immutable caching headers with the tree hash as ETag (§2.6);
//   - lowercase uuids and hashes only; 404 with an empty body for anything
//     else (§2.1);
//   - /healthz, /meta (JSON) and /metrics (Prometheus text format).
//
// The content comes from a Source. BundleSource is the Source over a
// shelf.Shelf, the verified bundles of a store (pkg/shelf, the trust
// boundary): it routes by the bundle indexes alone, reads every tarball
// through the shelf (shelf.Shelf.Open: verified bytes in memory, a verified
// private copy sent by sendfile(2), or a stream verified while it is sent,
// whose end is held back until the whole tarball verified) and advertises
// for each registry the "available view" of its newest snapshot: the
// snapshot with every package version the bundles do not hold removed, so
// that Pkg's resolver never picks what it cannot download (see
// NewBundleSource).
//
// This package knows nothing of trust: it opens no store and checks no
// signature or digest itself; what the shelf does not hand out verified is
// not served. A body whose stream fails after its first byte is never
// completed: the connection is cut (http.ErrAbortHandler, or a short
// fasthttp body stream) so that the client sees a truncated transfer; the
// shelf withdraws the item (404 from then on). Slots bound the bodies
// streamed at once, in all and per client address; answers from memory
// take none; a client that stops reading is cut off after WriteTimeout per
// SendChunk.
//
// Errors become HTTP statuses in one function, statusOf. The package prints
// nothing and reads no environment variables; it logs through the
// *slog.Logger in Options.
package pkgserver
