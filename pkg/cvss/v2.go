package cvss

import "strings"

// v2Metrics are the metrics CVSS v2.0 defines (guide §2), with their
// permitted values.
var v2Metrics = map[string][]string{
	// base
	"AV": {"L", "A", "N"}, "AC": {"H", "M", "L"}, "Au": {"M", "S", "N"},
	"C": {"N", "P", "C"}, "I": {"N", "P", "C"}, "A": {"N", "P", "C"},
	// temporal
	"E": {"U", "POC", "F", "H", "ND"}, "RL": {"OF", "TF", "W", "U", "ND"}, "RC": {"UC", "UR", "C", "ND"},
	// environmental
	"CDP": {"N", "L", "LM", "MH", "H", "ND"}, "TD": {"N", "L", "M", "H", "ND"},
	"CR": {"L", "M", "H", "ND"}, "IR": {"L", "M", "H", "ND"}, "AR": {"L", "M", "H", "ND"},
}

// parseV2 computes a CVSS v2.0 base score (guide §3.2.1).
func parseV2(vector string) (Score, error) {
	body := vector
	if strings.HasPrefix(body, "(") && strings.HasSuffix(body, ")") {
		body = body[1 : len(body)-1]
	}
	m, err := metrics(vector, body, v2Metrics)
	if err != nil {
		return Score{}, err
	}
	if err := require(vector, m, "AV", "AC", "Au", "C", "I", "A"); err != nil {
		return Score{}, err
	}
	av := map[string]float64{"L": 0.395, "A": 0.646, "N": 1.0}[m["AV"]]
	ac := map[string]float64{"H": 0.35, "M": 0.61, "L": 0.71}[m["AC"]]
	au := map[string]float64{"M": 0.45, "S": 0.56, "N": 0.704}[m["Au"]]
	cia := map[string]float64{"N": 0, "P": 0.275, "C": 0.660}
	impact := 10.41 * (1 - (1-cia[m["C"]])*(1-cia[m["I"]])*(1-cia[m["A"]]))
	exploitability := 20 * av * ac * au
	f := 1.176
	if impact == 0 {
		f = 0
	}
	score := round1((0.6*impact + 0.4*exploitability - 1.5) * f)
	if score < 0 {
		score = 0
	}
	return Score{Version: "2.0", Value: score, Severity: ratingV2(score), Nomenclature: "CVSS-B"}, nil
}
