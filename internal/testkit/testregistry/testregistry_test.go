package testregistry_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		opts     testregistry.Options
		wantAuth bool
	}{
		{"plain", testregistry.Options{}, false},
		{"tls+htpasswd", testregistry.Options{TLS: true, Htpasswd: map[string]string{"u": "p"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen int
			tt.opts.Handler = func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen++; h.ServeHTTP(w, r) })
			}
			reg := testregistry.New(t, tt.opts)
			if !strings.HasPrefix(reg.Host(), "127.0.0.1:") {
				t.Errorf("Host() = %q", reg.Host())
			}
			resp, err := reg.Client().Get(reg.URL() + "/v2/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := map[bool]int{false: 200, true: 401}[tt.wantAuth]; resp.StatusCode != want {
				t.Errorf("GET /v2/ = %d, want %d", resp.StatusCode, want)
			}
			if tt.wantAuth {
				req, _ := http.NewRequest(http.MethodGet, reg.URL()+"/v2/", nil)
				req.SetBasicAuth("u", "p")
				resp, err := reg.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("GET /v2/ with credentials = %d, want 200", resp.StatusCode)
				}
			}
			if seen == 0 {
				t.Error("Handler wrapper saw no request")
			}
			if tt.opts.TLS {
				b, err := os.ReadFile(reg.CAFile())
				if err != nil {
					t.Fatal(err)
				}
				block, _ := pem.Decode(b)
				if block == nil {
					t.Fatal("CAFile holds no PEM block")
				}
				if _, err := x509.ParseCertificate(block.Bytes); err != nil {
					t.Fatal(err)
				}
			} else if reg.CAFile() != "" {
				t.Errorf("CAFile() = %q without TLS", reg.CAFile())
			}
		})
	}
}
