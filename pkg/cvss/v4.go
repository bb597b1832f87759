package cvss

import (
	"math"
	"strings"
)

// v4Metrics are the metrics CVSS v4.0 defines (§2–4), with their permitted
// values: base, threat (E), environmental (CR…MSA) and supplemental (S…U).
var v4Metrics = func() map[string][]string {
	m := letters(map[string]string{
		"AV": "NALP", "AC": "LH", "AT": "NP", "PR": "NLH", "UI": "NPA",
		"VC": "HLN", "VI": "HLN", "VA": "HLN", "SC": "HLN", "SI": "HLN", "SA": "HLN",
		"E":  "XAPU",
		"CR": "XHML", "IR": "XHML", "AR": "XHML",
		"MAV": "XNALP", "MAC": "XLH", "MAT": "XNP", "MPR": "XNLH", "MUI": "XNPA",
		"MVC": "XHLN", "MVI": "XHLN", "MVA": "XHLN", "MSC": "XHLN", "MSI": "XSHLN", "MSA": "XSHLN",
		"S": "XNP", "AU": "XNY", "R": "XAUI", "V": "XDC", "RE": "XLMH",
	})
	m["U"] = []string{"X", "Clear", "Green", "Amber", "Red"}
	return m
}()

var v4Base = []string{"AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"}

// v4Vector is a parsed v4.0 vector: every metric, "X" where not given.
type v4Vector map[string]string

// eff is the value a metric takes in scoring (the reference calculator's
// m()): E:X scores as A, CR/IR/AR:X as H, and a modified base metric
// other than X replaces the base metric.
func (v v4Vector) eff(metric string) string {
	sel := v[metric]
	switch metric {
	case "E":
		if sel == "X" {
			return "A"
		}
	case "CR", "IR", "AR":
		if sel == "X" {
			return "H"
		}
	}
	if mod, ok := v["M"+metric]; ok && mod != "X" {
		return mod
	}
	return sel
}

// macroVector returns the six EQ levels (§8.1, Table 24–29).
func (v v4Vector) macroVector() [6]int {
	is := func(metric, val string) bool { return v.eff(metric) == val }
	var eq [6]int
	switch {
	case is("AV", "N") && is("PR", "N") && is("UI", "N"):
		eq[0] = 0
	case (is("AV", "N") || is("PR", "N") || is("UI", "N")) && !is("AV", "P"):
		eq[0] = 1
	default:
		eq[0] = 2
	}
	if !(is("AC", "L") && is("AT", "N")) {
		eq[1] = 1
	}
	switch {
	case is("VC", "H") && is("VI", "H"):
		eq[2] = 0
	case is("VC", "H") || is("VI", "H") || is("VA", "H"):
		eq[2] = 1
	default:
		eq[2] = 2
	}
	switch {
	case v.eff("MSI") == "S" || v.eff("MSA") == "S":
		eq[3] = 0
	case is("SC", "H") || is("SI", "H") || is("SA", "H"):
		eq[3] = 1
	default:
		eq[3] = 2
	}
	switch v.eff("E") {
	case "A":
		eq[4] = 0
	case "P":
		eq[4] = 1
	default: // U
		eq[4] = 2
	}
	if !((is("CR", "H") && is("VC", "H")) || (is("IR", "H") && is("VI", "H")) || (is("AR", "H") && is("VA", "H"))) {
		eq[5] = 1
	}
	return eq
}

func mvKey(eq [6]int) string {
	b := make([]byte, 6)
	for i, e := range eq {
		b[i] = byte('0' + e)
	}
	return string(b)
}

// lookup returns the MacroVector's score, NaN when it does not exist (as
// the reference calculator's undefined does in arithmetic).
func lookup(eq [6]int) float64 {
	for _, e := range eq {
		if e < 0 || e > 9 {
			return math.NaN()
		}
	}
	if s, ok := v4Lookup[mvKey(eq)]; ok {
		return s
	}
	return math.NaN()
}

