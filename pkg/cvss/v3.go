package cvss

import "math"

// v3Metrics are the metrics CVSS v3.0 and v3.1 define (§2–4), with their
// permitted values.
var v3Metrics = letters(map[string]string{
	// base
	"AV": "NALP", "AC": "LH", "PR": "NLH", "UI": "NR", "S": "UC", "C": "HLN", "I": "HLN", "A": "HLN",
	// temporal
	"E": "XUPFH", "RL": "XOTWU", "RC": "XURC",
	// environmental
	"CR": "XLMH", "IR": "XLMH", "AR": "XLMH",
	"MAV": "XNALP", "MAC": "XLH", "MPR": "XNLH", "MUI": "XNR", "MS": "XUC",
	"MC": "XNLH", "MI": "XNLH", "MA": "XNLH",
})

// parseV3 computes a v3.0 or v3.1 base score (v3.1 §7.1).
func parseV3(vector string) (Score, error) {
	version := vector[len("CVSS:") : len("CVSS:")+3]
	m, err := metrics(vector, vector[len("CVSS:3.1/"):], v3Metrics)
	if err != nil {
		return Score{}, err
	}
	if err := require(vector, m, "AV", "AC", "PR", "UI", "S", "C", "I", "A"); err != nil {
		return Score{}, err
	}
	changed := m["S"] == "C"
	av := map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}[m["AV"]]
	ac := map[string]float64{"L": 0.77, "H": 0.44}[m["AC"]]
	var pr float64
	switch m["PR"] {
	case "N":
		pr = 0.85
	case "L":
		pr = 0.62
		if changed {
			pr = 0.68
		}
	case "H":
		pr = 0.27
		if changed {
			pr = 0.5
		}
	}
	ui := map[string]float64{"N": 0.85, "R": 0.62}[m["UI"]]
	cia := map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
	iss := 1 - (1-cia[m["C"]])*(1-cia[m["I"]])*(1-cia[m["A"]])
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	exploitability := 8.22 * av * ac * pr * ui
	roundup := roundupV31
	if version == "3.0" {
		roundup = func(x float64) float64 { return math.Ceil(x*10) / 10 }
	}
	var score float64
	switch {
	case impact <= 0:
		score = 0
	case changed:
		score = roundup(math.Min(1.08*(impact+exploitability), 10))
	default:
		score = roundup(math.Min(impact+exploitability, 10))
	}
	return Score{Version: version, Value: score, Severity: Rating(score), Nomenclature: "CVSS-B"}, nil
}

// roundupV31 is the Roundup function of CVSS v3.1 Appendix A: the smallest
// number, to one decimal, not less than x, computed on integers so that
// floating-point noise (4.000000000000001) does not round up.
func roundupV31(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}
