package advisory

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/shoebox-jl/shoebox/pkg/cvss"
	"github.com/shoebox-jl/shoebox/pkg/julia"
)

const sampleDir = "../../testdata/advisories"

var (
	zlib     = julia.MustParseUUID("83775a58-1f1d-513f-b197-d71354ab007a")
	xz       = julia.MustParseUUID("ffd25f8a-64ca-5728-b0f7-c24cf3aae800")
	httpUUID = julia.MustParseUUID("cd3eb016-35fb-5094-929b-558a96fad6f3")
)

func loadSample(t *testing.T) *Database {
	t.Helper()
	db, err := Load(os.DirFS(sampleDir))
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() != 8 {
		t.Fatalf("%d advisories, want 8", db.Len())
	}
	return db
}

// got renders findings as "ID fixed severity" per query, for comparison.
func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Advisory.ID+" "+f.Name+"@"+f.Version+" fixed:"+f.Fixed+" "+f.Rating.String())
	}
	return out
}

// TestMatch_RealSample checks the real advisories against versions that
// registry-mini lists, where only Julia's VersionNumber order (build
// numbers count) gives the right answer.
func TestMatch_RealSample(t *testing.T) {
	t.Parallel()
	db := loadSample(t)
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"build before the fixed build is affected", Query{"Zlib_jll", zlib, "1.2.12+1"}, []string{
			"JLSEC-2026-478 Zlib_jll@1.2.12+1 fixed:1.2.13+0 critical (9.8, CVSS 3.1)",
			"JLSEC-2026-479 Zlib_jll@1.2.12+1 fixed:1.3.1+0 critical (9.8, CVSS 3.1)",
			"JLSEC-2026-477 Zlib_jll@1.2.12+1 fixed:1.2.12+3 high (7.5, CVSS 3.1)",
		}},
		{"the fixed build is fixed and opens the next range", Query{"Zlib_jll", zlib, "1.2.12+3"}, []string{
			"JLSEC-2026-478 Zlib_jll@1.2.12+3 fixed:1.2.13+0 critical (9.8, CVSS 3.1)",
			"JLSEC-2026-479 Zlib_jll@1.2.12+3 fixed:1.3.1+0 critical (9.8, CVSS 3.1)",
			"JLSEC-2026-480 Zlib_jll@1.2.12+3 fixed:1.3.2+0 medium (5.5, CVSS 3.1)",
		}},
		{"plain 1.2.12 sorts before every build", Query{"Zlib_jll", zlib, "1.2.12"}, []string{
			"JLSEC-2026-478 Zlib_jll@1.2.12 fixed:1.2.13+0 critical (9.8, CVSS 3.1)",
			"JLSEC-2026-479 Zlib_jll@1.2.12 fixed:1.3.1+0 critical (9.8, CVSS 3.1)",
			"JLSEC-2026-477 Zlib_jll@1.2.12 fixed:1.2.12+3 high (7.5, CVSS 3.1)",
		}},
		{"newest zlib in registry-mini", Query{"Zlib_jll", zlib, "1.2.13+1"}, []string{
			"JLSEC-2026-479 Zlib_jll@1.2.13+1 fixed:1.3.1+0 critical (9.8, CVSS 3.1)",
			"JLSEC-2026-480 Zlib_jll@1.2.13+1 fixed:1.3.2+0 medium (5.5, CVSS 3.1)",
		}},
		{"fixed everywhere", Query{"Zlib_jll", zlib, "1.3.2+0"}, nil},
		{"xz backdoor: introduced 5.6.0+0", Query{"XZ_jll", xz, "5.6.0+0"}, []string{
			"JLSEC-2026-62 XZ_jll@5.6.0+0 fixed:5.6.3+0 critical (10.0, CVSS 3.1)",
			"JLSEC-2026-462 XZ_jll@5.6.0+0 fixed:5.8.3+0 medium (5.3, CVSS 3.1)",
		}},
		{"xz before the backdoor range", Query{"XZ_jll", xz, "5.4.6+0"}, []string{
			"JLSEC-2026-462 XZ_jll@5.4.6+0 fixed:5.8.3+0 medium (5.3, CVSS 3.1)",
		}},
		{"xz 5.6.0 without a build is below introduced 5.6.0+0", Query{"XZ_jll", xz, "5.6.0"}, []string{
			"JLSEC-2026-462 XZ_jll@5.6.0 fixed:5.8.3+0 medium (5.3, CVSS 3.1)",
		}},
		{"xz after the backdoor range", Query{"XZ_jll", xz, "5.6.3+0"}, []string{
			"JLSEC-2026-462 XZ_jll@5.6.3+0 fixed:5.8.3+0 medium (5.3, CVSS 3.1)",
		}},
		{"two advisories, different fixes", Query{"XZ_jll", xz, "5.2.4+3"}, []string{
			"JLSEC-2026-61 XZ_jll@5.2.4+3 fixed:5.2.5+0 high (8.8, CVSS 3.1)",
			"JLSEC-2026-462 XZ_jll@5.2.4+3 fixed:5.8.3+0 medium (5.3, CVSS 3.1)",
		}},
		{"CVSS v4 only", Query{"HTTP", httpUUID, "1.10.16"}, []string{
			"JLSEC-2025-1 HTTP@1.10.16 fixed:1.10.17 high (7.7, CVSS 4.0)",
		}},
		{"HTTP fixed", Query{"HTTP", httpUUID, "1.10.17"}, nil},
		{"same name, another uuid: another package", Query{"Zlib_jll", julia.MustParseUUID("00000000-1f1d-513f-b197-d71354ab007a"), "1.2.12+1"}, nil},
		{"no uuid: by name", Query{"URIs", julia.UUID{}, "1.5.2"}, []string{
			"JLSEC-2025-1 URIs@1.5.2 fixed:1.6.0 high (7.7, CVSS 4.0)",
		}},
		{"no fix known", Query{"GCCBootstrap_jll", julia.MustParseUUID("7627cfbf-f290-59f7-b5e8-595c7b62b918"), "12.1.0+0"}, []string{
			"JLSEC-2026-478 GCCBootstrap_jll@12.1.0+0 fixed: critical (9.8, CVSS 3.1)",
			"JLSEC-2026-479 GCCBootstrap_jll@12.1.0+0 fixed: critical (9.8, CVSS 3.1)",
			"JLSEC-2026-477 GCCBootstrap_jll@12.1.0+0 fixed: high (7.5, CVSS 3.1)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Match([]Query{tt.q})
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(got); !slices.Equal(g, tt.want) {
				t.Errorf("Match =\n  %s\nwant\n  %s", strings.Join(g, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestAdvisory_IDsAndTitle(t *testing.T) {
	t.Parallel()
	db := loadSample(t)
	byID := map[string]*Advisory{}
	for _, a := range db.Advisories() {
		byID[a.ID] = a
	}
	if got := byID["JLSEC-2025-1"].IDs(); !slices.Equal(got, []string{"JLSEC-2025-1", "CVE-2025-52479", "GHSA-4g68-4pxg-mw93"}) {
		t.Errorf("IDs = %v", got)
	}
	if got := byID["JLSEC-2026-62"].IDs(); !slices.Equal(got, []string{"JLSEC-2026-62", "CVE-2024-3094"}) {
		t.Errorf("IDs = %v", got)
	}
	if got := byID["JLSEC-2026-62"].Title(); got != "Malicious code was discovered in the upstream tarballs of xz, starting with version 5.6.0." {
		t.Errorf("Title = %q", got)
	}
	if got := byID["JLSEC-2025-1"].Title(); got != "CR/LF injection in URIs.jl (also affects HTTP.jl)" {
		t.Errorf("Title = %q", got)
	}
}

// variant returns the sample advisory file with edits applied to its text.
func variant(t *testing.T, file string, edits ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sampleDir, file))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("%s has no %q", file, edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	return []byte(s)
}

func mustParse(t *testing.T, b []byte) *Advisory {
	t.Helper()
	a, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestMatch_Cases covers what the real sample lacks: withdrawn advisories,
// several ranges for one package, last_affected, limit and explicit
// versions, each derived from a real advisory.
func TestMatch_Cases(t *testing.T) {
	t.Parallel()
	withdrawn := mustParse(t, variant(t, "JLSEC-2026-62.json",
		`"id": "JLSEC-2026-62",`, `"id": "JLSEC-2026-62", "withdrawn": "2026-08-01T00:00:00Z",`))
	// JLSEC-2026-480's Zlib_jll range split in two: [1.2.12+3, 1.2.13+0) and [1.3.0+0, 1.3.2+0)
	twoRanges := mustParse(t, variant(t, "JLSEC-2026-480.json",
		`"introduced": "1.2.12+3"
                        },
                        {
                            "fixed": "1.3.2+0"
                        }`, `"introduced": "1.2.12+3"
                        },
                        {
                            "fixed": "1.2.13+0"
                        }
                    ]
                },
                {
                    "type": "ECOSYSTEM",
                    "events": [
                        {
                            "fixed": "1.3.2+0"
                        },
                        {
                            "introduced": "1.3.0+0"
                        }`))
	lastAffected := mustParse(t, variant(t, "JLSEC-2026-61.json",
		`"fixed": "5.2.5+0"`, `"last_affected": "5.2.4+3"`))
	limit := mustParse(t, variant(t, "JLSEC-2026-61.json",
		`"fixed": "5.2.5+0"`, `"limit": "5.2.5+0"`))
	versions := mustParse(t, variant(t, "JLSEC-2026-61.json",
		`"fixed": "5.2.5+0"
                        }
                    ]
                }
            ],
            "package": {
                "ecosystem": "Julia",
                "name": "XZ_jll",`, `"fixed": "5.2.5+0"
                        }
                    ]
                }
            ],
            "versions": ["5.4.4+0"],
            "package": {
                "ecosystem": "Julia",
                "name": "XZ_jll",`))
	tests := []struct {
		name  string
		a     *Advisory
		pkg   julia.UUID
		name2 string
		v     string
		want  bool
		fix   string
	}{
		{"withdrawn never matches", withdrawn, xz, "XZ_jll", "5.6.0+0", false, ""},
		{"first of two ranges", twoRanges, zlib, "Zlib_jll", "1.2.12+4", true, "1.2.13+0"},
		{"between the two ranges", twoRanges, zlib, "Zlib_jll", "1.2.13+1", false, ""},
		{"second range, events out of order", twoRanges, zlib, "Zlib_jll", "1.3.1+0", true, "1.3.2+0"},
		{"second range, fixed", twoRanges, zlib, "Zlib_jll", "1.3.2+0", false, ""},
		{"last_affected itself", lastAffected, xz, "XZ_jll", "5.2.4+3", true, ""},
		{"after last_affected", lastAffected, xz, "XZ_jll", "5.2.4+4", false, ""},
		{"below the limit", limit, xz, "XZ_jll", "5.2.4+3", true, ""},
		{"at the limit", limit, xz, "XZ_jll", "5.2.5+0", false, ""},
		{"explicit version", versions, xz, "XZ_jll", "5.4.4+0", true, ""},
		{"explicit version: build counts", versions, xz, "XZ_jll", "5.4.4+1", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, fix, _ := tt.a.Affects(tt.name2, tt.pkg, julia.MustParseVersion(tt.v))
			if ok != tt.want || fix != tt.fix {
				t.Errorf("Affects(%s@%s) = %v, %q; want %v, %q", tt.name2, tt.v, ok, fix, tt.want, tt.fix)
			}
		})
	}
	db, err := New([]*Advisory{withdrawn, twoRanges})
	if err != nil {
		t.Fatal(err)
	}
	if db.Withdrawn() != 1 {
		t.Errorf("Withdrawn = %d, want 1", db.Withdrawn())
	}
	if fs, _ := db.Match([]Query{{"XZ_jll", xz, "5.6.1+0"}}); len(fs) != 0 {
		t.Errorf("withdrawn advisory matched: %v", ids(fs))
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sev  []Severity
		want string
	}{
		{[]Severity{{"CVSS_V2", "AV:N/AC:L/Au:N/C:C/I:C/A:C"}, {"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}}, "high (7.5, CVSS 3.1)"},
		{[]Severity{{"CVSS_V2", "AV:N/AC:L/Au:N/C:C/I:C/A:C"}}, "high (10.0, CVSS 2.0)"},
		{[]Severity{{"CVSS_V3", "garbage"}, {"Ubuntu", "high"}}, "unknown"},
		{nil, "unknown"},
	} {
		a := &Advisory{ID: "X", Modified: "x", Severity: tt.sev}
		if got := a.Rate().String(); got != tt.want {
			t.Errorf("Rate(%v) = %s, want %s", tt.sev, got, tt.want)
		}
	}
	unknown := Rating{}
	if !unknown.AtLeast(cvss.SeverityCritical) {
		t.Error("an unknown rating must reach every threshold")
	}
	med := Rating{Known: true, Severity: cvss.SeverityMedium}
	if med.AtLeast(cvss.SeverityHigh) || !med.AtLeast(cvss.SeverityMedium) {
		t.Error("AtLeast(medium) wrong")
	}
}

func TestParse_Invalid(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		b    []byte
		want string
	}{
		"not JSON":           {[]byte("{"), "decoding OSV JSON"},
		"two records":        {[]byte(`{"id":"A","modified":"x"} {}`), "data after the record"},
		"no id":              {[]byte(`{"modified":"x"}`), `id ""`},
		"id with slash":      {[]byte(`{"id":"../x","modified":"x"}`), `id "../x"`},
		"no modified":        {[]byte(`{"id":"A"}`), "no modified time"},
		"bad version":        {variant(t, "JLSEC-2026-62.json", `"fixed": "5.6.3+0"`, `"fixed": "5.6.3 beta"`), "advisory JLSEC-2026-62: affected[0] XZ_jll: ranges[0].events[1] fixed"},
		"v prefix":           {variant(t, "JLSEC-2026-62.json", `"fixed": "5.6.3+0"`, `"fixed": "v5.6.3"`), "no leading v"},
		"two kinds":          {variant(t, "JLSEC-2026-62.json", `"fixed": "5.6.3+0"`, `"fixed": "5.6.3+0", "limit": "6"`), "want exactly one of"},
		"no events":          {[]byte(`{"id":"A","modified":"x","affected":[{"package":{"ecosystem":"Julia","name":"X"},"ranges":[{"type":"SEMVER","events":[]}]}]}`), "no events"},
		"purl names another": {variant(t, "JLSEC-2026-62.json", `"purl": "pkg:julia/XZ_jll?`, `"purl": "pkg:julia/Zlib_jll?`), `names "Zlib_jll"`},
		"purl bad uuid":      {variant(t, "JLSEC-2026-62.json", `uuid=ffd25f8a`, `uuid=FFD25F8A`), "invalid uuid"},
		"too big":            {append([]byte(`{"id":"A","modified":"x","details":"`), make([]byte, MaxSize)...), "limit"},
	} {
		_, err := Parse(tt.b)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse = %v, want ErrInvalid with %q", name, err, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	good, _ := os.ReadFile(filepath.Join(sampleDir, "JLSEC-2026-62.json"))
	fsys := fstest.MapFS{
		"osv/J/JLSEC-2026-62.json": {Data: good},
		"osv/README.md":            {Data: []byte("not an advisory")},
		".git/x.json":              {Data: []byte("{")},
	}
	db, err := Load(fsys)
	if err != nil || db.Len() != 1 {
		t.Fatalf("Load = %v, %v; want 1 advisory", db, err)
	}
	fsys["osv/dup.json"] = &fstest.MapFile{Data: good}
	if _, err := Load(fsys); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "JLSEC-2026-62 given twice") {
		t.Errorf("duplicate: %v", err)
	}
	delete(fsys, "osv/dup.json")
	fsys["osv/bad.json"] = &fstest.MapFile{Data: []byte(`{"id":"B"}`)}
	if _, err := Load(fsys); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "osv/bad.json: advisory B: no modified time") {
		t.Errorf("bad file: %v", err)
	}
}

func TestPurl(t *testing.T) {
	t.Parallel()
	p := Purl{Name: "Zlib_jll", Version: "1.2.12+3", UUID: zlib, HasUUID: true}
	const want = "pkg:julia/Zlib_jll@1.2.12%2B3?uuid=83775a58-1f1d-513f-b197-d71354ab007a"
	if p.String() != want {
		t.Errorf("String = %s, want %s", p, want)
	}
	back, err := ParsePurl(want)
	if err != nil || back != p {
		t.Errorf("ParsePurl = %+v, %v", back, err)
	}
	for _, bad := range []string{"pkg:npm/x", "pkg:julia/", "pkg:julia/a%2Fb", "pkg:julia/X?uuid=nope", "pkg:julia/X@"} {
		if _, err := ParsePurl(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePurl(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestMatch_BadVersion(t *testing.T) {
	t.Parallel()
	db := loadSample(t)
	if _, err := db.Match([]Query{{"Zlib_jll", zlib, "one"}}); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "Zlib_jll@one") {
		t.Errorf("Match = %v", err)
	}
}
