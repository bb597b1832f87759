package faultproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// backend echoes request bodies' sizes and serves 1000 bytes on GET.
func backend(t *testing.T) *httptest.Server {
	body := bytes.Repeat([]byte("x"), 1000)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			n, _ := io.Copy(io.Discard, r.Body)
			w.Header().Set("X-Host", r.Host)
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, strings.Repeat("k", int(n%7)))
			return
		}
		w.Header().Set("Content-Length", "1000")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestProxy(t *testing.T) {
	t.Parallel()
	p := New(t, backend(t).URL,
		Rule{Method: http.MethodGet, Path: "/blob", Fault: Status500, Skip: 1, Times: 2},
		Rule{Method: http.MethodGet, Path: "/cut", Fault: ResetResponse},
		Rule{Method: http.MethodPut, Path: "/up", Fault: ResetRequest, MinBody: 100},
	)
	get := func(path string) (int, int, error) {
		resp, err := http.Get(p.URL() + path)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, len(b), err
	}
	var codes []int
	for range 4 {
		code, n, err := get("/blob")
		if err != nil {
			t.Fatal(err)
		}
		if code == 200 && n != 1000 {
			t.Errorf("GET /blob: %d bytes, want 1000", n)
		}
		codes = append(codes, code)
	}
	if got := codes; got[0] != 200 || got[1] != 500 || got[2] != 500 || got[3] != 200 {
		t.Errorf("GET /blob statuses = %v, want [200 500 500 200] (skip 1, then 2 faults, then pass)", got)
	}
	code, n, err := get("/cut")
	if err == nil || code != 200 || n != 500 {
		t.Errorf("GET /cut = %d, %d bytes, %v; want 200, 500 bytes, then an error", code, n, err)
	}
	if code, n, err := get("/cut"); err != nil || code != 200 || n != 1000 {
		t.Errorf("second GET /cut = %d, %d bytes, %v; want it whole", code, n, err)
	}
	put := func(size int) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPut, p.URL()+"/up", bytes.NewReader(make([]byte, size)))
		return http.DefaultClient.Do(req)
	}
	if resp, err := put(10); err != nil || resp.StatusCode != 201 || resp.Header.Get("X-Host") != p.Host() {
		t.Errorf("small PUT = %v, %v; want 201 passed through with Host %s", resp, err, p.Host())
	}
	if _, err := put(1000); err == nil {
		t.Errorf("big PUT succeeded; want the connection reset; injected %q", p.Injected())
	}
	if resp, err := put(1000); err != nil || resp.StatusCode != 201 {
		t.Errorf("second big PUT = %v, %v; want it through", resp, err)
	}
	want := []string{"500 GET /blob", "500 GET /blob", "reset-response GET /cut", "reset-request PUT /up"}
	if got := p.Injected(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Injected() = %q, want %q", got, want)
	}
}
