// Package shelf is shoebox's trust boundary: the one place that decides
// what a store holds and whether it may be trusted. Every command that
// reads bundles goes through it:
//
//   - List (and Find) say which tags of a store are bundles, with one rule
//     for every command: ls, inspect, verify, copy, inventory, push's
//     reuse of what a destination holds, and serve;
//   - Verify decides about one bundle: its signatures satisfy the trust
//     policy (pkg/trust: trusted keys, threshold, and the tags they were
//     signed for, read from the signed data), everything it references
//     is present and matches its digest (pkg/bundle's Check, or only its
//     indexes for a server that verifies bytes as it sends them), and its
//     closure holds for Pkg (every package listed by a registry snapshot,
//     every artifact referenced by a package). CheckManifest answers "will
//     Pkg.instantiate of this manifest succeed from these bundles";
//   - Set is the verified set a server loads and reloads: it remembers
//     what it verified (a reload that finds nothing new costs one stat or
//     one tag listing) and what failed (withdrawn items), and gives
//     immutable Shelves;
//   - Shelf.Open opens an item's bytes verified, whole or any range: from
//     memory or a private copy the server owns when the whole tarball
//     verified before, else as a stream that reads the whole tarball
//     through its digest and holds back the end of the range until it
//     matched. Blob files are never followed (pkg/store: no symbolic
//     links, regular files of the descriptor's size, checked on the open
//     descriptor), and an item whose read fails is withdrawn until its
//     blob changes and verifies again.
//
// What Verify checks, in order, and what each failure wraps:
//
//	signature  trust.Verify against the policy             *trust.VerificationError
//	           (keys, threshold, signed tags)
//	integrity  indexes, manifests, blobs (sizes, digests)  bundle.ErrIntegrity, bundle.ErrFormat
//	closure    registry listings, Artifacts.toml refs      ErrIncomplete
//
// The package reads stores through small interfaces (Lister, Target) that
// *store.Store satisfies; it prints nothing, reads no environment, and is
// safe for concurrent use. It implements the bundle format of
// pkg/bundle/FORMAT.md (v1) and cosign's signature formats through
// pkg/trust.
package shelf
