package testregistry_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
)

// harbor is the projects and accounts the token tests use: a private
// project "julia" with an importer robot (pull, push), a reader robot
// (pull) and a maintainer (pull, push, delete); a public project "pub".
func harbor() *testregistry.TokenConfig {
	return &testregistry.TokenConfig{
		Projects: []testregistry.Project{{Name: "julia"}, {Name: "pub", Public: true}},
		Accounts: map[string]testregistry.Account{
			"robot$julia+importer": {Secret: "imp-secret", Permissions: map[string][]string{"julia": {"pull", "push"}}},
			"robot$julia+reader":   {Secret: "read-secret", Permissions: map[string][]string{"julia": {"pull"}}},
			"maint":                {Secret: "m", Permissions: map[string][]string{"julia": {"pull", "push", "delete"}}},
			"admin":                {Secret: "a", Admin: true},
		},
	}
}

type tokenReply struct {
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
	IssuedAt  string `json:"issued_at"`
}

func getToken(t *testing.T, reg *testregistry.Registry, user, pass, service string, scopes ...string) (int, tokenReply) {
	t.Helper()
	q := url.Values{"service": {service}}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	req, _ := http.NewRequest(http.MethodGet, reg.URL()+testregistry.TokenPath+"?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := reg.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenReply
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, tr
}

// claims decodes a JWT's header and access claim (unverified: the
// registry verifies).
func claims(t *testing.T, tok string) (map[string]string, []testregistry.ResourceActions, string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q: %d parts", tok, len(parts))
	}
	var h map[string]string
	var c struct {
		Sub    string                         `json:"sub"`
		Aud    string                         `json:"aud"`
		Iss    string                         `json:"iss"`
		Access []testregistry.ResourceActions `json:"access"`
	}
	for i, v := range []any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	if c.Iss != "harbor-token-issuer" || c.Aud != "harbor-registry" {
		t.Errorf("iss %q aud %q", c.Iss, c.Aud)
	}
	return h, c.Access, c.Sub
}

func TestTokenService_Grants(t *testing.T) {
	reg := testregistry.New(t, testregistry.Options{Token: harbor()})
	tests := []struct {
		name, user, pass, service string
		scopes                    []string
		wantCode                  int
		wantAccess                []testregistry.ResourceActions
	}{
		{"importer gets its project's actions whatever it asks", "robot$julia+importer", "imp-secret", "harbor-registry",
			[]string{"repository:julia/bundles:pull"}, 200,
			[]testregistry.ResourceActions{{Type: "repository", Name: "julia/bundles", Actions: []string{"pull", "push"}}}},
		{"reader: pull only, even when asking push", "robot$julia+reader", "read-secret", "harbor-registry",
			[]string{"repository:julia/bundles:pull,push"}, 200,
			[]testregistry.ResourceActions{{Type: "repository", Name: "julia/bundles", Actions: []string{"pull"}}}},
		{"maintainer: pull push delete and *", "maint", "m", "harbor-registry",
			[]string{"repository:julia/a/b:delete"}, 200,
			[]testregistry.ResourceActions{{Type: "repository", Name: "julia/a/b", Actions: []string{"*", "delete", "pull", "push"}}}},
		{"two scopes in one parameter, another project empty", "robot$julia+importer", "imp-secret", "harbor-registry",
			[]string{"repository:julia/x:pull repository:other/y:pull"}, 200,
			[]testregistry.ResourceActions{{Type: "repository", Name: "julia/x", Actions: []string{"pull", "push"}},
				{Type: "repository", Name: "other/y", Actions: []string{}}}},
		{"anonymous pull of a public project", "", "", "harbor-registry",
			[]string{"repository:pub/r:pull,push"}, 200,
			[]testregistry.ResourceActions{{Type: "repository", Name: "pub/r", Actions: []string{"pull"}}}},
		{"anonymous: nothing in a private project", "", "", "harbor-registry",
			[]string{"repository:julia/bundles:pull"}, 200,
			[]testregistry.ResourceActions{{Type: "repository", Name: "julia/bundles", Actions: []string{}}}},
		{"catalog for an admin", "admin", "a", "harbor-registry",
			[]string{"registry:catalog:*"}, 200,
			[]testregistry.ResourceActions{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
		{"no catalog for a robot", "robot$julia+importer", "imp-secret", "harbor-registry",
			[]string{"registry:catalog:*"}, 200,
			[]testregistry.ResourceActions{{Type: "registry", Name: "catalog", Actions: []string{}}}},
		{"login without scopes", "robot$julia+reader", "read-secret", "harbor-registry", nil, 200,
			[]testregistry.ResourceActions{}},
		{"wrong secret", "robot$julia+reader", "nope", "harbor-registry", []string{"repository:julia/bundles:pull"}, 401, nil},
		{"unknown account", "robot$julia+ghost", "x", "harbor-registry", []string{"repository:julia/bundles:pull"}, 401, nil},
		{"anonymous without scope", "", "", "harbor-registry", nil, 401, nil},
		{"another service", "maint", "m", "harbor-notary", []string{"repository:julia/x:pull"}, 400, nil},
		{"a repository outside any project", "maint", "m", "harbor-registry", []string{"repository:lonely:pull"}, 500, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, tr := getToken(t, reg, tt.user, tt.pass, tt.service, tt.scopes...)
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d", code, tt.wantCode)
			}
			if code != 200 {
				return
			}
			if tr.ExpiresIn != 1800 || tr.IssuedAt == "" {
				t.Errorf("expires_in %d issued_at %q", tr.ExpiresIn, tr.IssuedAt)
			}
			h, access, sub := claims(t, tr.Token)
			if h["alg"] != "RS256" || h["kid"] == "" {
				t.Errorf("header %v", h)
			}
			if sub != tt.user {
				t.Errorf("sub %q, want %q", sub, tt.user)
			}
			if !reflect.DeepEqual(access, tt.wantAccess) {
				t.Errorf("access %+v, want %+v", access, tt.wantAccess)
			}
		})
	}
}

