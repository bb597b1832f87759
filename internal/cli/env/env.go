// Package env is the one place shoebox reads environment variables.
// Libraries under pkg/ never read the environment: the CLI reads it here and
// passes values down explicitly.
package env

import "os"

// Variable is an environment variable shoebox reads.
type Variable string

// The variables shoebox reads, each documented where it is used.
const (
	// Password holds the password of an encrypted private key (shoebox and
	// cosign key files), used instead of a prompt.
	Password Variable = "SHOEBOX_PASSWORD"
	// CosignPassword is honoured as a fallback for Password, so cosign users
	// can keep their habits.
	CosignPassword Variable = "COSIGN_PASSWORD"
	// DockerConfig points at the directory holding config.json with registry
	// credentials, as docker and oras use it.
	DockerConfig Variable = "DOCKER_CONFIG"
	// NoColor, set and not empty, disables colour (https://no-color.org).
	NoColor Variable = "NO_COLOR"
	// Term "dumb" disables the live progress line (carriage returns and
	// erase-line escapes): progress is printed as plain lines.
	Term Variable = "TERM"
	// ConfigHome is the user's configuration directory (XDG Base
	// Directory); copy's import log for a registry goes under it.
	ConfigHome Variable = "XDG_CONFIG_HOME"
	// Home is the user's home directory: ~/.config when ConfigHome is
	// unset.
	Home Variable = "HOME"
	// TmpDir is the directory for scratch files.
	TmpDir Variable = "TMPDIR"
)

// Get returns the value of v, or "" when it is unset.
func Get(v Variable) string { return os.Getenv(string(v)) }

// Lookup returns the value of v and whether it is set.
func Lookup(v Variable) (string, bool) { return os.LookupEnv(string(v)) }
