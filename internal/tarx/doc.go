// Package tarx writes deterministic tarballs and reads untrusted ones.
//
// # Writing
//
// WriteDir, WriteFS and WriteTar produce the canonical layout of Tar.jl's
// Tar.create, as of JuliaIO/Tar.jl commit cf0cb7de41ff (src/create.jl,
// "Reproducibility" in its README), in POSIX ustar format
// (IEEE Std 1003.1-2017, pax interchange format):
//
//   - entries in depth-first order, each directory's children sorted by
//     name bytes, a directory's own entry before its children (so "a",
//     "a/b", "a.txt": this is Tar.jl's order, not a sort of whole paths);
//   - paths relative, without "./" prefix and without a trailing slash on
//     directories; the root "." appears only as the single entry of an
//     empty tree;
//   - regular files mode 0644, or 0755 when the owner-exec bit is set;
//     directories and symlinks 0755; symlink targets stored as read;
//   - uid, gid and mtime 0, empty uname and gname, devmajor/devminor 0,
//     octal fields formatted exactly as Tar.jl formats them;
//   - a pax "x" header (keys linkpath, path, size) only when a link is over
//     100 bytes, a path does not fit the ustar name/prefix split, or a size
//     is 64 GiB or more;
//   - no end-of-archive zero blocks (Tar.jl writes none; every tar reader,
//     Tar.jl's included, accepts their absence).
//
// Consequently the tar stream depends only on the tree's names, file bytes,
// owner-exec bits and symlink targets: the same tree always gives the same
// bytes, and the keep-empty Tar.jl tree hash of the stream equals the git
// tree hash of the tree when WriteOptions.SkipEmptyDirs is set. Only
// regular files, directories and symlinks are accepted; symlinks are never
// followed, and hard links on disk are written as independent files.
//
// The gzip member written by WriteDir and WriteFS has fixed header fields
// (no name, no comment, mtime 0, OS byte 255) and a fixed level
// (WriteOptions.Level, DefaultLevel if 0), using
// github.com/klauspost/compress/gzip at the version pinned in go.mod. Its
// bytes are therefore reproducible for a given build; an upgrade of the
// compressor may change them (the tar stream inside does not change), and
// the golden test in this package pins them so such a change is noticed.
//
// # Reading
//
// Sniff and Decompress recognise the compression of a tarball by its magic
// bytes, as Pkg does (it ignores file names and HTTP headers): gzip
// (multi-member), zstd, or none. Bzip2, xz and lz4 are recognised only to
// report them as unsupported.
//
// Extract and ReadFiles read an uncompressed tar stream through
// treehash.TarReader, which applies Tar.jl's entry rules (the ones Pkg
// enforces on Julia 1.13 and later): any entry Tar.jl rejects makes them
// fail with an error wrapping treehash.ErrTarEntry that names the entry. The
// tree they produce is the one Tar.jl's tree hash describes: the last entry
// for a path wins, hard links become copies of earlier regular files, and
// nothing is ever written through a symlink. Limits bound the bytes read,
// the number of entries and the size of any one file, so a decompression
// bomb fails early with an error wrapping ErrTooLarge.
//
// The functions of this package are safe for concurrent use on distinct
// arguments.
package tarx