// Severity levels of each metric value, for the severity distance (§8.2).
var v4Levels = map[string]map[string]float64{
	"AV": {"N": 0.0, "A": 0.1, "L": 0.2, "P": 0.3},
	"PR": {"N": 0.0, "L": 0.1, "H": 0.2},
	"UI": {"N": 0.0, "P": 0.1, "A": 0.2},
	"AC": {"L": 0.0, "H": 0.1},
	"AT": {"N": 0.0, "P": 0.1},
	"VC": {"H": 0.0, "L": 0.1, "N": 0.2},
	"VI": {"H": 0.0, "L": 0.1, "N": 0.2},
	"VA": {"H": 0.0, "L": 0.1, "N": 0.2},
	"SC": {"H": 0.1, "L": 0.2, "N": 0.3},
	"SI": {"S": 0.0, "H": 0.1, "L": 0.2, "N": 0.3},
	"SA": {"S": 0.0, "H": 0.1, "L": 0.2, "N": 0.3},
	"CR": {"H": 0.0, "M": 0.1, "L": 0.2},
	"IR": {"H": 0.0, "M": 0.1, "L": 0.2},
	"AR": {"H": 0.0, "M": 0.1, "L": 0.2},
}

// The highest-severity vectors of each EQ level (§8.2; the reference
// calculator's max_composed.js). EQ3 is indexed by EQ3 then EQ6.
var (
	v4MaxEQ1 = map[int][]string{0: {"AV:N/PR:N/UI:N"}, 1: {"AV:A/PR:N/UI:N", "AV:N/PR:L/UI:N", "AV:N/PR:N/UI:P"}, 2: {"AV:P/PR:N/UI:N", "AV:A/PR:L/UI:P"}}
	v4MaxEQ2 = map[int][]string{0: {"AC:L/AT:N"}, 1: {"AC:H/AT:N", "AC:L/AT:P"}}
	v4MaxEQ3 = map[int]map[int][]string{
		0: {0: {"VC:H/VI:H/VA:H/CR:H/IR:H/AR:H"}, 1: {"VC:H/VI:H/VA:L/CR:M/IR:M/AR:H", "VC:H/VI:H/VA:H/CR:M/IR:M/AR:M"}},
		1: {0: {"VC:L/VI:H/VA:H/CR:H/IR:H/AR:H", "VC:H/VI:L/VA:H/CR:H/IR:H/AR:H"}, 1: {"VC:L/VI:H/VA:L/CR:H/IR:M/AR:H", "VC:L/VI:H/VA:H/CR:H/IR:M/AR:M", "VC:H/VI:L/VA:H/CR:M/IR:H/AR:M", "VC:H/VI:L/VA:L/CR:M/IR:H/AR:H", "VC:L/VI:L/VA:H/CR:H/IR:H/AR:M"}},
		2: {1: {"VC:L/VI:L/VA:L/CR:H/IR:H/AR:H"}},
	}
	v4MaxEQ4 = map[int][]string{0: {"SC:H/SI:S/SA:S"}, 1: {"SC:H/SI:H/SA:H"}, 2: {"SC:L/SI:L/SA:L"}}
	// v4Depth is the maximal severity distance within each EQ level (+1),
	// in steps of 0.1 (max_severity.js).
	v4DepthEQ1   = map[int]float64{0: 1, 1: 4, 2: 5}
	v4DepthEQ2   = map[int]float64{0: 1, 1: 2}
	v4DepthEQ3x6 = map[int]map[int]float64{0: {0: 7, 1: 6}, 1: {0: 8, 1: 8}, 2: {1: 10}}
	v4DepthEQ4   = map[int]float64{0: 6, 1: 5, 2: 4}
)

// parseV4 computes a CVSS v4.0 score (§8.2).
func parseV4(vector string) (Score, error) {
	m, err := metrics(vector, vector[len("CVSS:4.0/"):], v4Metrics)
	if err != nil {
		return Score{}, err
	}
	if err := require(vector, m, v4Base...); err != nil {
		return Score{}, err
	}
	v := v4Vector{}
	for k := range v4Metrics {
		v[k] = "X"
	}
	for k, val := range m {
		v[k] = val
	}
	score := v.score()
	nom := "CVSS-B"
	threat := v["E"] != "X"
	env := false
	for _, k := range []string{"CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MVC", "MVI", "MVA", "MSC", "MSI", "MSA"} {
		env = env || v[k] != "X"
	}
	switch {
	case threat && env:
		nom = "CVSS-BTE"
	case threat:
		nom = "CVSS-BT"
	case env:
		nom = "CVSS-BE"
	}
	return Score{Version: "4.0", Value: score, Severity: Rating(score), Nomenclature: nom}, nil
}

