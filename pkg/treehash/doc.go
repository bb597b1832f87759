// Package treehash computes the tree hashes Julia's Pkg uses to name
// registries, packages and artifacts ("git-tree-sha1"), from a directory on
// disk or from an uncompressed tar stream, and reads tar streams under the
// same rules Pkg's tar reader enforces.
//
// It implements three specifications:
//
//   - git tree objects (https://git-scm.com/book/en/v2/Git-Internals-Git-Objects):
//     blob id = H("blob <len>\x00" + data), tree id = H("tree <len>\x00" +
//     entries), each entry "<mode> <name>\x00<raw id>", sorted by name bytes
//     with a directory's sort key being name + "/"; modes 100644, 100755,
//     120000 and 40000. H is SHA-1 (Algorithm SHA1, git's default object
//     format) or SHA-256 (Algorithm SHA256, git's sha256 object format);
//   - Tar.jl's Tar.tree_hash, as of JuliaIO/Tar.jl commit cf0cb7de41ff
//     (src/extract.jl git_tree_hash, read_tarball, read_header;
//     src/header.jl check_header): Tar and TarSum, and the entry rules of
//     TarReader. This is what Pkg uses to check registry tarballs, with
//     empty directories kept (TarHashes.KeepEmpty);
//   - Pkg's GitTools.tree_hash (JuliaLang/Pkg.jl src/GitTools.jl): Dir and
//     DirSum. This is what Pkg uses to check extracted packages and
//     artifacts: entries named ".git" are skipped at every level and
//     directories with nothing but directories below them are skipped
//     (TarHashes.SkipEmpty is the same notion for a tar stream).
//
// # Tar rules
//
// TarReader accepts exactly what Tar.jl accepts, with the checks in Tar.jl's
// order: header checksum (unsigned byte sum), version field matching
// `^0* *$`, octal numeric fields (leading spaces, NUL or space terminated)
// and GNU base-256 sizes, mode within 16 bits, the ustar prefix, pax "x" and
// "g" headers (only the keys path, linkpath and size are honoured), GNU "L"
// and "K" long names (header name "././@LongLink", data ending in NUL), type
// flags 0/NUL (file), 1 (hard link), 2 (symlink) and 5 (directory), and
// check_header's per-entry rules. Paths are normalized by dropping empty
// and "." components; a path below a symlink entry, and a hard link to
// anything but an earlier regular file still present in the tree, are
// rejected. The last entry for a path wins. An all-zero block ends the
// archive (the rest of the stream is read and discarded), and so does the
// end of the stream at a block boundary; an empty stream is an empty tree.
// Every violation is an *EntryError naming the entry, for which
// errors.Is(err, ErrTarEntry) holds. A stream cut inside a block or a body
// gives an error wrapping io.ErrUnexpectedEOF instead.
//
// Deliberate deviations, all stricter than Tar.jl: a pax or GNU extended
// header larger than 8 MiB is rejected (Tar.jl reads up to 2 GiB into
// memory), and a pax size value must be plain decimal digits (Julia's
// integer parser also takes surrounding spaces, a sign and 0x/0o/0b
// prefixes).
//
// # Directory rules
//
// Dir follows GitTools.tree_hash: symlinks are never followed (mode 120000,
// blob of the target bytes), a regular file is 100755 when its owner-exec
// bit is set and 100644 otherwise, ".git" entries are skipped, and a
// directory is skipped unless something that is not a directory lies below
// it. As in Pkg, a ".git" entry still counts as "something below": a
// directory holding only a ".git" file is hashed as an empty tree. Two
// deviations: Pkg hashes a symlink with the target's length in characters
// rather than bytes (pkg-protocol G15), which differs from git for
// non-ASCII targets; DirSum does what git does unless
// Options.SymlinkCharLength asks for Pkg's behaviour. And where Pkg warns
// and hashes an unreadable file as empty, or blocks on a FIFO, Dir returns
// an error (ErrUnsupportedFile for anything but a regular file, directory or
// symlink).
//
// # Resources
//
// Memory does not depend on file sizes: file bodies are hashed while they
// stream by, and only the 20- or 32-byte ids of blobs are held, in a
// compact tree of about 70 bytes an entry (names included), so a tarball
// of 300,000 empty files costs some 20 MB while it is read. Nothing here
// prints, reads the environment, or keeps global state; all functions are
// safe for concurrent use on distinct arguments, and a TarReader is not
// safe for concurrent use.
package treehash
