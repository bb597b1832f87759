package cvss

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParse_V3(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vector string
		want   float64
		sev    Severity
	}{
		// the real advisories of shared/testdata/advisories, with the NVD's scores
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", 5.3, SeverityMedium},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5, SeverityHigh},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, SeverityCritical},
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8, SeverityHigh},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, SeverityCritical},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H", 5.5, SeverityMedium},
		// the specification's examples (v3.1 examples document)
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, SeverityMedium},   // CVE-2013-1937 phpMyAdmin XSS
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5, SeverityHigh},     // CVE-2014-0160 Heartbleed
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1, SeverityHigh},     //
		{"CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 7.8, SeverityHigh},     // CVE-2015-1098
		{"CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 4.6, SeverityMedium},   //
		{"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:L/I:L/A:N", 5.5, SeverityMedium},   // S:C with PR:H = 0.5: 1.08 × (2.7268 + 2.2865) = 5.414 → 5.5
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9, SeverityCritical}, // PR:L scope changed = 0.68
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0, SeverityNone},
		// temporal and environmental metrics are accepted, not scored
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:C/CR:L/MAV:P", 9.8, SeverityCritical},
		// v3.0 rounds up plainly; these two agree with v3.1
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, SeverityCritical},
		{"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5, SeverityMedium},
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			got, err := Parse(tt.vector)
			if err != nil {
				t.Fatal(err)
			}
			if got.Value != tt.want || got.Severity != tt.sev || got.Version != tt.vector[5:8] || got.Nomenclature != "CVSS-B" {
				t.Errorf("Parse = %+v, want %.1f %s", got, tt.want, tt.sev)
			}
		})
	}
}

func TestRoundupV31(t *testing.T) {
	t.Parallel()
	// Appendix A: 4.000000000000001 must give 4.0, not 4.1.
	for in, want := range map[float64]float64{4.000000000000001: 4.0, 4.02: 4.1, 4.0: 4.0, 0.01: 0.1, 9.99: 10} {
		if got := roundupV31(in); got != want {
			t.Errorf("roundupV31(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestParse_V2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vector string
		want   float64
		sev    Severity
	}{
		{"AV:N/AC:L/Au:N/C:N/I:N/A:P", 5.0, SeverityMedium}, // JLSEC-2026-477 (CVE-2018-25032), NVD 5.0
		{"AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0, SeverityHigh},
		{"(AV:N/AC:M/Au:N/C:P/I:P/A:P)", 6.8, SeverityMedium},
		{"AV:L/AC:H/Au:M/C:N/I:N/A:P", 0.8, SeverityLow}, // (0.6 × 2.86275 + 0.4 × 1.24425 − 1.5) × 1.176 = 0.841
		{"AV:N/AC:L/Au:N/C:N/I:N/A:N", 0, SeverityNone},
		{"AV:N/AC:L/Au:N/C:P/I:N/A:N/E:POC/RL:OF/RC:C/CDP:LM/TD:H/CR:M/IR:ND/AR:L", 5.0, SeverityMedium},
	}
	for _, tt := range tests {
		got, err := Parse(tt.vector)
		if err != nil {
			t.Fatalf("%s: %v", tt.vector, err)
		}
		if got.Value != tt.want || got.Severity != tt.sev || got.Version != "2.0" {
			t.Errorf("Parse(%s) = %+v, want %.1f %s", tt.vector, got, tt.want, tt.sev)
		}
	}
}

// TestParse_V4Reference compares every score with the FIRST reference
// calculator's, for 604 vectors (testdata/v4-reference.tsv).
func TestParse_V4Reference(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/v4-reference.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		cols := strings.Split(line, "\t")
		want, err := strconv.ParseFloat(cols[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(cols[0])
		if err != nil {
			t.Errorf("%s: %v", cols[0], err)
			continue
		}
		var v v4Vector = map[string]string{}
		for k := range v4Metrics {
			v[k] = "X"
		}
		for p := range strings.SplitSeq(cols[0][len("CVSS:4.0/"):], "/") {
			k, val, _ := strings.Cut(p, ":")
			v[k] = val
		}
		if mv := mvKey(v.macroVector()); mv != cols[1] {
			t.Errorf("%s: MacroVector %s, want %s", cols[0], mv, cols[1])
		}
		if got.Value != want || got.Severity != Rating(want) {
			t.Errorf("%s: %v, want %v", cols[0], got.Value, want)
		}
		n++
	}
	if n != 604 {
		t.Fatalf("%d vectors, want 604", n)
	}
}

func TestParse_V4Nomenclature(t *testing.T) {
	t.Parallel()
	base := "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
	for suffix, want := range map[string]string{
		"": "CVSS-B", "/E:X/CR:X/S:P/U:Amber": "CVSS-B", "/E:P": "CVSS-BT", "/CR:L": "CVSS-BE",
		"/MAV:L/E:U": "CVSS-BTE",
	} {
		got, err := Parse(base + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if got.Nomenclature != want {
			t.Errorf("%s: %s, want %s", suffix, got.Nomenclature, want)
		}
	}
}

func TestParse_Invalid(t *testing.T) {
	t.Parallel()
	for vector, why := range map[string]string{
		"":              "not KEY:VALUE",
		"CVSS:3.1":      "unsupported version",
		"CVSS:5.0/AV:N": "unsupported version",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H":                        "missing base metric A",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:H":                "metric A given twice",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:Q":                    `metric A has no value "Q"`,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/XX:Y":               "unknown metric XX",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/":                   `metric "" is not KEY:VALUE`,
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N":      "missing base metric SA",
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N": `metric SI has no value "S"`,
		"AV:N/AC:L/Au:N/C:N/I:N":                                          "missing base metric A",
		"AV:N/AC:L/Au:N/C:N/I:N/A:P/E:X":                                  `metric E has no value "X"`,
	} {
		_, err := Parse(vector)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), why) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid saying %q", vector, err, why)
		}
	}
}

func TestSeverity(t *testing.T) {
	t.Parallel()
	for score, want := range map[float64]Severity{0: SeverityNone, 0.1: SeverityLow, 3.9: SeverityLow, 4: SeverityMedium,
		6.9: SeverityMedium, 7: SeverityHigh, 8.9: SeverityHigh, 9: SeverityCritical, 10: SeverityCritical} {
		if got := Rating(score); got != want {
			t.Errorf("Rating(%v) = %s, want %s", score, got, want)
		}
	}
	for _, s := range []string{"none", "LOW", "Medium", "high", "critical"} {
		v, err := ParseSeverity(s)
		if err != nil || !strings.EqualFold(v.String(), s) {
			t.Errorf("ParseSeverity(%q) = %v, %v", s, v, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("ParseSeverity(severe) succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:P/MSI:S")
	f.Add("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H")
	f.Add("AV:N/AC:L/Au:N/C:N/I:N/A:P")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if got.Value < 0 || got.Value > 10 || got.Value*10 != float64(int(got.Value*10+0.5)) {
			t.Fatalf("%q: score %v out of range or not one decimal", s, got.Value)
		}
		if got.Version != "2.0" && got.Severity != Rating(got.Value) {
			t.Fatalf("%q: severity %s for %v", s, got.Severity, got.Value)
		}
	})
}
