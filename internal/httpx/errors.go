package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
)

// ErrStalled means a peer sent nothing for Policy.StallTimeout: no response
// headers, or no byte of a body. It is transient: a resumed request may
// succeed.
var ErrStalled = errors.New("stalled: no progress")

// StatusError is an HTTP answer other than the one expected.
type StatusError struct {
	Method string
	URL    string
	Code   int
}

func (e *StatusError) Error() string {
	if e.URL == "" {
		return fmt.Sprintf("%d %s", e.Code, http.StatusText(e.Code))
	}
	m := e.Method
	if m == "" {
		m = http.MethodGet
	}
	return fmt.Sprintf("%s %s: %d %s", m, e.URL, e.Code, http.StatusText(e.Code))
}

// RetriableStatus reports whether an HTTP status is worth another attempt:
// 408, 429 and every 5xx.
func RetriableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// Transient reports whether err is a failure another attempt may cure: a
// stall, a retriable status, a reset or refused connection, a body cut
// short, a network timeout. Cancellation, a spent budget and everything
// else (4xx answers, bad content, a full disk) are not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || Spent(err) {
		return false
	}
	if errors.Is(err, ErrStalled) {
		return true
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return RetriableStatus(se.Code)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}
