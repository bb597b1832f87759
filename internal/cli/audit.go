package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/pkg/advisory"
	"github.com/shoebox-jl/shoebox/pkg/cvss"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/sbom"
)

// AuditOptions are the flags and arguments of shoebox audit.
type AuditOptions struct {
	Ref        string
	Manifests  []string
	Advisories string
	FailOn     string
	JSON       bool
	store      storeFlags
}

func newAuditCmd(f *Factory) *cobra.Command {
	opts := &AuditOptions{}
	cmd := &cobra.Command{
		Use:   "audit [flags] STORE[:TAG]",
		Short: "List the security advisories that affect a bundle's packages",
		Long: `List the security advisories (OSV, as the Julia Security Advisory Database
publishes them) whose affected ranges include the versions of the packages
in a bundle, or, with --manifest, the versions a manifest pins (looked up
in the bundle; those it lacks are named and audited all the same).

Versions compare as Julia's VersionNumber does, where build numbers count:
an advisory fixed in 1.2.12+3 affects 1.2.12+1. Withdrawn advisories are
ignored. Severity comes from the CVSS vectors (v4.0, v3.x; v2 when there is
nothing newer): the highest score; an advisory without one is "unknown"
and counts as matching every --fail-on level.

The advisories are those the bundle carries (push --advisories), or those
of --advisories: a directory of OSV JSON files (a checkout of the
database's OSV export), a zip of them, or an http(s) URL of either.

Exit status 3 when --fail-on is given and an advisory at or above that
severity matches.`,
		Example: `  shoebox audit --advisories SecurityAdvisories.jl/osv /media/usb/julia:2026-11
  shoebox audit --advisories osv.zip --manifest team-a/Manifest.toml --fail-on high /media/usb/julia:2026-11`,
		Args: exactArgs(1, "STORE[:TAG]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			return runAudit(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Manifests, "manifest", nil, "audit the versions this Manifest.toml (or project directory) pins (repeatable)")
	cmd.Flags().StringVar(&opts.Advisories, "advisories", "", "OSV advisories: a directory, a zip, or an http(s) URL (default: those the bundle carries)")
	cmd.Flags().StringVar(&opts.FailOn, "fail-on", "", "exit 3 when an advisory of this severity or higher matches: low, medium, high or critical")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	opts.store.register(cmd.Flags())
	return cmd
}

// auditFailedError is an audit whose findings reach --fail-on: exit 3.
type auditFailedError struct {
	n         int
	threshold cvss.Severity
}

func (e *auditFailedError) Error() string {
	return fmt.Sprintf("%s at or above %s", plural(e.n, "advisory", "advisories"), e.threshold)
}

// parseFailOn reads --fail-on ("" means never).
func parseFailOn(s string) (cvss.Severity, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	sev, err := cvss.ParseSeverity(s)
	if err != nil || sev == cvss.SeverityNone {
		return 0, false, usagef("--fail-on %q: want low, medium, high or critical", s)
	}
	return sev, true, nil
}

func runAudit(ctx context.Context, f *Factory, o *AuditOptions) error {
	threshold, failOn, err := parseFailOn(o.FailOn)
	if err != nil {
		return err
	}
	var ms []*julia.Manifest
	for _, m := range o.Manifests {
		nm, err := readManifest(m, "")
		if err != nil {
			return err
		}
		ms = append(ms, nm.Manifest)
	}
	var db *advisory.Database
	if o.Advisories != "" {
		if db, err = loadAdvisories(ctx, o.Advisories); err != nil {
			return err
		}
	}
	st, ref, err := o.store.open(ctx, f, o.Ref, true)
	if err != nil {
		return err
	}
	defer st.Close()
	desc, name, err := resolveOneBundle(ctx, st, ref)
	if err != nil {
		return err
	}
	res, err := sbom.Audit(ctx, st, desc, db, ms)
	if errors.Is(err, sbom.ErrNoAdvisories) {
		return usagef("%s carries no advisories: give --advisories (a directory of OSV files, a zip, or a URL)", name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if o.JSON {
		writeJSON(f, auditJSONOf(res.Database, res))
	} else {
		printAudit(f, name, res.Database, res)
	}
	return failOnError(res.Findings, threshold, failOn)
}

// failOnError is the error for findings at or above threshold, if any.
func failOnError(fs []advisory.Finding, threshold cvss.Severity, failOn bool) error {
	if !failOn {
		return nil
	}
	n := 0
	for _, fd := range fs {
		if fd.Rating.AtLeast(threshold) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return &auditFailedError{n: n, threshold: threshold}
}

// auditJSON is audit --json's output.
type auditJSON struct {
	Advisories int           `json:"advisories"`
	Withdrawn  int           `json:"withdrawn"`
	Packages   int           `json:"packages"`
	NotInStore []string      `json:"notInStore,omitempty"`
	Findings   []findingJSON `json:"findings"`
}

type findingJSON struct {
	ID          string   `json:"id"`
	Aliases     []string `json:"aliases"`
	Package     string   `json:"package"`
	UUID        string   `json:"uuid,omitempty"`
	Version     string   `json:"version"`
	Fixed       string   `json:"fixed,omitempty"`
	Severity    string   `json:"severity"`
	Score       float64  `json:"score,omitempty"`
	CVSSVersion string   `json:"cvssVersion,omitempty"`
	Vector      string   `json:"vector,omitempty"`
	Summary     string   `json:"summary"`
}

func findingsJSON(fs []advisory.Finding) []findingJSON {
	out := []findingJSON{}
	for _, fd := range fs {
		j := findingJSON{ID: fd.Advisory.ID, Aliases: fd.Advisory.IDs()[1:], Package: fd.Name, Version: fd.Version,
			Fixed: fd.Fixed, Severity: severityName(fd.Rating), Summary: fd.Advisory.Title()}
		if !fd.UUID.IsZero() {
			j.UUID = fd.UUID.String()
		}
		if fd.Rating.Known {
			j.Score, j.CVSSVersion, j.Vector = fd.Rating.Score, fd.Rating.Version, fd.Rating.Vector
		}
		out = append(out, j)
	}
	return out
}

func auditJSONOf(db *advisory.Database, res *sbom.AuditResult) auditJSON {
	return auditJSON{Advisories: db.Len(), Withdrawn: db.Withdrawn(), Packages: len(res.Queries),
		NotInStore: res.NotInBundle, Findings: findingsJSON(res.Findings)}
}

func severityName(r advisory.Rating) string {
	if !r.Known {
		return "unknown"
	}
	return r.Severity.String()
}

func printAudit(f *Factory, name string, db *advisory.Database, res *sbom.AuditResult) {
	w := f.Out
	from := ""
	if res.FromBundle {
		from = ", carried in the bundle"
	}
	fmt.Fprintf(w, "%s: %d package versions against %d advisories (%d withdrawn, ignored%s)\n", name, len(res.Queries), db.Len(), db.Withdrawn(), from)
	for _, n := range res.NotInBundle {
		fmt.Fprintf(w, "  not in the bundle (audited anyway): %s\n", n)
	}
	printFindings(w, res.Findings)
}

// printFindings prints a findings table and a count per severity.
func printFindings(w interface{ Write([]byte) (int, error) }, fs []advisory.Finding) {
	if len(fs) == 0 {
		fmt.Fprintln(w, "no advisory affects these versions")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tID\tALIASES\tPACKAGE\tVERSION\tFIXED\tSUMMARY")
	counts := map[string]int{}
	for _, fd := range fs {
		sev := severityName(fd.Rating)
		if fd.Rating.Known {
			sev += fmt.Sprintf(" %.1f", fd.Rating.Score)
		}
		counts[severityName(fd.Rating)]++
		fixed := fd.Fixed
		if fixed == "" {
			fixed = "-"
		}
		aliases := strings.Join(fd.Advisory.IDs()[1:], ",")
		if aliases == "" {
			aliases = "-"
		}
		summary := fd.Advisory.Title()
		if r := []rune(summary); len(r) > 72 {
			summary = string(r[:71]) + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sev, fd.Advisory.ID, aliases, fd.Name, fd.Version, fixed, summary)
	}
	tw.Flush()
	var parts []string
	for _, s := range []string{"unknown", "critical", "high", "medium", "low", "none"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(w, "%s: %s\n", plural(len(fs), "finding", "findings"), strings.Join(parts, ", "))
}