func parseMax(s string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, "/") {
		k, val, _ := strings.Cut(part, ":")
		out[k] = val
	}
	return out
}

// score follows the specification's algorithm as the reference calculator
// computes it, in float64 with the same order of operations, so that the
// rounding agrees to the last digit.
func (v v4Vector) score() float64 {
	impact := []string{"VC", "VI", "VA", "SC", "SI", "SA"}
	none := true
	for _, k := range impact {
		none = none && v.eff(k) == "N"
	}
	if none {
		return 0
	}
	eq := v.macroVector()
	value := lookup(eq)
	lower := func(i, d int) [6]int { e := eq; e[i] += d; return e }

	scoreEQ1 := lookup(lower(0, 1))
	scoreEQ2 := lookup(lower(1, 1))
	var scoreEQ3x6 float64
	switch {
	case eq[2] == 1 && eq[5] == 1, eq[2] == 0 && eq[5] == 1:
		scoreEQ3x6 = lookup(lower(2, 1))
	case eq[2] == 1 && eq[5] == 0:
		scoreEQ3x6 = lookup(lower(5, 1))
	case eq[2] == 0 && eq[5] == 0:
		left, right := lookup(lower(5, 1)), lookup(lower(2, 1))
		if left > right {
			scoreEQ3x6 = left
		} else {
			scoreEQ3x6 = right
		}
	default:
		e := eq
		e[2]++
		e[5]++
		scoreEQ3x6 = lookup(e)
	}
	scoreEQ4 := lookup(lower(3, 1))
	scoreEQ5 := lookup(lower(4, 1))

	// The highest-severity vectors of this MacroVector, composed.
	var maxes []map[string]string
	for _, a := range v4MaxEQ1[eq[0]] {
		for _, b := range v4MaxEQ2[eq[1]] {
			for _, c := range v4MaxEQ3[eq[2]][eq[5]] {
				for _, d := range v4MaxEQ4[eq[3]] {
					maxes = append(maxes, parseMax(a+"/"+b+"/"+c+"/"+d))
				}
			}
		}
	}
	dist := map[string]float64{}
	for _, mx := range maxes {
		neg := false
		for k, lv := range v4Levels {
			dist[k] = lv[v.eff(k)] - lv[mx[k]]
			neg = neg || dist[k] < 0
		}
		if !neg {
			break
		}
	}
	curEQ1 := dist["AV"] + dist["PR"] + dist["UI"]
	curEQ2 := dist["AC"] + dist["AT"]
	curEQ3x6 := dist["VC"] + dist["VI"] + dist["VA"] + dist["CR"] + dist["IR"] + dist["AR"]
	curEQ4 := dist["SC"] + dist["SI"] + dist["SA"]

	const step = 0.1
	n := 0
	var sum [5]float64
	if a := value - scoreEQ1; !math.IsNaN(a) {
		n++
		sum[0] = a * (curEQ1 / (v4DepthEQ1[eq[0]] * step))
	}
	if a := value - scoreEQ2; !math.IsNaN(a) {
		n++
		sum[1] = a * (curEQ2 / (v4DepthEQ2[eq[1]] * step))
	}
	if a := value - scoreEQ3x6; !math.IsNaN(a) {
		n++
		sum[2] = a * (curEQ3x6 / (v4DepthEQ3x6[eq[2]][eq[5]] * step))
	}
	if a := value - scoreEQ4; !math.IsNaN(a) {
		n++
		sum[3] = a * (curEQ4 / (v4DepthEQ4[eq[3]] * step))
	}
	if a := value - scoreEQ5; !math.IsNaN(a) {
		n++ // EQ5's proportion is always 0
		sum[4] = a * 0
	}
	mean := 0.0
	if n > 0 {
		mean = (sum[0] + sum[1] + sum[2] + sum[3] + sum[4]) / float64(n)
	}
	value -= mean
	value = math.Max(0, math.Min(10, value))
	return round1(value)
}
