package trust

import (
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	a, b := newTestKey(t, ECDSAP256), newTestKey(t, Ed25519)
	dir := t.TempDir()
	writeFile(t, dir, "ops.pub", a.pub)
	pa, _ := ParsePublicKey(a.pub)

	tests := []struct {
		name      string
		toml      string
		wantErr   string
		wantKeys  []string
		threshold int
	}{
		{
			name: "path and pem, threshold, tags",
			toml: "threshold = 2\ntags = [\"release-*\"]\n[[keys]]\nname = \"ops\"\npath = \"ops.pub\"\n" +
				"[[keys]]\nname = \"sec\"\npem = \"\"\"\n" + string(b.pub) + "\"\"\"\n",
			wantKeys:  []string{"ops", "sec"},
			threshold: 2,
		},
		{
			name:     "pinned id",
			toml:     "[[keys]]\nname = \"ops\"\npath = \"ops.pub\"\nid = \"" + strings.ToUpper(KeyID(pa)) + "\"\n",
			wantKeys: []string{"ops"},
		},
		{name: "wrong pin", toml: "[[keys]]\npath = \"ops.pub\"\nid = \"00\"\n", wantErr: "policy pins"},
		{name: "no keys", toml: "threshold = 1\n", wantErr: "no keys"},
		{name: "threshold too high", toml: "threshold = 2\n[[keys]]\npath = \"ops.pub\"\n", wantErr: "threshold 2"},
		{name: "negative threshold", toml: "threshold = -1\n[[keys]]\npath = \"ops.pub\"\n", wantErr: "threshold -1"},
		{name: "same key twice", toml: "[[keys]]\npath = \"ops.pub\"\n[[keys]]\npem = '''\n" + string(a.pub) + "'''\n", wantErr: "listed twice"},
		{name: "duplicate name", toml: "[[keys]]\nname=\"x\"\npath = \"ops.pub\"\n[[keys]]\nname=\"x\"\npem = '''\n" + string(b.pub) + "'''\n", wantErr: "used twice"},
		{name: "unknown field", toml: "treshold = 1\n[[keys]]\npath = \"ops.pub\"\n", wantErr: "treshold"},
		{name: "missing file", toml: "[[keys]]\npath = \"nope.pub\"\n", wantErr: "nope.pub"},
		{name: "both path and pem", toml: "[[keys]]\npath = \"ops.pub\"\npem = \"x\"\n", wantErr: "both path and pem"},
		{name: "neither", toml: "[[keys]]\nname = \"x\"\n", wantErr: "neither path nor pem"},
		{name: "bad pem", toml: "[[keys]]\npem = \"x\"\n", wantErr: "parsing public key"},
		{name: "bad glob", toml: "tags = [\"[\"]\n[[keys]]\npath = \"ops.pub\"\n", wantErr: "tag pattern"},
		{name: "malformed toml", toml: "[[keys]\n", wantErr: "trust policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy(strings.NewReader(tt.toml), dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePolicy() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePolicy(): %v", err)
			}
			var names []string
			for _, k := range p.Keys {
				names = append(names, k.Name)
				if k.ID != KeyID(k.PublicKey) {
					t.Errorf("key %s: ID %s, want %s", k.Name, k.ID, KeyID(k.PublicKey))
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.wantKeys, ",") {
				t.Errorf("keys = %v, want %v", names, tt.wantKeys)
			}
			if p.Threshold != tt.threshold {
				t.Errorf("Threshold = %d, want %d", p.Threshold, tt.threshold)
			}
		})
	}
}

func TestPolicy_Covers(t *testing.T) {
	p := &Policy{Tags: []string{"release-*", "v1.?"}}
	for tag, want := range map[string]bool{"release-2026": true, "v1.2": true, "v1.10": false, "nightly": false} {
		if got := p.Covers(tag); got != want {
			t.Errorf("Covers(%q) = %v, want %v", tag, got, want)
		}
	}
	if !(&Policy{}).Covers("anything") {
		t.Error("empty Tags must cover every tag")
	}
}

func TestPolicyFromKeys(t *testing.T) {
	a := newTestKey(t, ECDSAP256)
	p, err := PolicyFromKeys(a.pub)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Keys) != 1 || p.Threshold != 1 || p.Keys[0].ID == "" {
		t.Errorf("PolicyFromKeys() = %+v", p)
	}
	if _, err := PolicyFromKeys(); err == nil {
		t.Error("PolicyFromKeys() with no keys succeeded")
	}
	if _, err := PolicyFromKeys(a.priv); err == nil {
		t.Error("PolicyFromKeys(private key) succeeded")
	}
}
