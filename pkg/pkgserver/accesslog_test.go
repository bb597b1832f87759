package pkgserver_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/pkgserver"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
)

// Each request gets one access log record, from either front end, with
// what an operator needs: method, path, status, body bytes, kind, the
// client, Pkg's Julia version; the streamed body's bytes are counted when
// it has been sent.
func TestServe_AccessLog(t *testing.T) {
	st := openLayout(t, t.TempDir())
	_, tgz, h := artifactBundle(t, st, 31, 300<<10, 0)
	src, _ := newSource(t, st, shelf.SetOptions{})
	for _, e := range []engine{engineFast, engineNet} {
		t.Run(string(e), func(t *testing.T) {
			// slog's handler serialises its writes; reading the file back
			// needs no lock.
			logPath := filepath.Join(t.TempDir(), "access.log")
			f, err := os.Create(logPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			logged := func() string { b, _ := os.ReadFile(logPath); return string(b) }
			srv := pkgserver.New(src, pkgserver.Options{Logger: slog.New(slog.NewJSONHandler(f, nil))})
			srv.Update(src, pkgserver.Status{Items: src.Counts()})
			base := ""
			if e == engineNet {
				hs := httptest.NewServer(srv)
				t.Cleanup(hs.Close)
				base = hs.URL
			} else {
				base = "http://" + listenFast(t, srv)
			}
			if resp, body := get(t, base+"/artifact/"+h.String(), "Julia-Version", "1.11.2"); resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
				t.Fatalf("GET = %d, %d bytes", resp.StatusCode, len(body))
			}
			get(t, base+"/artifact/"+strings.Repeat("0", 40))
			// A streamed body's record is written once fasthttp has sent it,
			// which may be just after the client has read it.
			for i := 0; i < 200 && strings.Count(logged(), `"msg":"request"`) < 2; i++ {
				time.Sleep(10 * time.Millisecond)
			}
			var recs []map[string]any
			for _, l := range strings.Split(strings.TrimSpace(logged()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
				if m["msg"] == "request" {
					recs = append(recs, m)
				}
			}
			if len(recs) != 2 {
				t.Fatalf("%d request records, want 2:\n%s", len(recs), logged())
			}
			if recs[0]["status"] == float64(404) { // records in the order written
				recs[0], recs[1] = recs[1], recs[0]
			}
			r := recs[0]
			if r["method"] != "GET" || r["path"] != "/artifact/"+h.String() || r["status"] != float64(200) ||
				r["bytes"] != float64(len(tgz)) || r["kind"] != "artifact" || r["julia"] != "1.11.2" ||
				!strings.HasPrefix(r["remote"].(string), "127.0.0.1:") || r["aborted"] != false {
				t.Errorf("record of the GET = %v", r)
			}
			if r := recs[1]; r["status"] != float64(404) || r["bytes"] != float64(0) {
				t.Errorf("record of the unknown artifact = %v", r)
			}
		})
	}
}
