package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Get sends GET rawURL with header through client and returns the body of
// a 200 answer as a reader that survives transient failures: a body cut
// short or stalled is resumed from the byte reached with a Range request
// (or, when the server ignores Range, by skipping what was read), within
// the budget of ctx (WithBudget) or a new one under p. Bytes beyond the
// furthest point reached count as progress (Budget.Progress). Any other
// final answer is a *StatusError; a spent budget a *GiveUpError.
//
// client should use a Transport (for stall detection); Get works with any.
func Get(ctx context.Context, client *http.Client, rawURL string, header http.Header, p Policy) (io.ReadCloser, error) {
	b := BudgetFrom(ctx)
	if b == nil {
		b = p.Start()
		ctx = WithBudget(ctx, b)
	}
	g := &getBody{ctx: ctx, client: client, url: rawURL, header: header, b: b, what: "GET " + redact(rawURL)}
	if err := g.connect(); err != nil {
		return nil, err
	}
	return g, nil
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

// getBody is Get's resumable body.
type getBody struct {
	ctx    context.Context
	client *http.Client
	url    string
	header http.Header
	b      *Budget
	what   string

	body   io.ReadCloser
	off    int64 // bytes delivered to the caller
	failed bool  // a failure since the last progress
}

func (g *getBody) Read(p []byte) (int, error) {
	for {
		if g.body == nil {
			if err := g.connect(); err != nil {
				return 0, err
			}
		}
		n, err := g.body.Read(p)
		g.off += int64(n)
		if n > 0 && g.failed {
			g.failed = false
			g.b.Progress()
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		if n > 0 {
			return n, nil // the error shows up again on the next read
		}
		if g.ctx.Err() != nil || !Transient(err) {
			return 0, fmt.Errorf("%s: after %d bytes: %w", g.what, g.off, err)
		}
		g.body.Close()
		g.body = nil
		g.failed = true
		if rerr := g.b.Retry(g.ctx, g.what, fmt.Errorf("after %d bytes: %w", g.off, err)); rerr != nil {
			return 0, rerr
		}
	}
}

func (g *getBody) Close() error {
	if g.body == nil {
		return nil
	}
	err := g.body.Close()
	g.body = nil
	return err
}

// connect sends the GET (with a Range from g.off when resuming), retrying
// transient failures within the budget.
func (g *getBody) connect() error {
	for {
		body, err := g.try()
		if err == nil {
			g.body = body
			return nil
		}
		if g.ctx.Err() != nil || !Transient(err) {
			return err
		}
		g.failed = true
		if rerr := g.b.Retry(g.ctx, g.what, err); rerr != nil {
			return rerr
		}
	}
}

func (g *getBody) try() (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(g.ctx, http.MethodGet, g.url, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range g.header {
		req.Header[k] = vs
	}
	if g.off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(g.off, 10)+"-")
	}
	resp, err := g.client.Do(req)
	if err != nil {
		var gu *GiveUpError
		if errors.As(err, &gu) {
			// The transport's retries were spent: say so plainly, not
			// inside net/http's `Get "…":` wrapping.
			gu.What = g.what
			return nil, gu
		}
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if g.off > 0 {
			// The server ignored Range: skip what the caller already has.
			if _, err := io.CopyN(io.Discard, resp.Body, g.off); err != nil {
				resp.Body.Close()
				return nil, err
			}
		}
		return resp.Body, nil
	case resp.StatusCode == http.StatusPartialContent && g.off > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(g.off, 10)+"-") {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: resumed at byte %d but got Content-Range %q", g.what, g.off, resp.Header.Get("Content-Range"))
		}
		return resp.Body, nil
	}
	resp.Body.Close()
	return nil, &StatusError{Method: http.MethodGet, URL: redact(g.url), Code: resp.StatusCode}
}
