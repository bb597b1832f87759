// Package store turns a store reference — an OCI image layout directory or
// a repository in an OCI registry — into an oras.GraphTarget, with what
// oras-go leaves to its callers: a cross-process writer lock and atomic
// index.json saves for layouts, credentials, TLS and retries for
// registries, and one-pass ingest of content whose digest is not known in
// advance.
//
// It implements:
//   - OCI image-spec v1.1.1, image layout:
//     https://github.com/opencontainers/image-spec/blob/v1.1.1/image-layout.md
//     (oci-layout, index.json with org.opencontainers.image.ref.name tags,
//     blobs/<alg>/<encoded>);
//   - OCI distribution-spec v1.1, through oras-go's registry/remote:
//     https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md
//     including the referrers API and its tag-schema fallback
//     ("sha256-<hex>" tags) for registries that lack it.
//
// # References
//
// See ParseReference: "oci-layout:PATH[:TAG|@DIGEST]", a plain path, or
// "REGISTRY/REPO[:TAG|@DIGEST]".
//
// # Layouts
//
// A writable layout Store holds an exclusive flock(2) on
// <layout>/.shoebox.lock (with the holder's pid in it) until Close; a second
// writer waits Options.LockWait and fails with ErrLocked. Read-only Stores
// take no lock and may serve a layout while a writer adds to it; Reload
// picks up the writer's saved changes. A blob is written as an unnamed
// file in blobs/sha256 (Linux O_TMPFILE) and linked under its digest when
// complete, so a killed writer leaves nothing of it; where the file system
// cannot do that (FAT, exFAT, other systems) it is written to
// <layout>/ingest/shoebox-* and renamed into blobs/. The aligned whole
// blocks of a large blob are written with O_DIRECT where the file system
// allows it (a blob is written once and read elsewhere; the page cache
// would only cost copies and a long write-back at the end), the rest
// through the page cache. Before index.json is
// saved, every blob written since the last save is made durable in one
// batch (syncfs(2) on Linux: a group commit, so the index never names a
// blob a power cut could lose, at one flush per save rather than one per
// blob); index.json and oci-layout are replaced by fsync + rename, so a
// reader never sees a
// partial file and a killed writer leaves a valid layout plus temporary
// files, which the next writer removes. (oras-go's content/oci store
// rewrites index.json in place and has no cross-process lock, so this
// package keeps its own index and uses content/oci only to read blobs.)
//
// index.json lists the tagged manifests and the untagged manifests that no
// other manifest points at (referrers such as signatures, or a bundle
// pushed but not yet tagged; see Store.Roots); the rest of the graph is
// reached from them. It is saved on Tag, when a referrer is pushed, on
// Store.Flush and on Close.
//
// # Registries
//
// Remote stores use oras-go's remote.Repository over an auth.Client
// (static basic credentials, e.g. a robot account, or the docker/oras
// config.json credential store in Options.DockerConfigDir), a retrying
// transport (backoff on 5xx, 429, timeouts and connection resets), and TLS
// with extra roots from Options.CAFile. A 404 is errdef.ErrNotFound; a 401
// or 403 is ErrUnauthorized naming the registry.
//
// # Ingest
//
// Store.Ingest stores a stream whose digest is only known at its end (an
// upstream tarball), in one pass: hash while writing a temporary file,
// call a Verify hook, then publish. MaxFileSize reports the FAT32 limit of
// the file system under a layout so that callers can split large blobs
// (IngestOptions.MaxPartSize); FreeSpace helps a dry run.
//
// The package prints nothing and reads no environment variables; events
// go to Options.Logger.
package store
