package sbom

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/advisory"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/cvss"
)

// CycloneDX JSON, version 1.6. Field order is the struct order; empty
// fields are left out.
type cdxBOM struct {
	Schema          string             `json:"$schema"`
	BOMFormat       string             `json:"bomFormat"`
	SpecVersion     string             `json:"specVersion"`
	SerialNumber    string             `json:"serialNumber"`
	Version         int                `json:"version"`
	Metadata        cdxMetadata        `json:"metadata"`
	Components      []cdxComponent     `json:"components,omitempty"`
	Dependencies    []cdxDependency    `json:"dependencies,omitempty"`
	Vulnerabilities []cdxVulnerability `json:"vulnerabilities,omitempty"`
}

type cdxMetadata struct {
	Timestamp  string       `json:"timestamp,omitempty"`
	Tools      cdxTools     `json:"tools"`
	Component  cdxComponent `json:"component"`
	Properties []cdxProp    `json:"properties,omitempty"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components"`
}

type cdxComponent struct {
	Type               string      `json:"type"`
	BOMRef             string      `json:"bom-ref,omitempty"`
	Name               string      `json:"name"`
	Version            string      `json:"version,omitempty"`
	Description        string      `json:"description,omitempty"`
	Hashes             []cdxHash   `json:"hashes,omitempty"`
	Purl               string      `json:"purl,omitempty"`
	ExternalReferences []cdxExtRef `json:"externalReferences,omitempty"`
	Properties         []cdxProp   `json:"properties,omitempty"`
}

type cdxHash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type cdxExtRef struct {
	URL     string    `json:"url"`
	Comment string    `json:"comment,omitempty"`
	Type    string    `json:"type"`
	Hashes  []cdxHash `json:"hashes,omitempty"`
}

type cdxProp struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxDependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

type cdxVulnerability struct {
	BOMRef         string        `json:"bom-ref"`
	ID             string        `json:"id"`
	Source         *cdxSource    `json:"source,omitempty"`
	References     []cdxVulnRef  `json:"references,omitempty"`
	Ratings        []cdxRating   `json:"ratings,omitempty"`
	Description    string        `json:"description,omitempty"`
	Detail         string        `json:"detail,omitempty"`
	Recommendation string        `json:"recommendation,omitempty"`
	Advisories     []cdxAdvisory `json:"advisories,omitempty"`
	Published      string        `json:"published,omitempty"`
	Updated        string        `json:"updated,omitempty"`
	Affects        []cdxAffect   `json:"affects"`
}

type cdxSource struct {
	Name string `json:"name,omitempty"`
	URL  string `json:"url,omitempty"`
}

type cdxVulnRef struct {
	ID     string    `json:"id"`
	Source cdxSource `json:"source"`
}

type cdxRating struct {
	Score    float64 `json:"score"`
	Severity string  `json:"severity"`
	Method   string  `json:"method"`
	Vector   string  `json:"vector"`
}

type cdxAdvisory struct {
	URL string `json:"url"`
}

type cdxAffect struct {
	Ref      string           `json:"ref"`
	Versions []cdxAffectedVer `json:"versions,omitempty"`
}

type cdxAffectedVer struct {
	Version string `json:"version"`
	Status  string `json:"status"`
}

// Property names (CycloneDX property taxonomy: our own namespaces).
const (
	PropTreeHash = "julia:git-tree-sha1"
	PropPlatform = "julia:platform"
	PropRegistry = "julia:registry"
	PropUUID     = "julia:uuid"
	PropKind     = "julia:kind"
	PropManifest = "shoebox:oci:manifest"
	PropSize     = "shoebox:size"
	// PropSource is where the pusher reported getting a component's
	// tarball (a provenance record, unsigned): "fetched URL", "packed
	// URL", "reused" or "inventory".
	PropSource = "shoebox:source"
	// PropProvenance (document metadata) names a provenance record used.
	PropProvenance = "shoebox:provenance:record"
)

// sourceNote says, for a reference or comment, that a source is the
// pusher's word: which record says it, and that it is not signed.
func sourceNote(s Source) string {
	return "reported by the pusher in provenance record " + s.Record.String() + " (unsigned)"
}

// sourcePhrase says what a source claims, in words.
func sourcePhrase(s Source) string {
	switch s.Method {
	case bundle.MethodFetched:
		return "fetched from " + s.URL
	case bundle.MethodPacked:
		if s.URL == "" {
			return "packed by shoebox"
		}
		return "packed by shoebox from " + s.URL
	case bundle.MethodReused:
		return "already in the destination (stored by an earlier push), not fetched by this push"
	case bundle.MethodInventory:
		return "not carried: the inside store holds it (push --inventory)"
	}
	return string(s.Method)
}

