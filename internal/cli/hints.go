package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// hintError is an error with one more line for the user: what fixes it.
type hintError struct {
	err  error
	hint string
}

func (e hintError) Error() string { return e.err.Error() }
func (e hintError) Unwrap() error { return e.err }

// tagHint adds the store's bundle tags, and the closest to the one asked
// for, to an error that says ref's tag was not found.
func tagHint(ctx context.Context, st *store.Store, ref store.Reference, err error) error {
	if !errors.Is(err, errdef.ErrNotFound) || errors.Is(err, shelf.ErrNotBundle) || ref.IsDigest() {
		return err
	}
	refs, lerr := shelf.List(ctx, st)
	if lerr != nil {
		return err
	}
	seen := map[string]bool{}
	var tags []string
	for _, r := range refs {
		if !seen[r.Tag] {
			seen[r.Tag] = true
			tags = append(tags, r.Tag)
		}
	}
	if len(tags) == 0 {
		return hintError{err, fmt.Sprintf("%s holds no bundle", storeName(ref))}
	}
	sort.Strings(tags)
	hint := fmt.Sprintf("%s holds the bundles %s", storeName(ref), strings.Join(tags, ", "))
	if len(tags) > 20 {
		hint = fmt.Sprintf("%s holds %d bundles (shoebox ls %s)", storeName(ref), len(tags), storeName(ref))
	}
	if c := closest(ref.Tag, tags); c != "" {
		hint += fmt.Sprintf("; did you mean %s?", ref.WithTag(c))
	}
	return hintError{err, hint}
}

// closest returns the tag nearest to want by edit distance, if it is near
// enough to be a typo (at most a third of the longer string, at least 1).
func closest(want string, tags []string) string {
	best, bestD := "", -1
	for _, t := range tags {
		d := editDistance(strings.ToLower(want), strings.ToLower(t))
		if bestD < 0 || d < bestD {
			best, bestD = t, d
		}
	}
	if bestD < 0 || bestD > max(1, max(len(want), len(best))/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// explain turns an error into what the user reads: the message, with a
// registry's error response in words, and the hints that say which flag
// fixes it.
func explain(cmd *cobra.Command, err error) (msg string, hints []string) {
	msg = err.Error()
	var er *errcode.ErrorResponse
	status := 0
	if errors.As(err, &er) {
		msg = strings.Replace(msg, er.Error(), describeResponse(er), 1)
		status = er.StatusCode
	} else if errors.Is(err, store.ErrUnauthorized) {
		status = http.StatusUnauthorized // no credentials to offer at all
	}
	switch status {
	case http.StatusUnauthorized:
		if userGiven(cmd) {
			hints = append(hints, "the registry refused these credentials: check --username and the password on standard input")
		} else {
			hints = append(hints, "the registry wants credentials: "+flagNames(cmd, "username")+" with "+flagNames(cmd, "password-stdin")+
				", or a docker config login (DOCKER_CONFIG)")
		}
	case http.StatusForbidden:
		hints = append(hints, "the credentials are valid but may not do this: ask the registry's administrator for the access named above")
	}
	var he hintError
	if errors.As(err, &he) {
		hints = append(hints, he.hint)
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		hints = append(hints, "the registry speaks plain HTTP: add "+flagNames(cmd, "plain-http")+" (labs only)")
	case strings.Contains(msg, "Client sent an HTTP request to an HTTPS server"):
		hints = append(hints, "the registry speaks HTTPS: drop "+flagNames(cmd, "plain-http"))
	case errors.As(err, &ua) || strings.Contains(msg, "x509: certificate signed by unknown authority"):
		hints = append(hints, "the registry's certificate is signed by a CA this machine does not trust: give the CA with "+
			flagNames(cmd, "ca-file")+" CA.pem (or "+flagNames(cmd, "insecure")+", labs only)")
	case errors.As(err, &hn) || strings.Contains(msg, "x509: certificate is valid for"):
		hints = append(hints, "the registry's certificate does not name the host you gave: use a host name it lists")
	}
	return msg, hints
}

// flagNames is "--NAME", or for a command with per-side flags (copy)
// "--NAME (or --from-NAME / --to-NAME)".
func flagNames(cmd *cobra.Command, name string) string {
	s := "--" + name
	if cmd != nil && cmd.Flags().Lookup("from-"+name) != nil {
		s += " (or --from-" + name + " / --to-" + name + ")"
	}
	return s
}

// describeResponse says a registry's error response in words: the status,
// each error's message, and its detail's access requests ("pull access to
// repository julia/bundles") instead of Go's rendering of a JSON map.
func describeResponse(er *errcode.ErrorResponse) string {
	var parts []string
	for _, e := range er.Errors {
		p := strings.ToLower(strings.ReplaceAll(e.Code, "_", " "))
		if e.Message != "" {
			p = e.Message
		}
		if d := describeDetail(e.Detail); d != "" {
			p += " (" + d + ")"
		}
		parts = append(parts, p)
	}
	what := fmt.Sprintf("%d %s", er.StatusCode, http.StatusText(er.StatusCode))
	if len(parts) > 0 {
		what += ": " + strings.Join(parts, "; ")
	}
	u := ""
	if er.URL != nil {
		u = er.URL.Redacted()
	}
	return fmt.Sprintf("%s %s: %s", er.Method, u, what)
}

// describeDetail reads the detail distribution and Harbor send with
// UNAUTHORIZED and DENIED: a list of {Type, Name, Action}.
func describeDetail(d any) string {
	var items []any
	switch v := d.(type) {
	case []any:
		items = v
	case map[string]any:
		items = []any{v}
	default:
		return ""
	}
	var out []string
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		action, typ, name := str("Action"), str("Type"), str("Name")
		if action == "" || name == "" {
			continue
		}
		if typ == "" {
			typ = "repository"
		}
		out = append(out, action+" access to "+typ+" "+name)
	}
	return strings.Join(out, ", ")
}

// userGiven reports whether a --username (or --from-/--to-username) was
// given.
func userGiven(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	for _, n := range []string{"username", "from-username", "to-username"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}
