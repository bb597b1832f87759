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
// The content comes from a Source. BundleSource is the Source over verified
// bundles (pkg/bundle): it routes by the bundle indexes alone, streams item
// tarballs through bundle.Reader (digest-verified while streaming, seekable
// for ranges) and advertises for each registry the "available view" of its
// newest snapshot: the snapshot with every package version the bundles do
// not hold removed, so that Pkg's resolver never picks what it cannot
// download (see NewBundleSource). Cache is an optional on-disk read-through
// blob cache for a registry backend; MemCache keeps small verified
// tarballs in memory; VerifiedFiles remembers layout files that verified
// in full, by file identity, so that they are sent with sendfile(2)
// without hashing them again while they are unchanged.
//
// This package does not verify signatures and does not open stores: the
// caller (internal/cli) verifies bundles against the trust policy, checks
// their integrity, builds the BundleSource and hands it to Server.Update.
// A body whose bytes fail verification while streaming is never completed:
// the connection is cut (http.ErrAbortHandler, or a short fasthttp body
// stream) so that the client sees a truncated transfer, and the item is withdrawn (BundleSource.Quarantined).
//
// Errors become HTTP statuses in one function, statusOf. The package prints
// nothing and reads no environment variables; it logs through the
// *slog.Logger in Options.
package pkgserver
