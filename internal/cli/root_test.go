package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/transfer"
)

// ttyRun runs shoebox with the given environment and terminal flags.
type ttyRun struct {
	env      map[string]string
	out, err bool // stdout, stderr are terminals
	stdin    string
	now      func() time.Time
}

func (r ttyRun) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	now := r.now
	if now == nil {
		now = func() time.Time { return time.Unix(0, 0) }
	}
	f := &Factory{
		Streams: Streams{In: strings.NewReader(r.stdin), Out: &out, Err: &errb, OutIsTerminal: r.out, ErrIsTerminal: r.err},
		Now:     now,
		Getenv:  func(k string) string { return r.env[k] },
	}
	code := run(context.Background(), f, args)
	return code, out.String(), errb.String()
}

func TestRoot_UnknownCommandIsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pushh"}, "shoebox: unknown command \"pushh\" for \"shoebox\"; did you mean push?\nRun 'shoebox --help' for usage.\n"},
		{[]string{"frobnicate", "x"}, "shoebox: unknown command \"frobnicate\" for \"shoebox\"\nRun 'shoebox --help' for usage.\n"},
		{[]string{"--bogus"}, "shoebox: unknown flag: --bogus\nRun 'shoebox --help' for usage.\n"},
		{[]string{"key", "rotate"}, "shoebox: unknown key subcommand \"rotate\" (want generate or public)\nRun 'shoebox --help' for usage.\n"},
		{[]string{"version", "x"}, "shoebox: shoebox version takes no arguments (got 1 arguments)\nRun 'shoebox --help' for usage.\n"},
		{[]string{"completion", "tcsh"}, "shoebox: completion \"tcsh\": want bash, zsh or fish\nRun 'shoebox --help' for usage.\n"},
		{[]string{"completion"}, "shoebox: shoebox completion takes one shell: bash, zsh or fish (got 0 arguments)\nRun 'shoebox --help' for usage.\n"},
		{[]string{"--log-level", "loud", "version"}, "shoebox: --log-level \"loud\": want debug, info, warn or error\nRun 'shoebox --help' for usage.\n"},
		{[]string{"--debug", "--log-level", "warn", "version"}, "shoebox: --debug and --log-level warn disagree\nRun 'shoebox --help' for usage.\n"},
	} {
		code, out, errOut := runTest(t, tc.args...)
		if code != ExitUsage || out != "" || errOut != tc.want {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	// No arguments: the help, exit 0.
	code, out, errOut := runTest(t)
	if code != 0 || !strings.HasPrefix(out, "shoebox carries Julia registries") || !strings.Contains(out, "  version ") || errOut != "" {
		t.Errorf("shoebox: exit %d, stdout %q…, stderr %q", code, out[:min(len(out), 80)], errOut)
	}
}

func TestVersion(t *testing.T) {
	oldV, oldC := Version, Commit
	Version, Commit = "v1.2.3", "0123456789abcdef0123456789abcdef01234567"
	t.Cleanup(func() { Version, Commit = oldV, oldC })
	platform := runtime.GOOS + "/" + runtime.GOARCH

	code, out, errOut := runTest(t, "version")
	want := "shoebox v1.2.3\ncommit    0123456789abcdef0123456789abcdef01234567\ngo        " + runtime.Version() + "\nplatform  " + platform + "\n"
	if code != 0 || out != want || errOut != "" {
		t.Errorf("version: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	code, out, _ = runTest(t, "version", "--json")
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("version --json: exit %d, %v: %q", code, err, out)
	}
	wantJSON := map[string]string{"version": "v1.2.3", "commit": "0123456789abcdef0123456789abcdef01234567", "goVersion": runtime.Version(), "platform": platform}
	if len(got) != len(wantJSON) {
		t.Errorf("version --json = %v, want %v", got, wantJSON)
	}
	for k, v := range wantJSON {
		if got[k] != v {
			t.Errorf("version --json %s = %q, want %q", k, got[k], v)
		}
	}
	if code, out, _ := runTest(t, "--version"); code != 0 || out != "shoebox v1.2.3\n" {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}

func TestCompletion(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "__start_shoebox", "zsh": "#compdef shoebox", "fish": "complete -c shoebox"} {
		code, out, errOut := runTest(t, "completion", shell)
		if code != 0 || !strings.Contains(out, marker) || errOut != "" {
			t.Errorf("completion %s: exit %d, %d bytes without %q, stderr %q", shell, code, len(out), marker, errOut)
		}
	}
	// Values, as the scripts ask for them (cobra's __complete).
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"push", "--platform", "aarch64-"}, "aarch64-linux-gnu\naarch64-linux-musl\naarch64-apple-darwin\naarch64-unknown-freebsd\n:4\n"},
		{[]string{"verify", "--platform", "x86_64-w"}, "x86_64-w64-mingw32\n:4\n"},
		{[]string{"ls", "--kind", ""}, "registry\npackage\nartifact\n:4\n"},
		{[]string{"sign", "--format", ""}, "simple\nbundle\n:4\n"},
		{[]string{"serve", "--registry-view", ""}, "available\nfull\n:4\n"},
		{[]string{"serve", "--log-format", "j"}, "json\n:4\n"},
		{[]string{"key", "generate", "--algorithm", ""}, "ecdsa-p256\ned25519\n:4\n"},
		{[]string{"treehash", "--algorithm", ""}, "git-sha1\ngit-sha256\n:4\n"},
		{[]string{"version", "--log-level", "w"}, "warn\n:4\n"},
		{[]string{"completion", ""}, "bash\nzsh\nfish\n:4\n"},
		{[]string{"sbom", "--format", ""}, "cyclonedx\nspdx\n:4\n"},
		{[]string{"attest", "--format", "b"}, "bundle\n:4\n"},
		{[]string{"audit", "--fail-on", "h"}, "high\n:4\n"},
		{[]string{"push", "--fail-on", "c"}, "critical\n:4\n"},
	} {
		code, out, _ := runTest(t, append([]string{"__complete"}, tc.args...)...)
		if code != 0 || out != tc.want {
			t.Errorf("__complete %q: exit %d, %q; want %q", tc.args, code, out, tc.want)
		}
	}
}

