package sbom

import (
	"strconv"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
)

// SPDX JSON, version 2.3.
type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreation       `json:"creationInfo"`
	Comment           string             `json:"comment,omitempty"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
	Comment  string   `json:"comment,omitempty"`
}

type spdxPackage struct {
	Name                  string         `json:"name"`
	SPDXID                string         `json:"SPDXID"`
	VersionInfo           string         `json:"versionInfo,omitempty"`
	DownloadLocation      string         `json:"downloadLocation"`
	FilesAnalyzed         bool           `json:"filesAnalyzed"`
	Checksums             []spdxChecksum `json:"checksums,omitempty"`
	Homepage              string         `json:"homepage,omitempty"`
	SourceInfo            string         `json:"sourceInfo,omitempty"`
	LicenseConcluded      string         `json:"licenseConcluded"`
	LicenseDeclared       string         `json:"licenseDeclared"`
	CopyrightText         string         `json:"copyrightText"`
	Comment               string         `json:"comment,omitempty"`
	ExternalRefs          []spdxExtRef   `json:"externalRefs,omitempty"`
	PrimaryPackagePurpose string         `json:"primaryPackagePurpose,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExtRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
	Comment           string `json:"comment,omitempty"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

// spdxIDChars keeps what an SPDX identifier allows ([A-Za-z0-9.-]).
func spdxIDChars(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' {
			b.WriteByte(c)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func (c *Component) spdxID() string {
	switch c.Kind {
	case bundle.KindRegistry:
		return "SPDXRef-Registry-" + spdxIDChars(c.Name) + "-" + c.TreeHash
	case bundle.KindPackage:
		return "SPDXRef-Package-" + spdxIDChars(c.Name) + "-" + c.UUID.String()[:8] + "-" + spdxIDChars(c.Version)
	case bundle.KindAdvisories:
		return "SPDXRef-Advisories-" + c.TreeHash
	}
	id := "SPDXRef-Artifact-" + c.TreeHash
	if c.Platform != "" {
		id += "-" + spdxIDChars(c.Platform)
	}
	return id
}

// located reports whether a source names where the tarball came from.
func (c *Component) located() bool {
	for _, s := range c.Sources {
		if s.URL != "" {
			return true
		}
	}
	return false
}

// SPDX renders the document as SPDX 2.3 JSON, indented, with a final
// newline.
func (d *Document) SPDX() ([]byte, error) {
	const bundleID = "SPDXRef-Bundle"
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              "shoebox bundle " + d.Name,
		DocumentNamespace: "urn:uuid:" + uuid5("shoebox:spdx:"+d.Index.Digest.String()),
		CreationInfo: spdxCreation{Created: d.created(), Creators: []string{"Tool: " + d.ToolName + "-" + d.ToolVersion},
			Comment: "Describes the shoebox bundle " + d.Index.Digest.String() + " (an OCI image index); its created time is the bundle's."},
	}
	if len(d.Provenance) > 0 {
		var recs []string
		for _, r := range d.Provenance {
			recs = append(recs, r.Digest.String())
		}
		doc.CreationInfo.Comment += " Download locations and sourceInfo are where the pusher reported getting each item, in the unsigned provenance record(s) " +
			strings.Join(recs, ", ") + ": the pusher's word, signed only by an attestation of this document."
	}
	bundleComment := []string{"shoebox bundle (OCI image index " + d.Index.MediaType + ")"}
	for _, k := range sortedKeys(d.Annotations) {
		if strings.HasPrefix(k, "dev.shoebox.bundle.") {
			bundleComment = append(bundleComment, strings.TrimPrefix(k, "dev.shoebox.bundle.")+": "+d.Annotations[k])
		}
	}
	doc.Packages = append(doc.Packages, spdxPackage{
		Name: d.Name, SPDXID: bundleID, VersionInfo: d.Index.Digest.String(), DownloadLocation: "NOASSERTION",
		Checksums:        []spdxChecksum{{"SHA256", d.Index.Digest.Encoded()}},
		LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION",
		Comment: strings.Join(bundleComment, "; "), PrimaryPackagePurpose: "ARCHIVE",
	})
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", bundleID})
	idOf := map[string]string{}
	for _, c := range d.Components {
		idOf[c.ref] = c.spdxID()
	}
	advisories := map[string][]string{} // component ref → advisory ids
	for _, f := range d.Findings {
		for _, c := range d.Components {
			if c.Kind == bundle.KindPackage && c.UUID == f.UUID && c.Version == f.Version {
				advisories[c.ref] = append(advisories[c.ref], f.Advisory.ID)
			}
		}
	}
	for _, c := range d.Components {
		p := spdxPackage{Name: c.Name, SPDXID: idOf[c.ref], DownloadLocation: "NOASSERTION",
			Checksums:        []spdxChecksum{{"SHA256", c.SHA256}},
			LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION"}
		refs := []spdxExtRef{{ReferenceCategory: "PERSISTENT-ID", ReferenceType: "gitoid", ReferenceLocator: "gitoid:tree:sha1:" + c.TreeHash,
			Comment: "Julia git tree hash (git-tree-sha1)"}}
		comment := []string{"julia kind: " + string(c.Kind), "git-tree-sha1: " + c.TreeHash, "OCI manifest: " + c.Manifest, "size: " + strconv.FormatInt(c.Size, 10)}
		switch c.Kind {
		case bundle.KindRegistry:
			p.VersionInfo, p.PrimaryPackagePurpose = c.TreeHash, "ARCHIVE"
			comment = append(comment, "registry uuid: "+c.UUID.String())
		case bundle.KindPackage:
			p.VersionInfo, p.PrimaryPackagePurpose = c.Version, "LIBRARY"
			refs = append(refs, spdxExtRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: c.Purl()})
			comment = append(comment, "uuid: "+c.UUID.String())
			if c.Registry != "" {
				comment = append(comment, "registry: "+c.Registry)
			}
			if c.Repo != "" {
				p.Homepage = c.Repo
			}
			for _, id := range advisories[c.ref] {
				refs = append(refs, spdxExtRef{ReferenceCategory: "SECURITY", ReferenceType: "advisory", ReferenceLocator: osvURL(id)})
			}
		case bundle.KindAdvisories:
			p.VersionInfo, p.PrimaryPackagePurpose = c.TreeHash, "ARCHIVE"
		case bundle.KindArtifact:
			p.VersionInfo, p.PrimaryPackagePurpose = c.TreeHash, "FILE"
			if c.Platform != "" {
				comment = append(comment, "platform: "+c.Platform)
			}
			if len(c.Downloads) > 0 && !c.located() {
				p.DownloadLocation = c.Downloads[0].URL
				for _, dl := range c.Downloads[1:] {
					comment = append(comment, "also at: "+dl.URL)
				}
			} else {
				for _, dl := range c.Downloads {
					comment = append(comment, "Artifacts.toml download: "+dl.URL)
				}
			}
		}
		var info []string
		for _, s := range c.Sources {
			if s.URL != "" && p.DownloadLocation == "NOASSERTION" {
				p.DownloadLocation = s.URL
			}
			info = append(info, sourcePhrase(s)+", "+sourceNote(s))
		}
		p.SourceInfo = strings.Join(info, "; ")
		p.ExternalRefs, p.Comment = refs, strings.Join(comment, "; ")
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{bundleID, "CONTAINS", p.SPDXID})
	}
	for _, c := range d.Components {
		for _, dep := range c.DependsOn {
			if id, ok := idOf[dep]; ok {
				doc.Relationships = append(doc.Relationships, spdxRelationship{idOf[c.ref], "DEPENDS_ON", id})
			}
		}
	}
	return marshal(doc)
}
