package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/trust"
)

type keyRun struct {
	env      map[string]string
	stdin    string
	terminal bool
}

func (r keyRun) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &Factory{
		Streams: Streams{In: strings.NewReader(r.stdin), Out: &out, Err: &errb, InIsTerminal: r.terminal},
		Now:     func() time.Time { return time.Unix(0, 0) },
		Getenv:  func(k string) string { return r.env[k] },
	}
	code = run(context.Background(), f, args)
	return code, out.String(), errb.String()
}

func loadWith(t *testing.T, path, password string) {
	t.Helper()
	_, err := trust.LoadSigner(context.Background(), path, func(bool) ([]byte, error) { return []byte(password), nil })
	if err != nil {
		t.Errorf("LoadSigner(%s, %q): %v", path, password, err)
	}
}

func Test_keyGenerate(t *testing.T) {
	t.Run("env password, modes, key public", func(t *testing.T) {
		t.Parallel()
		prefix := filepath.Join(t.TempDir(), "ops")
		code, _, stderr := keyRun{env: map[string]string{"SHOEBOX_PASSWORD": "pw1", "COSIGN_PASSWORD": "other"}}.
			run(t, "key", "generate", "--output-prefix", prefix)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for p, mode := range map[string]os.FileMode{prefix + ".key": 0o600, prefix + ".pub": 0o644} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != mode {
				t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), mode)
			}
		}
		key, _ := os.ReadFile(prefix + ".key")
		if !bytes.HasPrefix(key, []byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")) {
			t.Errorf("key file starts %q", key[:40])
		}
		// key public decrypts it (SHOEBOX_PASSWORD wins over COSIGN_PASSWORD).
		code, stdout, stderr := keyRun{stdin: "pw1\n"}.run(t, "key", "public", "--key", prefix+".key", "--password-stdin")
		if code != ExitOK {
			t.Fatalf("key public: exit %d: %s", code, stderr)
		}
		pub, _ := os.ReadFile(prefix + ".pub")
		if stdout != string(pub) {
			t.Errorf("key public printed\n%s\nwant\n%s", stdout, pub)
		}
		// Without --force nothing is overwritten.
		code, _, stderr = keyRun{env: map[string]string{"SHOEBOX_PASSWORD": "x"}}.run(t, "key", "generate", "--output-prefix", prefix)
		if code != ExitUsage || !strings.Contains(stderr, "already exists") {
			t.Errorf("overwrite: exit %d, %q; want %d, already exists", code, stderr, ExitUsage)
		}
		if again, _ := os.ReadFile(prefix + ".key"); !bytes.Equal(again, key) {
			t.Error("key file changed without --force")
		}
		// Wrong password: an error, not a verification failure.
		code, _, stderr = keyRun{stdin: "nope"}.run(t, "key", "public", "--key", prefix+".key", "--key-password-stdin")
		if code != ExitError || !strings.Contains(stderr, "wrong password") {
			t.Errorf("wrong password: exit %d, %q", code, stderr)
		}
	})
	t.Run("cosign password, ed25519, force", func(t *testing.T) {
		t.Parallel()
		prefix := filepath.Join(t.TempDir(), "k")
		os.WriteFile(prefix+".pub", []byte("old"), 0o644)
		code, _, stderr := keyRun{env: map[string]string{"COSIGN_PASSWORD": "pw2"}}.
			run(t, "key", "generate", "--algorithm", "ed25519", "--output-prefix", prefix, "--force")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		pub, _ := os.ReadFile(prefix + ".pub")
		p, err := trust.ParsePublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%T", p) != "ed25519.PublicKey" {
			t.Errorf("public key is %T, want ed25519", p)
		}
		loadWith(t, prefix+".key", "pw2")
	})
	t.Run("terminal prompt, confirmed", func(t *testing.T) {
		t.Parallel()
		prefix := filepath.Join(t.TempDir(), "k")
		code, _, stderr := keyRun{terminal: true, stdin: "pw3\npw3\n"}.run(t, "key", "generate", "--output-prefix", prefix)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if strings.Count(stderr, "Enter password") != 2 {
			t.Errorf("stderr = %q, want two prompts", stderr)
		}
		loadWith(t, prefix+".key", "pw3")
	})
	t.Run("password on stdin, empty", func(t *testing.T) {
		t.Parallel()
		prefix := filepath.Join(t.TempDir(), "k")
		code, _, stderr := keyRun{stdin: "\n"}.run(t, "key", "generate", "--output-prefix", prefix, "--key-password-stdin")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		loadWith(t, prefix+".key", "")
	})

	usage := []struct {
		name string
		r    keyRun
		args []string
		want string
	}{
		{"no password source", keyRun{}, nil, "a password is needed"},
		{"prompt mismatch", keyRun{terminal: true, stdin: "a\nb\n"}, nil, "do not match"},
		{"bad algorithm", keyRun{env: map[string]string{"SHOEBOX_PASSWORD": "x"}}, []string{"--algorithm", "rsa"}, "--algorithm"},
		{"stray argument", keyRun{}, []string{"extra"}, "no arguments"},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prefix := filepath.Join(t.TempDir(), "k")
			args := append([]string{"key", "generate", "--output-prefix", prefix}, tt.args...)
			code, _, stderr := tt.r.run(t, args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, ExitUsage, tt.want)
			}
			if _, err := os.Stat(prefix + ".key"); err == nil {
				t.Error("key file written despite the error")
			}
		})
	}
}

func Test_keyPublic(t *testing.T) {
	if code, _, stderr := (keyRun{}).run(t, "key", "public"); code != ExitUsage || !strings.Contains(stderr, "--key") {
		t.Errorf("no --key: exit %d, %q", code, stderr)
	}
	code, _, _ := keyRun{}.run(t, "key", "public", "--key", filepath.Join(t.TempDir(), "missing.key"))
	if code != ExitNotFound {
		t.Errorf("missing key file: exit %d, want %d", code, ExitNotFound)
	}
	code, _, stderr := keyRun{}.run(t, "key", "public", "--key", "nokms://x")
	if code != ExitError || !strings.Contains(stderr, "no KMS provider") {
		t.Errorf("unregistered KMS: exit %d, %q", code, stderr)
	}
}

func TestExitCode_VerificationError(t *testing.T) {
	ve := &trust.VerificationError{Outcome: trust.OutcomeBadSignature, Subject: "sha256:00", Detail: "x"}
	for _, err := range []error{ve, fmt.Errorf("bundle v1: %w", ve)} {
		if got := ExitCode(context.Background(), err); got != ExitVerify {
			t.Errorf("ExitCode(%v) = %d, want %d", err, got, ExitVerify)
		}
	}
}

// /dev/null is a character device, not a terminal: a command reading from
// it must not prompt (sign would fail with "reading password: unexpected
// EOF" instead of naming the password sources).
func TestIsTerminal_DevNull(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Errorf("isTerminal(%s) = true", os.DevNull)
	}
}