// Tags of a layout complete after STORE:, without a lock or the network.
func TestCompletion_LayoutTags(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	pushTag(t, static, w.Manifests[0], dest, "2026-11")
	pushTag(t, static, w.Manifests[2], dest, "2026-12")
	pushTag(t, static, w.Manifests[2], dest, "test")
	_, sign := keyPair(t)
	st := openRW(t, dest)
	sign(st, "2026-11") // its sha256-….sig tag is no bundle
	st.Close()
	for _, tc := range []struct{ arg, want string }{
		{dest + ":", dest + ":2026-11\n" + dest + ":2026-12\n" + dest + ":test\n:4\n"},
		{dest + ":2026-1", dest + ":2026-11\n" + dest + ":2026-12\n:4\n"},
		{"oci-layout:" + dest + ":t", "oci-layout:" + dest + ":test\n:4\n"},
		{dest + "-none:", ":4\n"},
		{"harbor.example.org/julia/bundles:", ":4\n"},
		{dest[:len(dest)-2], ":0\n"}, // no ':' yet: the shell completes paths
	} {
		for _, cmd := range []string{"ls", "verify", "serve"} {
			code, out, _ := runTest(t, "__complete", cmd, tc.arg)
			if code != 0 || out != tc.want {
				t.Errorf("__complete %s %q: exit %d, %q; want %q", cmd, tc.arg, code, out, tc.want)
			}
		}
	}
}

func TestGenMan(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runTest(t, "gen-man", dir); code != 0 {
		t.Fatalf("gen-man: exit %d: %s", code, errOut)
	}
	for page, want := range map[string]string{
		"shoebox.1":              `.TH "SHOEBOX" "1"`,
		"shoebox-serve.1":        `\fB--registry-view\fP="available"`,
		"shoebox-key-generate.1": `\fB--key-password-stdin\fP`,
		"shoebox-version.1":      "shoebox version",
		"shoebox-completion.1":   "shoebox completion bash",
	} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: %v; want it to contain %q", page, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "shoebox-gen-man.1")); err == nil {
		t.Errorf("the hidden gen-man command has a man page")
	}
}

// The live progress line needs a terminal that is not TERM=dumb; colour
// also needs NO_COLOR unset or empty.
func TestTerminalConventions(t *testing.T) {
	clock := time.Unix(0, 0)
	tick := func() time.Time { clock = clock.Add(time.Second); return clock }
	for _, tc := range []struct {
		name        string
		env         map[string]string
		tty         bool
		live, color bool
	}{
		{"terminal", map[string]string{"TERM": "xterm-256color"}, true, true, true},
		{"NO_COLOR", map[string]string{"TERM": "xterm-256color", "NO_COLOR": "1"}, true, true, false},
		{"NO_COLOR empty", map[string]string{"TERM": "xterm", "NO_COLOR": ""}, true, true, true},
		{"TERM=dumb", map[string]string{"TERM": "dumb"}, true, false, false},
		{"pipe", map[string]string{"TERM": "xterm"}, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errb bytes.Buffer
			f := &Factory{Streams: Streams{Out: &bytes.Buffer{}, Err: &errb, OutIsTerminal: tc.tty, ErrIsTerminal: tc.tty},
				Now: tick, Getenv: func(k string) string { return tc.env[k] }}
			p := newProgress(f, "copy", false)
			p.Event(transfer.Event{Type: transfer.EventPlanned, Items: 2, Bytes: 4 << 20})
			p.Event(transfer.Event{Type: transfer.EventBytes, Bytes: 1 << 20})
			p.Finish()
			if got := strings.Contains(errb.String(), "\r\033[K"); got != tc.live {
				t.Errorf("live line = %v, want %v: %q", got, tc.live, errb.String())
			}
			if got := f.okWord() != "ok"; got != tc.color {
				t.Errorf("colour = %v (%q), want %v", got, f.okWord(), tc.color)
			}
		})
	}
	// The error prefix is red on a colour terminal only.
	code, _, errOut := ttyRun{env: map[string]string{"TERM": "xterm"}, err: true}.run(t, "pushh")
	if code != ExitUsage || !strings.HasPrefix(errOut, "\033[1;31mshoebox:\033[0m unknown command") {
		t.Errorf("stderr on a terminal: %q", errOut)
	}
	_, _, errOut = ttyRun{env: map[string]string{"TERM": "xterm", "NO_COLOR": "yes"}, err: true}.run(t, "pushh")
	if !strings.HasPrefix(errOut, "shoebox: unknown command") {
		t.Errorf("stderr with NO_COLOR: %q", errOut)
	}
}

