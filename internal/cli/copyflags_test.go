package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func Test_copySides(t *testing.T) {
	tests := []struct {
		name             string
		args             []string
		stdin            string
		wantErr          string
		srcUser, srcPass string
		dstUser, dstPass string
		srcPlain         bool
		dstPlain         bool
		dstCA            string
	}{
		{name: "plain flags for both", args: []string{"--plain-http", "--username", "u", "--password-stdin"}, stdin: "p\n",
			srcUser: "u", srcPass: "p", dstUser: "u", dstPass: "p", srcPlain: true, dstPlain: true},
		{name: "per side, two lines", args: []string{"--from-plain-http", "--from-username", "a", "--from-password-stdin",
			"--to-ca-file", "ca.pem", "--to-username", "b", "--to-password-stdin"}, stdin: "pa\npb\n",
			srcUser: "a", srcPass: "pa", dstUser: "b", dstPass: "pb", srcPlain: true, dstCA: "ca.pem"},
		{name: "a side overrides the plain flag", args: []string{"--plain-http", "--to-plain-http=false", "--username", "u",
			"--to-username", "v", "--password-stdin"}, stdin: "p\n",
			srcUser: "u", srcPass: "p", dstUser: "v", dstPass: "p", srcPlain: true},
		{name: "--password-stdin goes only to a side with a user", args: []string{"--from-username", "a", "--password-stdin"},
			stdin: "p\n", srcUser: "a", srcPass: "p"},
		{name: "only DST's password", args: []string{"--to-username", "b", "--to-password-stdin"}, stdin: "pb\n",
			dstUser: "b", dstPass: "pb"},
		{name: "password without a user", args: []string{"--from-password-stdin"}, stdin: "p\n",
			wantErr: "--from-password-stdin needs --from-username"},
		{name: "plain password without any user", args: []string{"--password-stdin"}, stdin: "p\n",
			wantErr: "needs --username"},
		{name: "one line for two", args: []string{"--from-username", "a", "--from-password-stdin", "--to-username", "b",
			"--to-password-stdin"}, stdin: "pa\n", wantErr: "want two lines on standard input (SRC's password, then DST's), got 1"},
		{name: "both kinds", args: []string{"--username", "u", "--password-stdin", "--to-password-stdin"}, stdin: "p\n",
			wantErr: "exclude each other"},
		{name: "user without password", args: []string{"--to-username", "b"}, wantErr: "DST has a user name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("copy", pflag.ContinueOnError)
			var base storeFlags
			var from, to sideFlags
			base.register(fs)
			from.register(fs, "from-", "source")
			to.register(fs, "to-", "destination")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			f := &Factory{Streams: Streams{In: strings.NewReader(tt.stdin)}}
			src, dst, err := copySides(f, base, &from, &to)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []any{src.username, src.password, dst.username, dst.password, src.plainHTTP, dst.plainHTTP, dst.caFile}
			want := []any{tt.srcUser, tt.srcPass, tt.dstUser, tt.dstPass, tt.srcPlain, tt.dstPlain, tt.dstCA}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("field %d = %v, want %v (got %v)", i, got[i], want[i], got)
				}
			}
		})
	}
}
