// Package httpx is the one network policy of shoebox: how often an HTTP
// operation is tried, how long it waits between tries, how long it may take
// in all, and how long a stream may deliver nothing before it counts as
// stalled. Every network peer goes through it: upstream Pkg servers and
// download URLs (pkg/upstream) and OCI registries (pkg/store), so that a
// failing peer costs the same bounded time everywhere, and retries of one
// layer are never multiplied by the retries of another.
//
// Three pieces:
//
//   - Policy and Budget: a Policy bounds the attempts, backoff and total
//     time of one operation; a Budget is one operation's running account of
//     it. A Budget put in a request's context (WithBudget) is shared by
//     every layer that retries within that operation: the Transport's
//     retries of single requests and a caller's retries of a whole
//     transfer draw from the same count.
//   - Transport: an http.RoundTripper that retries requests that failed
//     transiently (connection errors, 408, 429, 5xx) while the budget
//     allows and the request can be sent again, and that watches every
//     request: no response headers within Policy.StallTimeout, or a body
//     (either way) that moves no byte for that long, cancels the request
//     with ErrStalled (after an upload of n bytes the wait for the answer
//     is the stall timeout plus n at 32 MiB/s: the peer may be moving a
//     large blob into storage). When the budget is spent it returns a
//     *GiveUpError saying what was tried.
//   - Get: a GET whose body survives cuts and stalls by resuming from the
//     byte reached with a Range request (RFC 9110 §14), within the budget.
//
// HTTP semantics follow RFC 9110 (status codes, Range and Content-Range)
// and RFC 9111 is not involved: nothing is cached. The package reads no
// environment variable and prints nothing.
package httpx