// The ETA and the percentage come from bytes: the remaining bytes at the
// rate so far, never from item counts.
func TestProgress_ETAFromBytes(t *testing.T) {
	clock := time.Unix(0, 0)
	var errb bytes.Buffer
	f := &Factory{Streams: Streams{Err: &errb}, Now: func() time.Time { return clock }, Getenv: func(string) string { return "" }}
	p := newProgress(f, "copy", false)
	p.Event(transfer.Event{Type: transfer.EventPlanned, Items: 4, Bytes: 120 << 20})
	// Three small items are done; the big one is a third through.
	for range 3 {
		p.Event(transfer.Event{Type: transfer.EventDone})
	}
	clock = clock.Add(10 * time.Second)
	p.Event(transfer.Event{Type: transfer.EventBytes, Bytes: 30 << 20})
	want := "copy: 3/4 items (0 already there, 0 missing)  30.0 MiB of 120.0 MiB (25%)  3.0 MiB/s  ETA 30s\n"
	if errb.String() != want {
		t.Errorf("progress line %q, want %q", errb.String(), want)
	}
	// Unknown total bytes: no percentage and no ETA.
	errb.Reset()
	q := newProgress(f, "push", false)
	q.Event(transfer.Event{Type: transfer.EventPlanned, Items: 10})
	q.Event(transfer.Event{Type: transfer.EventDone})
	q.Finish()
	if want := "push: 1/10 items (0 already there, 0 missing)  0 B  0 B/s\n"; errb.String() != want {
		t.Errorf("progress line %q, want %q", errb.String(), want)
	}
}

// Diagnostics go to standard error at --log-level, above a live progress
// line that is redrawn after them.
func TestLogLevel(t *testing.T) {
	var errb bytes.Buffer
	f := &Factory{Streams: Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &errb, ErrIsTerminal: true},
		Now: func() time.Time { return time.Unix(0, 0) }, Getenv: func(string) string { return "" }}
	root := NewRootCmd(f)
	root.SetArgs([]string{"--log-level", "warn", "version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	f.Log.Info("hidden at warn")
	f.Log.Warn("shown at warn", "n", 1)
	if got := errb.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "level=WARN msg=\"shown at warn\" n=1\n") {
		t.Errorf("--log-level warn: %q", got)
	}
	errb.Reset()
	clock := time.Unix(0, 0)
	f.Now = func() time.Time { clock = clock.Add(time.Second); return clock }
	p := newProgress(f, "copy", false)
	p.Event(transfer.Event{Type: transfer.EventPlanned, Items: 1})
	f.Log.Warn("retrying")
	p.Event(transfer.Event{Type: transfer.EventDone})
	p.Finish()
	line0 := "\r\033[Kcopy: 0/1 items (0 already there, 0 missing)  0 B  0 B/s"
	line1 := "\r\033[Kcopy: 1/1 items (0 already there, 0 missing)  0 B  0 B/s"
	got := errb.String()
	before, after, ok := strings.Cut(got, " level=WARN msg=retrying\n")
	if !ok || !strings.HasPrefix(before, line0+"\r\033[Ktime=") || !strings.HasPrefix(after, line1) || !strings.HasSuffix(got, "\n") {
		t.Errorf("a log line above a live progress line: %q", got)
	}

	errb.Reset()
	root = NewRootCmd(f)
	root.SetArgs([]string{"--debug", "version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	f.Log.Debug("shown with --debug")
	if !strings.Contains(errb.String(), "level=DEBUG msg=\"shown with --debug\"") {
		t.Errorf("--debug: %q", errb.String())
	}
}
