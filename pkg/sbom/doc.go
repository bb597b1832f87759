// Package sbom describes a bundle as a software bill of materials:
// CycloneDX 1.6 JSON (https://cyclonedx.org/docs/1.6/json/) and SPDX 2.3
// JSON (https://spdx.github.io/spdx-spec/v2.3/).
//
// Collect reads a bundle (its index, its package item manifests for their
// Artifacts.toml files, its registry snapshots for Deps.toml) into a
// Document; CycloneDX and SPDX render it. What each format says:
//
//   - every package version by its Julia purl pkg:julia/NAME@VERSION?uuid=UUID
//     (advisory.Purl), with the SHA-256 of its tarball and its git tree
//     hash (a CycloneDX property "julia:git-tree-sha1"; in SPDX a
//     PERSISTENT-ID gitoid:tree:sha1:… reference, since a tree hash is not
//     a file checksum), its registry and repository;
//   - every artifact with the SHA-256 of its tarball, its tree hash, its
//     platform and, where a package's Artifacts.toml lists them, the
//     download URLs it is published at (with their sha256);
//   - every registry snapshot with its uuid and tree hash;
//   - dependencies: a package version on the versions of its registry
//     dependencies (Deps.toml) that the bundle holds and its Compat allows,
//     or, for versions a given manifest pins, exactly the manifest's deps;
//     and on the artifacts its Artifacts.toml binds;
//   - the bundle: index digest, created time, platforms, inputs, the tool
//     that wrote it and the tool that described it;
//   - when advisories are given, the matching vulnerabilities (CycloneDX
//     "vulnerabilities" whose affects point at the components; SPDX
//     SECURITY advisory references on the affected packages).
//
// Output is deterministic: the same bundle (and advisories) gives the
// same bytes. The only time in it is the bundle's own created time; the
// CycloneDX serial number and the SPDX namespace derive from the bundle
// digest.
package sbom
