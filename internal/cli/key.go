package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoebox-jl/shoebox/internal/cli/env"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// KeyGenerateOptions are the inputs of shoebox key generate.
type KeyGenerateOptions struct {
	Algorithm     trust.KeyAlgorithm
	OutputPrefix  string
	Force         bool
	PasswordStdin bool
}

// KeyPublicOptions are the inputs of shoebox key public.
type KeyPublicOptions struct {
	Key           string
	PasswordStdin bool
}

const keyLong = `Manage signing keys.

Keys are cosign-compatible: "shoebox key generate" writes the same files as
"cosign generate-key-pair" (an encrypted "ENCRYPTED SIGSTORE PRIVATE KEY"
and a "PUBLIC KEY" PEM), so cosign sign --key and cosign verify --key work
with them, and shoebox sign --key accepts keys cosign made.

The password of a private key comes from, in this order:
  --key-password-stdin the whole of standard input (one trailing newline
                       is dropped; empty input means the empty password)
  SHOEBOX_PASSWORD     the environment
  COSIGN_PASSWORD      the environment, as cosign reads it
  a prompt             when standard input is a terminal (twice when a key
                       is created)
Without any of them on a non-terminal, the command fails with a usage error.

Every command names a key's password --key-password-stdin and a
registry's --password-stdin (with --username), as oras and docker do.`

func newKeyCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Generate cosign-compatible signing keys and show public keys",
		Long:  keyLong,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown key subcommand %q (want generate or public)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newKeyGenerateCmd(f, nil), newKeyPublicCmd(f, nil))
	return cmd
}

