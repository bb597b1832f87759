package cli

import (
	"bufio"
	"strings"

	"github.com/spf13/pflag"
)

// sideFlags are copy's connection settings for one side (--from-… for
// SRC, --to-… for DST), as oras cp has them. Each one given overrides
// the plain flag (--plain-http, --ca-file, …) for its side; the plain
// flags apply to both.
type sideFlags struct {
	prefix        string // "from-" or "to-"
	fs            *pflag.FlagSet
	plainHTTP     bool
	insecure      bool
	caFile        string
	username      string
	passwordStdin bool
}

func (s *sideFlags) register(fs *pflag.FlagSet, prefix, what string) {
	s.prefix, s.fs = prefix, fs
	fs.BoolVar(&s.plainHTTP, prefix+"plain-http", false, "talk to the "+what+" registry over plain HTTP (labs only)")
	fs.BoolVar(&s.insecure, prefix+"insecure", false, "skip TLS certificate verification for the "+what+" registry (labs only)")
	fs.StringVar(&s.caFile, prefix+"ca-file", "", "PEM file of extra CA certificates for the "+what+" registry's TLS")
	fs.StringVar(&s.username, prefix+"username", "", "user name for the "+what+" registry (e.g. a Harbor robot account)")
	fs.BoolVar(&s.passwordStdin, prefix+"password-stdin", false, "read the "+what+" registry's password from standard input")
}

func (s *sideFlags) changed(name string) bool { return s.fs.Changed(s.prefix + name) }

// apply returns base with this side's flags laid over it.
func (s *sideFlags) apply(base storeFlags) storeFlags {
	if s.changed("plain-http") {
		base.plainHTTP = s.plainHTTP
	}
	if s.changed("insecure") {
		base.insecure = s.insecure
	}
	if s.changed("ca-file") {
		base.caFile = s.caFile
	}
	if s.changed("username") {
		base.username = s.username
	}
	return base
}

// copySides resolves copy's connection flags into the settings of each
// side, reading the passwords from standard input: one line for
// --password-stdin (for each side with a user name), one for
// --from-password-stdin or --to-password-stdin, and two (SRC's first)
// when both are given. A password is never sent without a user name.
func copySides(f *Factory, base storeFlags, from, to *sideFlags) (src, dst storeFlags, err error) {
	if base.passwordStdin && (from.passwordStdin || to.passwordStdin) {
		return src, dst, usagef("--password-stdin (both sides) and --from-/--to-password-stdin exclude each other")
	}
	src, dst = from.apply(base), to.apply(base)
	src.passwordStdin, dst.passwordStdin = false, false
	switch {
	case base.passwordStdin && src.username == "" && dst.username == "":
		return src, dst, usagef("--password-stdin is the registry's password and needs --username (or --from-username, --to-username)")
	case from.passwordStdin && src.username == "":
		return src, dst, usagef("--from-password-stdin needs --from-username (or --username)")
	case to.passwordStdin && dst.username == "":
		return src, dst, usagef("--to-password-stdin needs --to-username (or --username)")
	}
	var lines []*string
	var pw [2]string
	switch {
	case base.passwordStdin, from.passwordStdin && !to.passwordStdin:
		lines = []*string{&pw[0]}
	case from.passwordStdin && to.passwordStdin:
		lines = []*string{&pw[0], &pw[1]}
	case to.passwordStdin:
		lines = []*string{&pw[1]}
	}
	r := bufio.NewReader(f.In)
	for i, l := range lines {
		line, rerr := r.ReadString('\n')
		if rerr != nil && line == "" {
			if len(lines) == 2 {
				return src, dst, usagef("--from-password-stdin and --to-password-stdin: want two lines on standard input (SRC's password, then DST's), got %d", i)
			}
			return src, dst, usagef("password on standard input: nothing there")
		}
		*l = strings.TrimRight(line, "\r\n")
	}
	switch {
	case base.passwordStdin:
		// each side that names a user; the other keeps its docker config
		if src.username != "" {
			src.password = pw[0]
		}
		if dst.username != "" {
			dst.password = pw[0]
		}
	default:
		if from.passwordStdin {
			src.password = pw[0]
		}
		if to.passwordStdin {
			dst.password = pw[1]
		}
	}
	for _, side := range []struct {
		name, prefix string
		s            storeFlags
	}{{"SRC", "from-", src}, {"DST", "to-", dst}} {
		if side.s.username != "" && side.s.password == "" {
			return src, dst, usagef("%s has a user name (--username or --%susername) but no password: give --%spassword-stdin or --password-stdin",
				side.name, side.prefix, side.prefix)
		}
	}
	return src, dst, nil
}