// uuid5 is an RFC 4122 name-based (SHA-1) UUID in the URL namespace.
func uuid5(name string) string {
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	h := sha1.New()
	h.Write(ns)
	h.Write([]byte(name))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func (d *Document) created() string {
	t := d.Created
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return t.UTC().Format(time.RFC3339)
}

// CycloneDX renders the document as CycloneDX 1.6 JSON, indented, with a
// final newline.
func (d *Document) CycloneDX() ([]byte, error) {
	bundleRef := "bundle:" + d.Index.Digest.String()
	bom := cdxBOM{
		Schema: "http://cyclonedx.org/schema/bom-1.6.schema.json", BOMFormat: "CycloneDX", SpecVersion: "1.6",
		SerialNumber: "urn:uuid:" + uuid5("shoebox:cyclonedx:"+d.Index.Digest.String()), Version: 1,
	}
	bom.Metadata = cdxMetadata{
		Timestamp: d.created(),
		Tools:     cdxTools{Components: []cdxComponent{{Type: "application", Name: d.ToolName, Version: d.ToolVersion}}},
		Component: cdxComponent{Type: "data", BOMRef: bundleRef, Name: d.Name, Version: d.Index.Digest.String(),
			Description: "shoebox bundle: Julia registry snapshots, packages and artifacts as OCI artifacts",
			Hashes:      []cdxHash{{Alg: "SHA-256", Content: d.Index.Digest.Encoded()}}},
	}
	props := []cdxProp{{"shoebox:bundle:digest", d.Index.Digest.String()}, {"shoebox:bundle:media-type", d.Index.MediaType}}
	for _, k := range sortedKeys(d.Annotations) {
		if strings.HasPrefix(k, "dev.shoebox.bundle.") {
			props = append(props, cdxProp{"shoebox:bundle:" + strings.TrimPrefix(k, "dev.shoebox.bundle."), d.Annotations[k]})
		}
	}
	if d.AdvisoryCount > 0 {
		props = append(props, cdxProp{"shoebox:advisories", strconv.Itoa(d.AdvisoryCount)})
	}
	for _, r := range d.Provenance {
		props = append(props, cdxProp{PropProvenance, r.Digest.String() + " (unsigned: the sources it names are the pusher's word; an attestation of this SBOM signs them)"})
	}
	bom.Metadata.Properties = props

	var all []string
	for _, c := range d.Components {
		all = append(all, c.ref)
		bom.Components = append(bom.Components, cdxComponentOf(c))
		bom.Dependencies = append(bom.Dependencies, cdxDependency{Ref: c.ref, DependsOn: nonNil(c.DependsOn)})
	}
	bom.Dependencies = append([]cdxDependency{{Ref: bundleRef, DependsOn: nonNil(all)}}, bom.Dependencies...)
	bom.Vulnerabilities = d.cdxVulnerabilities()
	return marshal(bom)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func cdxComponentOf(c *Component) cdxComponent {
	out := cdxComponent{BOMRef: c.ref, Name: c.Name, Hashes: []cdxHash{{Alg: "SHA-256", Content: c.SHA256}}}
	props := []cdxProp{{PropKind, string(c.Kind)}, {PropTreeHash, c.TreeHash}}
	switch c.Kind {
	case bundle.KindRegistry:
		out.Type, out.Version = "data", c.TreeHash
		out.Description = "Julia registry snapshot"
		props = append(props, cdxProp{PropUUID, c.UUID.String()})
	case bundle.KindPackage:
		out.Type, out.Version, out.Purl = "library", c.Version, c.Purl()
		props = append(props, cdxProp{PropUUID, c.UUID.String()})
		if c.Registry != "" {
			props = append(props, cdxProp{PropRegistry, c.Registry})
		}
		if c.Repo != "" {
			out.ExternalReferences = append(out.ExternalReferences, cdxExtRef{URL: c.Repo, Type: "vcs"})
		}
	case bundle.KindAdvisories:
		out.Type, out.Version = "data", c.TreeHash
		out.Description = "OSV security advisories carried with the bundle"
	case bundle.KindArtifact:
		out.Type, out.Version = "file", c.TreeHash
		out.Description = "Julia artifact"
		if c.Platform != "" {
			props = append(props, cdxProp{PropPlatform, c.Platform})
		}
		for _, dl := range c.Downloads {
			r := cdxExtRef{URL: dl.URL, Type: "distribution", Comment: "Artifacts.toml download"}
			if dl.SHA256 != "" {
				r.Hashes = []cdxHash{{Alg: "SHA-256", Content: dl.SHA256}}
			}
			out.ExternalReferences = append(out.ExternalReferences, r)
		}
	}
	// Where the pusher got the tarball: a distribution reference whose
	// hash is the tarball's (an Artifacts.toml download it was fetched
	// from says both).
	for _, s := range c.Sources {
		if s.URL == "" {
			continue
		}
		comment := sourcePhrase(s)
		comment = strings.ToUpper(comment[:1]) + comment[1:] + ", " + sourceNote(s)
		if i := slices.IndexFunc(out.ExternalReferences, func(r cdxExtRef) bool { return r.URL == s.URL && r.Type == "distribution" }); i >= 0 {
			out.ExternalReferences[i].Comment += "; " + comment
			continue
		}
		out.ExternalReferences = append(out.ExternalReferences, cdxExtRef{URL: s.URL, Type: "distribution", Comment: comment,
			Hashes: []cdxHash{{Alg: "SHA-256", Content: c.SHA256}}})
	}
	for _, s := range c.Sources {
		v := string(s.Method)
		if s.URL != "" {
			v += " " + s.URL
		}
		props = append(props, cdxProp{PropSource, v})
	}
	props = append(props, cdxProp{PropManifest, c.Manifest}, cdxProp{PropSize, strconv.FormatInt(c.Size, 10)})
	out.Properties = props
	return out
}

// osvURL is where an advisory can be read online.
func osvURL(id string) string { return "https://osv.dev/vulnerability/" + id }

func cdxMethod(version string) string {
	switch version {
	case "2.0":
		return "CVSSv2"
	case "3.0":
		return "CVSSv3"
	case "3.1":
		return "CVSSv31"
	case "4.0":
		return "CVSSv4"
	}
	return "other"
}

// cdxVulnerabilities groups the findings by advisory: one vulnerability
// per advisory, affecting every component version it matched.
func (d *Document) cdxVulnerabilities() []cdxVulnerability {
	var out []cdxVulnerability
	index := map[string]int{}
	fixes := map[string][]string{}
	for _, f := range d.Findings {
		if f.Fixed != "" {
			fixes[f.Advisory.ID] = append(fixes[f.Advisory.ID], f.Name+" "+f.Version+" → "+f.Fixed)
		}
		ref := advisory.Purl{Name: f.Name, Version: f.Version, UUID: f.UUID, HasUUID: !f.UUID.IsZero()}.String()
		aff := cdxAffect{Ref: ref, Versions: []cdxAffectedVer{{Version: f.Version, Status: "affected"}}}
		if i, ok := index[f.Advisory.ID]; ok {
			out[i].Affects = append(out[i].Affects, aff)
			continue
		}
		a := f.Advisory
		v := cdxVulnerability{BOMRef: "vuln:" + a.ID, ID: a.ID, Source: &cdxSource{Name: "OSV", URL: osvURL(a.ID)},
			Description: a.Title(), Detail: a.Details, Published: a.Published, Updated: a.Modified, Affects: []cdxAffect{aff}}
		for _, id := range a.IDs()[1:] {
			v.References = append(v.References, cdxVulnRef{ID: id, Source: cdxSource{Name: sourceOf(id), URL: osvURL(id)}})
		}
		for _, s := range a.Severity {
			sc, err := cvss.Parse(s.Score)
			if err != nil {
				continue
			}
			v.Ratings = append(v.Ratings, cdxRating{Score: sc.Value, Severity: sc.Severity.String(), Method: cdxMethod(sc.Version), Vector: s.Score})
		}
		for _, r := range a.References {
			if r.Type == "ADVISORY" || r.Type == "WEB" && strings.Contains(r.URL, "/advisories/") {
				v.Advisories = append(v.Advisories, cdxAdvisory{URL: r.URL})
			}
		}
		index[a.ID] = len(out)
		out = append(out, v)
	}
	for i := range out {
		if fx := fixes[out[i].ID]; len(fx) > 0 {
			slices.Sort(fx)
			out[i].Recommendation = "Upgrade to the fixed version: " + strings.Join(slices.Compact(fx), "; ") + "."
		}
		slices.SortFunc(out[i].Affects, func(a, b cdxAffect) int { return strings.Compare(a.Ref, b.Ref) })
	}
	slices.SortFunc(out, func(a, b cdxVulnerability) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func sourceOf(id string) string {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return "NVD"
	case strings.HasPrefix(id, "GHSA-"):
		return "GitHub"
	case strings.HasPrefix(id, "EUVD-"):
		return "ENISA"
	}
	return "OSV"
}