func newKeyGenerateCmd(f *Factory, runF func(context.Context, *Factory, KeyGenerateOptions) error) *cobra.Command {
	var opts KeyGenerateOptions
	var alg string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write a new key pair: PREFIX.key (encrypted) and PREFIX.pub",
		Example: `  shoebox key generate                      # cosign.key, cosign.pub (ECDSA P-256)
  shoebox key generate --algorithm ed25519 --output-prefix ops
  SHOEBOX_PASSWORD=… shoebox key generate --output-prefix /secure/release`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usagef("key generate takes no arguments, got %q", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch a := trust.KeyAlgorithm(alg); a {
			case trust.ECDSAP256, trust.Ed25519:
				opts.Algorithm = a
			default:
				return usagef("--algorithm %q: want %s or %s", alg, trust.ECDSAP256, trust.Ed25519)
			}
			if opts.OutputPrefix == "" {
				return usagef("--output-prefix must not be empty")
			}
			if runF != nil {
				return runF(cmd.Context(), f, opts)
			}
			return runKeyGenerate(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringVar(&alg, "algorithm", string(trust.ECDSAP256), "key algorithm: ecdsa-p256 or ed25519")
	cmd.Flags().StringVar(&opts.OutputPrefix, "output-prefix", "cosign", "write PREFIX.key and PREFIX.pub")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite existing key files")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "key-password-stdin", false, "read the password from standard input")
	hiddenAlias(cmd.Flags(), "password-stdin", "key-password-stdin")
	return cmd
}

func runKeyGenerate(ctx context.Context, f *Factory, opts KeyGenerateOptions) error {
	keyPath, pubPath := opts.OutputPrefix+".key", opts.OutputPrefix+".pub"
	if !opts.Force {
		for _, p := range []string{keyPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return usagef("%s already exists (use --force to overwrite)", p)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	password, err := passwordSource(f, opts.PasswordStdin)(true)
	if err != nil {
		return err
	}
	priv, pub, err := trust.GenerateKey(opts.Algorithm, password)
	if err != nil {
		return err
	}
	if err := writeKeyFile(keyPath, priv, 0o600, opts.Force); err != nil {
		return err
	}
	if err := writeKeyFile(pubPath, pub, 0o644, opts.Force); err != nil {
		os.Remove(keyPath)
		return err
	}
	fmt.Fprintf(f.Err, "Private key written to %s\nPublic key written to %s\n", keyPath, pubPath)
	return nil
}

// writeKeyFile writes data to path through a temporary file in the same
// directory, so a key file is never left half-written. Without force an
// existing file is not replaced.
func writeKeyFile(path string, data []byte, mode os.FileMode, force bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	if force {
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	// A hard link fails if path appeared meanwhile: no silent overwrite.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return usagef("%s already exists (use --force to overwrite)", path)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func newKeyPublicCmd(f *Factory, runF func(context.Context, *Factory, KeyPublicOptions) error) *cobra.Command {
	var opts KeyPublicOptions
	cmd := &cobra.Command{
		Use:   "public --key KEY",
		Short: "Print the public key of a private key file or KMS key",
		Example: `  shoebox key public --key cosign.key > cosign.pub
  shoebox key public --key hashivault://release`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 0 {
				return usagef("key public takes no arguments, got %q", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Key == "" {
				return usagef("--key is required")
			}
			if runF != nil {
				return runF(cmd.Context(), f, opts)
			}
			return runKeyPublic(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Key, "key", "", "private key file (shoebox or cosign), unencrypted PEM key, or KMS URI")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "key-password-stdin", false, "read the password from standard input")
	hiddenAlias(cmd.Flags(), "password-stdin", "key-password-stdin")
	return cmd
}

func runKeyPublic(ctx context.Context, f *Factory, opts KeyPublicOptions) error {
	signer, err := trust.LoadSigner(ctx, opts.Key, passwordSource(f, opts.PasswordStdin))
	if err != nil {
		return err
	}
	pub, err := trust.SignerPublicKey(ctx, signer)
	if err != nil {
		return fmt.Errorf("key %s: reading public key: %w", opts.Key, err)
	}
	b, err := trust.PublicKeyPEM(pub)
	if err != nil {
		return err
	}
	_, err = f.Out.Write(b)
	return err
}

// maxPasswordSize bounds a password read from standard input.
const maxPasswordSize = 64 << 10

// errNoPassword is the usage error for a key password with no source.
var errNoPassword = usagef("a password is needed: set %s (or %s), use --key-password-stdin, or run on a terminal", env.Password, env.CosignPassword)

// passwordSource returns the PassFunc for key passwords, in the order
// documented in keyLong. It is shared by every command that opens or
// creates a private key (key, sign). Each source is consulted lazily, so
// an unencrypted key or a KMS URI never asks.
func passwordSource(f *Factory, fromStdin bool) trust.PassFunc {
	return func(confirm bool) ([]byte, error) {
		if fromStdin {
			b, err := io.ReadAll(io.LimitReader(f.In, maxPasswordSize+1))
			if err != nil {
				return nil, fmt.Errorf("reading password from stdin: %w", err)
			}
			if len(b) > maxPasswordSize {
				return nil, usagef("password on stdin is longer than %d bytes", maxPasswordSize)
			}
			b = bytes.TrimSuffix(b, []byte("\n"))
			b = bytes.TrimSuffix(b, []byte("\r"))
			return b, nil
		}
		for _, v := range []env.Variable{env.Password, env.CosignPassword} {
			if p := f.Getenv(string(v)); p != "" {
				return []byte(p), nil
			}
		}
		if !f.InIsTerminal {
			return nil, errNoPassword
		}
		p, err := promptPassword(f, "Enter password for private key: ")
		if err != nil {
			return nil, err
		}
		if confirm {
			again, err := promptPassword(f, "Enter password for private key again: ")
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(p, again) {
				return nil, usagef("passwords do not match")
			}
		}
		return p, nil
	}
}

// readPassword reads one password from a terminal without echo; tests
// replace it.
var readPassword = func(in io.Reader) ([]byte, error) {
	if fd, ok := in.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(fd.Fd())) {
		return term.ReadPassword(int(fd.Fd()))
	}
	// Not a terminal (tests, pipes): one line, read a byte at a time so a
	// second prompt gets the next line.
	var line []byte
	b := make([]byte, 1)
	for len(line) <= maxPasswordSize {
		n, err := in.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return nil, io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

func promptPassword(f *Factory, prompt string) ([]byte, error) {
	fmt.Fprint(f.Err, prompt)
	p, err := readPassword(f.In)
	fmt.Fprintln(f.Err)
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	return p, nil
}
