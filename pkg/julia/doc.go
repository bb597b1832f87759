// Package julia reads the TOML files of Julia's package manager and
// implements the parts of Pkg's semantics that shoebox needs to decide what
// to carry across an air gap: registries (Registry.toml, Package.toml,
// Versions.toml, Deps/Compat/WeakDeps/WeakCompat.toml), manifests (formats
// v1, v2.0 and v2.1), Artifacts.toml, binary platforms and their matching,
// version numbers, ranges and specs, package install slugs, and a
// dependency-closure resolver.
//
// It does no I/O beyond reading an fs.FS or a []byte it is handed (files are
// read through MaxFileSize), does not print, and reads no environment. It is
// the only importer of github.com/pelletier/go-toml/v2 in shoebox. All
// functions are safe for concurrent use; values returned are not shared
// with the package after return, except that a Platform's tags are shared
// between copies and must be treated as immutable.
//
// Malformed input gives a *ParseError naming the file and the TOML key
// (errors.Is(err, ErrMalformed)); it never panics. The parsers of untrusted
// input are fuzzed (fuzz_test.go).
//
// # Sources
//
// Semantics follow docs/pkg-protocol.md (§7 registries, §8 artifacts and
// platforms, §9 manifests, §9.4 slugs, §11, §13.3 vectors) and the Julia
// sources it cites (§0), read again for this package:
//
//   - JuliaLang/Pkg.jl e52498951d11: src/Versions.jl (VersionBound,
//     VersionRange, VersionSpec, semver_spec: ParseRangeKey,
//     ParseRegistrySpec, ParseSpec), src/Registry/registry_instance.jl
//     (registry files; range keys merged per version: DepsOf, CompatOf),
//     src/manifest.jl (format detection, list/table deps, graph checks:
//     ParseManifest), src/Operations.jl (Fetchable, slug).
//   - JuliaLang/julia base/binaryplatforms.jl (Platform, add_tag!,
//     triplet, triplet_regex, platforms_match, compare_version_cap,
//     HostPlatform, select_platform), base/cpuid.jl normalize_arch,
//     stdlib/Artifacts unpack_platform and artifact_meta, base/version.jl
//     (VersionNumber parsing and ordering), base/loading.jl version_slug and
//     manifest file names (FindManifest).
//
// # Deliberate differences from Julia
//
//   - Platform.Triplet sorts the free-form tags (Julia uses hash order).
//   - ParsePlatform rejects free-form tags that name reserved tags
//     ("-libc+musl") or are not exactly key+value, and NewPlatform rejects
//     empty tag values: Julia accepts them but its triplet cannot carry them
//     back. Unparsable version values make PlatformsMatch false where Julia
//     throws.
//   - Version bounds take at most three components (Pkg's newest Versions.jl
//     also allows a fourth, build, component; General does not use it).
//   - CompatOf intersects two ranges that constrain the same name where Pkg
//     reports overlapping ranges as a registry error.
//   - Resolve is not Pkg's resolver: it is a depth-first search with
//     backtracking that prefers the newest version of each package in the
//     order packages are reached. It finds a consistent closure, not
//     necessarily the one Pkg would pick when several exist.
package julia
