// Package advisory reads security advisories in the OSV format, as the
// Julia Security Advisory Database (JuliaLang/SecurityAdvisories.jl) exports
// them, and matches them against Julia package versions.
//
// Reference: the OSV schema, version 1.7
// (https://ossf.github.io/osv-schema/, schema_version "1.x"; the Julia
// database writes 1.8.0, whose additions this package ignores). Read:
// id, modified, published, withdrawn, aliases, upstream, related, summary,
// details, severity, affected (package, ranges, versions, severity) and
// references; other fields are ignored.
//
// Matching follows the OSV evaluation rules (schema §affected[].ranges:
// events sorted by version, "introduced", "fixed", "last_affected" and
// "limit") with Julia's VersionNumber order (julia.Version.Compare), where
// build numbers count: JLL fixes are often new builds, so with
// `fixed: 1.2.12+3` the version 1.2.12+1 is affected (strict SemVer would
// call it fixed). SEMVER and ECOSYSTEM ranges are read that way; GIT ranges
// name commits and never match a version. Packages are matched by the uuid
// of their purl (pkg:julia/NAME?uuid=UUID) when the advisory gives one,
// else by name. Withdrawn advisories never match.
//
// Severity comes from the CVSS vectors (package cvss): the highest of the
// v3.x and v4.0 scores, or of the v2 scores when there is no other.
//
// Parsing is strict about what matching depends on (ids, events, versions)
// and errors wrap ErrInvalid naming the advisory; Load bounds file sizes
// and counts. The package does no I/O beyond the fs.FS it is handed, and
// is safe for concurrent use once a Database is built.
package advisory
