package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/advisory"
	"github.com/shoebox-jl/shoebox/pkg/cvss"
	"github.com/shoebox-jl/shoebox/pkg/sbom"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/transfer"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// pushAudit is push's --advisories and --fail-on: the advisories are
// carried in the bundle, and the closure is audited against them before
// anything is written.
type pushAudit struct {
	db        *advisory.Database
	threshold cvss.Severity
	failOn    bool
	findings  []advisory.Finding
	packages  int
	audited   bool
	source    string // --advisories as a URL, for the provenance record
}

// newPushAudit loads --advisories and reads --fail-on; nil without either.
func newPushAudit(ctx context.Context, o *PushOptions) (*pushAudit, error) {
	threshold, failOn, err := parseFailOn(o.FailOn)
	if err != nil {
		return nil, err
	}
	if o.Advisories == "" {
		if failOn {
			return nil, usagef("--fail-on needs --advisories")
		}
		return nil, nil
	}
	db, err := loadAdvisories(ctx, o.Advisories)
	if err != nil {
		return nil, err
	}
	source := o.Advisories
	if !strings.Contains(source, "://") {
		source = upstream.FileURL(source)
	}
	return &pushAudit{db: db, threshold: threshold, failOn: failOn, source: source}, nil
}

// install carries the advisories and audits the planned closure.
func (a *pushAudit) install(popts *transfer.PushOptions) error {
	files, err := a.db.Files()
	if err != nil {
		return err
	}
	popts.Advisories = files
	popts.AdvisoriesSource = a.source
	popts.Approve = func(plan []transfer.PlannedItem) error {
		var qs []advisory.Query
		for _, it := range plan {
			for _, v := range it.Versions {
				qs = append(qs, advisory.Query{Name: it.Name, UUID: it.Resource.UUID, Version: v})
			}
		}
		return a.match(qs)
	}
	return nil
}

func (a *pushAudit) match(qs []advisory.Query) error {
	fs, err := a.db.Match(qs)
	if err != nil {
		return err
	}
	a.findings, a.packages, a.audited = fs, len(qs), true
	if err := failOnError(fs, a.threshold, a.failOn); err != nil {
		return fmt.Errorf("push refused: %w (--fail-on %s)", err, a.threshold)
	}
	return nil
}

// upToDate audits a bundle push kept as it was (its closure was not
// planned again).
func (a *pushAudit) upToDate(ctx context.Context, dst *store.Store, res *transfer.PushResult) error {
	if a.audited || res == nil || !res.UpToDate {
		return nil
	}
	r, err := sbom.Audit(ctx, dst, res.Index, a.db, nil)
	if err != nil {
		return err
	}
	return a.match(r.Queries)
}

// print writes the audit summary (to standard error: standard output
// may carry --json).
func (a *pushAudit) print(f *Factory) {
	if !a.audited {
		return
	}
	fmt.Fprintf(f.Err, "audit: %d package versions against %d advisories (%d withdrawn, ignored)\n", a.packages, a.db.Len(), a.db.Withdrawn())
	printFindings(f.Err, a.findings)
}

// json is the audit part of push --json.
func (a *pushAudit) json() *auditJSON {
	if a == nil || !a.audited {
		return nil
	}
	return &auditJSON{Advisories: a.db.Len(), Withdrawn: a.db.Withdrawn(), Packages: a.packages, Findings: findingsJSON(a.findings)}
}
