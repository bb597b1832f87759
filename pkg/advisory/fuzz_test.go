package advisory

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// FuzzParse feeds OSV records (seeded with the real sample) to Parse and
// matches whatever parses against a few versions: nothing may panic, and a
// withdrawn advisory never matches.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(sampleDir, "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"A","modified":"x","withdrawn":"y","affected":[{"package":{"ecosystem":"Julia","name":"X"},"versions":["1.0.0"],"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"last_affected":"1.2.3+4"},{"limit":"2"}]}]}]}`))
	versions := []julia.Version{julia.MustParseVersion("0.0.0"), julia.MustParseVersion("1.2.12+1"), julia.MustParseVersion("5.6.0+0"), julia.MustParseVersion("1.0.0-rc1+2")}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse(b)
		if err != nil {
			return
		}
		_ = a.Rate()
		_ = a.Title()
		for _, af := range a.Affected {
			for _, v := range versions {
				ok, _, _ := a.Affects(af.Package.Name, julia.UUID{}, v)
				if ok && a.Withdrawn != "" {
					t.Fatalf("withdrawn advisory %s matched", a.ID)
				}
			}
		}
	})
}

func FuzzParsePurl(f *testing.F) {
	f.Add("pkg:julia/Zlib_jll@1.2.12%2B3?uuid=83775a58-1f1d-513f-b197-d71354ab007a")
	f.Add("pkg:julia/HTTP?uuid=cd3eb016-35fb-5094-929b-558a96fad6f3#sub")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePurl(s)
		if err != nil {
			return
		}
		back, err := ParsePurl(p.String())
		if err != nil || back != p {
			t.Fatalf("%q: round trip %q gave %+v, %v", s, p.String(), back, err)
		}
	})
}