// TestTokenService_Registry drives the real registry with the tokens:
// the challenge names the realm and service as Harbor's does, a pull
// token cannot push, a push token can, and a bad signature is refused.
func TestTokenService_Registry(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			reg := testregistry.New(t, testregistry.Options{Token: harbor(), TLS: tls})
			resp, err := reg.Client().Get(reg.URL() + "/v2/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := `Bearer realm="` + reg.URL() + `/service/token",service="harbor-registry"`
			if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != want {
				t.Fatalf("GET /v2/ = %d %q, want 401 %q", resp.StatusCode, got, want)
			}

			blob := []byte("a shoebox blob")
			sum := sha256.Sum256(blob)
			dgst := "sha256:" + hex.EncodeToString(sum[:])
			// push uploads the blob (POST, then PUT with the digest) and
			// returns the first status that is not the expected one, or 201.
			push := func(tok string) int {
				t.Helper()
				do := func(method, u string, body []byte) *http.Response {
					req, _ := http.NewRequest(method, u, bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Content-Type", "application/octet-stream")
					resp, err := reg.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					return resp
				}
				resp := do(http.MethodPost, reg.URL()+"/v2/julia/bundles/blobs/uploads/", nil)
				if resp.StatusCode != 202 {
					return resp.StatusCode
				}
				loc, err := resp.Location()
				if err != nil {
					t.Fatal(err)
				}
				q := loc.Query()
				q.Set("digest", dgst)
				loc.RawQuery = q.Encode()
				return do(http.MethodPut, loc.String(), blob).StatusCode
			}
			_, reader := getToken(t, reg, "robot$julia+reader", "read-secret", "harbor-registry", "repository:julia/bundles:pull,push")
			if code := push(reader.Token); code != 401 {
				t.Errorf("push with the reader's token = %d, want 401", code)
			}
			_, imp := getToken(t, reg, "robot$julia+importer", "imp-secret", "harbor-registry", "repository:julia/bundles:pull,push")
			if code := push(imp.Token); code != 201 {
				t.Errorf("push with the importer's token = %d, want 201", code)
			}
			// A token whose signature is not the service's: refused.
			parts := strings.Split(imp.Token, ".")
			forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 256))
			if code := push(forged); code != 401 {
				t.Errorf("push with a forged token = %d, want 401", code)
			}
			// The reader pulls what the importer pushed.
			req, _ := http.NewRequest(http.MethodGet, reg.URL()+"/v2/julia/bundles/blobs/"+dgst, nil)
			req.Header.Set("Authorization", "Bearer "+reader.Token)
			resp, err = reg.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Equal(got, blob) {
				t.Errorf("pull with the reader's token = %d %q", resp.StatusCode, got)
			}
			grants := reg.Tokens().Grants()
			if len(grants) != 2 || grants[0].Account != "robot$julia+reader" || grants[1].Account != "robot$julia+importer" {
				t.Errorf("grants %+v", grants)
			}
		})
	}
}
